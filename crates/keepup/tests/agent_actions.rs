//! Actions on an agent host, end to end: a real `keepup agent` process
//! started with `--action`s, a real `keepup run` central, and requests
//! filed in the central's store (as the action engine files them, from
//! this process: the store is the rendezvous), in push mode and in pull
//! mode. A configured action runs (a file appears); a name the agent was
//! not started with is refused and nothing runs; an id runs once however
//! often it is asked, across an agent restart too (pull mode, asked by
//! hand as the central asks); a hanging action is
//! killed at its timeout with the process it started; output is bounded;
//! the agent's environment is not the action's. The agent's own guard
//! rails: one run of an action per `--action-min-interval`, a request
//! queued past its `not_after` refused as too late to start (and so
//! recorded by the central), and in pull mode `/action` only with the
//! action token; a pulled agent that refuses the exchange leaves the
//! request waiting (it expires) rather than fetched (lost).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use keepup_model::host::{
    AGENT_ACTION_VERSION, ActionOutcome, ActionOutcomes, ActionRequest, ActionRequests,
    MAX_ACTION_OUTPUT_BYTES,
};
use keepup_store::{AgentActionState, NewAgentAction, Store};

const TOKEN: &str = "agent-token-0123456789";
/// Pull mode: what the central presents to the agent's /action.
const ACTION_TOKEN: &str = "agent-action-token-9876543210";
/// In the agent's environment; no action may see it.
const SECRET: &str = "agent-env-secret-4242";

fn keepup() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keepup"));
    c.env_remove("KEEPUP_CONFIG").env("KEEPUP_LOG", "info");
    c
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn now() -> i64 {
    keepup_model::Clock::now_ms(&keepup_model::SystemClock)
}

