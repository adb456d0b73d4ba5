//! Logins, sessions, CSRF, lockout and rate limits, roles, assets and
//! security headers, against the real listener over loopback sockets with
//! a real store (see `support`).

mod support;

use keepup_store::Role;
use std::net::Ipv4Addr;
use std::time::Duration;
use support::start;

const ANN_PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_opens_a_strict_session_and_logout_ends_it() {
    let web = start("").await;
    web.add_user("ann", ANN_PASSWORD, Role::Viewer);
    let mut b = web.browser(1);

    let home = b.get("/audit?days=3").await;
    assert_eq!(home.status, 303);
    assert_eq!(
        home.header("location"),
        Some("/login?next=%2Faudit%3Fdays%3D3")
    );

    let page = b.get("/login?next=%2F").await;
    assert_eq!(page.status, 200);
    let login_cookie = page.set_cookie("keepup_login").unwrap();
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"));
    assert!(page.attr("input#password", "type").as_deref() == Some("password"));
    assert!(
        page.attr("label[for=name]", "for").is_some(),
        "labelled fields"
    );

    let wrong = b.login("ann", "not the password at all").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.set_cookie("keepup_session").is_none());
    assert!(
        wrong
            .text("[role=alert]")
            .contains("Wrong name or password")
    );

    let ok = b.login("ann", ANN_PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.header("location"), Some("/"));
    let cookie = ok.set_cookie("keepup_session").unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP without an https public_url: {cookie}"
    );
    let id = b.cookies["keepup_session"].clone();
    assert_eq!(id.len(), 64, "256 random bits in hex");
    // Only a digest of the id is stored.
    let db = std::fs::read(web.dir.path().join("k.db")).unwrap();
    let wal = std::fs::read(web.dir.path().join("k.db-wal")).unwrap_or_default();
    let needle = id.as_bytes();
    assert!(
        !db.windows(needle.len()).any(|w| w == needle)
            && !wal.windows(needle.len()).any(|w| w == needle),
        "the session id itself is not in the store"
    );

    let home = b.get("/").await;
    assert_eq!(home.status, 200);
    assert_eq!(home.text(".user-menu summary"), "ann", "{}", home.body);
    assert_eq!(home.header("cache-control"), Some("no-store"));
    assert_eq!(home.text("nav a[aria-current=page]"), "Overview");

    // The login page sends a logged-in person on.
    assert_eq!(
        b.get("/login?next=/incidents").await.header("location"),
        Some("/incidents")
    );

    let csrf = b.csrf().await;
    let refused = b
        .post("/logout", &[("csrf", "0".repeat(64).as_str())])
        .await;
    assert_eq!(refused.status, 403);
    let refused = b.post("/logout", &[]).await;
    assert_eq!(refused.status, 403);
    assert_eq!(b.get("/").await.status, 200, "still logged in");
    let out = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert!(
        out.set_cookie("keepup_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie opens nothing any more.
    let mut replay = web.browser(1);
    replay.cookies.insert("keepup_session".into(), id);
    assert_eq!(replay.get("/").await.status, 303);

    let actions = web.audit_actions();
    assert_eq!(
        actions,
        ["login.failure", "login.success", "logout"],
        "{actions:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_form_from_elsewhere_is_refused() {
    let web = start("").await;
    web.add_user("ann", ANN_PASSWORD, Role::Viewer);
    // No login cookie: the form did not come from this site's login page.
    let mut b = web.browser(1);
    let forged = b
        .post(
            "/login",
            &[("name", "ann"), ("password", ANN_PASSWORD), ("csrf", "abc")],
        )
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.set_cookie("keepup_session").is_none());
    // With a login cookie but another token.
    b.get("/login").await;
    let forged = b
        .post(
            "/login",
            &[
                ("name", "ann"),
                ("password", ANN_PASSWORD),
                ("csrf", &"f".repeat(64)),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);
    // And no open redirect after a real login.
    let page = b.get("/login").await;
    let csrf = page.attr("input[name=csrf]", "value").unwrap();
    let ok = b
        .post(
            "/login",
            &[
                ("name", "ann"),
                ("password", ANN_PASSWORD),
                ("csrf", &csrf),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!((ok.status, ok.header("location")), (303, Some("/")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_secure_and_hsts_sent_behind_an_https_public_url() {
    let web = start("public_url = \"https://keepup.example\"").await;
    web.add_user("ann", ANN_PASSWORD, Role::Viewer);
    let mut b = web.browser(1);
    let ok = b.login("ann", ANN_PASSWORD).await;
    assert_eq!(ok.status, 303);
    assert!(
        ok.set_cookie("keepup_session")
            .unwrap()
            .contains("; Secure")
    );
    // People come over https (TLS ends at a proxy): HSTS too, on every
    // answer.
    assert_eq!(
        ok.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let missing = b.get("/no/such/page").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    // Plain HTTP without an https public_url: no HSTS (a browser would
    // ignore it, and it would promise https nobody serves).
    let plain = start("public_url = \"http://keepup.example\"").await;
    let reply = plain.browser(1).get("/login").await;
    assert!(reply.header("strict-transport-security").is_none());
    assert!(!reply.set_cookie("keepup_login").unwrap().contains("Secure"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_in_a_row_lock_the_account_until_the_lock_ends() {
    let web =
        start("lockout_after = 3\nlockout_for = \"6s\"\nlogin_attempts_per_minute = 100").await;
    web.add_user("ann", ANN_PASSWORD, Role::Viewer);
    let mut b = web.browser(1);
    let unknown = b.login("nobody", ANN_PASSWORD).await;
    assert_eq!(unknown.status, 401);
    for _ in 0..3 {
        assert_eq!(b.login("ann", "wrong password here").await.status, 401);
    }
    let locked = b.login("ann", ANN_PASSWORD).await;
    assert_eq!(
        locked.status, 401,
        "the right password does not open a locked account"
    );
    assert!(locked.set_cookie("keepup_session").is_none());
    // Unknown name, wrong password and locked account look the same.
    assert_eq!(locked.body, unknown.body);
    let store = web.monitor.store();
    let user = store.user("ann").unwrap().unwrap();
    assert!(
        store
            .user_locked_until(user.id, keepup_web::auth::now())
            .unwrap()
            .is_some()
    );
    // The lock holds for the guesser's network only: the owner logs in
    // from another /24 at once.
    let mut owner = web.browser_from(Ipv4Addr::new(127, 0, 9, 1));
    let elsewhere = owner.login("ann", ANN_PASSWORD).await;
    assert_eq!(elsewhere.status, 303, "{}", elsewhere.body);
    tokio::time::sleep(Duration::from_millis(6100)).await;
    let ok = b.login("ann", ANN_PASSWORD).await;
    assert_eq!(ok.status, 303, "the lock has ended: {}", ok.body);
    let entries = web.monitor.store().audit_since(0, 100).unwrap();
    let counted: Vec<_> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.repeats))
        .collect();
    // The two wrong passwords from one network are one entry counting two.
    assert_eq!(
        counted,
        [
            ("login.failure", 1),
            ("login.failure", 2),
            ("login.lockout", 1),
            ("login.locked", 1),
            ("login.success", 1),
            ("login.success", 1)
        ],
    );
    assert!(
        entries
            .iter()
            .all(|e| !e.detail.contains(ANN_PASSWORD) && !e.detail.contains("wrong password here"))
    );
    assert_eq!(
        entries[0].target, "(unknown user)",
        "a mistyped name is not kept: it may be a password"
    );
}

/// A wrong guess for ann from each of `hosts` (127.0.0.host) sent at once,
/// every form fetched first; each answer's status and `Retry-After`.
async fn guesses_at_once(
    web: &support::Web,
    hosts: impl Iterator<Item = u8>,
) -> Vec<(u16, Option<String>)> {
    let mut ready = Vec::new();
    for host in hosts {
        let mut b = web.browser(host);
        let csrf = b
            .get("/login")
            .await
            .attr("form input[name=csrf]", "value")
            .unwrap();
        ready.push((b, csrf));
    }
    let mut guesses = tokio::task::JoinSet::new();
    for (mut b, csrf) in ready {
        guesses.spawn(async move {
            let form = [
                ("name", "ann"),
                ("password", "a wrong guess!"),
                ("csrf", csrf.as_str()),
            ];
            let reply = b.post("/login", &form).await;
            (reply.status, reply.header("retry-after").map(str::to_owned))
        });
    }
    guesses.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_in_flight_at_once_get_no_more_tries_than_the_lock_allows() {
    let web =
        start("lockout_after = 3\nlockout_for = \"1h\"\nlogin_attempts_per_minute = 100").await;
    web.add_user("ann", ANN_PASSWORD, Role::Viewer);
    // Every form is fetched first, then all guesses are sent together,
    // so that many are past the lock check while others are checked.
    for (status, _) in guesses_at_once(&web, 1..=12).await {
        assert_eq!(status, 401);
    }
    // Two wrong passwords, the lockout, and nine refused as locked: every
    // guess is counted, on three entries (repeats from one network within
    // the window are one entry).
    let entries = web.monitor.store().audit_since(0, 100).unwrap();
    let checked: u32 = entries
        .iter()
        .filter(|e| e.detail.contains("wrong password"))
        .map(|e| e.repeats)
        .sum();
    assert_eq!(checked, 3, "{entries:#?}");
    assert_eq!(entries.iter().map(|e| e.repeats).sum::<u32>(), 12);
    assert_eq!(entries.len(), 3, "{entries:#?}");
    // The right password is refused from this network now.
    let mut owner = web.browser(13);
    assert_eq!(owner.login("ann", ANN_PASSWORD).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spray_of_logins_past_the_password_checks_at_once_gets_503_and_the_daemon_stays_up() {
    let web = start("lockout_after = 1000\nlogin_attempts_per_minute = 1000").await;
    web.add_user("ann", ANN_PASSWORD, Role::Viewer);
    // 200 guesses from ten addresses, forms fetched first and sent at
    // once: far more than the cores' checks and their waiting line.
    let answers = guesses_at_once(&web, (0..200u8).map(|i| 20 + i % 10)).await;
    let (mut checked, mut busy) = (0u32, 0);
    for answer in answers {
        match answer {
            (401, _) => checked += 1,
            (503, Some(_)) => busy += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        checked > 0 && busy > 0,
        "{checked} checked, {busy} turned away"
    );
    // Every check that ran was counted, none of the turned-away ones, all
    // on one entry: the ten addresses are one /24, within the window.
    let failures: Vec<_> = web
        .monitor
        .store()
        .audit_since(0, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "login.failure")
        .map(|e| e.repeats)
        .collect();
    assert_eq!(failures, [checked]);
    // The daemon is up and the owner logs in.
    let mut owner = web.browser(40);
    assert_eq!(owner.get("/healthz").await.status, 200);
    assert_eq!(owner.login("ann", ANN_PASSWORD).await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_limited_per_client_address() {
    let web = start("login_attempts_per_minute = 3").await;
    web.add_user("ann", ANN_PASSWORD, Role::Viewer);
    let mut guesser = web.browser(2);
    for _ in 0..3 {
        assert_eq!(guesser.login("ann", "a wrong guess!").await.status, 401);
    }
    let limited = guesser.login("ann", ANN_PASSWORD).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("60"));
    assert!(limited.set_cookie("keepup_session").is_none());
    // Another address is not slowed by the guesser.
    let mut other = web.browser(3);
    assert_eq!(other.login("ann", ANN_PASSWORD).await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_ask_for_their_role() {
    let web = start("").await;
    web.add_user("vic", ANN_PASSWORD, Role::Viewer);
    web.add_user("ada", ANN_PASSWORD, Role::Admin);
    let mut viewer = web.browser(1);
    viewer.login("vic", ANN_PASSWORD).await;
    let refused = viewer.get("/audit").await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("admin role"));
    let mut admin = web.browser(1);
    admin.login("ada", ANN_PASSWORD).await;
    let audit = admin.get("/audit").await;
    assert_eq!(audit.status, 200);
    let doc = audit.doc();
    let rows = scraper::Selector::parse("tbody tr").unwrap();
    let cells = scraper::Selector::parse("td").unwrap();
    let logins: Vec<Vec<String>> = doc
        .select(&rows)
        .map(|r| r.select(&cells).map(|c| c.text().collect()).collect())
        .collect();
    assert_eq!(logins.len(), 2);
    assert_eq!(&logins[0][1..3], ["ada", "login.success"], "newest first");
    assert_eq!(&logins[1][1..3], ["vic", "login.success"]);
    let headers = scraper::Selector::parse("thead th[scope=col]").unwrap();
    assert_eq!(doc.select(&headers).count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assets_come_from_the_table_only() {
    let web = start("").await;
    let mut b = web.browser(1);
    let css = b.get("/assets/keepup.css").await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.body.contains("prefers-color-scheme: dark"));
    assert!(css.header("cache-control").unwrap().contains("max-age"));
    let etag = css.header("etag").unwrap().to_owned();
    let again = b
        .send(
            "GET",
            "/assets/keepup.css",
            &[("if-none-match", &etag)],
            String::new(),
        )
        .await;
    assert_eq!((again.status, again.body.as_str()), (304, ""));
    assert_eq!(b.get("/assets/keepup.js").await.status, 200);
    // The layout links them with their version.
    let login = b.get("/login").await;
    let href = login.attr("link[rel=stylesheet]", "href").unwrap();
    assert_eq!(
        href,
        format!("/assets/keepup.css?v={}", etag.trim_matches('"'))
    );
    for path in [
        "/assets/../Cargo.toml",
        "/assets/%2e%2e/Cargo.toml",
        "/assets/%2e%2e%2fCargo.toml",
        "/assets/..%2fCargo.toml",
        "/assets/..%5cCargo.toml",
        "/assets/%2e%2e%2f%2e%2e%2fCargo.toml",
        "/assets/keepup.css/../../Cargo.toml",
        "/assets/src%2flib.rs",
        "/assets/",
        "/assets/KEEPUP.CSS",
        "/assets/keepup.css%00",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, 404, "{path}: {}", r.body);
        assert!(
            !r.body.contains("[package]") && !r.body.contains("keepup-web"),
            "{path}"
        );
        assert!(r.header("content-security-policy").is_some(), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let web = start("").await;
    let mut b = web.browser(1);
    let big = "x".repeat(100_000);
    let replies = vec![
        b.get("/login").await,
        b.get("/").await,
        b.get("/no/such/page").await,
        b.get("/healthz").await,
        b.get("/assets/keepup.css").await,
        b.get("/ping/not-a-token-99").await,
        b.post("/logout", &[]).await,
        b.post("/login", &[("name", "x")]).await,
        b.send("POST", "/ping/job-token-1234", &[], big).await,
        b.send("DELETE", "/login", &[], String::new()).await,
    ];
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 303, 404, 200, 200, 404, 303, 403, 413, 405]);
    for r in &replies {
        assert_eq!(
            r.header("content-security-policy"),
            Some(keepup_web::security::CSP),
            "{}",
            r.status
        );
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("same-origin"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert!(
            r.header("strict-transport-security").is_none(),
            "not over TLS"
        );
    }
    // Pages load nothing inline (the CSP would block it).
    let login = &replies[0];
    let doc = login.doc();
    for sel in [
        "script:not([src])",
        "style",
        "[style]",
        "[onclick]",
        "[onload]",
    ] {
        let s = scraper::Selector::parse(sel).unwrap();
        assert_eq!(doc.select(&s).count(), 0, "{sel} in the login page");
    }
}
