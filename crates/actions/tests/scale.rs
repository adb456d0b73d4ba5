//! `[[scale]]` levels through the engine with a real command and a real
//! store file: the command is told the size to set (`KEEPUP_LEVEL`,
//! `KEEPUP_LEVEL_FROM`, `KEEPUP_LEVEL_NAME`), the level moves only when
//! the run ended ok, stops at its bounds (skipped, saying so), is set by
//! a schedule's `to`, and is read back by a new engine on the same store.

use std::path::Path;
use std::sync::Arc;

use keepup_actions::{Cause, Engine};
use keepup_config::Config;
use keepup_model::ManualClock;
use keepup_notify::HttpClientContext;
use keepup_store::{RunOutcome, Store};

/// 2026-12-07 10:00 UTC (a Monday).
const T0: i64 = 1_796_637_600_000;
const MIN: i64 = 60_000;

fn config(dir: &Path, src: &str) -> Config {
    keepup_config::load_str(src, &dir.join("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
}

fn engine(config: &Config, store: &Store, clock: &ManualClock) -> Engine {
    Engine::new(
        config,
        store.clone(),
        Arc::new(clock.clone()),
        HttpClientContext::builder().system_roots(false).build(),
    )
}

fn manual() -> Cause {
    Cause::Manual {
        by: "cli:test".into(),
    }
}

#[tokio::test]
async fn a_level_moves_only_by_runs_that_ended_ok_and_stays_within_its_bounds() {
    let dir = tempfile::tempdir().unwrap();
    // The "provider": records the size it is asked for, fails while the
    // file `fail` exists.
    let script = dir.path().join("resize.sh");
    let asked = dir.path().join("asked");
    let fail = dir.path().join("fail");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$KEEPUP_LEVEL_NAME $KEEPUP_LEVEL_FROM $KEEPUP_LEVEL\" >> {asked}\n[ -e {fail} ] && {{ echo 'quota exceeded' >&2; exit 3; }}\necho resized\n",
            asked = asked.display(),
            fail = fail.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let src = format!(
        r#"
[[scale]]
name = "web"
min = 1
max = 3
initial = 2

[[action]]
name = "up"
command = ["{s}"]
scale = {{ level = "web", by = 1 }}
cooldown = "1m"

[[action]]
name = "down"
command = ["{s}"]
scale = {{ level = "web", by = -5 }}
cooldown = "1m"

[[action]]
name = "morning"
command = ["{s}"]
schedule = {{ cron = "0 11 * * *" }}
scale = {{ level = "web", to = 3 }}
"#,
        s = script.display()
    );
    let config = config(dir.path(), &src);
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(&config, &store, &clock);
    assert_eq!(e.level("web").await.unwrap(), Some(2), "initial");
    assert_eq!(e.level("nope").await.unwrap(), None);

    let r = e.run("up", manual()).await.unwrap();
    assert_eq!(r.outcome, RunOutcome::Ok, "{r:#?}");
    assert_eq!(e.level("web").await.unwrap(), Some(3));
    assert_eq!(keepup_actions::decision_words(&r), "web 2 → 3");

    // At the maximum: skipped, nothing run.
    clock.set(T0 + 2 * MIN);
    let r = e.run("up", manual()).await.unwrap();
    assert_eq!(
        (r.outcome, r.reason.as_str()),
        (RunOutcome::Skipped, "web is at max 3")
    );

    // A failing resize leaves the level.
    std::fs::write(&fail, "").unwrap();
    let r = e.run("down", manual()).await.unwrap();
    assert_eq!(r.outcome, RunOutcome::Failed, "{r:#?}");
    assert!(r.reason.ends_with("; web stays at 3"), "{}", r.reason);
    assert_eq!(
        keepup_actions::decision_words(&r),
        "web stays at 3 (not → 1)"
    );
    assert_eq!(e.level("web").await.unwrap(), Some(3));

    // A step past the minimum is clamped to it.
    std::fs::remove_file(&fail).unwrap();
    clock.set(T0 + 4 * MIN);
    let r = e.run("down", manual()).await.unwrap();
    assert_eq!(r.outcome, RunOutcome::Ok, "{r:#?}");
    let d = r.decision.as_ref().unwrap();
    assert_eq!(d["level"]["note"], "clamped to min 1", "{d:#}");
    assert_eq!(e.level("web").await.unwrap(), Some(1));

    // A new engine on the same store (a restart) reads the level; the
    // schedule at 11:00 sets it to 3.
    drop(e);
    let e = engine(&config, &store, &clock);
    assert_eq!(e.level("web").await.unwrap(), Some(1));
    clock.set(T0 + 60 * MIN);
    let ran = e.tick().await.unwrap();
    assert_eq!(ran.len(), 1, "{ran:#?}");
    // A scheduled run goes on a task of its own.
    e.idle().await;
    let ran = store.action_run(ran[0].id).unwrap().unwrap();
    assert_eq!(
        (ran.action.as_str(), ran.outcome),
        ("morning", RunOutcome::Ok)
    );
    assert_eq!(e.level("web").await.unwrap(), Some(3));

    let asked = std::fs::read_to_string(&asked).unwrap();
    assert_eq!(
        asked, "web 2 3\nweb 3 1\nweb 3 1\nweb 1 3\n",
        "the command was told each size"
    );
}

/// A step waiting for its confirmation is planned again when it starts:
/// the size it sends is absolute, and the level may have moved while the
/// question waited (review 34 #2: it sent the size planned an hour ago).
#[tokio::test]
async fn a_confirmed_step_starts_from_the_level_as_it_is_then() {
    let dir = tempfile::tempdir().unwrap();
    let asked = dir.path().join("asked");
    let src = format!(
        r#"
[[scale]]
name = "web"
min = 1
max = 5
initial = 2

[[action]]
name = "up"
command = ["sh", "-c", "echo \"$KEEPUP_LEVEL_FROM $KEEPUP_LEVEL\" >> {a}"]
scale = {{ level = "web", by = 1 }}
cooldown = "1m"

[[action]]
name = "down"
command = ["sh", "-c", "echo \"$KEEPUP_LEVEL_FROM $KEEPUP_LEVEL\" >> {a}"]
scale = {{ level = "web", by = -1 }}
cooldown = "1m"
confirm = true
"#,
        a = asked.display()
    );
    let config = config(dir.path(), &src);
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(&config, &store, &clock);

    let waiting = e.run("down", manual()).await.unwrap();
    assert_eq!(waiting.outcome, RunOutcome::AwaitingConfirmation);
    assert_eq!(
        keepup_actions::decision_words(&waiting),
        "web 2 → 1 (not yet)"
    );
    for minute in [1, 3] {
        clock.set(T0 + minute * MIN);
        let r = e.run("up", manual()).await.unwrap();
        assert_eq!(r.outcome, RunOutcome::Ok, "{r:#?}");
    }
    assert_eq!(e.level("web").await.unwrap(), Some(4));

    clock.set(T0 + 5 * MIN);
    let r = e.confirm(waiting.id, true, "ops").await.unwrap();
    assert_eq!(r.outcome, RunOutcome::Ok, "{r:#?}");
    assert_eq!(keepup_actions::decision_words(&r), "web 4 → 3");
    assert_eq!(e.level("web").await.unwrap(), Some(3));
    assert_eq!(
        std::fs::read_to_string(&asked).unwrap(),
        "2 3\n3 4\n4 3\n",
        "the confirmed step was told the level as it was at its start"
    );
}
