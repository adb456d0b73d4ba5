//! Policy pages and security.txt against real HTTP/HTTPS servers on
//! loopback (testkit), including servers that misbehave.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepup_config::{Check, CheckSpec, PageSpec, ProbeSpec};
use keepup_model::codes as c;
use keepup_model::{Outcome, Severity, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::http::{Response, ServerTls, TestServer, html, text};
use keepup_testkit::pki::{CertAuthority, TempPem, validity};
use support::run;
use support::{codes, ctx, has, http_spec};

const TIMEOUT: Duration = Duration::from_secs(3);

// ---- policy pages ------------------------------------------------------------

const PRIVACY: &str = r#"<!DOCTYPE html><html><head><title>Datenschutz</title>
<script>window.csrf = "a8f5f167f44f4964e6c998dee827110c";</script></head>
<body><nav>Shop Home Cart</nav><h1>Datenschutzerkl&auml;rung</h1>
<p>Verantwortliche&nbsp;Stelle: Beispiel GmbH. Wir speichern Rechnungen zehn Jahre.</p>
<p>Stand: 1. Mai 2024</p><footer>Impressum Datenschutz. Seite erzeugt um 14:03:59 Uhr,
Anfrage 1234567890</footer></body></html>"#;

const NOT_FOUND: &str = "<html><body><nav>Shop Home Cart</nav><h1>Oops</h1>\
    <p>Diese Seite gibt es leider nicht. Zurück zum Shop.</p><footer>Impressum Datenschutz</footer></body></html>";

fn page_spec(url: &str) -> PageSpec {
    PageSpec {
        http: http_spec(url),
        phrases: Vec::new(),
        soft_404: true,
        detect_changes: true,
        change_hold: Duration::from_secs(86_400),
        ignore: Vec::new(),
    }
}

async fn check_page(spec: PageSpec, ctx: &ProbeContext) -> Outcome {
    run(
        &support::check(CheckSpec::Probe(ProbeSpec::Page(Box::new(spec))), TIMEOUT),
        ctx,
    )
    .await
}

/// A shop whose `/privacy` is `privacy` and whose other paths are a real
/// 404.
async fn shop(privacy: Arc<Mutex<String>>) -> TestServer {
    TestServer::start(move |req| {
        let privacy = Arc::clone(&privacy);
        async move {
            match req.uri().path() {
                "/legal/privacy" => html(200, privacy.lock().unwrap().clone()),
                _ => html(404, NOT_FOUND),
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_policy_page_with_its_phrases_is_up() {
    let server = shop(Arc::new(Mutex::new(PRIVACY.into()))).await;
    let mut spec = page_spec(&server.url("/legal/privacy"));
    // Written with other case and spacing than the page, which has an
    // entity and a no-break space there.
    spec.phrases = vec![
        "datenschutzerklärung".into(),
        "Verantwortliche Stelle".into(),
    ];
    let url = server.url("/legal/privacy");
    let o = check_page(spec, &ctx()).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert!(o.findings.is_empty(), "{:?}", o.findings);
    assert_eq!(o.message, format!("{url} is available with its 2 phrases"));
    let d = &o.evidence.details;
    assert_eq!(d["status_code"], 200);
    assert_eq!(d["soft_404_probe"]["status"], 404);
    let probe_url = d["soft_404_probe"]["url"].as_str().unwrap();
    assert!(probe_url.contains("/legal/keepup-404-"), "{probe_url}");
    assert_eq!(d["baseline"], "established");
    assert_eq!(d["content_sha256"].as_str().unwrap().len(), 64);
    // The page, then its sibling.
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn a_missing_phrase_or_an_error_status_is_down() {
    let server = shop(Arc::new(Mutex::new(PRIVACY.into()))).await;
    let mut spec = page_spec(&server.url("/legal/privacy"));
    spec.phrases = vec!["Datenschutzerklärung".into(), "Widerrufsrecht".into()];
    let o = check_page(spec, &ctx()).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::PAGE_PHRASE_MISSING]);
    assert!(
        o.message.ends_with("does not contain \"Widerrufsrecht\""),
        "{}",
        o.message
    );

    let o = check_page(page_spec(&server.url("/legal/agb")), &ctx()).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::HTTP_STATUS_UNEXPECTED]);
}

#[tokio::test]
async fn a_soft_404_is_caught_even_when_it_repeats_the_path() {
    // Every path answers 200 with the same "not found" page, naming the
    // path it was asked for.
    let server = TestServer::start(|req| async move {
        html(
            200,
            format!(
                "<html><body><h1>Page not found</h1><p>We could not find {} on our shop. \
                 Try the search or go back home.</p><p>Rendered 14:03:59</p></body></html>",
                req.uri().path()
            ),
        )
    })
    .await
    .unwrap();
    let o = check_page(page_spec(&server.url("/imprint")), &ctx()).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::PAGE_SOFT_404]);
    assert_eq!(o.evidence.details["soft_404_probe"]["similarity"], 1.0);
    // A soft 404 sets no baseline.
    assert!(o.evidence.details.get("baseline").is_none());
}

#[tokio::test]
async fn a_catch_all_site_with_a_real_page_is_up_with_a_note() {
    let server = TestServer::start(|req| async move {
        match req.uri().path() {
            "/legal/privacy" => html(200, PRIVACY),
            _ => html(200, "<html><body><h1>Welcome</h1><p>Our bestsellers this week: socks, hats and gloves in every colour.</p></body></html>"),
        }
    })
    .await
    .unwrap();
    let o = check_page(page_spec(&server.url("/legal/privacy")), &ctx()).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(codes(&o), vec![c::PAGE_NO_404]);
    assert_eq!(o.findings[0].severity, Severity::Info);
}

#[tokio::test]
async fn changes_are_reported_and_noise_is_not() {
    let content = Arc::new(Mutex::new(PRIVACY.to_owned()));
    let server = shop(Arc::clone(&content)).await;
    let url = server.url("/legal/privacy");
    let ctx = ctx();

    let first = check_page(page_spec(&url), &ctx).await;
    assert_eq!(first.evidence.details["baseline"], "established");

    // Same policy, other date, nonce and time: not a change.
    *content.lock().unwrap() = PRIVACY
        .replace("1. Mai 2024", "3. Juni 2025")
        .replace(
            "a8f5f167f44f4964e6c998dee827110c",
            "0123456789abcdef0123456789abcdef",
        )
        .replace("14:03:59", "09:41:07")
        .replace("1234567890", "8734512399");
    let o = check_page(page_spec(&url), &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.evidence.details["baseline"], "unchanged");
    assert_eq!(
        o.evidence.details["content_sha256"],
        first.evidence.details["content_sha256"]
    );

    // A real change.
    *content.lock().unwrap() = PRIVACY.replace("zehn Jahre", "acht Jahre");
    let changed = check_page(page_spec(&url), &ctx).await;
    assert_eq!(changed.status, Status::Degraded, "{changed:?}");
    assert_eq!(codes(&changed), vec![c::PAGE_CHANGED]);
    assert_eq!(changed.evidence.details["baseline"], "changed");
    let change = &changed.evidence.details["change"];
    assert!(
        change["before"].as_str().unwrap().contains("zehn Jahre"),
        "{change}"
    );
    assert!(
        change["after"].as_str().unwrap().contains("acht Jahre"),
        "{change}"
    );

    // Reported again while the hold lasts, with the same message.
    let again = check_page(page_spec(&url), &ctx).await;
    assert_eq!(again.status, Status::Degraded);
    assert_eq!(again.message, changed.message);
    assert_eq!(again.evidence.details["baseline"], "unchanged");

    // Without a hold only the run that saw it reports it.
    let mut no_hold = page_spec(&url);
    no_hold.change_hold = Duration::ZERO;
    let o = check_page(no_hold, &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}");

    // Baselines are per context (in memory): a new one starts afresh.
    let o = check_page(page_spec(&url), &ProbeContext::new()).await;
    assert_eq!(o.evidence.details["baseline"], "established");

    // Switched off: no hash at all.
    let mut off = page_spec(&url);
    off.detect_changes = false;
    let o = check_page(off, &ctx).await;
    assert!(o.evidence.details.get("content_sha256").is_none());
}

#[tokio::test]
async fn ignore_patterns_remove_more_noise() {
    let content = Arc::new(Mutex::new(
        PRIVACY.replace("Impressum", "Besucher heute: 17 Impressum"),
    ));
    let server = shop(Arc::clone(&content)).await;
    let mut spec = page_spec(&server.url("/legal/privacy"));
    spec.ignore = vec![regex::Regex::new(r"Besucher heute: \d+").unwrap()];
    let ctx = ctx();
    check_page(spec.clone(), &ctx).await;
    *content.lock().unwrap() = PRIVACY.replace("Impressum", "Besucher heute: 18 Impressum");
    let o = check_page(spec, &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.evidence.details["baseline"], "unchanged");
}

#[tokio::test]
async fn a_page_without_visible_text_is_down() {
    let server = TestServer::start(|_req| async {
        html(
            200,
            "<html><body><div id=app></div><script>render()</script></body></html>",
        )
    })
    .await
    .unwrap();
    let mut spec = page_spec(&server.url("/privacy"));
    spec.soft_404 = false;
    let o = check_page(spec, &ctx()).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::PAGE_EMPTY]);
}

