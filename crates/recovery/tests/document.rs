//! The Recovery Plan document from a real configuration and a real
//! journal: a drill of the plan runs through the engine first (files
//! backed up by keepup's backup path and restored, a command, a verify
//! against a listening port), then the document is written as the daemon
//! writes it. Both renderings are parsed (scraper, pulldown-cmark), the
//! printed restic restore command is run by hand with the real `restic`
//! and restores the files, the nsupdate lines are those whose real
//! nsupdate run tests/dns.rs proves, and no secret value is in either file.

use keepup_backup::NoProgress;
use keepup_recovery::document::{self, Written};
use keepup_recovery::steps::dns::{KEY_FILE_PLACEHOLDER, switch_of};
use keepup_recovery::{Confirmation, Quiet, RealClock, Runner, drill as run_drill};
use keepup_store::{DrRunState, Store};
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Parser, Tag, TagEnd};
use scraper::{Html, Selector};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const TSIG_SECRET: &str = "ZG9jdW1lbnQtdGVzdC10c2lnLXNlY3JldC12YWx1ZQ==";
const REPO_PASSWORD: &str = "repo-password-never-printed";
const DB_PASSWORD: &str = "db-password-never-printed";
const SLACK_URL: &str = "https://hooks.slack.example/services/T000/B000/never-printed";
/// A step name a renderer must escape.
const TRICKY_NAME: &str = "start <b>the</b> *shop* | now";

