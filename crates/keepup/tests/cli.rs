//! The binary end to end: real processes, real servers on loopback.

use keepup_testkit::http::{TestServer, html, text};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn keepup() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keepup"));
    c.env_remove("KEEPUP_CONFIG").env("KEEPUP_LOG", "info");
    c
}

fn run(args: &[&str]) -> Output {
    keepup().args(args).output().expect("keepup runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn shop() -> TestServer {
    TestServer::start_background(|req| async move {
        match req.uri().path() {
            "/" => html(200, "<h1>Shop</h1><button>Add to cart</button>"),
            "/slow" => {
                tokio::time::sleep(Duration::from_millis(400)).await;
                html(200, "slow but fine")
            }
            "/broken" => text(500, "Fatal error"),
            _ => text(404, "not found"),
        }
    })
    .expect("test server starts")
}

#[test]
fn validate_reports_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    std::fs::write(&cfg, "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"http\"\nurl = \"http://x/\"\ntimeot = \"5s\"\n[[site.check]]\nid = \"b\"\nkind = \"tcp\"\nhost = \"h\"\nport = 0\n").unwrap();
    let o = run(&["validate", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("keepup.toml:7:1: site[0].check[0].timeot: unknown key `timeot` (hint: did you mean `timeout`?)"), "{err}");
    assert!(
        err.contains("keepup.toml:12:8: site[0].check[1].port: invalid port 0"),
        "{err}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");

    std::fs::write(
        &cfg,
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"http\"\nurl = \"http://x/\"\n",
    )
    .unwrap();
    let o = run(&["validate", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("OK (1 site(s), 1 check(s), 0 backup plan(s))"));
}

/// The advice for a missing configuration file, run in `dir`.
fn without_configuration(dir: &Path, args: &[&str], env: Option<&str>) -> String {
    let mut c = keepup();
    c.args(args).current_dir(dir);
    if let Some(v) = env {
        c.env("KEEPUP_CONFIG", v);
    }
    let o = c.output().expect("keepup runs");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert!(!err.contains("cannot read"), "{args:?}: {err}");
    assert!(err.contains("`keepup demo`"), "{args:?}: {err}");
    assert!(
        err.contains("-c/--config, else by KEEPUP_CONFIG, else ./keepup.toml"),
        "{args:?}: {err}"
    );
    err
}

#[test]
fn a_first_run_without_a_configuration_says_where_keepup_looked_and_how_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    for command in ["status", "run", "validate"] {
        let err = without_configuration(&cwd, &[command], None);
        assert!(
            err.contains(&format!(
                "no configuration file at keepup.toml (in {})",
                cwd.display()
            )),
            "{command}: {err}"
        );
        assert!(
            err.contains("here neither -c nor KEEPUP_CONFIG was given, so ./keepup.toml"),
            "{command}: {err}"
        );
        assert!(
            err.contains("`keepup discover shop.example -o keepup.toml`"),
            "{command}: {err}"
        );
    }

    let given = cwd.join("etc/keepup.toml");
    let given = given.to_str().unwrap();
    let err = without_configuration(&cwd, &["validate", "-c", given], Some("/elsewhere.toml"));
    assert!(
        err.contains(&format!("no configuration file at {given}\n")),
        "{err}"
    );
    assert!(err.contains(&format!("here -c {given} was given")), "{err}");
    assert!(
        err.contains(&format!("`keepup discover shop.example -o {given}`")),
        "{err}"
    );

    let err = without_configuration(&cwd, &["status"], Some(given));
    assert!(
        err.contains(&format!(
            "here -c was not given, and KEEPUP_CONFIG is {given}"
        )),
        "{err}"
    );
}

#[test]
fn check_follows_nagios_conventions() {
    let s = shop();
    let o = run(&["check", &s.url("/")]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let line = stdout(&o);
    assert!(line.starts_with("HTTP OK - "), "{line}");
    assert!(line.contains(" | time="), "perfdata expected: {line}");
    assert_eq!(line.lines().count(), 1, "one summary line: {line}");

    let o = run(&["check", &s.url("/broken")]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("HTTP CRITICAL - "), "{}", stdout(&o));

    let o = run(&["check", "http://no-such-host.invalid/"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));

    let o = run(&["check", "--json", &s.url("/")]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON output");
    assert_eq!(doc["outcome"]["status"], "up");
    assert!(
        doc["outcome"]["evidence"]["timing"]["connect_ms"].is_number(),
        "{doc}"
    );

    let o = run(&["check", "gopher://example/"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).starts_with("UNKNOWN - "));

    // WARNING from a configured check with a latency threshold.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("k.toml");
    std::fs::write(&cfg, format!("[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"slow\"\nkind = \"http\"\nurl = \"{}\"\ndegraded_latency = \"200ms\"\ndown_latency = \"5s\"\n", s.url("/slow"))).unwrap();
    let o = run(&["check", "--check", "slow", "-c", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("HTTP WARNING - "), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("time=0.4") && stdout(&o).contains(";0.200;5.000;0"),
        "{}",
        stdout(&o)
    );
}

/// A `keepup run` child process, killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    keepup_testkit::ports::free_port(std::net::Ipv4Addr::LOCALHOST).unwrap()
}

fn start_daemon(cfg: &Path) -> Daemon {
    let child = keepup()
        .args(["run", "-c", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut d = Daemon(child);
    // Forward the daemon's log to the test output, and wait for "monitoring".
    let err = d.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("[daemon] {line}");
            if line.contains("keepup is monitoring") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("daemon starts");
    d
}

fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    let code = body.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, body)
}

fn status_json(cfg: &Path) -> serde_json::Value {
    let o = run(&["status", "--json", "-c", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn state_of(doc: &serde_json::Value, id: &str) -> Option<String> {
    doc.as_array()?
        .iter()
        .find(|r| r["check"] == id)
        .map(|r| r["status"].as_str().unwrap_or("").to_owned())
}

#[test]
fn the_daemon_monitors_takes_pings_reloads_and_survives_kill_9() {
    let s = shop();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    let token = "tok-123456789";
    let base = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"home\"\nkind = \"http\"\nurl = \"{}\"\ncontains = [\"Add to cart\"]\n[[site.check]]\nid = \"job\"\nkind = \"heartbeat\"\ntoken = \"{token}\"\nperiod = \"1h\"\n",
        s.url("/")
    );
    std::fs::write(&cfg, &base).unwrap();
    let mut daemon = start_daemon(&cfg);

    let (code, body) = http_get(port, "/healthz");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"checks\":2"), "{body}");
    assert_eq!(http_get(port, "/ping/wrong-token-000").0, 404);
    assert_eq!(http_get(port, &format!("/ping/{token}")).0, 200);

    wait_for("home up and job up", Duration::from_secs(20), || {
        let doc = status_json(&cfg);
        state_of(&doc, "shop/home").as_deref() == Some("up")
            && state_of(&doc, "shop/job").as_deref() == Some("up")
    });

    // A failing job turns the heartbeat Down at once.
    assert_eq!(http_get(port, &format!("/ping/{token}/fail")).0, 200);
    wait_for("job down", Duration::from_secs(10), || {
        state_of(&status_json(&cfg), "shop/job").as_deref() == Some("down")
    });

    // Reload with a broken file keeps running; with a good one adds the check.
    std::fs::write(
        &cfg,
        format!("{base}[[site.check]]\nid = \"bad\"\nkind = \"nope\"\n"),
    )
    .unwrap();
    let o = run(&["reload", "-c", cfg.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "reload refuses a broken file: {}",
        stderr(&o)
    );
    std::fs::write(
        &cfg,
        format!(
            "{base}[[site.check]]\nid = \"broken\"\nkind = \"http\"\nurl = \"{}\"\n",
            s.url("/broken")
        ),
    )
    .unwrap();
    let o = run(&["reload", "-c", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    wait_for("new check down", Duration::from_secs(15), || {
        state_of(&status_json(&cfg), "shop/broken").as_deref() == Some("down")
    });
    let doc = status_json(&cfg);
    let home = doc
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == "shop/home")
        .unwrap()
        .clone();
    assert_eq!(home["status"], "up");

    // kill -9, restart: the state and its `since` survive.
    daemon.0.kill().unwrap();
    let _ = daemon.0.wait();
    drop(daemon);
    let after_kill = status_json(&cfg);
    let home_after = after_kill
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == "shop/home")
        .unwrap()
        .clone();
    assert_eq!(home_after["since"], home["since"], "since survives kill -9");
    let _daemon = start_daemon(&cfg);
    wait_for(
        "job still down after restart",
        Duration::from_secs(10),
        || state_of(&status_json(&cfg), "shop/job").as_deref() == Some("down"),
    );
    assert_eq!(http_get(port, &format!("/ping/{token}")).0, 200);
    wait_for("job up after ping", Duration::from_secs(10), || {
        state_of(&status_json(&cfg), "shop/job").as_deref() == Some("up")
    });
}

#[test]
fn status_table_lists_checks() {
    let s = shop();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    std::fs::write(&cfg, format!("[server]\nlisten = \"127.0.0.1:{port}\"\n[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"home\"\nkind = \"http\"\nurl = \"{}\"\n[[site.check]]\nid = \"never\"\nkind = \"heartbeat\"\ntoken = \"abcdefgh1234\"\nperiod = \"1h\"\n", s.url("/"))).unwrap();
    let _d = start_daemon(&cfg);
    wait_for("a result", Duration::from_secs(10), || {
        state_of(&status_json(&cfg), "shop/home").is_some()
    });
    let o = run(&["status", "-c", cfg.to_str().unwrap()]);
    let table = stdout(&o);
    assert!(table.starts_with("CHECK"), "{table}");
    let home = table
        .lines()
        .find(|l| l.starts_with("shop/home"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(home.contains("http") && home.contains("UP"), "{home}");
}

/// A daemon watching one healthy page (`shop/home`), with a result.
fn daemon_with_a_result(s: &TestServer, dir: &Path) -> (PathBuf, Daemon) {
    let cfg = dir.join("keepup.toml");
    let port = free_port();
    std::fs::write(&cfg, format!("[server]\nlisten = \"127.0.0.1:{port}\"\n[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"home\"\nkind = \"http\"\nurl = \"{}\"\n[[site.check]]\nid = \"a-check-with-a-rather-long-name-to-be-cut\"\nkind = \"heartbeat\"\ntoken = \"abcdefgh1234\"\nperiod = \"1h\"\n", s.url("/"))).unwrap();
    let daemon = start_daemon(&cfg);
    wait_for("a result", Duration::from_secs(10), || {
        state_of(&status_json(&cfg), "shop/home").as_deref() == Some("up")
    });
    (cfg, daemon)
}

/// Runs `command` (a shell command line) in a pseudo-terminal of
/// `cols`x`rows` through script(1), as a person at a terminal would;
/// once `done` holds for what it printed so far, types `keys`. Returns
/// everything the terminal received.
fn in_a_terminal(
    command: &str,
    cols: u16,
    rows: u16,
    env: &[(&str, &str)],
    keys: &[u8],
    done: impl Fn(&str) -> bool,
) -> String {
    use std::io::Write;
    let mut script = Command::new("script");
    script
        .args([
            "-qfec",
            &format!("stty cols {cols} rows {rows}; exec {command}"),
            "/dev/null",
        ])
        .env_remove("KEEPUP_CONFIG")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .env("KEEPUP_LOG", "info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        script.env(k, v);
    }
    // Killed if the test fails before it quits (the program then gets
    // SIGHUP from its closed terminal).
    let mut child = Daemon(script.spawn().expect("script(1) runs"));
    let mut out = child.0.stdout.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let reader = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let text = || String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    wait_for("the screen", Duration::from_secs(90), || {
        done(&text()) || child.0.try_wait().ok().flatten().is_some()
    });
    let mut stdin = child.0.stdin.take().unwrap();
    let _ = stdin.write_all(keys);
    let _ = stdin.flush();
    let mut status = None;
    wait_for("the program to quit", Duration::from_secs(60), || {
        status = child.0.try_wait().unwrap();
        status.is_some()
    });
    let status = status.unwrap();
    reader.join().unwrap();
    let all = text();
    assert!(status.success(), "{status}: {all}");
    all
}

/// The rows of each frame: a frame starts at row 1, each row is drawn
/// as `ESC [ row ; 1 H`, `ESC [ 2K` (clear it) and its text; SGR removed.
fn frames(screen: &str) -> Vec<Vec<(usize, String)>> {
    // A piece's text and the row whose marker ends it (0 for none).
    fn split_marker(piece: &str) -> (&str, usize) {
        if let Some(head) = piece.strip_suffix(";1H")
            && let Some(at) = head.rfind("\x1b[")
            && let Ok(row) = head[at + 2..].parse()
        {
            return (&piece[..at], row);
        }
        (piece, 0)
    }
    screen
        .split("\x1b[1;1H")
        .skip(1)
        .map(|frame| {
            let frame = format!("\x1b[1;1H{frame}");
            let pieces: Vec<&str> = frame.split("\x1b[2K").collect();
            pieces
                .windows(2)
                .map(|w| (split_marker(w[0]).1, strip_sgr(split_marker(w[1]).0)))
                .collect()
        })
        .collect()
}

/// Asserts that some row of a frame matches.
fn has_row(rows: &[&str], matches: impl Fn(&str) -> bool) {
    assert!(rows.iter().any(|r| matches(r)), "no such row in {rows:#?}");
}

/// Rows are drawn piece by piece with colour changes between; glue them.
fn strip_sgr(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail.find('m').map_or(tail.len(), |m| m + 1);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn status_watch_redraws_one_screen_in_place_on_a_terminal() {
    let s = shop();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _daemon) = daemon_with_a_result(&s, dir.path());
    let command = format!(
        "{} status --watch --interval 300ms -c {}",
        env!("CARGO_BIN_EXE_keepup"),
        cfg.display()
    );
    let two_frames = |t: &str| t.matches("\x1b[1;1H").count() >= 3;
    let screen = in_a_terminal(&command, 60, 14, &[], b"\x03", two_frames);
    // The alternate screen, left again at Ctrl-C; in between only frames
    // drawn from the top, so nothing scrolls.
    let enter = screen
        .find("\x1b[?1049h")
        .unwrap_or_else(|| panic!("{screen:?}"));
    let leave = screen
        .rfind("\x1b[?1049l")
        .unwrap_or_else(|| panic!("{screen:?}"));
    let first = screen.find("\x1b[1;1H").unwrap();
    assert!(enter < first && first < leave, "{screen:?}");
    assert!(
        !screen[enter..leave].contains('\n'),
        "no line feeds in place: {screen:?}"
    );
    let frames = frames(&screen[enter..leave]);
    assert!(frames.len() >= 2, "{screen:?}");
    for frame in &frames {
        assert!(
            frame.iter().all(|(row, _)| (1..=14).contains(row)),
            "{frame:?}"
        );
        for (_, text) in frame {
            assert!(
                text.chars().count() <= 60,
                "wider than the terminal: {text:?}"
            );
        }
        let rows: Vec<&str> = frame.iter().map(|(_, t)| t.as_str()).collect();
        assert!(rows[0].starts_with("keepup status · "), "{rows:#?}");
        has_row(&rows, |r| r.starts_with("shop  ") && r.contains("up"));
        has_row(&rows, |r| r.starts_with("  home") && r.contains("UP"));
        has_row(&rows, |r| {
            r.starts_with("  a-check-with") && r.ends_with('…')
        });
    }
    // Colour on a terminal, none with NO_COLOR; `q` quits as Ctrl-C does.
    assert!(screen.contains("\x1b[32mUP"), "{screen:?}");
    let plain = in_a_terminal(&command, 60, 14, &[("NO_COLOR", "1")], b"q", two_frames);
    assert!(
        plain.contains("\x1b[?1049l"),
        "the screen is restored: {plain:?}"
    );
    assert!(!plain.contains("\x1b[32m"), "{plain:?}");
}

#[test]
fn status_watch_without_a_terminal_appends_plain_reports() {
    let s = shop();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, _daemon) = daemon_with_a_result(&s, dir.path());
    let mut child = Daemon(
        keepup()
            .args([
                "status",
                "--watch",
                "--interval",
                "200ms",
                "-c",
                cfg.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|l: &&String| l.starts_with("keepup status · "))
        .count()
        < 2
    {
        seen.push(lines.next().expect("more output").unwrap());
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    seen.extend(lines.map_while(Result::ok));
    assert!(child.0.wait().unwrap().success());
    let out = seen.join("\n");
    assert!(!out.contains('\x1b'), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("  home") && l.contains("UP")),
        "{out}"
    );
    // Nothing is cut in a pipe.
    assert!(
        out.contains("  a-check-with-a-rather-long-name-to-be-cut  "),
        "{out}"
    );
    assert!(
        out.contains("OPEN INCIDENTS (0)") && out.contains("LAST NOTIFICATIONS"),
        "{out}"
    );
}

#[test]
fn the_demo_on_a_terminal_shows_one_screen_with_the_fault_and_logs_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    let command = format!(
        "{} demo --dir {} --for 30s --every 1",
        env!("CARGO_BIN_EXE_keepup"),
        d.display()
    );
    // Runs until --for ends it (Ctrl-C only if it ends sooner).
    let screen = in_a_terminal(&command, 80, 24, &[], b"\x03", |_| false);
    let log = d.join("keepup.log");
    let enter = screen
        .find("\x1b[?1049h")
        .unwrap_or_else(|| panic!("{screen:?}"));
    let leave = screen
        .rfind("\x1b[?1049l")
        .unwrap_or_else(|| panic!("{screen:?}"));
    // Before the screen: where things are, the log file among them.
    assert!(
        screen[..enter].contains(&format!("log:         {}", log.display())),
        "{screen:?}"
    );
    assert!(screen[leave..].contains("demo stopped"), "{screen:?}");
    let frames = frames(&screen[enter..leave]);
    assert!(frames.len() >= 2, "{screen:?}");
    let last: Vec<&str> = frames
        .last()
        .unwrap()
        .iter()
        .map(|(_, t)| t.as_str())
        .collect();
    assert!(last.len() <= 24, "{last:#?}");
    assert!(last[0].starts_with("keepup demo · "), "{last:#?}");
    has_row(&last, |r| {
        r.starts_with("log") && r.contains(&log.display().to_string())
    });
    // The dashboard's login stays in sight (the lines printed before the
    // screen are hidden by it).
    has_row(&last, |r| {
        r.starts_with("web") && r.contains("login demo, password ")
    });
    has_row(&last, |r| {
        r.starts_with("FAULT NOW  ") && r.contains(" turn")
    });
    has_row(&last, |r| {
        r.starts_with("NEXT       in ") && r.contains(" turn")
    });
    has_row(&last, |r| r.starts_with("shop  "));
    has_row(&last, |r| r.starts_with("OPEN INCIDENTS"));
    // The log went to the file, not to the screen.
    assert!(!screen.contains(" INFO "), "{screen:?}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("keepup is monitoring"), "{logged}");
}

#[test]
fn completions_are_generated() {
    let o = run(&["completions", "bash"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("keepup"), "{}", stdout(&o));
}

#[test]
fn the_demo_shows_state_changes_within_a_hundred_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let d: PathBuf = dir.path().join("demo");
    let o = keepup()
        .args([
            "demo",
            "--dir",
            d.to_str().unwrap(),
            "--for",
            "100s",
            "--every",
            "5",
        ])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    // Healthy first, then each injected fault shows up.
    assert!(
        out.contains("shop/home         UP") || out.contains("shop/home  ") && out.contains("UP"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("shop/product") && l.contains("DEGRADED")),
        "slow page not seen:\n{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("shop/checkout") && l.contains("DOWN")),
        "checkout error not seen:\n{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("shop/certificate") && l.contains("DOWN")),
        "expired cert not seen:\n{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("shop/nightly-job") && l.contains("DOWN")),
        "missing heartbeat not seen:\n{out}"
    );
    // The newer kinds run against the shop's loopback services and are Up
    // before the faults start (ping may lack the raw socket when not root).
    let quiet: String = out
        .split("t+")
        .filter(|table| table.contains("injected fault: none"))
        .collect();
    for id in [
        "ping",
        "domain",
        "privacy",
        "security-txt",
        "payment-vendor",
        "delegation",
        "dns-www",
        "blacklists",
        "mail",
        "cart",
        "login",
    ] {
        assert!(
            quiet.lines().any(|l| l.starts_with(&format!("shop/{id} "))
                && (l.contains(" UP ") || l.contains("PING_NOT_PERMITTED"))),
            "shop/{id} not up at start:\n{out}"
        );
    }
    assert!(
        out.lines().any(|l| l.starts_with("shop/payment-vendor")
            && l.contains("DEGRADED")
            && l.contains("CHAIN_VENDOR_OUTAGE")),
        "vendor outage not seen:\n{out}"
    );
    // The demo's in-process agent reports this machine: its host check is
    // judged (its status is the machine's own, so any but pending).
    assert!(
        out.lines().any(|l| l.starts_with("server/host ")
            && [" UP ", " DEGRADED ", " DOWN "]
                .iter()
                .any(|s| l.contains(s))),
        "the demo host's check was never judged:\n{out}"
    );
    // Incidents became notifications in the demo inbox (a webhook channel).
    assert!(
        out.contains("notification received: TRIGGER"),
        "no notification seen:\n{out}"
    );
    assert!(
        out.contains("notification received: RESOLVE"),
        "no resolve notice seen:\n{out}"
    );
    assert!(d.join("keepup.db").exists());
    // The expired certificate is one incident, the tls check's; the other
    // HTTPS checks' incidents are its unannounced consequences.
    let store = keepup_store::Store::open(&d.join("keepup.db")).unwrap();
    let incidents = store.incidents(0, i64::MAX, 100).unwrap();
    let certificate = incidents
        .iter()
        .find(|i| i.check.as_str() == "shop/certificate")
        .unwrap_or_else(|| panic!("no certificate incident: {incidents:?}"));
    assert!(certificate.cause.is_none() && !certificate.suppressed);
    for child in ["shop/home", "shop/privacy", "shop/security-txt"] {
        let theirs: Vec<_> = incidents
            .iter()
            .filter(|i| i.check.as_str() == child)
            .collect();
        assert!(
            !theirs.is_empty()
                && theirs
                    .iter()
                    .all(|i| i.cause == Some(certificate.id) && i.suppressed),
            "{child}: {theirs:?}"
        );
    }
    // The generated configuration is valid on its own.
    let o = run(&["validate", "-c", d.join("keepup.toml").to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Its contract measures the faults: the checkout error and the expired
    // certificate took the storefront down, so this month has downtime and
    // incidents; the report of the month shows them.
    let cfg = d.join("keepup.toml");
    let o = run(&["sla", "-c", cfg.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sla: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let front = &sla[0];
    assert_eq!(front["contract"], "shop-front", "{front}");
    assert!(front["down_ms"].as_i64().unwrap() > 0, "{front}");
    assert!(front["availability"].as_f64().unwrap() < 100.0, "{front}");
    let counted = front["incident_count"].as_u64().unwrap();
    assert!(counted > 0, "{front}");
    let out = d.join("report");
    let o = run(&[
        "report",
        "-c",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = std::fs::read_to_string(out.join(format!(
        "shop-front-{}.html",
        front["period"].as_str().unwrap()
    )))
    .unwrap();
    assert!(html.contains("shop/checkout"), "{html}");
}

#[test]
fn the_man_pages_come_from_the_command_line_definition() {
    let o = run(&["man"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = stdout(&o);
    assert!(page.starts_with(".ie"), "roff expected: {page}");
    assert!(page.contains(".TH keepup 1"), "{page}");
    assert!(page.contains("keepup\\-run(1)"), "{page}");

    let dir = tempfile::tempdir().unwrap();
    let o = run(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for page in ["keepup.1", "keepup-run.1", "keepup-backup-restore.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_default();
        assert!(text.contains(".SH SYNOPSIS"), "{page}: {text}");
    }
    // The page on stdout is the one written to the directory.
    let written = std::fs::read_to_string(dir.path().join("keepup.1")).unwrap_or_default();
    assert_eq!(written, page);
    // Hidden commands are internal: no page of their own.
    assert!(!dir.path().join("keepup-man.1").exists());
}

/// Starts the daemon on a configuration (its listener on a free port) with
/// `log_args` before `run`, and returns its first log line from stderr.
fn first_log_line(log_args: &[&str], checks: &str) -> String {
    first_log_line_of(keepup(), log_args, checks)
}

/// The first stderr line of `keepup run` started by `command`.
fn first_log_line_of(mut command: Command, log_args: &[&str], checks: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    std::fs::write(
        &cfg,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n{checks}"),
    )
    .unwrap();
    let mut child = command
        .args(log_args)
        .args(["run", "-c", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let mut lines = BufReader::new(err).lines();
    let line = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    line
}

#[test]
fn text_logs_to_a_pipe_carry_no_colour_codes() {
    let line = first_log_line(&[], "");
    assert!(line.contains("keepup is monitoring"), "{line}");
    assert!(!line.contains('\x1b'), "escape codes in {line:?}");
}

#[test]
fn the_descriptor_limit_is_raised_to_the_hard_limit_at_start() {
    // util-linux's prlimit starts keepup with a soft limit of 256 under a
    // hard limit of 4096; the start line says what keepup got.
    let mut command = Command::new("prlimit");
    command
        .args(["--nofile=256:4096", "--", env!("CARGO_BIN_EXE_keepup")])
        .env_remove("KEEPUP_CONFIG")
        .env("KEEPUP_LOG", "info");
    let line = first_log_line_of(command, &["--log-format", "json"], "");
    let doc: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(doc["message"], "keepup is monitoring", "{doc}");
    assert_eq!(doc["descriptors"], 4096, "{doc}");
}

#[test]
fn logs_can_be_json_lines() {
    let line = first_log_line(
        &["--log-format", "json"],
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"hb\"\nkind = \"heartbeat\"\ntoken = \"secret-token-777\"\nperiod = \"1h\"\n",
    );
    let doc: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(doc["message"], "keepup is monitoring", "{doc}");
    assert_eq!(doc["checks"], 1, "{doc}");
    assert_eq!(doc["level"], "INFO", "{doc}");
    assert!(
        !line.contains("secret-token-777"),
        "secrets never logged: {line}"
    );
}

#[test]
fn incidents_are_listed_and_acknowledged() {
    let s = shop();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    std::fs::write(&cfg, format!("[server]\nlisten = \"127.0.0.1:{port}\"\n[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 2\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"checkout\"\nkind = \"http\"\nurl = \"{}\"\n", s.url("/broken"))).unwrap();
    let _d = start_daemon(&cfg);
    let c = cfg.to_str().unwrap();
    let mut id = 0;
    wait_for("an open incident", Duration::from_secs(15), || {
        let o = run(&["incidents", "--open", "--json", "-c", c]);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        if let Some(i) = doc.as_array().and_then(|a| a.first()) {
            id = i["id"].as_i64().unwrap();
            assert_eq!(i["check"], "shop/checkout");
            assert_eq!(i["status"], "down");
            true
        } else {
            false
        }
    });
    let o = run(&["ack", &id.to_string(), "--by", "alice", "-c", c]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["ack", &id.to_string(), "--by", "bob", "-c", c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("already acknowledged by alice"),
        "{}",
        stderr(&o)
    );
    let o = run(&["ack", "99999", "-c", c]);
    assert!(stderr(&o).contains("no incident #99999"), "{}", stderr(&o));
    let update = |incident: &str, status: &str, text: &str| {
        run(&[
            "incident", "update", incident, "--status", status, "--text", text, "--by", "alice",
            "-c", c,
        ])
    };
    let o = update(
        &id.to_string(),
        "identified",
        "The checkout page fails; a fix is under way.",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = update(&id.to_string(), "fixed", "x");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("status: \"fixed\""), "{}", stderr(&o));
    let o = update("99999", "resolved", "x");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no incident #99999"), "{}", stderr(&o));
    let store = keepup_store::Store::open_read_only(&dir.path().join("keepup.db")).unwrap();
    let posted = store.status_updates_of(id).unwrap();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(
        (posted[0].status.as_str(), posted[0].author.as_str()),
        ("identified", "alice")
    );
    let audited = store.audit_since(0, 100).unwrap();
    assert!(
        audited
            .iter()
            .any(|e| e.action == "incident.public_update" && e.target == format!("incident #{id}")),
        "{audited:?}"
    );
    let table = stdout(&run(&["incidents", "-c", c]));
    let line = table
        .lines()
        .find(|l| l.contains("shop/checkout"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        line.contains("OPEN (down)") && line.contains("alice"),
        "{line}"
    );
}

#[test]
fn maintenance_windows_are_started_listed_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    std::fs::write(&cfg, "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"web\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\ntags = [\"db\"]\n[[maintenance]]\nid = \"patch\"\nname = \"Weekly patching\"\ncron = \"0 2 * * sun\"\nduration = \"2h\"\ntimezone = \"Europe/Berlin\"\n").unwrap();
    let c = cfg.to_str().unwrap();
    let o = run(&[
        "maintenance",
        "start",
        "shop",
        "--for",
        "1h",
        "--reason",
        "db upgrade",
        "-c",
        c,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("maintenance #1 on site shop until"),
        "{}",
        stdout(&o)
    );
    let o = run(&["maintenance", "start", "nope", "--for", "1h", "-c", c]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&[
        "maintenance",
        "start",
        "--tag",
        "db",
        "--for",
        "1h",
        "-c",
        c,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("maintenance #2 on checks tagged db until"),
        "{}",
        stdout(&o)
    );
    let o = run(&[
        "maintenance",
        "start",
        "--tag",
        "dbs",
        "--for",
        "1h",
        "-c",
        c,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no check or site carries the tag \"dbs\" (tags in use: db)"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "maintenance",
        "start",
        "shop",
        "--tag",
        "db",
        "--for",
        "1h",
        "-c",
        c,
    ]);
    assert_eq!(o.status.code(), Some(2), "TARGET or --tag, not both");
    let list = stdout(&run(&["maintenance", "list", "-c", c]));
    let configured = list
        .lines()
        .find(|l| l.starts_with("patch"))
        .unwrap_or_else(|| panic!("{list}"));
    // The weekly window is listed with its next start, or as open when the
    // test happens to run on a Sunday between 02:00 and 04:00 in Berlin.
    assert!(
        configured.contains("[0 2 * * sun Europe/Berlin]")
            && (configured.contains("next") || configured.contains("OPEN")),
        "{configured}"
    );
    let adhoc = list
        .lines()
        .find(|l| l.starts_with("#1"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        adhoc.contains("db upgrade") && adhoc.contains("OPEN"),
        "{adhoc}"
    );
    let tagged = list
        .lines()
        .find(|l| l.starts_with("#2"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(tagged.contains("checks tagged db"), "{tagged}");
    assert!(run(&["maintenance", "stop", "1", "-c", c]).status.success());
    assert_eq!(
        run(&["maintenance", "stop", "1", "-c", c]).status.code(),
        Some(1)
    );
    let list = stdout(&run(&["maintenance", "list", "-c", c]));
    assert!(!list.contains("#1"), "{list}");
}

/// A webhook receiver for the crash tests: records every JSON body; the
/// first request it gets is answered only after `stall`.
fn stalling_receiver(
    stall: Duration,
) -> (
    TestServer,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    let server = TestServer::start_background(move |req| {
        let g = g.clone();
        async move {
            let first = {
                let mut v = g.lock().unwrap();
                v.push(serde_json::from_slice(req.body()).unwrap_or(serde_json::Value::Null));
                v.len() == 1
            };
            if first {
                tokio::time::sleep(stall).await;
            }
            text(200, "ok")
        }
    })
    .unwrap();
    (server, got)
}

#[test]
fn a_notification_survives_kill_9_between_send_and_confirmation() {
    let s = shop();
    let (hook, got) = stalling_receiver(Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    std::fs::write(&cfg, format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"checkout\"\nkind = \"http\"\nurl = \"{}\"\n\
         [[channel]]\nid = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\ntimeout = \"60s\"\n[[policy]]\nid = \"all\"\n[[policy.level]]\nnotify = [\"channel:hook\"]\n",
        s.url("/broken"), hook.url("/hook"))).unwrap();
    let c = cfg.to_str().unwrap();
    let mut daemon = start_daemon(&cfg);
    // The receiver has the request, the daemon waits for the answer: kill it.
    wait_for(
        "the first delivery attempt",
        Duration::from_secs(20),
        || !got.lock().unwrap().is_empty(),
    );
    daemon.0.kill().unwrap();
    let _ = daemon.0.wait();
    drop(daemon);
    let rows: serde_json::Value =
        serde_json::from_slice(&run(&["notifications", "--json", "-c", c]).stdout).unwrap();
    assert_eq!(rows[0]["state"], "sending", "unconfirmed: {rows}");

    // Restarted, it sends again (at least once), with the same notification id
    // so that providers that deduplicate see one message.
    let daemon = start_daemon(&cfg);
    wait_for("the repeated delivery", Duration::from_secs(20), || {
        got.lock().unwrap().len() >= 2
    });
    wait_for("confirmation", Duration::from_secs(10), || {
        let rows: serde_json::Value =
            serde_json::from_slice(&run(&["notifications", "--json", "-c", c]).stdout)
                .unwrap_or_default();
        rows[0]["state"] == "sent"
    });
    let bodies = got.lock().unwrap().clone();
    assert_eq!(
        bodies[0]["id"], bodies[1]["id"],
        "the same notification, not a new one"
    );
    assert_eq!(bodies[1]["event"], "trigger");
    drop(daemon);

    // Confirmed notifications are never sent again.
    let count = got.lock().unwrap().len();
    let _daemon = start_daemon(&cfg);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        got.lock().unwrap().len(),
        count,
        "a confirmed notification was sent twice"
    );
    let table = stdout(&run(&["notifications", "-c", c]));
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("hook") && l.contains("trigger") && l.contains("sent")),
        "{table}"
    );
}

#[test]
fn resolving_from_the_command_line_tells_the_daemon_and_the_next_page_recalls_the_note() {
    let s = shop();
    let (hook, got) = stalling_receiver(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    std::fs::write(&cfg, format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"checkout\"\nkind = \"http\"\nurl = \"{}\"\n\
         [[channel]]\nid = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\n[[policy]]\nid = \"all\"\ngroup_window = \"0s\"\n[[policy.level]]\nnotify = [\"channel:hook\"]\n",
        s.url("/broken"), hook.url("/hook"))).unwrap();
    let c = cfg.to_str().unwrap();
    let _daemon = start_daemon(&cfg);
    let events = |event: &str| -> Vec<serde_json::Value> {
        got.lock()
            .unwrap()
            .iter()
            .filter(|n| n["event"] == event)
            .cloned()
            .collect()
    };
    wait_for("the first page", Duration::from_secs(20), || {
        !events("trigger").is_empty()
    });
    assert_eq!(
        events("trigger")[0]["past_resolutions"],
        serde_json::json!([])
    );
    let open: serde_json::Value =
        serde_json::from_slice(&run(&["incidents", "--open", "--json", "-c", c]).stdout).unwrap();
    let id = open[0]["id"].as_i64().unwrap();
    let ids = id.to_string();

    // Bad notes are refused before anything is written.
    let o = run(&["resolve", &ids, "--note", "  ", "-c", c]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--note is required"), "{}", stderr(&o));
    let long = "x".repeat(2_001);
    let o = run(&["resolve", &ids, "--note", &long, "-c", c]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--note at most 2000 characters (this one has 2001)"),
        "{}",
        stderr(&o)
    );
    let o = run(&["resolve", "99999", "--note", "x", "-c", c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no incident #99999"), "{}", stderr(&o));

    let note = "restarted php-fpm, pool exhausted by a bot";
    let o = run(&["resolve", &ids, "--note", note, "--by", "alice", "-c", c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("announces it within"), "{}", stdout(&o));
    // The daemon adopted it (its 3 s beat reads the store; no signal): the end is announced, and the check, still
    // failing, opens a new incident whose page recalls the note.
    wait_for("the resolved notice", Duration::from_secs(20), || {
        !events("resolve").is_empty()
    });
    wait_for(
        "the second page, with the note",
        Duration::from_secs(20),
        || events("trigger").len() >= 2,
    );
    let second = events("trigger")[1]["past_resolutions"].clone();
    assert_eq!(second[0]["incident"], id, "{second}");
    assert_eq!(second[0]["note"], note, "{second}");
    assert_eq!(second[0]["by"], "alice", "{second}");
    let o = run(&["resolve", &ids, "--note", "again", "-c", c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already resolved"), "{}", stderr(&o));

    // The notes are searched, case-insensitively.
    let found: serde_json::Value = serde_json::from_slice(
        &run(&["incidents", "--search", "PHP-FPM", "--json", "-c", c]).stdout,
    )
    .unwrap();
    let found: Vec<i64> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(found, [id]);
    let table = stdout(&run(&["incidents", "--search", "nothing like it", "-c", c]));
    assert_eq!(table.trim(), "no incidents");
    let store = keepup_store::Store::open_read_only(&dir.path().join("keepup.db")).unwrap();
    assert!(
        store
            .audit_since(0, 100)
            .unwrap()
            .iter()
            .any(|e| e.action == "incident.resolve" && e.target == format!("incident #{id}")),
        "audited"
    );
}

#[test]
fn notify_test_sends_through_a_channel() {
    let (hook, got) = stalling_receiver(Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    std::fs::write(&cfg, format!("[[channel]]\nid = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\n[[channel]]\nid = \"dead\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{}/\"\n", hook.url("/"), free_port())).unwrap();
    let c = cfg.to_str().unwrap();
    let o = run(&["notify", "test", "hook", "-c", c]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(got.lock().unwrap()[0]["event"], "test");
    let o = run(&["notify", "test", "dead", "-c", c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("dead:"), "{}", stderr(&o));
    let o = run(&["notify", "test", "nope", "-c", c]);
    assert!(
        stderr(&o).contains("no channel \"nope\" (channels: hook, dead)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_notification_written_but_not_sent_survives_kill_9() {
    let s = shop();
    // The webhook receiver is not up yet: the notification is written to
    // the outbox and its delivery fails (connection refused).
    let hook_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    std::fs::write(&cfg, format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"checkout\"\nkind = \"http\"\nurl = \"{}\"\n\
         [[channel]]\nid = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:{hook_port}/hook\"\n[[policy]]\nid = \"all\"\ngroup_window = \"0s\"\n[[policy.level]]\nnotify = [\"channel:hook\"]\n",
        s.url("/broken"))).unwrap();
    let c = cfg.to_str().unwrap();
    let mut daemon = start_daemon(&cfg);
    wait_for("a queued notification", Duration::from_secs(20), || {
        let rows: serde_json::Value =
            serde_json::from_slice(&run(&["notifications", "--json", "-c", c]).stdout)
                .unwrap_or_default();
        rows.as_array().is_some_and(|r| !r.is_empty())
    });
    daemon.0.kill().unwrap();
    let _ = daemon.0.wait();
    drop(daemon);
    let rows: serde_json::Value =
        serde_json::from_slice(&run(&["notifications", "--json", "-c", c]).stdout).unwrap();
    assert_ne!(rows[0]["state"], "sent", "{rows}");

    // The receiver comes up, keepup restarts: the notification goes out.
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    let _hook = TestServer::builder()
        .bind(format!("127.0.0.1:{hook_port}").parse().unwrap())
        .start_background(move |req| {
            let g = g.clone();
            async move {
                g.lock().unwrap().push(
                    serde_json::from_slice::<serde_json::Value>(req.body()).unwrap_or_default(),
                );
                text(200, "ok")
            }
        })
        .unwrap();
    let _daemon = start_daemon(&cfg);
    wait_for(
        "delivery after the restart",
        Duration::from_secs(30),
        || got.lock().unwrap().iter().any(|v| v["event"] == "trigger"),
    );
}

/// The `last_run` and `status` of one check, from `keepup status --json`.
fn run_and_status(cfg: &Path, id: &str) -> Option<(String, String)> {
    let doc = status_json(cfg);
    let row = doc.as_array()?.iter().find(|r| r["check"] == id)?;
    Some((
        row["last_run"].as_str()?.to_owned(),
        row["status"].as_str()?.to_owned(),
    ))
}

#[test]
fn a_never_pinged_heartbeat_gets_its_grace_once_not_after_every_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    std::fs::write(&cfg, format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[defaults]\ninterval = \"1s\"\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"job\"\nkind = \"heartbeat\"\ntoken = \"tok-never-pinged\"\nperiod = \"4s\"\ngrace = \"1s\"\n",
    )).unwrap();
    let mut daemon = start_daemon(&cfg);
    wait_for("the heartbeat watched", Duration::from_secs(10), || {
        run_and_status(&cfg, "shop/job").is_some_and(|(_, s)| s == "unknown")
    });
    // Killed before the grace ran out, down for longer than the grace.
    daemon.0.kill().unwrap();
    let _ = daemon.0.wait();
    drop(daemon);
    let (before, status) = run_and_status(&cfg, "shop/job").unwrap();
    assert_eq!(status, "unknown", "killed within the grace");
    std::thread::sleep(Duration::from_secs(6));
    let _daemon = start_daemon(&cfg);
    let mut first = None;
    wait_for("a run after the restart", Duration::from_secs(10), || {
        first = run_and_status(&cfg, "shop/job").filter(|(at, _)| *at != before);
        first.is_some()
    });
    let (_, status) = first.unwrap();
    assert_eq!(
        status, "down",
        "no second grace after a restart: the job never pinged within period + grace"
    );
}

/// A receiver that counts requests.
fn counting_receiver() -> (TestServer, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let server = TestServer::start_background(move |_req| {
        let h = h.clone();
        async move {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            text(200, "OK")
        }
    })
    .unwrap();
    (server, hits)
}

#[test]
fn the_daemon_writes_the_recovery_plan_document_at_start_and_again_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    let config = |step: &str| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"home\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\ninterval = \"1h\"\n\
             [[recovery]]\nid = \"shop-dr\"\nsite = \"shop\"\nrto = \"1h\"\nrpo = \"2h\"\ndocument_dir = \"plans\"\n\
             [recovery.standby]\naddresses = [\"127.0.0.20\"]\n\
             [[recovery.activate]]\nkind = \"command\"\nname = \"{step}\"\nrun = [\"systemctl\", \"start\", \"shop\"]\n"
        )
    };
    std::fs::write(&cfg, config("start the shop")).unwrap();
    let markdown = dir.path().join("plans/shop-dr.md");
    let html = dir.path().join("plans/shop-dr.html");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let _daemon = start_daemon(&cfg);
    wait_for("the document at start", Duration::from_secs(20), || {
        read(&markdown).contains("Step 1: start the shop")
    });
    assert!(read(&html).contains("Step 1: start the shop"));
    assert!(read(&markdown).contains("systemctl start shop"));

    // A changed plan: the daemon's reload writes the document again.
    std::fs::write(&cfg, config("start the shop again")).unwrap();
    let o = run(&["reload", "-c", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    wait_for(
        "the document after the reload",
        Duration::from_secs(20),
        || read(&markdown).contains("Step 1: start the shop again"),
    );
    assert!(read(&html).contains("Step 1: start the shop again"));
    // Written through a temporary file renamed over the old one: none is
    // left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("plans"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn a_reload_moves_the_dead_mans_switch_to_its_new_url() {
    use std::sync::atomic::Ordering::SeqCst;
    let (old, old_hits) = counting_receiver();
    let (new, new_hits) = counting_receiver();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    let config = |url: String| {
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[self_monitoring]\nheartbeat_url = \"{url}\"\nheartbeat_every = \"1s\"\ninterval = \"1s\"\nmax_lag = \"5s\"\n"
        )
    };
    std::fs::write(&cfg, config(old.url("/ping/old"))).unwrap();
    let _daemon = start_daemon(&cfg);
    wait_for("pings to the old URL", Duration::from_secs(10), || {
        old_hits.load(SeqCst) >= 1
    });
    std::fs::write(&cfg, config(new.url("/ping/new"))).unwrap();
    let o = run(&["reload", "-c", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    wait_for("pings to the new URL", Duration::from_secs(10), || {
        new_hits.load(SeqCst) >= 1
    });
    let old_count = old_hits.load(SeqCst);
    wait_for("more pings to the new URL", Duration::from_secs(10), || {
        new_hits.load(SeqCst) >= 3
    });
    assert_eq!(
        old_hits.load(SeqCst),
        old_count,
        "the old URL is no longer called"
    );
}

#[test]
fn a_page_changed_while_keepup_was_down_is_reported_after_the_restart() {
    let text = std::sync::Arc::new(std::sync::Mutex::new(
        "<h1>Privacy</h1><p>We keep your data for ten years.</p>".to_owned(),
    ));
    let t = text.clone();
    let server = TestServer::start_background(move |_req| {
        let body = t.lock().unwrap().clone();
        async move { html(200, body) }
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    std::fs::write(&cfg, format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[defaults]\ninterval = \"1s\"\ntimeout = \"2s\"\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"privacy\"\nkind = \"page\"\nurl = \"{}\"\nsoft_404 = false\ndetect_changes = true\nchange_hold = \"1h\"\n",
        server.url("/privacy")
    )).unwrap();
    let mut daemon = start_daemon(&cfg);
    wait_for("the baseline", Duration::from_secs(15), || {
        run_and_status(&cfg, "shop/privacy").is_some_and(|(_, s)| s == "up")
    });
    daemon.0.kill().unwrap();
    let _ = daemon.0.wait();
    drop(daemon);
    let (before, _) = run_and_status(&cfg, "shop/privacy").unwrap();

    // The policy changes while keepup is down.
    *text.lock().unwrap() = "<h1>Privacy</h1><p>We keep your data forever.</p>".to_owned();
    let _daemon = start_daemon(&cfg);
    let mut doc = serde_json::Value::Null;
    wait_for("a run after the restart", Duration::from_secs(15), || {
        doc = status_json(&cfg);
        doc.as_array()
            .and_then(|rows| rows.iter().find(|r| r["check"] == "shop/privacy"))
            .is_some_and(|r| r["last_run"] != before.as_str())
    });
    let row = doc
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["check"] == "shop/privacy")
        .unwrap();
    assert!(
        row["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["code"] == "PAGE_CHANGED")),
        "the change made during the restart is reported: {row}"
    );
}

#[test]
fn registry_answers_and_the_bootstrap_are_not_fetched_again_after_a_restart() {
    use std::sync::atomic::Ordering::SeqCst;
    let bootstrap_hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rdap_hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (b, r) = (bootstrap_hits.clone(), rdap_hits.clone());
    let port = free_port();
    let registry_port = free_port();
    let base = format!("http://127.0.0.1:{registry_port}");
    let rdap_base = format!("{base}/rdap/");
    let _registry = TestServer::builder()
        .bind(format!("127.0.0.1:{registry_port}").parse().unwrap())
        .start_background(move |req| {
            let (b, r, rdap_base) = (b.clone(), r.clone(), rdap_base.clone());
            async move {
                if req.uri().path() == "/dns.json" {
                    b.fetch_add(1, SeqCst);
                    let body = serde_json::json!({
                        "version": "1.0", "publication": "2026-11-01T18:00:02Z",
                        "services": [[["com"], [rdap_base]]]
                    });
                    return text(200, body.to_string());
                }
                r.fetch_add(1, SeqCst);
                let body = serde_json::json!({
                    "objectClassName": "domain", "ldhName": "KEEPUP-SHOP.COM",
                    "status": ["active"],
                    "events": [{"eventAction": "expiration", "eventDate": "2099-08-13T04:00:00Z"}],
                    "nameservers": [{"objectClassName": "nameserver", "ldhName": "NS1.KEEPUP-SHOP.COM"}]
                });
                text(200, body.to_string())
            }
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    std::fs::write(&cfg, format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[domain]\nbootstrap_url = \"{base}/dns.json\"\nrefresh = true\nrefresh_interval = \"1d\"\ncache = \"12h\"\n[defaults]\ninterval = \"1s\"\ntimeout = \"5s\"\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"registration\"\nkind = \"domain\"\ndomain = \"keepup-shop.com\"\n",
    )).unwrap();
    let mut daemon = start_daemon(&cfg);
    wait_for("the registration checked", Duration::from_secs(15), || {
        run_and_status(&cfg, "shop/registration").is_some_and(|(_, s)| s == "up")
    });
    assert_eq!(
        (bootstrap_hits.load(SeqCst), rdap_hits.load(SeqCst)),
        (1, 1)
    );
    daemon.0.kill().unwrap();
    let _ = daemon.0.wait();
    drop(daemon);
    let (before, _) = run_and_status(&cfg, "shop/registration").unwrap();

    let _daemon = start_daemon(&cfg);
    let mut after = None;
    wait_for("a run after the restart", Duration::from_secs(15), || {
        after = run_and_status(&cfg, "shop/registration").filter(|(at, _)| *at != before);
        after.is_some()
    });
    assert_eq!(after.unwrap().1, "up");
    assert_eq!(
        (bootstrap_hits.load(SeqCst), rdap_hits.load(SeqCst)),
        (1, 1),
        "the restart reuses the kept bootstrap and answer"
    );
}

/// The default build carries no benches (they link the test kit): `keepup
/// bench` says so and how to build them, instead of failing obscurely.
#[cfg(not(feature = "bench"))]
#[test]
fn bench_without_the_feature_says_how_to_build_it() {
    let out = run(&["bench", "alerting", "--checks", "5", "--runs", "1"]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("--features bench"),
        "{}",
        stderr(&out)
    );
}

/// With the `bench` feature the subcommand runs a bench and prints its
/// report line.
#[cfg(feature = "bench")]
#[test]
fn bench_with_the_feature_prints_a_report() {
    let out = run(&["bench", "alerting", "--checks", "5", "--runs", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("messages_without_grouping=5"),
        "{}",
        stdout(&out)
    );
}

/// The README's catalogue of finding codes is `keepup codes --markdown`
/// word for word, so it cannot drift from the codes keepup produces.
#[test]
fn the_readme_lists_the_code_catalogue_as_keepup_codes_prints_it() {
    let printed = run(&["codes", "--markdown"]);
    assert!(printed.status.success(), "{}", stderr(&printed));
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README is readable");
    let begin = "<!-- codes:begin -->\n";
    let start = readme
        .find(begin)
        .expect("the README has the codes:begin marker")
        + begin.len();
    let end = readme[start..]
        .find("<!-- codes:end -->")
        .expect("the README has the codes:end marker");
    assert_eq!(
        &readme[start..start + end],
        format!("\n{}\n", stdout(&printed)),
        "regenerate the README section with `keepup codes --markdown`"
    );

    let json: serde_json::Value =
        serde_json::from_slice(&run(&["codes", "--json"]).stdout).expect("codes --json is JSON");
    let timeout = json
        .as_array()
        .and_then(|a| a.iter().find(|c| c["code"] == "PROBE_TIMEOUT"))
        .expect("PROBE_TIMEOUT is listed");
    assert_eq!(timeout["severity"], "critical");
    let table = stdout(&run(&["codes"]));
    assert!(table.starts_with("CODE"), "{table}");
    assert!(table.contains("BACKUP_FAILED"), "{table}");
}

/// `keepup codes CODE` explains one code: its catalogue line and the
/// runbook note keepup ships for it; a former name and lower case are
/// accepted, an unknown code is an error that says what to do.
#[test]
fn keepup_codes_code_prints_the_meaning_and_the_runbook_note() {
    let shown = run(&["codes", "TLS_CHAIN_INCOMPLETE"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = stdout(&shown);
    assert!(
        text.starts_with("TLS_CHAIN_INCOMPLETE (critical)"),
        "{text}"
    );
    assert!(text.contains("typically a missing intermediate"), "{text}");
    assert!(text.contains("**Usual causes**"), "{text}");
    assert!(
        text.contains("openssl s_client -connect HOST:443"),
        "{text}"
    );
    assert!(!text.contains("## "), "one note only: {text}");

    let lower = stdout(&run(&["codes", "tls_chain_incomplete"]));
    assert!(lower.starts_with("TLS_CHAIN_INCOMPLETE"), "{lower}");

    let json: serde_json::Value =
        serde_json::from_slice(&run(&["codes", "PROBE_TIMEOUT", "--json"]).stdout)
            .expect("codes CODE --json is JSON");
    assert_eq!(json["code"], "PROBE_TIMEOUT", "{json}");
    assert!(
        json["note"]
            .as_str()
            .is_some_and(|n| n.contains("**First steps**")),
        "{json}"
    );

    let unknown = run(&["codes", "TLS_CERT_EXPIRNG"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        stderr(&unknown)
            .contains("\"TLS_CERT_EXPIRNG\" is not a finding code; `keepup codes` lists them"),
        "{}",
        stderr(&unknown)
    );
}

/// The leaf certificate an HTTPS server on `port` shows to a client that
/// trusts `ca` and asks for `localhost`, and the status of `GET /healthz`.
fn https_leaf(port: u16, ca: &keepup_pki::CertAuthority) -> (Vec<u8>, String) {
    use std::io::Write;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.ca_der().clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer);
    let leaf = tls.conn.peer_certificates().unwrap()[0].to_vec();
    (leaf, answer.lines().next().unwrap_or_default().to_owned())
}

#[test]
fn the_daemon_serves_https_and_takes_a_renewed_certificate_on_reload() {
    let ca = keepup_pki::CertAuthority::new("keepup test CA").unwrap();
    let first = ca
        .issue(&["localhost"], keepup_pki::validity::current())
        .unwrap();
    let second = ca
        .issue(&["localhost"], keepup_pki::validity::current())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |cert: &keepup_pki::Issued, key: &keepup_pki::Issued| {
        std::fs::write(dir.path().join("cert.pem"), &cert.cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), &key.key_pem).unwrap();
    };
    write(&first, &first);
    let cfg = dir.path().join("keepup.toml");
    let port = free_port();
    std::fs::write(
        &cfg,
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n"),
    )
    .unwrap();
    let _daemon = start_daemon(&cfg);
    let (leaf, status) = https_leaf(port, &ca);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(leaf, first.leaf().to_vec());

    write(&second, &second);
    let o = run(&["reload", "-c", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    wait_for("the renewed certificate", Duration::from_secs(20), || {
        https_leaf(port, &ca).0 == second.leaf().to_vec()
    });

    // A key that is not the certificate's: the renewed pair stays in use.
    write(&first, &second);
    let o = run(&["reload", "-c", cfg.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    // The signal is handled within moments: a second of connections after
    // it all still see the renewed pair.
    for _ in 0..10 {
        let (leaf, status) = https_leaf(port, &ca);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(leaf, second.leaf().to_vec());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `keepup actions run|confirm` and the listing: only configured actions
/// run, through their guard rails; every run is listed with its outcome
/// and in the audit log; exit codes tell ran (0), failed (1) and skipped (2).
#[test]
fn actions_run_by_hand_are_listed_with_their_outcome_and_audited() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let config = dir.path().join("keepup.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"keepup.db\"\n\
             [[action]]\nname = \"touch\"\ncommand = [\"sh\", \"-c\", \"touch {m}; echo touched\"]\n\
             [[action]]\nname = \"wipe\"\ncommand = [\"rm\", \"-f\", \"{m}\"]\nconfirm = true\n",
            m = marker.display()
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();

    let o = run(&["actions", "run", "touch", "-c", c]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("run 1: touch ok, exit 0\ntouched"),
        "{}",
        stdout(&o)
    );
    assert!(marker.exists());
    // Within its cooldown: skipped, exit 2, saying why.
    let o = run(&["actions", "run", "touch", "-c", c]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("cooldown: it last ran at"),
        "{}",
        stdout(&o)
    );
    // Nothing that is not configured.
    let o = run(&["actions", "run", "rm", "-c", c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no [[action]] is named \"rm\""),
        "{}",
        stderr(&o)
    );
    // A confirmation: asked, then answered once.
    let o = run(&["actions", "run", "wipe", "-c", c]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("run 3: wipe awaiting_confirmation"),
        "{}",
        stdout(&o)
    );
    assert!(marker.exists());
    let o = run(&["actions", "confirm", "3", "-c", c]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("run 3: wipe ok, exit 0"),
        "{}",
        stdout(&o)
    );
    assert!(!marker.exists());
    let o = run(&["actions", "confirm", "3", "--no", "-c", c]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("not waiting for a confirmation"),
        "{}",
        stderr(&o)
    );

    let o = run(&["actions", "--json", "-c", c]);
    assert!(o.status.success(), "{}", stderr(&o));
    let runs: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let outcomes: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["ok", "skipped", "ok"], "{runs:#}");
    let o = run(&["actions", "-c", c]);
    assert!(stdout(&o).contains("manual: by cli:"), "{}", stdout(&o));
    let o = run(&["audit", "-c", c]);
    let audit = stdout(&o);
    for want in ["action.run", "action.skip", "action.ask", "action.confirm"] {
        assert!(audit.contains(want), "{want}: {audit}");
    }
}

/// A reader that stops early (`keepup actions | head`) ends every listing
/// quietly: exit 0, nothing on stderr, no panic. The pipe's read end is
/// closed before the command writes, so every write meets a broken pipe.
#[test]
fn listings_end_quietly_when_the_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keepup.toml");
    std::fs::write(
        &config,
        "[store]\npath = \"keepup.db\"\n[[action]]\nname = \"noop\"\ncommand = [\"true\"]\n",
    )
    .unwrap();
    let c = config.to_str().unwrap();
    // A store for the listings to read.
    let o = run(&["actions", "run", "noop", "-c", c]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for args in [
        &["codes"][..],
        &["codes", "--json"],
        &["actions", "-c", c],
        &["actions", "--json", "-c", c],
        &["incidents", "-c", c],
        &["audit", "-c", c],
        &["completions", "bash"],
    ] {
        let mut child = keepup()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
        assert!(
            !stderr(&o).contains("Broken pipe"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

/// Beside a running `keepup run`, `keepup actions run` and `confirm` do
/// not run the command themselves (as whoever typed them, root under
/// sudo): they file the request in the store, the daemon runs it (the
/// command's parent is the daemon) and the command line prints the
/// outcome. Without a daemon (killed: its pid file stays, unlocked) the
/// command line runs it itself.
#[test]
fn actions_asked_for_beside_a_daemon_run_in_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let by = dir.path().join("run-by");
    let cfg = dir.path().join("keepup.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\npath = \"keepup.db\"\n\
             [[action]]\nname = \"who\"\ncommand = [\"sh\", \"-c\", \"echo $PPID > {b}; echo done\"]\ncooldown = \"0s\"\n\
             [[action]]\nname = \"wipe\"\ncommand = [\"sh\", \"-c\", \"echo $PPID > {b}\"]\nconfirm = true\n",
            port = free_port(),
            b = by.display()
        ),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let daemon = start_daemon(&cfg);
    let daemon_pid = daemon.0.id().to_string();
    wait_for(
        "the daemon's pid in its pid file",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(dir.path().join("keepup.db.pid"))
                .is_ok_and(|pid| pid.trim() == daemon_pid)
        },
    );
    let ran_by = || std::fs::read_to_string(&by).unwrap().trim().to_owned();

    // A second daemon on the same store is refused before it starts
    // anything, and leaves the first one's pid file as it was.
    let o = run(&["run", "-c", c]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "another keepup (pid {daemon_pid}) runs on this store"
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keepup.db.pid"))
            .unwrap()
            .trim(),
        daemon_pid
    );

    let o = run(&["actions", "run", "who", "-c", c]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("run 1: who ok, exit 0\ndone"),
        "{}",
        stdout(&o)
    );
    assert_eq!(ran_by(), daemon_pid);

    let o = run(&["actions", "run", "wipe", "-c", c]);
    assert!(
        stdout(&o).starts_with("run 2: wipe awaiting_confirmation"),
        "{}",
        stdout(&o)
    );
    std::fs::remove_file(&by).unwrap();
    let o = run(&["actions", "confirm", "2", "-c", c]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("run 2: wipe ok, exit 0"),
        "{}",
        stdout(&o)
    );
    assert_eq!(ran_by(), daemon_pid);

    // The daemon dies without cleaning up: the command line runs it.
    drop(daemon);
    assert!(dir.path().join("keepup.db.pid").exists());
    let o = run(&["actions", "run", "who", "-c", c]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("run 3: who ok"), "{}", stdout(&o));
    assert_ne!(ran_by(), daemon_pid);
    let o = run(&["audit", "-c", c]);
    assert!(stdout(&o).contains("action.request"), "{}", stdout(&o));
}
