//! The checks a backup plan adds: their ids, kinds, schedules and site.

mod support;
support::env_before_main! {
    "KEEPUP_TEST_BACKUP_CHECKS_PASSWORD" => "x",
}

use std::path::Path;

use keepup_config::{BackupJob, CheckSpec, Config, PassiveSpec, load_str};
use keepup_model::CheckId;

fn config(src: &str) -> Result<Config, String> {
    load_str(src, Path::new("keepup.toml")).map_err(|p| p.to_string())
}

const PLAN: &str = r#"
[[backup]]
id = "db"
password_env = "KEEPUP_TEST_BACKUP_CHECKS_PASSWORD"
allow_single_target = true
SITE
[[backup.source]]
kind = "command"
command = ["echo", "x"]
filename = "x.txt"
[[backup.target]]
id = "local"
repository = "/srv/backup"
EXTRA
"#;

fn plan(site: &str, extra: &str) -> String {
    PLAN.replace("SITE", site).replace("EXTRA", extra)
}

fn backup_checks(c: &Config) -> Vec<(String, BackupJob, u64)> {
    c.checks()
        .filter_map(|ch| match &ch.spec {
            CheckSpec::Passive(PassiveSpec::Backup(b)) => {
                assert_eq!(b.plan, "db");
                Some((ch.id.to_string(), b.job, ch.interval.as_secs()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_plan_in_a_site_adds_run_and_freshness_checks_there() {
    let src = format!("[[site]]\nid = \"shop\"\n{}", plan("site = \"shop\"", ""));
    let c = config(&src).unwrap();
    let checks = backup_checks(&c);
    assert_eq!(
        checks,
        vec![
            ("shop/backup-db".to_string(), BackupJob::Run, 60),
            (
                "shop/backup-db-fresh".to_string(),
                BackupJob::Freshness,
                300
            ),
        ]
    );
    let run = c.find_check("shop/backup-db").unwrap();
    assert_eq!(run.alerting.failure_threshold, 1);
    assert!(run.tags.iter().any(|t| t == "backup"));
    assert_eq!(run.spec.kind(), "backup");
}

#[test]
fn verify_and_restore_tests_add_their_checks() {
    let src = format!(
        "[[site]]\nid = \"shop\"\n{}",
        plan(
            "site = \"shop\"",
            "[backup.verify]\nschedule = \"0 5 * * *\"\n[backup.restore_test]\nschedule = \"0 6 * * 0\"\n"
        )
    );
    let jobs: Vec<BackupJob> = backup_checks(&config(&src).unwrap())
        .into_iter()
        .map(|(_, j, _)| j)
        .collect();
    assert_eq!(
        jobs,
        vec![
            BackupJob::Run,
            BackupJob::Freshness,
            BackupJob::Verify,
            BackupJob::RestoreTest
        ]
    );
}

#[test]
fn a_plan_without_a_site_reports_in_keepups_own_site() {
    let c = config(&plan("", "")).unwrap();
    let ids: Vec<String> = backup_checks(&c).into_iter().map(|(id, _, _)| id).collect();
    assert_eq!(ids, vec!["keepup/backup-db", "keepup/backup-db-fresh"]);
    assert!(c.sites.iter().any(|s| s.id == "keepup"));
    assert!(
        c.find_check(CheckId::new("keepup", "backup-db").as_str())
            .is_some()
    );
}

#[test]
fn a_configured_check_with_the_same_id_is_reported() {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"backup-db\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n{}",
        plan("site = \"shop\"", "")
    );
    let err = config(&src).unwrap_err();
    assert!(err.contains("\"shop/backup-db\" is taken"), "{err}");
}