struct Setup {
    dir: tempfile::TempDir,
    config: keepup_config::Config,
    production: PathBuf,
    standby: PathBuf,
    _listener: std::net::TcpListener,
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The configuration: files and database backup plans, a site with a
/// listening TCP check and an HTTP check, routing with a contact, a team
/// and a policy, and the plan with its activate and return steps.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let production = d.join("prod");
    write(&production.join("www/index.php"), "<?php echo 'shop';\n");
    write(&production.join("www/media/logo.svg"), "<svg/>\n");
    write(&production.join("logs/access.log"), "GET /\n");
    std::fs::create_dir_all(d.join("repo")).unwrap();
    write(&d.join("secrets/repo.pass"), &format!("{REPO_PASSWORD}\n"));
    write(&d.join("secrets/db.pass"), DB_PASSWORD);
    write(&d.join("secrets/tsig.key"), TSIG_SECRET);
    write(&d.join("secrets/slack.url"), SLACK_URL);
    // The drill verifies the shop at the drill environment's address.
    let listener = std::net::TcpListener::bind("127.0.0.30:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let standby = d.join("standby");
    let src = format!(
        r#"[store]
path = "keepup.db"

[[site]]
id = "shop"
name = "The Shop"
[[site.check]]
id = "home"
kind = "tcp"
host = "127.0.0.30"
port = {port}
timeout = "2s"
[[site.check]]
id = "front"
kind = "http"
url = "http://127.0.0.1:{port}/"

[[channel]]
id = "ops-mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = 9
tls = "none"
from = "keepup@shop.example"
to = ["ops@shop.example"]
[[channel]]
id = "chat"
kind = "slack"
webhook_url_file = "secrets/slack.url"

[[contact]]
id = "alice"
name = "Alice Martin"
channels = ["ops-mail", "chat"]
[[team]]
id = "ops"
members = ["alice"]
[[policy]]
id = "shops"
sites = ["shop"]
[[policy.level]]
notify = ["team:ops"]

[[backup]]
id = "shop-files"
allow_single_target = true
password_file = "secrets/repo.pass"
[[backup.source]]
kind = "paths"
paths = ["{prod}"]
[[backup.target]]
id = "local"
repository = "repo"

[[backup]]
id = "shop-db"
allow_single_target = true
password_file = "secrets/repo.pass"
[[backup.source]]
kind = "postgres"
host = "127.0.0.1"
user = "shop"
dbname = "shop"
password_file = "secrets/db.pass"
[[backup.target]]
id = "local"
repository = "repo"

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "1h"
rpo = "2h"
situations = ["The production datacenter burns down."]
decides = "the head of operations"
contacts = ["Alice Martin, operations, +33 1 23 45 67 89"]
document_dir = "documents"
rpo_query = "SELECT max(created_at) FROM orders"
[recovery.production]
addresses = ["127.0.0.10"]
[recovery.standby]
addresses = ["127.0.0.20"]
[recovery.drill]
addresses = ["127.0.0.30"]
dns_names = ["drill.shop.example"]
files_root = "{drill_root}"
[[recovery.tsig_key]]
id = "k"
name = "keepup-update"
algorithm = "hmac-sha256"
secret_file = "secrets/tsig.key"

[[recovery.activate]]
kind = "restore_files"
name = "restore the shop's files"
backup = "shop-files"
paths = ["{www}"]
to = "{standby}"
[[recovery.activate]]
kind = "command"
name = "{tricky}"
drill = "run"
run = ["sh", "-c", "sleep 1; echo started"]
[[recovery.activate]]
kind = "verify"
name = "the shop answers"
checks = ["home"]
deadline = "30s"
interval = "1s"

[[recovery.return]]
kind = "maintenance"
action = "start"
duration = "2h"
[[recovery.return]]
kind = "restore_database"
backup = "shop-db"
db_host = "127.0.0.1"
db_user = "shop"
database = "shop"
password_file = "secrets/db.pass"
check_query = "SELECT id FROM orders LIMIT 1"
[[recovery.return]]
kind = "dns"
name = "DNS back to production"
zone = "shop.example"
names = ["www.shop.example"]
server = "127.0.0.1:5353"
key = "k"
[[recovery.return]]
kind = "maintenance"
action = "end"
[[recovery.return]]
kind = "notify"
channels = ["ops-mail", "chat"]
message = "Returned to production"
"#,
        prod = production.display(),
        www = production.join("www").display(),
        standby = standby.display(),
        drill_root = d.join("drill").display(),
        tricky = TRICKY_NAME,
    );
    let path = d.join("keepup.toml");
    write(&path, &src);
    let config = keepup_config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    Setup {
        dir,
        config,
        production,
        standby,
        _listener: listener,
    }
}

/// Backs the files up with keepup's backup path and runs a drill of the
/// plan through the engine, so that the journal has durations and figures.
fn drill(s: &Setup, store: &Store) -> i64 {
    let files = s
        .config
        .backups
        .iter()
        .find(|b| b.id == "shop-files")
        .unwrap();
    keepup_backup::init(files, "local").expect("init");
    let report = keepup_backup::run_plan(files, None, Arc::new(NoProgress));
    assert!(report.targets[0].error.is_none(), "{report:#?}");
    let plan = s.config.recovery_plan("shop-dr").unwrap();
    let yes = Confirmation::AssumeYes;
    let runner = Runner {
        config: &s.config,
        store,
        clock: &RealClock,
        confirm: &yes,
        observer: &Quiet,
        who: "test",
    };
    let r = run_drill(&runner, plan).expect("drill");
    assert_eq!(r.state, DrRunState::Completed, "{}", r.message);
    r.run
}

/// The Markdown's level-2 headings and its fenced blocks, each with the
/// bold caption before it.
fn markdown_parts(md: &str) -> (Vec<String>, BTreeMap<String, Vec<String>>) {
    let mut headings = Vec::new();
    let mut blocks: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut in_h2, mut in_strong, mut in_code) = (false, false, false);
    let (mut text, mut caption, mut code) = (String::new(), String::new(), String::new());
    for ev in Parser::new_ext(md, pulldown_cmark::Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                ..
            }) => {
                in_h2 = true;
                text.clear();
            }
            Event::End(TagEnd::Heading(HeadingLevel::H2)) => {
                in_h2 = false;
                headings.push(text.clone());
            }
            Event::Start(Tag::Strong) => {
                in_strong = true;
                caption.clear();
            }
            Event::End(TagEnd::Strong) => in_strong = false,
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) => {
                in_code = true;
                code.clear();
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                blocks
                    .entry(caption.clone())
                    .or_default()
                    .push(code.clone());
            }
            Event::Text(t) | Event::Code(t) => {
                if in_h2 {
                    text.push_str(&t);
                } else if in_code {
                    code.push_str(&t);
                } else if in_strong {
                    caption.push_str(&t);
                }
            }
            _ => {}
        }
    }
    (headings, blocks)
}

