//! `kind = "nagios"` end to end: checks loaded from TOML run the real
//! plugins of Debian's monitoring-plugins-basic against loopback servers
//! and this machine, and `/bin/sh` plays the plugins that misbehave (hang
//! with a child of their own, flood their output, exit with codes that are
//! no plugin state, show their environment, echo a secret given them).

mod support;

use std::path::Path;
use std::time::Duration;

use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use support::codes;

const PLUGINS: &str = "/usr/lib/nagios/plugins";

/// Runs the check `command` (TOML array items) with `timeout`, loaded
/// through the configuration as a configured check is.
async fn run(command: &[&str], timeout: &str) -> Outcome {
    run_with(command, timeout, "").await
}

/// [`run`] with more keys of the check (`extra`, TOML lines).
async fn run_with(command: &[&str], timeout: &str, extra: &str) -> Outcome {
    let items: Vec<String> = command
        .iter()
        .map(|a| keepup_config::toml_string(a))
        .collect();
    let src = format!(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"c\"\nkind = \"nagios\"\ninterval = \"1m\"\ntimeout = \"{timeout}\"\ncommand = [{}]\n{extra}",
        items.join(", ")
    );
    let config = keepup_config::load_str(&src, Path::new("/etc/keepup/keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().expect("one check");
    support::run(check, &ProbeContext::new()).await
}

fn plugin(name: &str) -> String {
    format!("{PLUGINS}/{name}")
}

fn perf<'a>(outcome: &'a Outcome, label: &str) -> &'a serde_json::Value {
    outcome.evidence.details["perfdata"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["label"] == label))
        .unwrap_or_else(|| panic!("no perfdata {label:?}: {:?}", outcome.evidence))
}

#[tokio::test]
async fn exit_codes_are_the_status_and_the_first_line_the_message() {
    let dummy = plugin("check_dummy");
    let o = run(&[&dummy, "0", "all good"], "10s").await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.message, "OK: all good");
    assert!(o.findings.is_empty(), "{o:?}");
    assert_eq!(o.evidence.details["exit_code"], 0);

    let o = run(&[&dummy, "1", "queue long"], "10s").await;
    assert_eq!(o.status, Status::Degraded);
    assert_eq!(o.message, "WARNING: queue long");
    assert_eq!(codes(&o), vec![c::NAGIOS_WARNING]);

    let o = run(&[&dummy, "2", "queue stuck"], "10s").await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::NAGIOS_CRITICAL]);
    assert_eq!(o.findings[0].text, "CRITICAL: queue stuck");

    let o = run(&[&dummy, "3", "cannot tell"], "10s").await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::NAGIOS_UNKNOWN]);
}

#[tokio::test]
async fn codes_that_are_no_plugin_state_and_signals_are_unknown() {
    let o = run(&["/bin/sh", "-c", "echo odd; exit 7"], "10s").await;
    assert_eq!(o.status, Status::Unknown, "{o:?}");
    assert_eq!(codes(&o), vec![c::NAGIOS_UNKNOWN]);
    assert_eq!(
        o.findings[0].text,
        "/bin/sh exited with code 7, which is no plugin state (0 to 3): odd"
    );
    let o = run(&["/bin/sh", "-c", "kill -TERM $$"], "10s").await;
    assert_eq!(o.status, Status::Unknown, "{o:?}");
    assert_eq!(o.findings[0].text, "/bin/sh was ended by signal 15");
}

#[tokio::test]
async fn check_tcp_against_a_loopback_listener_gives_its_time_as_latency() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let accept = tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            drop(conn);
        }
    });
    let o = run(
        &[&plugin("check_tcp"), "-H", "127.0.0.1", "-p", &port],
        "10s",
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert!(o.message.starts_with("TCP OK"), "{}", o.message);
    let time = perf(&o, "time");
    assert_eq!(time["uom"], "s");
    let seconds = time["value"].as_f64().expect("a number");
    assert!((o.latency_ms - seconds * 1000.0).abs() < 1e-6, "{o:?}");
    accept.abort();

    let closed = support::closed_port().to_string();
    let o = run(
        &[&plugin("check_tcp"), "-H", "127.0.0.1", "-p", &closed],
        "10s",
    )
    .await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::NAGIOS_CRITICAL]);
    assert!(o.message.contains("Connection refused"), "{}", o.message);
}

