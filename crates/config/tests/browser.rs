//! `kind = "browser"` and `[browser]`: a check with every action compiles
//! (selectors parsed, templates checked against the variables known at
//! each step, `[browser]` copied into the spec), and every mistake is
//! reported at its file:line:col naming the step's index and name.

mod support;

use keepup_config::browser::{BrowserAction, ScreenshotPolicy};
use keepup_config::{BrowserSpec, CheckSpec, Config, ProbeSpec, load_str};
use std::path::Path;
use support::{env_before_main, line_of, problems};

env_before_main!("KEEPUP_TEST_BROWSER_PASSWORD" => "pw-from-env");

fn load(src: &str) -> Config {
    load_str(src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
}

fn browser(config: &Config) -> &BrowserSpec {
    match config.checks().next().map(|c| &c.spec) {
        Some(CheckSpec::Probe(ProbeSpec::Browser(b))) => b,
        other => panic!("not a browser check: {other:?}"),
    }
}

/// A one-check site with `check` (the keys after `kind = "browser"`).
fn with(check: &str) -> String {
    format!(
        "[[site]]\nid = \"shop\"\n\n[[site.check]]\nid = \"walk\"\nkind = \"browser\"\nbase_url = \"http://127.0.0.1:8080\"\n{check}"
    )
}

/// The problem at the line of `marker`.
fn problem_at(src: &str, marker: &str) -> String {
    let p = problems(src);
    let line = line_of(src, marker);
    p.0.iter()
        .find(|x| x.line == line)
        .map(|x| x.to_string())
        .unwrap_or_else(|| panic!("no problem on line {line} ({marker}); got:\n{p}"))
}

#[test]
fn a_browser_check_with_every_action_compiles() {
    let src = format!(
        "[browser]\nexecutable = \"/usr/lib/chromium/chromium\"\nmax_concurrent = 3\n\n{}",
        with(
            r##"viewport = "1024x768"
screenshot = "never"
variables = { sku = "42", email = "alice@demo-shop.test" }
secrets = { password = { env = "KEEPUP_TEST_BROWSER_PASSWORD" } }
[[site.check.step]]
name = "product"
goto = "/product/{{ sku }}"
max_ms = 3000
[[site.check.step.extract]]
var = "form_key"
css = "input[name=form_key]"
attr = "value"
[[site.check.step]]
name = "qty"
fill = { selector = "#qty", value = "2" }
[[site.check.step]]
name = "colour"
select = { selector = "select#colour", value = "green" }
[[site.check.step]]
name = "quick add"
click = "button.quick-add"
[[site.check.step]]
name = "added"
wait_for_text = "Added"
[[site.check.step]]
name = "count"
wait_for = "#minicart .count"
[[site.check.step]]
name = "quiet"
wait_for = "network_idle"
[[site.check.step]]
name = "shows one"
assert_text = "1"
selector = "#minicart .count"
[[site.check.step]]
name = "key"
evaluate = "'{{ form_key }}'.length > 0"
equals = "true"
[[site.check.cleanup]]
name = "login again"
fill = { selector = "#pw", value = "{{ password }}" }
"##,
        )
    );
    let config = load(&src);
    let b = browser(&config);
    assert_eq!(b.settings.max_concurrent, 3);
    assert_eq!(
        b.settings.executable,
        Path::new("/usr/lib/chromium/chromium")
    );
    assert_eq!(b.viewport, (1024, 768));
    assert_eq!(b.screenshot, ScreenshotPolicy::Never);
    assert_eq!(b.steps.len(), 9);
    assert!(matches!(b.steps[0].action, BrowserAction::Goto(_)));
    assert_eq!(b.steps[0].max_ms, Some(3000));
    assert_eq!(b.steps[0].extract[0].var, "form_key");
    assert!(matches!(b.steps[6].action, BrowserAction::NetworkIdle));
    assert_eq!(b.steps[1].action.describe(), "fill #qty");
    assert_eq!(b.cleanup.len(), 1);
    assert_eq!(b.inputs.secrets[0].1.expose(), "pw-from-env");
}

#[test]
fn without_a_browser_section_the_debian_chromium_is_used_two_at_a_time() {
    let config = load(&with(
        "[[site.check.step]]\nname = \"home\"\ngoto = \"/\"\n",
    ));
    let b = browser(&config);
    assert_eq!(b.settings.executable, Path::new("chromium"));
    assert_eq!(b.settings.max_concurrent, 2);
    assert_eq!(b.viewport, (1280, 800));
    assert_eq!(b.screenshot, ScreenshotPolicy::OnFailure);
}

#[test]
fn an_undefined_variable_a_bad_selector_and_two_actions_are_refused_at_their_step() {
    let src = with(
        r##"[[site.check.step]]
name = "home"
goto = "/"
[[site.check.step]]
name = "login"
fill = { selector = "#email", value = "{{ email }}" }
[[site.check.step]]
name = "add"
click = "button[["
[[site.check.step]]
name = "both"
click = "#a"
goto = "/b"
"##,
    );
    let undefined = problem_at(&src, "value = \"{{ email }}\"");
    assert!(
        undefined.starts_with(&format!(
            "keepup.toml:{}:",
            line_of(&src, "value = \"{{ email }}\"")
        )) && undefined.contains(
            "site[0].check[0].step[1].fill.value: step 1 \"login\": {{ email }} is not defined"
        ),
        "{undefined}"
    );
    let selector = problem_at(&src, "click = \"button[[\"");
    assert!(
        selector.contains(
            "site[0].check[0].step[2].click: step 2 \"add\": CSS selector \"button[[\" does not parse"
        ),
        "{selector}"
    );
    let p = problems(&src);
    assert!(
        p.0.iter().any(|x| x
            .to_string()
            .contains("step 3 \"both\": one action per step, found goto, click")),
        "{p}"
    );
}

#[test]
fn an_inline_secret_is_refused_without_being_echoed() {
    let src = with(
        "secrets = { password = \"hunter2-inline\" }\n[[site.check.step]]\nname = \"home\"\ngoto = \"/\"\n",
    );
    let p = problems(&src).to_string();
    assert!(p.contains("secrets.password"), "{p}");
    assert!(!p.contains("hunter2-inline"), "{p}");
}

#[test]
fn only_css_extracts_bad_browser_settings_and_steps_without_action_are_refused() {
    let src = format!(
        "[browser]\nmax_concurrent = 0\n\n{}",
        with(
            r#"[[site.check.step]]
name = "home"
goto = "/"
[[site.check.step.extract]]
var = "token"
regex = 'token=(\w+)'
[[site.check.step]]
name = "nothing"
max_ms = 10
"#,
        )
    );
    let p = problems(&src).to_string();
    assert!(p.contains("browser.max_concurrent"), "{p}");
    assert!(
        p.contains("step 0 \"home\": a browser step extracts from the page with `css`"),
        "{p}"
    );
    assert!(
        p.contains("step 1 \"nothing\": the step has no action"),
        "{p}"
    );
}

#[test]
fn a_relative_goto_needs_a_base_url() {
    let src = "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"walk\"\nkind = \"browser\"\n[[site.check.step]]\nname = \"home\"\ngoto = \"/\"\n";
    let found = problem_at(src, "goto = \"/\"");
    assert!(
        found.contains("step 0 \"home\": \"/\" is not an absolute URL"),
        "{found}"
    );
}