#[test]
fn the_document_is_written_from_the_plan_and_the_journal_and_its_commands_work_by_hand() {
    let s = setup();
    let store = Store::open(&s.config.store.path).unwrap();
    let run = drill(&s, &store);
    let plan = s.config.recovery_plan("shop-dr").unwrap();

    // As the daemon writes it.
    let written = document::write_configured(&s.config, Some(&store), 1_780_000_000_000);
    assert_eq!(written.len(), 1);
    let Written { html, markdown } = written[0].1.as_ref().expect("written").clone();
    assert_eq!(html, s.dir.path().join("documents/shop-dr.html"));
    let html_text = std::fs::read_to_string(&html).unwrap();
    let md = std::fs::read_to_string(&markdown).unwrap();

    // No secret value in either file; where each is kept is.
    for file in [&html_text, &md] {
        for secret in [TSIG_SECRET, REPO_PASSWORD, DB_PASSWORD, SLACK_URL] {
            assert!(!file.contains(secret), "{secret} is in the document");
        }
        for place in [
            "secrets/repo.pass",
            "secrets/db.pass",
            "secrets/tsig.key",
            "secrets/slack.url",
        ] {
            assert!(file.contains(place), "where {place} is kept is not said");
        }
    }

    // The HTML: sections, steps with their last durations, the drill.
    let page = Html::parse_document(&html_text);
    let sel = |s: &str| Selector::parse(s).unwrap();
    let text_of = |e: scraper::ElementRef<'_>| e.text().collect::<String>();
    let h2: Vec<String> = page.select(&sel("section > h2")).map(text_of).collect();
    for want in [
        "When to activate",
        "Who decides, whom to call",
        "Where the backups are",
        "Activation: production → standby, step by step",
        "Return to production, step by step",
        "How to verify",
    ] {
        assert!(h2.iter().any(|h| h.ends_with(want)), "{want:?} in {h2:?}");
    }
    assert!(page.select(&sel("script")).next().is_none());
    assert!(html_text.contains("@media print"));
    let steps: Vec<String> = page.select(&sel("div.step")).map(text_of).collect();
    assert_eq!(steps.len(), plan.activate.len() + plan.return_steps.len());
    for (i, step) in steps.iter().take(plan.activate.len()).enumerate() {
        assert!(
            step.contains("last time"),
            "activate step {} has no duration: {step}",
            i + 1
        );
    }
    assert!(steps[1].contains("took 1s last time"), "{}", steps[1]);
    // The step's name arrives as text, not markup.
    let names: Vec<String> = page.select(&sel("div.step h3")).map(text_of).collect();
    assert_eq!(names[1], format!("Step 2: {TRICKY_NAME}"));
    assert!(page.select(&sel("div.step h3 b")).next().is_none());
    let glance = text_of(page.select(&sel("section#s1")).next().unwrap());
    let r = store.dr_run(run).unwrap().unwrap();
    assert!(
        glance.contains(&format!("(run {run})")) && glance.contains("measured RTO"),
        "{glance}"
    );
    assert!(r.rto_ms.is_some() && r.rpo_ms.is_some(), "{r:?}");
    assert!(
        glance.contains("keepup dr drill shop-dr") && glance.contains("check shop/dr-shop-dr"),
        "{glance}"
    );
    let people = text_of(page.select(&sel("section#s3")).next().unwrap());
    for want in [
        "the head of operations",
        "Alice Martin, operations, +33 1 23 45 67 89",
        "e-mail to ops@shop.example",
        "webhook URL kept in the file",
    ] {
        assert!(people.contains(want), "{want:?} in {people}");
    }
    assert!(
        text_of(page.select(&sel("section#s2")).next().unwrap())
            .contains("The production datacenter burns down.")
    );

    // The Markdown says the same: headings, and the same commands.
    let (md_h2, md_blocks) = markdown_parts(&md);
    assert_eq!(md_h2, h2, "the two renderings have the same sections");
    assert!(md.contains(&format!(
        "Step 2: {}",
        r"start \<b\>the\</b\> \*shop\* \| now"
    )));
    let html_pre: Vec<String> = page.select(&sel("pre")).map(text_of).collect();
    let md_code: Vec<String> = md_blocks.values().flatten().cloned().collect();
    for block in &md_code {
        assert!(html_pre.contains(block), "{block:?} is not in the HTML");
    }

    // The restore command, run by hand with the real restic, restores the
    // files onto the standby.
    let restore = md_blocks
        .iter()
        .filter(|(caption, _)| caption.starts_with("From target local ("))
        .flat_map(|(_, b)| b)
        .find(|b| b.contains(" restore latest "))
        .cloned()
        .expect("a restore block for target local");
    assert!(restore.contains("restic -r"), "{restore}");
    assert!(restore.contains("--password-file"), "{restore}");
    // The drill restored under its files_root, never onto the standby.
    assert!(!s.standby.exists());
    let out = std::process::Command::new("sh")
        .arg("-e")
        .arg("-c")
        .arg(&restore)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{restore}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let www = s.production.join("www");
    let restored = s.standby.join(www.strip_prefix("/").unwrap());
    for f in ["index.php", "media/logo.svg"] {
        assert_eq!(
            std::fs::read(restored.join(f)).unwrap(),
            std::fs::read(www.join(f)).unwrap(),
            "{f}"
        );
    }
    assert!(
        !s.standby
            .join(s.production.join("logs").strip_prefix("/").unwrap())
            .exists()
    );

    // The database import: drop, create, restic dump into psql, check.
    let db = md_blocks
        .iter()
        .filter(|(c, _)| c.starts_with("From target local ("))
        .flat_map(|(_, b)| b)
        .find(|b| b.contains("restic") && b.contains(" dump "))
        .expect("a database block");
    for want in [
        "export PGPASSWORD=\"$(cat ",
        "DROP DATABASE IF EXISTS \"shop\" WITH (FORCE)",
        "CREATE DATABASE \"shop\"",
        "dump latest --tag keepup:shop-db /shop-db/shop.sql | psql -h 127.0.0.1 -p 5432 -U shop",
        "SELECT id FROM orders LIMIT 1",
    ] {
        assert!(db.contains(want), "{want:?} in {db}");
    }

    // The DNS lines are the ones tests/dns.rs feeds to the real nsupdate.
    let keepup_config::recovery::StepAction::Dns(dns) = &plan.return_steps[2].action else {
        panic!("step 3 of the return is the dns step");
    };
    let expected = keepup_recovery::dns::nsupdate_script(
        &switch_of(dns, &plan.tsig_keys, &plan.production, &s.config.dns).unwrap(),
        KEY_FILE_PLACEHOLDER,
    );
    assert!(md_code.contains(&expected), "{expected}");
    assert!(expected.contains("update add www.shop.example. 60 A 127.0.0.10"));
}

