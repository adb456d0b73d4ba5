//! `kind = "login"` against the demo shop (issue 16 item 3): the form login
//! with its CSRF token and logout, the JSON API login checked with the
//! token on /api/me, and the OAuth2 client-credentials endpoint with its
//! token lifetime; the "login broken" fault is `LOGIN_FAILED` naming the
//! step, and no password reaches the result.

use std::path::Path;

use keepup_config::{CheckSpec, ProbeSpec, load_str};
use keepup_demo::{CUSTOMER_EMAIL, DemoShop, Fault, FaultPlan, OAUTH_CLIENT_ID};
use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;

async fn start_shop(faults: FaultPlan) -> (tempfile::TempDir, DemoShop) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let shop = DemoShop::start(dir.path(), faults)
        .await
        .unwrap_or_else(|e| panic!("the demo shop starts: {e}"));
    (dir, shop)
}

/// Loads one `login` check with `keys` and runs it once.
async fn run(shop: &DemoShop, keys: &str) -> Outcome {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"login\"\nkind = \"login\"\ntimeout = \"20s\"\nbase_url = \"http://{}\"\n{keys}",
        shop.http
    );
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().unwrap_or_else(|| panic!("no check"));
    assert_eq!(check.spec.kind(), "login");
    let CheckSpec::Probe(spec @ ProbeSpec::Scenario(_)) = &check.spec else {
        panic!("not a scenario")
    };
    keepup_probe::run(spec, check.timeout, &ProbeContext::new()).await
}

fn codes(outcome: &Outcome) -> Vec<&str> {
    outcome.findings.iter().map(|f| f.code.as_str()).collect()
}

fn form_login(shop: &DemoShop) -> String {
    format!(
        r#"style = "form"
login_url = "/login"
username = "{CUSTOMER_EMAIL}"
username_field = "email"
password_file = "{}"
token_field = "form_key"
success_text = "Welcome back"
success_cookie = "shop_customer"
logout_url = "/logout"
"#,
        shop.customer_password_file().display()
    )
}

#[tokio::test]
async fn a_form_login_with_its_csrf_token_logs_in_and_out_and_login_broken_names_the_step() {
    let (_dir, shop) = start_shop(FaultPlan::without_faults()).await;
    let password = std::fs::read_to_string(shop.customer_password_file())
        .unwrap_or_else(|e| panic!("{e}"))
        .trim()
        .to_owned();
    let outcome = run(&shop, &form_login(&shop)).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert_eq!(outcome.message, "logged in");
    let steps = &outcome.evidence.details["steps"];
    assert_eq!(steps[1]["action"], "POST /login");
    assert_eq!(steps[2]["name"], "log out");
    assert_eq!(steps[2]["ok"], true);

    let (_dir, broken) = start_shop(FaultPlan::only(Fault::LoginBroken)).await;
    let outcome = run(&broken, &form_login(&broken)).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), [c::LOGIN_FAILED]);
    assert_eq!(
        outcome.message,
        "step 2 \"log in\" failed: the body does not contain \"Welcome back\""
    );
    let stored = serde_json::to_string(&outcome).unwrap_or_default();
    assert!(!stored.contains(&password), "{stored}");
}

#[tokio::test]
async fn a_json_login_checks_its_token_on_the_me_url() {
    let (_dir, shop) = start_shop(FaultPlan::without_faults()).await;
    let keys = format!(
        r#"style = "json"
login_url = "/api/login"
username = "{CUSTOMER_EMAIL}"
username_field = "email"
password_file = "{}"
token_pointer = "/token"
me_url = "/api/me"
success_text = "{CUSTOMER_EMAIL}"
"#,
        shop.customer_password_file().display()
    );
    let outcome = run(&shop, &keys).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert_eq!(
        outcome.evidence.details["steps"][1]["action"],
        "GET /api/me"
    );

    let (_dir, broken) = start_shop(FaultPlan::only(Fault::LoginBroken)).await;
    let outcome = run(&broken, &keys).await;
    assert_eq!(codes(&outcome), [c::LOGIN_FAILED]);
    assert!(
        outcome.message.starts_with("step 1 \"log in\" failed: "),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn an_oauth2_token_must_come_with_a_sane_expiry() {
    let (_dir, shop) = start_shop(FaultPlan::without_faults()).await;
    let keys = |max: &str| {
        format!(
            r#"style = "oauth2"
token_url = "/oauth/token"
client_id = "{OAUTH_CLIENT_ID}"
client_secret_file = "{}"
{max}
"#,
            shop.oauth_secret_file().display()
        )
    };
    let outcome = run(&shop, &keys("")).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    // The demo's tokens live an hour: longer than this check accepts.
    let outcome = run(&shop, &keys("max_expiry = \"30m\"")).await;
    assert_eq!(outcome.status, Status::Degraded, "{outcome:#?}");
    assert_eq!(codes(&outcome), [c::LOGIN_TOKEN_EXPIRY]);
    assert_eq!(
        outcome.message,
        "the token expires in 60 min, expected between 1 min and 30 min"
    );
    let secret = std::fs::read_to_string(shop.oauth_secret_file()).unwrap_or_default();
    let stored = serde_json::to_string(&outcome).unwrap_or_default();
    assert!(!stored.contains(secret.trim()), "{stored}");
}