#[tokio::test]
async fn hostile_page_servers_end_cleanly() {
    // An endless body: the first part is checked, the page is Degraded.
    let endless = HostileServer::start(Behaviour::EndlessBody).await.unwrap();
    let mut spec = page_spec(&endless.url("/privacy"));
    spec.http.max_body_bytes = 100_000;
    spec.soft_404 = false;
    let o = check_page(spec, &ctx()).await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::HTTP_BODY_TOO_LARGE]);
    assert_eq!(o.evidence.details["text_chars"], 100_000);

    let silent = HostileServer::start(Behaviour::Silent).await.unwrap();
    let o = run(
        &support::check(
            CheckSpec::Probe(ProbeSpec::Page(Box::new(page_spec(
                &silent.url("/privacy"),
            )))),
            Duration::from_millis(800),
        ),
        &ctx(),
    )
    .await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::PROBE_TIMEOUT]);

    let garbage = HostileServer::start(Behaviour::Garbage).await.unwrap();
    let o = check_page(page_spec(&garbage.url("/privacy")), &ctx()).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::HTTP_PROTOCOL_ERROR]);
}

// ---- security.txt ------------------------------------------------------------

struct Tls {
    _root: CertAuthority,
    ca_file: TempPem,
    tls: ServerTls,
}