#[test]
fn without_a_journal_the_document_has_no_figures_and_says_so() {
    let s = setup();
    let plan = s.config.recovery_plan("shop-dr").unwrap();
    let doc = document::build(&s.config, plan, None, 0).unwrap();
    let md = document::render_markdown(&doc);
    assert!(
        md.contains("never: no drill of this plan has completed"),
        "{md}"
    );
    assert!(md.contains("The journal holds no run of this plan yet"));
    assert!(!md.contains("last time"));
}

#[test]
fn the_notes_of_the_checks_the_plan_verifies_and_of_finding_codes_are_in_the_document() {
    let s = setup();
    let path = s.dir.path().join("keepup.toml");
    let src = std::fs::read_to_string(&path).unwrap();
    write(
        &s.dir.path().join("runbooks/shop.md"),
        "# Shop\n\nCall Alice <b>first</b>.",
    );
    let src = src
        .replacen(
            "name = \"The Shop\"\n",
            "name = \"The Shop\"\nrunbook = { file = \"runbooks/shop.md\" }\n",
            1,
        )
        .replacen(
            "timeout = \"2s\"\n",
            "timeout = \"2s\"\nrunbook = \"Restart **haproxy** [x](javascript:alert(1))\"\n",
            1,
        )
        .replacen(
            "url = \"http://127.0.0.1:",
            "runbook = \"NOT VERIFIED BY THE PLAN\"\nurl = \"http://127.0.0.1:",
            1,
        )
        + "\n[[runbook]]\ncodes = [\"TCP_CONNECT_FAILED\"]\ntext = \"Is it *listening*? `ss -ltn`\"\n";
    write(&path, &src);
    let config = keepup_config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let plan = config.recovery_plan("shop-dr").unwrap();
    let doc = document::build(&config, plan, None, 0).unwrap();

    let html = document::render_html(&doc);
    let page = Html::parse_document(&html);
    let sel = Selector::parse("section").unwrap();
    let section = page
        .select(&sel)
        .find(|s| s.text().collect::<String>().contains("Runbook notes"))
        .unwrap_or_else(|| panic!("no runbook section: {html}"))
        .html();
    assert!(section.contains("<h3>shop/home</h3>"), "{section}");
    assert!(
        section.contains("Restart <strong>haproxy</strong>"),
        "{section}"
    );
    assert!(!section.contains("javascript"), "{section}");
    assert!(section.contains("<h3>site shop</h3>"), "{section}");
    assert!(
        section.contains("Call Alice &lt;b&gt;first&lt;/b&gt;."),
        "{section}"
    );
    assert!(section.contains("<h3>TCP_CONNECT_FAILED</h3>"), "{section}");
    assert!(section.contains("Is it <em>listening</em>?"), "{section}");
    assert!(
        !html.contains("NOT VERIFIED BY THE PLAN"),
        "only the verified checks' notes"
    );

    let md = document::render_markdown(&doc);
    assert!(
        md.contains("### shop/home\n\n> Restart **haproxy** x\n"),
        "{md}"
    );
    assert!(
        md.contains("### site shop\n\n> # Shop\n>\n> Call Alice &lt;b>first&lt;/b>.\n"),
        "{md}"
    );
    // Without notes the section says so, and where keepup's own are.
    let plain = document::build(
        &s.config,
        s.config.recovery_plan("shop-dr").unwrap(),
        None,
        0,
    )
    .unwrap();
    let md = document::render_markdown(&plain);
    assert!(
        md.contains("The configuration has no note for these checks.")
            && md.contains("`keepup codes CODE`"),
        "{md}"
    );
}

