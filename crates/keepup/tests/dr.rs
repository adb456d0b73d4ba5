//! `keepup dr` end to end with the real binary: a dry run changes nothing,
//! `activate --yes` killed with SIGKILL in the middle of a slow `command`
//! step leaves the plan locked (a second activation is refused), and
//! `resume` finishes the run without repeating the finished step; `dr
//! drill` runs the activate steps as a drill, cleans up, and frees the plan.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn keepup(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keepup"))
        .args(args)
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn step(name: &str, script: &str) -> String {
    format!(
        "[[recovery.activate]]\nkind = \"command\"\nname = \"{name}\"\nrun = [\"sh\", \"-c\", {}]\ntimeout = \"5m\"\n",
        serde_json::to_string(script).unwrap()
    )
}

#[test]
fn a_run_killed_mid_step_is_resumed_without_repeating_finished_steps() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let flag = dir.path().join("flag");
    let sleeper = dir.path().join("sleeper.pid");
    let config = dir.path().join("keepup.toml");
    let (log_s, flag_s, pid_s) = (log.display(), flag.display(), sleeper.display());
    std::fs::write(
        &config,
        format!(
            r#"[store]
path = "keepup.db"

[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "tcp"
host = "127.0.0.1"
port = 9

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "1h"
rpo = "2h"
[recovery.standby]
addresses = ["127.0.0.20"]

{}{}{}"#,
            step("first", &format!("echo first >> {log_s}")),
            // Slow until the flag exists: the process is killed while it sleeps.
            step(
                "slow",
                &format!(
                    "echo $$ > {pid_s}; echo slow >> {log_s}; test -e {flag_s} || exec sleep 120"
                )
            ),
            step("third", &format!("echo third >> {log_s}")),
        ),
    )
    .unwrap();

    let dry = keepup(&config, &["dr", "plan", "shop-dr"]);
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(
        text(&dry).contains(" 2. slow (command): runs sh -c"),
        "{}",
        text(&dry)
    );
    assert!(text(&dry).contains("Dry run: nothing was changed."));
    assert!(!log.exists(), "the dry run ran nothing");

    // Without --yes and without a terminal, nothing starts.
    let refused = keepup(&config, &["dr", "activate", "shop-dr"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("--yes"), "{}", text(&refused));
    assert!(!log.exists());

    let mut child = Command::new(env!("CARGO_BIN_EXE_keepup"))
        .args(["dr", "activate", "shop-dr", "--yes", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the slow step to have started (bounded: the test fails
    // rather than hangs if it never does).
    let begun = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("slow")
    {
        assert!(
            begun.elapsed() < Duration::from_secs(120),
            "the slow step never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The step's process group outlives keepup; end it (it leads its group).
    if let Ok(pid) = std::fs::read_to_string(&sleeper)
        .unwrap_or_default()
        .trim()
        .parse::<i32>()
    {
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{pid}")])
            .status();
    }

    let status = keepup(&config, &["dr", "status", "1"]);
    assert!(status.status.success(), "{}", text(&status));
    let shown = text(&status);
    assert!(
        shown.contains("Run 1 of plan shop-dr: activate, running"),
        "{shown}"
    );
    assert!(shown.contains(" 1. first (command): done"), "{shown}");
    assert!(shown.contains(" 2. slow (command): started"), "{shown}");

    // The dead run still holds the plan.
    let second = keepup(&config, &["dr", "activate", "shop-dr", "--yes"]);
    assert_eq!(second.status.code(), Some(1), "{}", text(&second));
    assert!(
        text(&second).contains("already has run 1"),
        "{}",
        text(&second)
    );

    std::fs::write(&flag, "").unwrap();
    let resumed = keepup(&config, &["dr", "resume", "1", "--yes"]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(
        text(&resumed).contains("first: done earlier, skipped"),
        "{}",
        text(&resumed)
    );
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "first\nslow\nslow\nthird\n",
        "the finished step ran once, the interrupted one again"
    );
    let list = keepup(&config, &["dr", "status"]);
    assert!(text(&list).contains("completed"), "{}", text(&list));
    let abort = keepup(&config, &["dr", "abort", "1"]);
    assert_eq!(abort.status.code(), Some(1), "{}", text(&abort));
    assert!(
        text(&abort).contains("run 1 is completed"),
        "{}",
        text(&abort)
    );
}

#[test]
fn a_drill_runs_through_the_binary_against_its_own_environment_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let config = dir.path().join("keepup.toml");
    let log_s = log.display();
    let drill_env = "[recovery.drill]\naddresses = [\"127.0.0.30\"]\n";
    let src = format!(
        r#"[store]
path = "keepup.db"

[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "tcp"
host = "127.0.0.1"
port = 9

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "1h"
rpo = "2h"
[recovery.standby]
addresses = ["127.0.0.20"]
{drill_env}
[[recovery.activate]]
kind = "confirm"
[[recovery.activate]]
kind = "maintenance"
action = "start"
{}
[[recovery.drill_cleanup]]
kind = "command"
name = "stop"
run = ["sh", "-c", "echo stopped >> {log_s}"]
"#,
        step(
            "start",
            &format!("echo \"start in $KEEPUP_DR_KIND\" >> {log_s}")
        ),
    )
    // A local command runs in drills only when it says so.
    .replacen(
        "name = \"start\"\n",
        "name = \"start\"\ndrill = \"run\"\n",
        1,
    );
    // Without a drill environment the plan cannot be drilled.
    std::fs::write(
        &config,
        src.replace(drill_env, "")
            .replace("[[recovery.drill_cleanup]]", "[[recovery.activate]]"),
    )
    .unwrap();
    let refused = keepup(&config, &["dr", "drill", "shop-dr", "--yes"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("declares no [recovery.drill] environment"),
        "{}",
        text(&refused)
    );

    std::fs::write(&config, &src).unwrap();
    let dry = keepup(&config, &["dr", "plan", "shop-dr", "--drill"]);
    assert!(dry.status.success(), "{}", text(&dry));
    for said in [
        "drill (3 steps) onto the drill environment",
        "2. maintenance #2 (maintenance): skipped in a drill",
        "4. cleanup: stop",
        "Dry run: nothing was changed.",
    ] {
        assert!(text(&dry).contains(said), "{said:?} in {}", text(&dry));
    }
    // No terminal and no --yes: refused before anything runs.
    let asked = keepup(&config, &["dr", "drill", "shop-dr"]);
    assert_eq!(asked.status.code(), Some(1), "{}", text(&asked));
    assert!(text(&asked).contains("--yes"), "{}", text(&asked));
    assert!(!log.exists());

    let ran = keepup(&config, &["dr", "drill", "shop-dr", "--yes"]);
    assert!(ran.status.success(), "{}", text(&ran));
    let out = text(&ran);
    assert!(
        out.contains("run 1: completed: drill of all 3 steps"),
        "{out}"
    );
    assert!(out.contains("[-] cleanup: stop: done"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "start in drill\nstopped\n"
    );

    let list = keepup(&config, &["dr", "status"]);
    assert!(list.status.success(), "{}", text(&list));
    assert!(text(&list).contains("drill"), "{}", text(&list));
    let one = keepup(&config, &["dr", "status", "1"]);
    let one = text(&one);
    for said in [
        "Run 1 of plan shop-dr: drill, completed",
        "maintenance #2 (maintenance): done",
        "4. cleanup: stop (cleanup): done",
    ] {
        assert!(one.contains(said), "{said:?} in {one}");
    }
    // A drill holds no lock once over: an activation may start at once.
    let activated = keepup(&config, &["dr", "activate", "shop-dr", "--yes"]);
    assert!(activated.status.success(), "{}", text(&activated));
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "start in drill\nstopped\nstart in activate\n"
    );
}
