//! `kind = "scenario"`: a full scenario compiles (templates parsed, the
//! selectors, regexes and pointers compiled, defaults applied), and every
//! mistake the loader refuses is reported at its file:line:col naming the
//! step's index and name.

mod support;

use keepup_config::scenario::{ExtractFrom, StepAssertion, StepBody, TemplatePart};
use keepup_config::{BodyAssertion, CheckSpec, Config, ProbeSpec, ScenarioSpec, load_str};
use std::path::Path;
use std::time::Duration;
use support::{env_before_main, line_of, problems};

env_before_main!("KEEPUP_TEST_SCENARIO_PASSWORD" => "pw-from-env");

fn load(src: &str) -> Config {
    load_str(src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
}

fn scenario(config: &Config) -> &ScenarioSpec {
    match config.checks().next().map(|c| &c.spec) {
        Some(CheckSpec::Probe(ProbeSpec::Scenario(s))) => s,
        other => panic!("not a scenario: {other:?}"),
    }
}

const GOOD: &str = r##"
[[site]]
id = "shop"

[[site.check]]
id = "cart"
kind = "scenario"
interval = "1m"
timeout = "20s"
base_url = "https://www.shop.test:8443"
variables = { sku = "42", qty = 1 }
secrets = { password = { env = "KEEPUP_TEST_SCENARIO_PASSWORD" } }

[[site.check.step]]
name = "product page"
url = "/product/{{ sku }}"
headers = { "X-Requested-With" = "XMLHttpRequest" }
query = { q = "teapot" }
max_ms = 2000
contains = ["Add to cart"]
not_contains = ["Fatal error"]
matches = ['Price: \d+']
[[site.check.step.css]]
selector = "#minicart .count"
text = "1"
[[site.check.step.extract]]
var = "form_key"
css = "input[name=form_key]"
attr = "value"

[[site.check.step]]
name = "add to cart"
method = "post"
url = "/cart/add"
form = { form_key = "{{form_key}}", product = "{{ sku }}", qty = "{{ qty }}" }
expect_status = [303]
follow_redirects = false
[[site.check.step.extract]]
var = "session"
cookie = "shop_session"
[[site.check.step.extract]]
var = "next"
header = "Location"

[[site.check.step]]
name = "api"
method = "POST"
url = "https://api.shop.test/cart"
json = '{"sku": "{{ sku }}", "password": "{{ password }}"}'
[[site.check.step.extract]]
var = "items"
json = "/items"

[[site.check.step]]
name = "api check"
url = "{{ next }}"
json_body = '{"a": 1}'
[[site.check.step.json]]
pointer = "/ok"
equals = true
[[site.check.step.json]]
pointer = "/items"
exists = true
[[site.check.step.extract]]
var = "total"
regex = 'Total: (\d+)'

[[site.check.cleanup]]
name = "empty cart"
method = "POST"
url = "/cart/clear"
form = { form_key = "{{ form_key }}" }
"##;

#[test]
fn a_scenario_compiles_with_its_templates_selectors_and_defaults() {
    let config = load(GOOD);
    let check = config.checks().next().unwrap_or_else(|| panic!("no check"));
    assert_eq!(check.spec.kind(), "scenario");
    assert_eq!(check.timeout, Duration::from_secs(20));
    let s = scenario(&config);
    assert_eq!(
        s.inputs.base_url.as_ref().map(|u| u.to_string()),
        Some("https://www.shop.test:8443/".into())
    );
    assert_eq!(
        s.inputs.variables,
        vec![("qty".into(), "1".into()), ("sku".into(), "42".into())]
    );
    assert_eq!(s.inputs.secrets.len(), 1);
    assert_eq!(s.inputs.secrets[0].1.expose(), "pw-from-env");
    assert_eq!(s.steps.len(), 4);
    assert_eq!(s.cleanup.len(), 1);

    let product = &s.steps[0];
    assert_eq!(product.index, 0);
    assert_eq!(product.method, http::Method::GET);
    assert_eq!(
        product.url.parts(),
        &[
            TemplatePart::Literal("/product/".into()),
            TemplatePart::Var("sku".into())
        ]
    );
    assert_eq!(product.expect_status.len(), 1);
    assert!(product.expect_status[0].contains(200) && product.expect_status[0].contains(399));
    assert!(!product.expect_status[0].contains(400));
    assert!(product.follow_redirects);
    assert_eq!(product.max_time, Some(Duration::from_millis(2000)));
    assert_eq!(product.headers[0].0.as_str(), "x-requested-with");
    assert_eq!(product.query[0].0, "q");
    assert_eq!(product.assertions.len(), 4);
    assert!(matches!(
        &product.assertions[3],
        StepAssertion::Css { selector, text: Some(t) } if selector.as_str() == "#minicart .count" && t == "1"
    ));
    assert!(matches!(
        &product.extract[0].from,
        ExtractFrom::Css { attr: Some(a), .. } if a == "value"
    ));

    let add = &s.steps[1];
    assert_eq!(add.method, http::Method::POST);
    assert!(!add.follow_redirects);
    let Some(StepBody::Form(form)) = &add.body else {
        panic!("no form: {:?}", add.body)
    };
    assert_eq!(form[0].0, "form_key");
    assert_eq!(form[0].1.parts(), &[TemplatePart::Var("form_key".into())]);
    assert!(matches!(&add.extract[0].from, ExtractFrom::Cookie(c) if c == "shop_session"));
    assert!(matches!(&add.extract[1].from, ExtractFrom::Header(h) if h == "location"));

    let api = &s.steps[2];
    assert!(
        matches!(&api.body, Some(StepBody::Json(t)) if t.vars().collect::<Vec<_>>() == ["sku", "password"])
    );
    assert!(matches!(&api.extract[0].from, ExtractFrom::Json(p) if p == "/items"));

    let check_step = &s.steps[3];
    assert!(
        matches!(&check_step.body, Some(StepBody::Json(t)) if t.as_literal() == Some(r#"{"a": 1}"#))
    );
    assert!(matches!(
        &check_step.assertions[0],
        StepAssertion::Body(BodyAssertion::Json(j)) if j.pointer == "/ok"
    ));
    assert!(matches!(
        &check_step.assertions[1],
        StepAssertion::Body(BodyAssertion::Json(j)) if j.expect == keepup_config::JsonExpect::Present
    ));
    assert!(matches!(&check_step.extract[0].from, ExtractFrom::Regex(_)));
    assert_eq!(s.cleanup[0].name, "empty cart");
}

/// The problem at the line of `marker` (the first column found there).
fn problem_at(src: &str, marker: &str) -> String {
    let p = problems(src);
    let line = line_of(src, marker);
    p.0.iter()
        .find(|x| x.line == line)
        .map(|x| x.to_string())
        .unwrap_or_else(|| panic!("no problem on line {line} ({marker}); got:\n{p}"))
}

/// A one-check site with `check` (the keys after `kind = "scenario"`).
fn with(check: &str) -> String {
    format!(
        "[[site]]\nid = \"shop\"\n\n[[site.check]]\nid = \"cart\"\nkind = \"scenario\"\nbase_url = \"http://127.0.0.1:8080\"\n{check}"
    )
}

#[test]
fn a_template_naming_an_undefined_variable_is_refused_with_the_step() {
    let src = with(
        r#"variables = { sku = "42" }
[[site.check.step]]
name = "add to cart"
url = "/cart/add"
form = { form_key = "{{ form_key }}" }
[[site.check.step]]
name = "product"
url = "/product/{{ sku }}"
[[site.check.step.extract]]
var = "form_key"
css = "input[name=form_key]"
attr = "value"
"#,
    );
    let found = problem_at(&src, "form = {");
    assert!(
        found.starts_with(&format!(
            "keepup.toml:{}:8: site[0].check[0].step[0].form.form_key: step 0 \"add to cart\": {{{{ form_key }}}} is not defined",
            line_of(&src, "form = {")
        )),
        "{found}"
    );
    assert!(
        found.contains("extract `form_key` in an earlier step"),
        "{found}"
    );
}

#[test]
fn a_step_without_url_is_refused_with_its_index_and_name() {
    let src = with(
        "[[site.check.step]]\nname = \"home\"\nurl = \"/\"\n[[site.check.step]]\nname = \"cart\"\nmethod = \"GET\"\n",
    );
    let p = problems(&src);
    assert_eq!(p.0.len(), 1, "{p}");
    let text = p.0[0].to_string();
    assert!(
        text.contains("site[0].check[0].step[1].url: step 1 \"cart\": missing key `url`"),
        "{text}"
    );
    assert_eq!(p.0[0].line, line_of(&src, "name = \"cart\"") - 1);
}

#[test]
fn a_css_selector_that_does_not_parse_is_refused() {
    let src = with(
        "[[site.check.step]]\nname = \"home\"\nurl = \"/\"\n[[site.check.step.css]]\nselector = \"div[[\"\n",
    );
    let found = problem_at(&src, "selector = ");
    assert!(found.contains(":12: site[0].check[0].step[0].css[0].selector: step 0 \"home\": CSS selector \"div[[\" does not parse"), "{found}");

    let src = with(
        "[[site.check.step]]\nname = \"home\"\nurl = \"/\"\n[[site.check.step.extract]]\nvar = \"k\"\ncss = \"input[\"\n",
    );
    let found = problem_at(&src, "css = ");
    assert!(
        found.contains("step[0].extract[0].css: step 0 \"home\": CSS selector"),
        "{found}"
    );
}

#[test]
fn a_bad_regex_or_json_pointer_is_refused() {
    let src = with(
        "[[site.check.step]]\nname = \"home\"\nurl = \"/\"\nmatches = ['(unclosed']\n[[site.check.step.extract]]\nvar = \"k\"\nregex = 'no group'\n[[site.check.step.extract]]\nvar = \"j\"\njson = \"items\"\n",
    );
    let p = problems(&src);
    assert_eq!(p.0.len(), 3, "{p}");
    assert!(problem_at(&src, "matches = ").contains("step[0].matches: invalid regex"));
    assert!(
        problem_at(&src, "regex = ").contains("step 0 \"home\": the regex needs a capture group")
    );
    assert!(
        problem_at(&src, "json = ")
            .contains("step[0].extract[1].json: invalid JSON pointer \"items\"")
    );
}

#[test]
fn an_inline_secret_is_refused_without_echoing_it() {
    let src = with(
        "secrets = { password = \"hunter2-inline\" }\n[[site.check.step]]\nname = \"home\"\nurl = \"/\"\n",
    );
    let p = problems(&src);
    let found = problem_at(&src, "secrets = ");
    assert!(
        found.contains(":8:24: site[0].check[0].secrets.password: a secret is not written in the configuration file"),
        "{found}"
    );
    assert!(found.contains("password = { env = \"NAME\" }"), "{found}");
    assert!(!p.to_string().contains("hunter2-inline"), "{p}");
}

#[test]
fn variable_and_secret_names_that_are_not_identifiers_are_refused() {
    let src = with(
        "variables = { \"9lives\" = \"x\" }\nsecrets = { \"pass-word\" = { env = \"KEEPUP_TEST_SCENARIO_PASSWORD\" } }\n[[site.check.step]]\nname = \"home\"\nurl = \"/\"\n[[site.check.step]]\nname = \"home\"\nurl = \"/again\"\n",
    );
    let p = problems(&src);
    let text = p.to_string();
    assert!(text.contains(":8:26: site[0].check[0].variables.9lives: variable name \"9lives\" is not an identifier"), "{p}");
    assert!(text.contains(":9:27: site[0].check[0].secrets.pass-word: secret name \"pass-word\" is not an identifier"), "{p}");

    let src =
        with("variables = { sku = \"\" }\n[[site.check.step]]\nname = \"home\"\nurl = \"/\"\n");
    let text = problems(&src).to_string();
    assert!(
        text.contains(":8:21: site[0].check[0].variables.sku: variable \"sku\" is empty"),
        "{text}"
    );
}

#[test]
fn a_bad_variable_or_secret_is_reported_at_its_own_line() {
    let src = with(
        "[site.check.variables]\nsku = \"42\"\nqty = \"\"\n[site.check.secrets]\nkey = { env = \"KEEPUP_TEST_SCENARIO_UNSET\" }\npassword = \"inline\"\n[[site.check.step]]\nname = \"home\"\nurl = \"/\"\n",
    );
    let text = problems(&src).to_string();
    for (marker, problem) in [
        (
            "qty = ",
            "site[0].check[0].variables.qty: variable \"qty\" is empty",
        ),
        (
            "key = ",
            "site[0].check[0].secrets.key_env: environment variable KEEPUP_TEST_SCENARIO_UNSET is not set",
        ),
        (
            "password = ",
            "site[0].check[0].secrets.password: a secret is not written",
        ),
    ] {
        let line = line_of(&src, marker);
        assert!(
            text.contains(&format!("keepup.toml:{line}:")),
            "{marker}: {text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("keepup.toml:{line}:")) && l.contains(problem)),
            "{problem} on line {line}: {text}"
        );
    }
}

#[test]
fn a_duplicate_step_name_is_refused_at_the_second() {
    let src = with(
        "[[site.check.step]]\nname = \"home\"\nurl = \"/\"\n[[site.check.step]]\nname = \"home\"\nurl = \"/again\"\n[[site.check.cleanup]]\nname = \"home\"\nurl = \"/bye\"\n",
    );
    let p = problems(&src);
    assert_eq!(p.0.len(), 2, "{p}");
    assert!(p.0[0].to_string().contains(":12:8: site[0].check[0].step[1].name: step 1 \"home\": another step already has this name"), "{p}");
    assert!(
        p.0[1]
            .to_string()
            .contains("site[0].check[0].cleanup[0].name: step 0 \"home\""),
        "{p}"
    );
}

#[test]
fn a_relative_url_needs_a_base_url_and_a_template_must_close() {
    let src = "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"cart\"\nkind = \"scenario\"\n[[site.check.step]]\nname = \"home\"\nurl = \"/\"\n[[site.check.step]]\nname = \"open\"\nurl = \"http://127.0.0.1/{{ sku\"\n";
    let p = problems(src);
    assert_eq!(p.0.len(), 2, "{p}");
    assert!(p.0[0].to_string().contains(":8:7: site[0].check[0].step[0].url: step 0 \"home\": \"/\" is not an absolute URL (hint: give the check a base_url"), "{p}");
    assert!(
        p.0[1]
            .to_string()
            .contains(":11:7: site[0].check[0].step[1].url: step 1 \"open\": unclosed \"{{\""),
        "{p}"
    );
}

#[test]
fn an_extraction_takes_exactly_one_source_and_a_body_is_a_form_or_json() {
    let src = with(
        "[[site.check.step]]\nname = \"home\"\nurl = \"/\"\nform = { a = \"1\" }\njson = '{}'\n[[site.check.step.extract]]\nvar = \"k\"\ncss = \"input\"\nregex = '(x)'\n",
    );
    let p = problems(&src);
    let text = p.to_string();
    assert!(
        text.contains("step 0 \"home\": a step sends a form or a JSON body, not both"),
        "{p}"
    );
    assert!(
        text.contains("step[0].extract[0]: step 0 \"home\": an extraction takes exactly one of"),
        "{p}"
    );
}

#[test]
fn an_unknown_key_in_a_step_is_refused_at_its_line() {
    let src = with(
        "[[site.check.step]]\nname = \"home\"\nurl = \"/\"\n[[site.check.step]]\nname = \"cart\"\nurl = \"/cart\"\ncontanis = [\"x\"]\n",
    );
    let p = problems(&src);
    assert_eq!(p.0.len(), 1, "{p}");
    assert_eq!(
        p.0[0].to_string(),
        "keepup.toml:14:1: site[0].check[0].step[1].contanis: unknown key `contanis` (hint: did you mean `contains`?)"
    );
}