/// At night the plan says, per check it verifies, which notes go with it:
/// a `[[runbook]]` narrowed to its site before the general one, and the
/// finding codes the check had lately (from the store) with the first
/// sentence of keepup's own note and the command that prints all of it.
#[test]
fn the_plan_lists_the_notes_of_its_checks_and_the_codes_they_had_with_keepups_note() {
    use keepup_model::{CheckId, Finding, Outcome, Severity, Status, codes};
    let s = setup();
    let path = s.dir.path().join("keepup.toml");
    let src = std::fs::read_to_string(&path).unwrap()
        + "\n[[runbook]]\ncodes = [\"TLS_CERT_EXPIRING\"]\ntext = \"We renew everywhere.\"\n\n[[runbook]]\ncodes = [\"TLS_CERT_EXPIRING\"]\nsites = [\"shop\"]\ntext = \"The shop renews its own: call Alice.\"\n\n[[runbook]]\ncodes = [\"PROBE_TIMEOUT\"]\ntext = \"Look at the load balancer first.\"\n";
    write(&path, &src);
    let config = keepup_config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(&s.dir.path().join("keepup.db")).unwrap();
    let now = 1_796_500_800_000;
    let failed = |check: &str, code: &str, days_ago: i64| {
        let mut o = Outcome::new(Status::Down, "down");
        o.push(Finding::new(code, Severity::Critical, "it failed"));
        keepup_store::ResultRecord {
            check: CheckId::new("shop", check),
            at: now - days_ago * 86_400_000,
            outcome: o,
            backfill: false,
        }
    };
    store
        .record(&[
            failed("home", codes::TCP_CONNECT_FAILED, 3),
            failed("home", codes::PROBE_TIMEOUT, 2),
            failed("home", codes::TCP_SEND_FAILED, 200),
            failed("front", codes::HTTP_STATUS_UNEXPECTED, 1),
        ])
        .unwrap();
    let doc = document::build(
        &config,
        config.recovery_plan("shop-dr").unwrap(),
        Some(&store),
        now,
    )
    .unwrap();
    let md = document::render_markdown(&doc);
    let section = &md[md.find("Runbook notes").unwrap_or_else(|| panic!("{md}"))..];

    assert!(
        section.contains("### TLS\\_CERT\\_EXPIRING\n\n> The shop renews its own: call Alice.\n"),
        "{section}"
    );
    assert!(
        !md.contains("We renew everywhere."),
        "the narrowed note goes first: {section}"
    );
    assert!(
        section.contains("### PROBE\\_TIMEOUT\n\n> Look at the load balancer first.\n"),
        "{section}"
    );
    let tcp_first = keepup_model::runbook::default_note(codes::TCP_CONNECT_FAILED)
        .unwrap()
        .split(". ")
        .next()
        .unwrap()
        .to_owned();
    assert!(
        section.contains("| shop/home | TCP\\_CONNECT\\_FAILED | ")
            && section.contains("keepup codes TCP\\_CONNECT\\_FAILED"),
        "{section}"
    );
    assert!(section.contains(&tcp_first), "{tcp_first:?} in {section}");
    assert!(
        section.contains("| shop/home | PROBE\\_TIMEOUT | the \\[\\[runbook\\]\\] note above |"),
        "{section}"
    );
    // Only the verified check, only the last 90 days.
    assert!(!section.contains("HTTP\\_STATUS"), "{section}");
    assert!(!section.contains("TCP\\_SEND\\_FAILED"), "{section}");
}