#[tokio::test]
async fn check_disk_and_check_procs_give_their_numbers() {
    let o = run(
        &[&plugin("check_disk"), "-w", "0%", "-c", "0%", "-p", "/"],
        "10s",
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let root = perf(&o, "/");
    assert!(root["value"].as_f64().is_some_and(|v| v > 0.0), "{root}");
    assert_eq!(root["min"], 0.0);
    assert!(
        root["max"].as_f64() >= root["value"].as_f64(),
        "used above the size: {root}"
    );

    // More processes than this machine runs: CRITICAL by the plugin's own
    // threshold.
    let o = run(&[&plugin("check_procs"), "-w", "0:1", "-c", "0:2"], "10s").await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert!(perf(&o, "procs")["value"].as_f64().is_some_and(|n| n > 2.0));
    assert_eq!(perf(&o, "procs")["crit"], "0:2");
}

#[tokio::test]
async fn a_hanging_plugin_and_its_children_are_killed_at_the_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pids = dir.path().join("pids");
    let script = format!("sleep 600 & echo $$ $! > {}; wait", pids.display());
    let o = run(&["/bin/sh", "-c", &script], "1s").await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::PROBE_TIMEOUT]);
    assert!(
        o.message.starts_with("/bin/sh did not finish"),
        "{}",
        o.message
    );
    let written = std::fs::read_to_string(&pids).expect("the script wrote its pids");
    for pid in written.split_whitespace() {
        // SIGKILL is delivered at once, but the kernel ends a process
        // asynchronously: wait until neither runs (gone, or a zombie left
        // for its parent to reap).
        let stat = format!("/proc/{pid}/stat");
        let mut alive = true;
        for _ in 0..500 {
            alive = std::fs::read_to_string(&stat).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or_default()
                    .trim_start()
                    .starts_with('Z')
            });
            if !alive {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!alive, "process {pid} of the plugin still runs");
    }
}

#[tokio::test]
async fn a_plugin_flooding_its_output_is_stopped() {
    let o = run(&["/usr/bin/yes", "spam"], "30s").await;
    assert_eq!(o.status, Status::Unknown, "{o:?}");
    assert_eq!(codes(&o), vec![c::NAGIOS_OUTPUT_TOO_LARGE]);
    // The whole stderr flood is drained, the rest of it dropped.
    let o = run(
        &[
            "/bin/sh",
            "-c",
            "head -c 1000000 /dev/zero | tr '\\0' x >&2; echo 'OK - fine'",
        ],
        "30s",
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.message, "OK - fine");
    let stderr = o.evidence.details["stderr"][0]
        .as_str()
        .expect("stderr kept");
    assert!(
        stderr.len() <= 4096,
        "{} bytes of stderr kept",
        stderr.len()
    );
}

#[tokio::test]
async fn a_missing_program_is_a_clear_unknown() {
    let o = run(
        &["/usr/lib/nagios/plugins/check_nothing_here", "-w", "1"],
        "10s",
    )
    .await;
    assert_eq!(o.status, Status::Unknown, "{o:?}");
    assert_eq!(codes(&o), vec![c::NAGIOS_NOT_RUNNABLE]);
    assert_eq!(
        o.findings[0].text,
        "cannot run /usr/lib/nagios/plugins/check_nothing_here: No such file or directory"
    );
}

#[tokio::test]
async fn the_plugin_sees_no_variable_of_keepups_environment() {
    // env prints its environment: only what keepup gives a plugin.
    let o = run(&["/usr/bin/env"], "10s").await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let mut names: Vec<String> = std::iter::once(o.message.clone())
        .chain(
            o.evidence.details["long_output"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_owned)),
        )
        .filter_map(|l| l.split_once('=').map(|(n, _)| n.to_owned()))
        .collect();
    names.sort();
    assert_eq!(names, vec!["LANG", "PATH"]);
    // The test process has a HOME and a PATH of its own; neither leaks.
    assert!(std::env::var_os("HOME").is_some());
}

#[tokio::test]
async fn broken_performance_data_is_named_and_the_rest_kept() {
    let o = run(
        &["/bin/sh", "-c", "echo 'OK - fine | good=1;2;3 bad=abc'"],
        "10s",
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(codes(&o), vec![c::NAGIOS_PERFDATA_INVALID]);
    assert_eq!(
        o.findings[0].text,
        "performance data bad=abc left out: the value \"\" is not a number"
    );
    assert_eq!(perf(&o, "good")["value"], 1.0);
}

#[tokio::test]
async fn a_secret_reaches_the_plugin_only_and_never_the_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pg-password");
    let secret = "s3cr3t-Pa55";
    std::fs::write(&file, format!("{secret}\n")).expect("secret file");
    // A careless plugin: the secret in its summary, long output, a
    // performance data label and stderr; it exits 2 unless it got it.
    let script = r#"test "$PGPASSWORD" = 's3cr3t-Pa55' || { echo "CRITICAL - no password"; exit 2; }
echo "OK - logged in with $PGPASSWORD | '$PGPASSWORD'=1"
echo "password was $PGPASSWORD"
echo "debug: $PGPASSWORD" >&2"#;
    let o = run_with(
        &["/bin/sh", "-c", script],
        "10s",
        &format!(
            "env = {{ PGPASSWORD = {{ file = {} }} }}\n",
            keepup_config::toml_string(&file.display().to_string())
        ),
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.message, "OK - logged in with [redacted]");
    assert_eq!(
        o.evidence.details["long_output"][0],
        "password was [redacted]"
    );
    assert_eq!(o.evidence.details["stderr"][0], "debug: [redacted]");
    assert_eq!(perf(&o, "[redacted]")["value"], 1.0);
    let all = serde_json::to_string(&o).expect("json");
    assert!(!all.contains(secret), "{all}");
}
