//! `kind = "login"`: each style compiles into scenario steps with its
//! secrets, and a style missing a key, given a key it does not use, or
//! given a secret inline is refused at its file:line:col.

mod support;

use keepup_config::login::LoginStyle;
use keepup_config::scenario::{ExtractFrom, StepBody, TemplatePart};
use keepup_config::{CheckSpec, ProbeSpec, ScenarioSpec, load_str};
use std::path::Path;
use std::time::Duration;
use support::{env_before_main, problems};

env_before_main!("KEEPUP_TEST_LOGIN_SECRET" => "pa\"ss");

fn spec(keys: &str) -> ScenarioSpec {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"login\"\nkind = \"login\"\n{keys}"
    );
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    match config.checks().next().map(|c| &c.spec) {
        Some(CheckSpec::Probe(ProbeSpec::Scenario(s))) => (**s).clone(),
        other => panic!("not a scenario: {other:?}"),
    }
}

fn refused(keys: &str) -> String {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"login\"\nkind = \"login\"\n{keys}"
    );
    problems(&src).to_string()
}

#[test]
fn each_style_compiles_into_steps() {
    let form = spec(
        "style = \"form\"\nbase_url = \"https://shop.test\"\nlogin_url = \"/login\"\nusername = \"alice\"\npassword_env = \"KEEPUP_TEST_LOGIN_SECRET\"\ntoken_field = \"form_key\"\nsuccess_cookie = \"shop_customer\"\nlogout_url = \"/logout\"\n",
    );
    assert_eq!(form.kind(), "login");
    assert_eq!(form.login.as_ref().map(|l| l.style), Some(LoginStyle::Form));
    let names: Vec<&str> = form.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["login page", "log in"]);
    assert_eq!(form.cleanup[0].name, "log out");
    assert!(
        matches!(&form.steps[0].extract[0].from, ExtractFrom::Css { selector, .. } if selector.as_str() == "input[name=\"form_key\"]")
    );
    let Some(StepBody::Form(fields)) = &form.steps[1].body else {
        panic!("no form")
    };
    let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["username", "password", "form_key"]);

    let json = spec(
        "style = \"json\"\nlogin_url = \"https://shop.test/api/login\"\nusername = \"alice\"\npassword_env = \"KEEPUP_TEST_LOGIN_SECRET\"\nme_url = \"https://shop.test/api/me\"\n",
    );
    let Some(StepBody::Json(body)) = &json.steps[0].body else {
        panic!("no JSON body")
    };
    // The password goes in JSON-escaped.
    let rendered = body
        .render_json(|n| {
            json.inputs
                .secrets
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, s)| s.expose())
        })
        .unwrap_or_default();
    assert_eq!(rendered, r#"{"username": "alice", "password": "pa\"ss"}"#);
    assert_eq!(
        json.steps[1].headers[0].1.parts()[1],
        TemplatePart::Var("token".into())
    );

    let oauth = spec(
        "style = \"oauth2\"\ntoken_url = \"https://shop.test/oauth/token\"\nclient_id = \"keepup\"\nclient_secret_env = \"KEEPUP_TEST_LOGIN_SECRET\"\nscope = \"read\"\nmin_expiry = \"5m\"\n",
    );
    let expiry = oauth
        .login
        .and_then(|l| l.token_expiry)
        .unwrap_or_else(|| panic!("no expiry"));
    assert_eq!(expiry.min, Duration::from_secs(300));
    assert_eq!(expiry.max, Duration::from_secs(365 * 86_400));

    let bearer = spec(
        "style = \"bearer\"\nurl = \"https://shop.test/api/me\"\ntoken_env = \"KEEPUP_TEST_LOGIN_SECRET\"\n",
    );
    assert_eq!(bearer.steps[0].headers[0].0, http::header::AUTHORIZATION);
}

#[test]
fn a_style_missing_keys_or_given_foreign_ones_is_refused() {
    let text = refused(
        "style = \"form\"\nlogin_url = \"https://shop.test/login\"\npassword_env = \"KEEPUP_TEST_LOGIN_SECRET\"\nclient_id = \"x\"\n",
    );
    assert!(
        text.contains("site[0].check[0].username: style = \"form\" needs `username`"),
        "{text}"
    );
    assert!(
        text.contains("site[0].check[0].client_id: `client_id` is not used by style = \"form\""),
        "{text}"
    );
    assert!(text.contains("a form login needs `success_text`"), "{text}");
    // A key that does not belong is shown where it is written.
    assert!(
        text.contains(":9:13: site[0].check[0].client_id: `client_id` is not used"),
        "{text}"
    );
    let keys = "style = \"json\"\nlogin_url = \"https://shop.test/login\"\nusername = \"u\"\npassword_env = \"KEEPUP_TEST_LOGIN_UNSET\"\n";
    let text = refused(&format!("{keys}success_cookie = \"s\"\n"));
    assert!(
        text.contains(":10:18: site[0].check[0].success_cookie: `success_cookie` is not used"),
        "{text}"
    );
    let text = refused(keys);
    assert!(
        text.contains(":9:16: site[0].check[0].password_env: environment variable KEEPUP_TEST_LOGIN_UNSET is not set"),
        "{text}"
    );

    let text = refused("style = \"magic\"\n");
    assert!(
        text.contains(":6:9: site[0].check[0].style: unknown login style \"magic\""),
        "{text}"
    );

    let text = refused(
        "style = \"basic\"\nurl = \"/private\"\nusername = \"u\"\npassword = \"inline-pw\"\n",
    );
    assert!(text.contains(":9:1: site[0].check[0].password: `password` is a secret and is not written in the configuration file"), "{text}");
    assert!(!text.contains("inline-pw"), "{text}");

    let text = refused(
        "style = \"basic\"\nurl = \"/private\"\nusername = \"u\"\npassword_env = \"KEEPUP_TEST_LOGIN_SECRET\"\n",
    );
    assert!(
        text.contains(":7:7: site[0].check[0].url: \"/private\" is not an absolute URL"),
        "{text}"
    );
}
