//! A recovery run's `confirm` question answered from the web: a run with
//! no terminal (`Confirmation::Web`, through the real engine and store)
//! waits at its gate; `/dr` and the run's page show the question; a
//! viewer cannot answer, an operator's yes lets the run complete with the
//! journal naming them; the signed link's GET only shows the question, a
//! bad signature is refused, and its POST answering no fails the step.

mod support;

use keepup_recovery::{Confirmation, Observer, RealClock, RunReport, Runner};
use keepup_store::{DrRunKind, DrRunState, Role};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::Reply;

const PASSWORD: &str = "correct horse battery";
const PROMPT: &str = "Is production <b>really</b> lost?";

/// Keeps the signed link the run offers.
#[derive(Default)]
struct Link(Mutex<Option<String>>);

impl Observer for Link {
    fn asking(&self, _index: usize, _prompt: &str, link: Option<&str>) {
        *self.0.lock().unwrap() = link.map(str::to_owned);
    }
}

/// Starts an activation of `shop-dr` on its own thread, as `keepup dr
/// resume` without a terminal runs it; returns the link it offers.
fn start_run(web: &support::Web) -> (std::thread::JoinHandle<RunReport>, Arc<Link>) {
    let config = web.monitor.config();
    let store = web.monitor.store().clone();
    let link = Arc::new(Link::default());
    let seen = link.clone();
    let run = std::thread::spawn(move || {
        let plan = config.recovery_plan("shop-dr").unwrap();
        let runner = Runner {
            config: &config,
            store: &store,
            clock: &RealClock,
            confirm: &Confirmation::Web,
            observer: &*seen,
            who: "test",
        };
        keepup_recovery::start(&runner, plan, DrRunKind::Activate).unwrap()
    });
    (run, link)
}

async fn waiting(web: &support::Web) -> (i64, usize) {
    let start = Instant::now();
    loop {
        if let Some(q) = web.monitor.store().dr_confirmations(None).unwrap().first() {
            return (q.run, q.step);
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no question asked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn texts(page: &Reply, selector: &str) -> Vec<String> {
    let doc = page.doc();
    doc.select(&scraper::Selector::parse(selector).unwrap())
        .map(|e| e.text().collect::<String>())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_is_answered_from_the_dashboard_or_a_signed_link() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ack.key"), "0123456789abcdef-secret\n").unwrap();
    let log = dir.path().join("log");
    let src = format!(
        r#"[server]
public_url = "http://keepup.test"
ack_key_file = "ack.key"

[[site]]
id = "shop"
[[site.check]]
id = "job"
kind = "heartbeat"
token = "job-token-1234"
period = "1h"

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "4h"
rpo = "2h"
[recovery.standby]
addresses = ["127.0.0.20"]

[[recovery.activate]]
kind = "confirm"
prompt = "{PROMPT}"
timeout = "5m"

[[recovery.activate]]
kind = "command"
name = "start the shop"
run = ["sh", "-c", "echo started >> {log}"]
"#,
        log = log.display()
    );
    let web = support::start_in(dir, &src, None).await;
    web.add_user("vera", PASSWORD, Role::Viewer);
    web.add_user("otto", PASSWORD, Role::Operator);
    let mut viewer = web.browser(1);
    assert_eq!(viewer.login("vera", PASSWORD).await.status, 303);
    let mut operator = web.browser(2);
    assert_eq!(operator.login("otto", PASSWORD).await.status, 303);

    let (run, link) = start_run(&web);
    let (id, step) = waiting(&web).await;
    assert_eq!(step, 0);
    assert!(!log.exists(), "nothing ran past the gate");

    // Listed, escaped, for a viewer; no form for them, and a POST is 403.
    let list = viewer.get("/dr").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        texts(&list, "main li").iter().any(|t| t.contains(PROMPT)),
        "{}",
        list.body
    );
    assert!(!list.body.contains("<b>really"), "escaped");
    assert!(texts(&list, "tbody th").contains(&format!("#{id}")));
    let page = viewer.get(&format!("/dr/runs/{id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(texts(&page, "h2").iter().any(|t| t.contains(PROMPT)));
    assert!(texts(&page, "main form button").is_empty(), "{}", page.body);
    let token = viewer.csrf().await;
    let refused = viewer
        .post(
            &format!("/dr/runs/{id}/confirm/0"),
            &[("csrf", &token), ("answer", "yes")],
        )
        .await;
    assert_eq!(refused.status, 403);

    // The signed link: a GET shows the question and answers nothing; a
    // wrong signature is refused either way.
    let link = link.0.lock().unwrap().clone().expect("a signed link");
    let path = link.strip_prefix("http://keepup.test").unwrap().to_owned();
    assert!(
        path.starts_with(&format!("/dr/confirm/{id}/0?e=")),
        "{path}"
    );
    let anon = web.browser(3).get(&path).await;
    assert_eq!(anon.status, 200, "{}", anon.body);
    assert_eq!(texts(&anon, "main form button").len(), 2, "{}", anon.body);
    let forged = format!("{}{}", &path[..path.len() - 4], "0000");
    assert_eq!(web.browser(3).get(&forged).await.status, 403);
    let forged_post = web.browser(3).post(&forged, &[("answer", "yes")]).await;
    assert_eq!(forged_post.status, 403);
    assert_eq!(
        web.monitor.store().dr_confirmations(None).unwrap().len(),
        1,
        "still waiting"
    );

    // An operator says yes on the run's page: the run completes.
    let page = operator.get(&format!("/dr/runs/{id}")).await;
    let csrf = page
        .attr("main form input[name=csrf]", "value")
        .expect("a form");
    let answered = operator
        .post(
            &format!("/dr/runs/{id}/confirm/0"),
            &[("csrf", &csrf), ("answer", "yes")],
        )
        .await;
    assert_eq!(answered.status, 303, "{}", answered.body);
    let report = tokio::task::spawn_blocking(move || run.join().unwrap())
        .await
        .unwrap();
    assert_eq!(report.state, DrRunState::Completed, "{}", report.message);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "started\n");
    let steps = web.monitor.store().dr_steps(id).unwrap();
    assert!(
        steps[0]
            .output
            .contains("answered on the dashboard by otto"),
        "{}",
        steps[0].output
    );
    assert!(web.audit_actions().contains(&"dr.confirm".to_owned()));
    let page = viewer.get(&format!("/dr/runs/{id}")).await;
    assert!(
        texts(&page, "main p")
            .iter()
            .any(|t| t.contains("Answered yes by otto")),
        "{}",
        page.body
    );
    // Answered once: the link cannot change it.
    let again = web.browser(3).post(&path, &[("answer", "no")]).await;
    assert_eq!(again.status, 409);

    // A second run: "no" through the signed link fails the step.
    let (run, link) = start_run(&web);
    let (second, _) = waiting(&web).await;
    assert_ne!(second, id);
    let link = link.0.lock().unwrap().clone().expect("a signed link");
    let path = link.strip_prefix("http://keepup.test").unwrap().to_owned();
    let no = web.browser(3).post(&path, &[("answer", "no")]).await;
    assert_eq!(no.status, 200, "{}", no.body);
    let report = tokio::task::spawn_blocking(move || run.join().unwrap())
        .await
        .unwrap();
    assert_eq!(report.state, DrRunState::Failed);
    assert!(
        report.message.contains("signed link answered no"),
        "{}",
        report.message
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "started\n",
        "nothing ran past a no"
    );
}