fn tls() -> Tls {
    let root = CertAuthority::new("keepup pages test root").unwrap();
    let leaf = root
        .issue(&["shop.test", "127.0.0.1"], validity::current())
        .unwrap();
    Tls {
        ca_file: root.root_pem_file().unwrap(),
        tls: ServerTls::new(&leaf),
        _root: root,
    }
}

/// A route: path, status, Content-Type, body.
type Route = (&'static str, u16, &'static str, Vec<u8>);

fn respond(routes: &[Route], path: &str) -> Response {
    match routes.iter().find(|r| r.0 == path) {
        Some((_, status, ctype, body)) => {
            let mut r = text(*status, body.clone());
            if let Ok(v) = http::HeaderValue::from_str(ctype) {
                r.headers_mut().insert(http::header::CONTENT_TYPE, v);
            }
            r
        }
        None => html(404, NOT_FOUND),
    }
}

/// A check from configuration text, through the real loader.
fn configured(kind_keys: &str) -> Check {
    configured_with_timeout(kind_keys, "3s")
}

fn configured_with_timeout(kind_keys: &str, timeout: &str) -> Check {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"t\"\ntimeout = \"{timeout}\"\n{kind_keys}\n"
    );
    let mut config = keepup_config::load_str(&src, Path::new("test.toml"))
        .unwrap_or_else(|p| panic!("{p}\n{src}"));
    std::sync::Arc::unwrap_or_clone(config.sites.remove(0).checks.remove(0))
}

fn security_check(server: &TestServer, tls: &Tls) -> Check {
    configured(&format!(
        "kind = \"security_txt\"\nurl = \"{}\"\ntls = {{ ca_file = \"{}\" }}",
        server.url_with_host("shop.test", "/"),
        tls.ca_file.path().display()
    ))
}

