//! Public updates posted from the dashboard (`POST /incidents/<id>/updates`):
//! only an operator with the session's CSRF token may post, bad fields are
//! refused with 400 naming the field, and a posted update is stored,
//! audited and shown on the status pages.

mod support;

use keepup_model::{CheckId, Status};
use keepup_store::{NewIncident, Role};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_posts_a_public_update_with_the_csrf_token() {
    let web = support::start("").await;
    web.add_user("olga", "operator password", Role::Operator);
    web.add_user("vic", "viewer password", Role::Viewer);
    let id = web
        .monitor
        .store()
        .open_incident(&NewIncident {
            check: CheckId::new("s", "job"),
            status: Status::Down,
            opened_at: 1_000,
            detected_at: 2_000,
            cause: None,
            suppressed: false,
            maintenance: false,
            message: "no ping".into(),
            findings: Vec::new(),
        })
        .unwrap();
    let path = format!("/incidents/{id}/updates");
    let text = "Jobs are late; <b>we</b> are on it.";

    let mut anonymous = web.browser(2);
    let r = anonymous
        .post(&path, &[("status", "identified"), ("text", text)])
        .await;
    assert_eq!(r.status, 303, "not logged in: to the login page");
    assert!(r.header("location").unwrap().starts_with("/login"));

    let mut viewer = web.browser(3);
    viewer.login("vic", "viewer password").await;
    let csrf = viewer.csrf().await;
    let r = viewer
        .post(
            &path,
            &[("csrf", &csrf), ("status", "identified"), ("text", text)],
        )
        .await;
    assert_eq!(r.status, 403, "a viewer may not post");

    let mut operator = web.browser(4);
    operator.login("olga", "operator password").await;
    let r = operator
        .post(&path, &[("status", "identified"), ("text", text)])
        .await;
    assert_eq!(r.status, 403, "without the CSRF token");
    let csrf = operator.csrf().await;
    let r = operator
        .post(
            &path,
            &[("csrf", &csrf), ("status", "fixed"), ("text", text)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.starts_with("status:"), "{}", r.body);
    let long = "x".repeat(keepup_store::MAX_UPDATE_TEXT + 1);
    let r = operator
        .post(
            &path,
            &[("csrf", &csrf), ("status", "identified"), ("text", &long)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.starts_with("text:"), "{}", r.body);
    let r = operator
        .post(
            "/incidents/999999/updates",
            &[("csrf", &csrf), ("status", "identified"), ("text", text)],
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(
        web.monitor
            .store()
            .status_updates_of(id)
            .unwrap()
            .is_empty()
    );

    let r = operator
        .post(
            &path,
            &[("csrf", &csrf), ("status", "identified"), ("text", text)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("/incidents/{id}").as_str())
    );
    let stored = web.monitor.store().status_updates_of(id).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].text.as_str(), stored[0].author.as_str()),
        (text, "olga")
    );
    assert!(
        web.audit_actions()
            .iter()
            .any(|a| a == "incident.public_update"),
        "{:?}",
        web.audit_actions()
    );
}