/// The scripts the actions run, in `dir`: `count.sh` appends a line to
/// `count` (how often it ran), `hang.sh` starts a grandchild that would
/// outlive it (its pid in `hang.pid`) and hangs.
fn scripts(dir: &Path) {
    let d = dir.display();
    std::fs::write(
        dir.join("count.sh"),
        format!("echo ran >> {d}/count\nsleep 1\necho counted\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("hang.sh"),
        format!("sleep 300 &\necho $! > {d}/hang.pid\nsleep 300\n"),
    )
    .unwrap();
}

/// The agent's `--action`s.
fn action_args(dir: &Path) -> Vec<String> {
    let d = dir.display();
    [
        format!("touch=/usr/bin/touch {d}/touched"),
        "env=/usr/bin/env".to_owned(),
        format!("count=/bin/sh {d}/count.sh"),
        format!("hang=/bin/sh {d}/hang.sh"),
        "loud=/usr/bin/seq 1 100000".to_owned(),
        "wait=/bin/sleep 8".to_owned(),
        format!("late=/usr/bin/touch {d}/late"),
    ]
    .into_iter()
    .flat_map(|a| ["--action".to_owned(), a])
    .collect()
}

/// `value` in file `name` of `dir`, private.
fn secret_file(dir: &Path, name: &str, value: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{value}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn token_file(dir: &Path) -> PathBuf {
    secret_file(dir, "agent-token", TOKEN)
}

/// The pulled agent's action token file (the central's config names the
/// same file, `agent-action-token`).
fn action_token_file(dir: &Path) -> String {
    let path = secret_file(dir, "agent-action-token", ACTION_TOKEN);
    path.to_str().unwrap().to_owned()
}

/// The `[[agent]]` section of a central pulling web1 on `agent_port`,
/// presenting the action token of file `action_token` to its /action.
fn pulling(agent_port: u16, action_token: &str) -> String {
    format!(
        "[[agent]]\nname = \"web1\"\ntoken_file = \"agent-token\"\naction_token_file = \"{action_token}\"\nmode = \"pull\"\nurl = \"http://127.0.0.1:{agent_port}/report\"\ninterval = \"1s\""
    )
}

/// `keepup run` with `agent_section`, started and monitoring.
fn daemon(dir: &Path, port: u16, agent_section: &str) -> Killed {
    token_file(dir);
    let cfg = dir.join("keepup.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"

[store]
path = "k.db"

{agent_section}

[[site]]
id = "s"

[[site.check]]
id = "host"
kind = "host"
agent = "web1"
disk."/" = {{ crit = "100%" }}
reboot_window = "1s"
"#
        ),
    )
    .unwrap();
    let mut child = keepup()
        .args(["run", "-c", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut said = String::new();
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("keepup is monitoring") {
                let _ = tx.send(Ok(()));
            }
            said.push_str(&line);
            said.push('\n');
        }
        let _ = tx.send(Err(said));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(Ok(())) => {}
        other => panic!("the daemon did not start: {other:?}"),
    }
    Killed(child)
}

/// `keepup agent` named web1 with the actions, in `mode_args` (push or
/// pull), its environment holding [`SECRET`].
fn agent(dir: &Path, mode_args: &[&str]) -> Killed {
    Killed(
        keepup()
            .args(["agent", "--name", "web1", "--interval", "1s"])
            .args(["--token-file", token_file(dir).to_str().unwrap()])
            .args(["--state-dir", dir.join("agent").to_str().unwrap()])
            .args(["--action-timeout", "20s"])
            .args(action_args(dir))
            .args(mode_args)
            .env("KEEPUP_AGENT_TEST_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Files request `id` for web1's `action` in the central's store.
fn request(store: &Store, id: &str, action: &str, timeout: Duration) {
    let r = NewAgentAction::new(id, "web1", action, timeout, Duration::from_secs(60)).unwrap();
    store.request_agent_action(&r, now()).unwrap();
}

/// The outcome of `id` once the central has it (a minute at most).
fn outcome(store: &Store, id: &str) -> ActionOutcome {
    let mut last = None;
    for _ in 0..600 {
        let a = store.agent_action(id, now()).unwrap().expect("filed");
        if let AgentActionState::Done(o) = a.state {
            return o;
        }
        last = Some(a.state);
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no outcome of {id} in a minute: {last:?}");
}

fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// What every mode must do: the configured actions run, the rest not.
fn the_actions_run_as_configured(store: &Store, dir: &Path) {
    request(store, "touch-1", "touch", Duration::from_secs(10));
    request(store, "unknown-1", "rm-everything", Duration::from_secs(10));
    request(store, "env-1", "env", Duration::from_secs(10));
    request(store, "loud-1", "loud", Duration::from_secs(10));
    request(store, "hang-1", "hang", Duration::from_secs(2));

    let touched = outcome(store, "touch-1");
    assert!(touched.succeeded(), "{touched:?}");
    assert!(dir.join("touched").exists(), "the action ran");

    let unknown = outcome(store, "unknown-1");
    assert!(
        unknown.refused && unknown.exit_code.is_none(),
        "{unknown:?}"
    );
    let why = unknown.error.unwrap_or_default();
    assert!(
        why.contains("no action \"rm-everything\"")
            && why.contains("touch, env, count, hang, loud, wait, late"),
        "{why}"
    );

    let env = outcome(store, "env-1");
    assert!(env.succeeded(), "{env:?}");
    assert!(env.output.contains("PATH="), "{}", env.output);
    assert!(
        !env.output.contains(SECRET)
            && !env.output.contains(TOKEN)
            && !env.output.contains(ACTION_TOKEN),
        "the agent's environment leaked: {}",
        env.output
    );

    let loud = outcome(store, "loud-1");
    assert!(loud.succeeded(), "{loud:?}");
    assert!(loud.output.len() <= MAX_ACTION_OUTPUT_BYTES);
    assert!(
        loud.output.starts_with("1\n2\n3\n"),
        "{}",
        &loud.output[..20]
    );

    let hang = outcome(store, "hang-1");
    assert!(hang.timed_out && hang.exit_code.is_none(), "{hang:?}");
    assert!(
        (2_000..20_000).contains(&hang.duration_ms),
        "killed at the request's 2 s, not the agent's 20 s: {hang:?}"
    );
    let pid: u32 = std::fs::read_to_string(dir.join("hang.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut gone = false;
    for _ in 0..100 {
        if !running(pid) {
            gone = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(gone, "the action's grandchild {pid} outlived its timeout");
}

fn runs_of_count(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("count"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn a_pushing_agent_runs_the_actions_it_was_started_with_once_each() {
    let dir = tempfile::tempdir().unwrap();
    scripts(dir.path());
    let port = keepup_testkit::ports::free_port(std::net::Ipv4Addr::LOCALHOST).unwrap();
    let _daemon = daemon(
        dir.path(),
        port,
        "[[agent]]\nname = \"web1\"\ntoken_file = \"agent-token\"\ninterval = \"1s\"",
    );
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let central = format!("http://127.0.0.1:{port}");
    let pushing = agent(dir.path(), &["--central", &central]);

    the_actions_run_as_configured(&store, dir.path());

    // The count action runs a second; the central sends its request at
    // every exchange until the outcome is in: it runs once.
    request(&store, "count-1", "count", Duration::from_secs(10));
    let counted = outcome(&store, "count-1");
    assert!(counted.succeeded(), "{counted:?}");
    assert_eq!(runs_of_count(dir.path()), 1);

    // Queued behind an 8 s run, a request the central waits only 3 s to
    // see started is refused as too late when its turn comes, and the
    // central records that outcome.
    request(&store, "wait-1", "wait", Duration::from_secs(10));
    // Taken (and started) before the next is filed.
    for _ in 0..600 {
        let a = store.agent_action("wait-1", now()).unwrap().expect("filed");
        if a.state != AgentActionState::Waiting {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let late = NewAgentAction::new(
        "late-1",
        "web1",
        "late",
        Duration::from_secs(10),
        Duration::from_secs(3),
    )
    .unwrap();
    store.request_agent_action(&late, now()).unwrap();
    let late = outcome(&store, "late-1");
    let why = late.error.clone().unwrap_or_default();
    assert!(
        late.refused && why.starts_with("too late to start"),
        "{late:?}"
    );
    assert!(!dir.path().join("late").exists(), "it ran too late");
    assert!(outcome(&store, "wait-1").succeeded());

    drop(pushing);
}

#[test]
fn a_pulled_agent_gets_its_requests_with_the_pull_and_answers_an_id_once() {
    let dir = tempfile::tempdir().unwrap();
    scripts(dir.path());
    let ports = keepup_testkit::ports::free_ports(std::net::Ipv4Addr::LOCALHOST, 2).unwrap();
    let (agent_port, central_port) = (ports[0], ports[1]);
    let listen = format!("127.0.0.1:{agent_port}");
    let atf = action_token_file(dir.path());
    let pull_args = [
        "--listen",
        listen.as_str(),
        "--action-token-file",
        atf.as_str(),
    ];
    let mut pulled = agent(dir.path(), &pull_args);
    let _daemon = daemon(
        dir.path(),
        central_port,
        &pulling(agent_port, "agent-action-token"),
    );
    let store = Store::open(&dir.path().join("k.db")).unwrap();

    the_actions_run_as_configured(&store, dir.path());

    // The central's side, by hand: the same id asked twice runs once and
    // is answered the same; a stranger is refused before anything runs.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{agent_port}/action");
    let ask = |token: &str, id: &str| {
        let body = serde_json::to_vec(&ActionRequests {
            version: AGENT_ACTION_VERSION,
            requests: vec![ActionRequest {
                id: id.into(),
                action: "count".into(),
                timeout_ms: 10_000,
                not_after: None,
            }],
            acked: Vec::new(),
            sent_at: None,
        })
        .unwrap();
        match rt.block_on(keepup_notify::bearer_request(
            &keepup_notify::HttpClientContext::new(),
            "agent",
            &url,
            token,
            Some(body.into()),
            Duration::from_secs(10),
            1 << 20,
        )) {
            Ok((status, body)) => (status.as_u16(), body),
            // Not listening (yet).
            Err(_) => (0, Default::default()),
        }
    };
    let (status, _) = ask("not-the-token-000000", "count-x");
    assert_eq!(status, 401);
    // The report token lets its holder read reports, not run actions.
    let (status, body) = ask(TOKEN, "count-x");
    assert_eq!(status, 401);
    let said = String::from_utf8_lossy(&body);
    assert!(said.contains("only with its action token"), "{said}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(runs_of_count(dir.path()), 0, "nothing ran for a stranger");

    let answered = |id: &str| -> Option<ActionOutcome> {
        let (status, body) = ask(ACTION_TOKEN, id);
        assert_eq!(status, 200);
        let o: ActionOutcomes = serde_json::from_slice(&body).unwrap();
        assert_eq!(o.agent, "web1");
        o.outcomes.into_iter().next()
    };
    assert_eq!(answered("count-x"), None, "queued: no outcome yet");
    let mut first = None;
    for _ in 0..100 {
        first = answered("count-x");
        if first.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let first = first.expect("an outcome once it ran");
    assert!(first.succeeded(), "{first:?}");
    assert_eq!(answered("count-x").as_ref(), Some(&first), "the same again");
    assert_eq!(runs_of_count(dir.path()), 1, "run once");
    // Another id for the same action within --action-min-interval (60 s
    // by default): refused, whatever the central asks.
    let soon = answered("count-y").expect("refused at once");
    let why = soon.error.clone().unwrap_or_default();
    assert!(
        soon.refused && why.contains("s ago; this agent allows one run per 60 s"),
        "{soon:?}"
    );

    // Restarted, it still knows the id (from its state directory).
    drop(pulled);
    pulled = agent(dir.path(), &pull_args);
    let mut up = false;
    for _ in 0..300 {
        if ask(ACTION_TOKEN, "count-x").0 == 200 {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "the restarted agent listens");
    assert_eq!(answered("count-x").as_ref(), Some(&first), "remembered");
    assert_eq!(runs_of_count(dir.path()), 1, "not run again");
    drop(pulled);
}

/// A central presenting the wrong action token: the agent answers 401 to
/// every exchange, so the request was never taken and expires at its
/// pickup; it is not marked fetched by the send (then lost, as if the
/// agent had taken it and never answered). Nothing runs.
#[test]
fn a_request_a_pulled_agent_never_took_expires_instead_of_being_lost() {
    let dir = tempfile::tempdir().unwrap();
    scripts(dir.path());
    let ports = keepup_testkit::ports::free_ports(std::net::Ipv4Addr::LOCALHOST, 2).unwrap();
    let (agent_port, central_port) = (ports[0], ports[1]);
    let listen = format!("127.0.0.1:{agent_port}");
    let atf = action_token_file(dir.path());
    let _pulled = agent(
        dir.path(),
        &[
            "--listen",
            listen.as_str(),
            "--action-token-file",
            atf.as_str(),
        ],
    );
    secret_file(
        dir.path(),
        "wrong-action-token",
        "not-the-agents-action-token",
    );
    let _daemon = daemon(
        dir.path(),
        central_port,
        &pulling(agent_port, "wrong-action-token"),
    );
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let r = NewAgentAction::new(
        "touch-1",
        "web1",
        "touch",
        Duration::from_secs(10),
        Duration::from_secs(3),
    )
    .unwrap();
    store.request_agent_action(&r, now()).unwrap();
    let mut state = AgentActionState::Waiting;
    for _ in 0..300 {
        state = store
            .agent_action("touch-1", now())
            .unwrap()
            .expect("filed")
            .state;
        if !matches!(state, AgentActionState::Waiting | AgentActionState::Fetched) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(state, AgentActionState::Expired);
    assert!(!dir.path().join("touched").exists(), "nothing ran");
}