fn rfc3339_in(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

const TEXT: &str = "text/plain; charset=utf-8";
const WELL_KNOWN: &str = "/.well-known/security.txt";

fn good_file(server_url: &str, expires: &str) -> String {
    format!(
        "# security contacts of the test shop\nContact: mailto:security@shop.test\n\
         Contact: https://shop.test/security\nExpires: {expires}\nPreferred-Languages: de, en\n\
         Canonical: {server_url}.well-known/security.txt\nPolicy: https://shop.test/disclosure\n"
    )
}

/// Serves `file` (built from the server's own URL) at the well-known path.
async fn security_outcome(make: impl Fn(&str) -> Vec<Route>) -> (Outcome, TestServer) {
    let tls = tls();
    // The URL is only known once the server runs: start it with a routes
    // cell filled right after.
    let cell: Arc<Mutex<Vec<Route>>> = Arc::new(Mutex::new(Vec::new()));
    let routes = Arc::clone(&cell);
    let server = TestServer::builder()
        .tls(tls.tls.clone())
        .start(move |req| {
            let routes = Arc::clone(&routes);
            async move { respond(&routes.lock().unwrap(), req.uri().path()) }
        })
        .await
        .unwrap();
    *cell.lock().unwrap() = make(&server.url_with_host("shop.test", "/"));
    let outcome = run(&security_check(&server, &tls), &ctx()).await;
    (outcome, server)
}

#[tokio::test]
async fn a_valid_security_txt_over_https_is_up() {
    let expires = rfc3339_in(180);
    let (o, _server) = security_outcome(|base| {
        vec![(
            WELL_KNOWN,
            200,
            TEXT,
            good_file(base, &expires).into_bytes(),
        )]
    })
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert!(o.findings.is_empty(), "{:?}", o.findings);
    assert_eq!(o.message, format!("security.txt is valid until {expires}"));
    let d = &o.evidence.details;
    assert_eq!(d["fields"]["contact"].as_array().unwrap().len(), 2);
    assert_eq!(d["signed"], false);
    assert_eq!(d["verification"], "ok");
    let left = d["expires_days_left"].as_f64().unwrap();
    assert!((179.0..=180.0).contains(&left), "{left}");
}

#[tokio::test]
async fn a_pgp_signed_security_txt_is_read() {
    let expires = rfc3339_in(90);
    let (o, _server) = security_outcome(|base| {
        let body = format!(
            "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{}\
             -----BEGIN PGP SIGNATURE-----\n\niHUEARYKAB0WIQQ2yK1cDzsrF1RhEVOyp2Wq\n=XyZ1\n-----END PGP SIGNATURE-----\n",
            good_file(base, &expires)
        );
        vec![(WELL_KNOWN, 200, TEXT, body.into_bytes())]
    })
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(
        o.evidence.details["signed"],
        "PGP cleartext signature present, not verified"
    );
}

#[tokio::test]
async fn missing_contact_expired_and_malformed_expires_are_down() {
    let cases: [(String, &str); 4] = [
        (
            format!(
                "Expires: {}\nPolicy: https://shop.test/p\n",
                rfc3339_in(100)
            ),
            c::SECURITY_TXT_NO_CONTACT,
        ),
        (
            format!("Contact: mailto:s@shop.test\nExpires: {}\n", rfc3339_in(-3)),
            c::SECURITY_TXT_EXPIRED,
        ),
        (
            "Contact: mailto:s@shop.test\nExpires: next tuesday\n".to_owned(),
            c::SECURITY_TXT_EXPIRES_INVALID,
        ),
        (
            "Contact: mailto:s@shop.test\n".to_owned(),
            c::SECURITY_TXT_NO_EXPIRES,
        ),
    ];
    for (file, code) in cases {
        let body = file.clone().into_bytes();
        let (o, _server) =
            security_outcome(move |_| vec![(WELL_KNOWN, 200, TEXT, body.clone())]).await;
        assert_eq!(o.status, Status::Down, "{file}: {o:?}");
        assert_eq!(codes(&o), vec![code], "{file}");
    }
}

#[tokio::test]
async fn expiring_soon_or_too_far_ahead_is_degraded() {
    for (days, code) in [
        (10, c::SECURITY_TXT_EXPIRING),
        (730, c::SECURITY_TXT_EXPIRES_TOO_FAR),
    ] {
        let expires = rfc3339_in(days);
        let (o, _server) = security_outcome(|base| {
            vec![(
                WELL_KNOWN,
                200,
                TEXT,
                good_file(base, &expires).into_bytes(),
            )]
        })
        .await;
        assert_eq!(o.status, Status::Degraded, "{days}: {o:?}");
        assert_eq!(codes(&o), vec![code]);
        assert!(o.message.contains(&expires), "{}", o.message);
    }
}

#[tokio::test]
async fn html_binary_missing_and_legacy_files() {
    // The shop's catch-all HTML page answers for every path.
    let (o, _server) = security_outcome(|_| {
        vec![(
            WELL_KNOWN,
            200,
            "text/html; charset=utf-8",
            b"<!DOCTYPE html><html><body>Welcome to our shop</body></html>".to_vec(),
        )]
    })
    .await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::SECURITY_TXT_NOT_TEXT]);
    assert!(o.message.contains("an HTML page"), "{}", o.message);

    // Served as text, but HTML anyway.
    let (o, _server) = security_outcome(|_| {
        vec![(
            WELL_KNOWN,
            200,
            TEXT,
            b"<html><body>Not found</body></html>".to_vec(),
        )]
    })
    .await;
    assert_eq!(codes(&o), vec![c::SECURITY_TXT_NOT_TEXT]);

    let (o, _server) = security_outcome(|_| {
        vec![(
            WELL_KNOWN,
            200,
            "application/octet-stream",
            b"\x00\x01\x02PK\x03\x04".to_vec(),
        )]
    })
    .await;
    assert_eq!(codes(&o), vec![c::SECURITY_TXT_NOT_TEXT]);
    assert!(o.message.contains("binary"), "{}", o.message);

    let (o, server) = security_outcome(|_| Vec::new()).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::SECURITY_TXT_MISSING]);
    assert!(o.message.contains("HTTP 404"), "{}", o.message);
    // The well-known path and the legacy one were both tried.
    let paths: Vec<String> = server
        .received()
        .iter()
        .map(|r| r.uri.path().to_owned())
        .collect();
    assert_eq!(paths, vec![WELL_KNOWN, "/security.txt"]);

    let expires = rfc3339_in(100);
    let (o, _server) = security_outcome(|_| {
        let body = format!("Contact: mailto:s@shop.test\nExpires: {expires}\n");
        vec![("/security.txt", 200, TEXT, body.into_bytes())]
    })
    .await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::SECURITY_TXT_LEGACY_LOCATION]);
}