/// A note is Markdown kept as Markdown in the `.md` document, which people
/// read through a renderer (a Git forge, a wiki): its raw HTML must arrive
/// as text, and its script, off-site and image links must not arrive at
/// all, as in the HTML document.
#[test]
fn the_markdown_document_shows_a_notes_html_as_text_and_drops_unsafe_links() {
    let s = setup();
    let path = s.dir.path().join("keepup.toml");
    let note = "Restart <script>alert(1)</script> **haproxy**\n\n<img src=x onerror=alert(2)>\n\n[run this](javascript:alert(3)) or [the wiki](//evil.example/steal) or [ours](https://wiki.example/haproxy) ![graph](https://img.example/g.png)\n";
    write(&s.dir.path().join("runbooks/home.md"), note);
    let src = std::fs::read_to_string(&path).unwrap().replacen(
        "timeout = \"2s\"\n",
        "timeout = \"2s\"\nrunbook = { file = \"runbooks/home.md\" }\n",
        1,
    );
    write(&path, &src);
    let config = keepup_config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let doc = document::build(&config, config.recovery_plan("shop-dr").unwrap(), None, 0).unwrap();
    let md = document::render_markdown(&doc);
    let start = md.find("### shop/home").unwrap_or_else(|| panic!("{md}"));
    let quoted = &md[start..md[start..].find("\n\n#").map_or(md.len(), |e| start + e)];

    // As a renderer reads the whole file: no HTML, no image, only safe links.
    let mut links = Vec::new();
    for ev in Parser::new_ext(&md, pulldown_cmark::Options::ENABLE_TABLES) {
        match ev {
            Event::Html(h) | Event::InlineHtml(h) => panic!("raw HTML {h:?} in {quoted}"),
            Event::Start(Tag::Image { dest_url, .. }) => panic!("image {dest_url:?} in {quoted}"),
            Event::Start(Tag::Link { dest_url, .. }) => links.push(dest_url.to_string()),
            _ => {}
        }
    }
    assert!(
        links
            .iter()
            .all(|l| l.starts_with("https://") || l.starts_with('#')),
        "{links:?}"
    );
    assert!(
        links.iter().any(|l| l == "https://wiki.example/haproxy"),
        "{links:?}"
    );
    assert!(
        links.iter().any(|l| l == "https://img.example/g.png"),
        "the image became a link: {links:?}"
    );
    // What was written is still there to read, as text.
    assert!(
        quoted.contains("> Restart &lt;script>alert(1)&lt;/script> **haproxy**\n"),
        "{quoted}"
    );
    assert!(
        quoted.contains("> &lt;img src=x onerror=alert(2)>\n"),
        "{quoted}"
    );
    assert!(quoted.contains("> run this or the wiki or [ours](https://wiki.example/haproxy) [graph](https://img.example/g.png)"), "{quoted}");
    for gone in ["javascript:", "//evil.example"] {
        assert!(!md.contains(gone), "{gone} in {md}");
    }
}