#[tokio::test]
async fn wrong_content_type_and_plain_http_are_findings() {
    let expires = rfc3339_in(100);
    let (o, _server) = security_outcome(|base| {
        vec![(
            WELL_KNOWN,
            200,
            "application/octet-stream",
            good_file(base, &expires).into_bytes(),
        )]
    })
    .await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::SECURITY_TXT_CONTENT_TYPE]);

    let body = format!("Contact: mailto:s@shop.test\nExpires: {expires}\n");
    let plain = TestServer::start(move |req| {
        let body = body.clone();
        async move {
            respond(
                &[(WELL_KNOWN, 200, TEXT, body.into_bytes())],
                req.uri().path(),
            )
        }
    })
    .await
    .unwrap();
    let check = configured(&format!(
        "kind = \"security_txt\"\nurl = \"{}\"",
        plain.url(WELL_KNOWN)
    ));
    let o = run(&check, &ctx()).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::SECURITY_TXT_NOT_HTTPS]);
}

#[tokio::test]
async fn hostile_security_txt_servers_end_cleanly() {
    let endless = HostileServer::start(Behaviour::EndlessBody).await.unwrap();
    let check = configured(&format!(
        "kind = \"security_txt\"\nurl = \"{}\"",
        endless.url(WELL_KNOWN)
    ));
    let o = run(&check, &ctx()).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    for code in [
        c::HTTP_BODY_TOO_LARGE,
        c::SECURITY_TXT_NOT_HTTPS,
        c::SECURITY_TXT_NO_CONTACT,
        c::SECURITY_TXT_NO_EXPIRES,
        c::SECURITY_TXT_SYNTAX,
    ] {
        assert!(has(&o, code), "{code}: {:?}", o.findings);
    }
    assert_eq!(o.evidence.details["body_bytes"], 64 * 1024);

    let silent = HostileServer::start(Behaviour::Silent).await.unwrap();
    let check = configured_with_timeout(
        &format!(
            "kind = \"security_txt\"\nurl = \"{}\"",
            silent.url(WELL_KNOWN)
        ),
        "700ms",
    );
    let o = run(&check, &ctx()).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::PROBE_TIMEOUT]);

    let garbage = HostileServer::start(Behaviour::Garbage).await.unwrap();
    let check = configured(&format!(
        "kind = \"security_txt\"\nurl = \"{}\"",
        garbage.url(WELL_KNOWN)
    ));
    let o = run(&check, &ctx()).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::HTTP_PROTOCOL_ERROR]);
}

#[tokio::test]
async fn configured_page_checks_run_through_the_loader() {
    let server = shop(Arc::new(Mutex::new(PRIVACY.into()))).await;
    let check = configured(&format!(
        "kind = \"page\"\nurl = \"{}\"\nphrases = [\"Datenschutzerklärung\"]\nignore = ['Stand: .*']",
        server.url("/legal/privacy")
    ));
    let o = run(&check, &ctx()).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(check.spec.kind(), "page");
}
