//! A small Chrome DevTools Protocol client over `--remote-debugging-pipe`.
//!
//! Chromium reads commands from its fd 3 and writes answers and events to
//! its fd 4, each message one JSON object followed by a NUL byte. This
//! module starts the process with those two pipes (and nothing else: a
//! cleared environment, a fresh profile directory), sends commands with
//! ids, routes each answer to its caller and each event to the page
//! session it belongs to ([`PageEvents`]). Every call has a deadline and
//! every message a size limit; a browser that stops answering a
//! browser-level command, or writes something that is not the protocol,
//! is marked dead ([`Browser::is_alive`]) and killed, so the pool starts a
//! new one for the next check. Chromium exits by itself when its command
//! pipe closes, so a keepup that is killed leaves no browser behind.
//!
//! Only what the browser check needs is here: no DOM domain, no
//! JavaScript object handles; element work is done by evaluating small
//! scripts that return plain values.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// The largest message read from Chromium. Answers are small by design
/// (scripts return short strings; a screenshot is refused above 512 KiB,
/// about 700 KiB in base64); anything bigger is not an answer we asked for.
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Console errors and failed requests kept per page (the evidence shows at
/// most this many; the count goes on).
pub(crate) const MAX_NOTES: usize = 20;

/// The stderr bytes kept from a browser process, for the message when it
/// does not start.
const MAX_STDERR_BYTES: usize = 2048;

/// Why a call did not get its answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CdpError {
    /// The deadline passed first.
    #[error("no answer in time")]
    Timeout,
    /// The browser's pipe closed or the browser was killed.
    #[error("the browser closed")]
    Closed,
    /// The browser answered with a protocol error.
    #[error("{0}")]
    Protocol(String),
    /// The process could not be started.
    #[error("{0}")]
    Launch(String),
}

/// Chromium's command line, besides the executable.
fn chromium_args(profile: &Path) -> Vec<String> {
    vec![
        "--headless".into(),
        "--remote-debugging-pipe".into(),
        // Unprivileged and inside a service's own sandbox already; the
        // setuid sandbox helper is not available to a service user.
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--no-first-run".into(),
        "--no-default-browser-check".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-quic".into(),
        "--disable-extensions".into(),
        "--disable-dev-shm-usage".into(),
        "--mute-audio".into(),
        "--hide-scrollbars".into(),
        // Headless Chromium still builds each window's address bar, and
        // its suggestion popups are WebUI pages preloaded in renderers of
        // their own: two per window, that is per run (the runs' pages
        // each open in a window of their context), about 40 MB of PSS
        // each; nothing ever shows them. Page renderers are not affected.
        "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,WebUIOmniboxFullPopup".into(),
        format!("--user-data-dir={}", profile.display()),
        // No first window: each run opens its own page in a context of
        // its own, so a startup page would only hold a renderer (and its
        // window's) for the browser's whole life.
        "--no-startup-window".into(),
    ]
}

/// What the reader task records about one page session, read by the step
/// runner. Bounded: at most [`MAX_NOTES`] messages of each sort, and
/// requests in flight are forgotten when they end.
#[derive(Debug, Default)]
pub(crate) struct PageState {
    /// `Page.loadEventFired` seen, counted.
    pub(crate) loads: u64,
    /// Requests started and not yet finished or failed, by request id.
    pub(crate) in_flight: HashMap<String, String>,
    /// When the last request started or ended.
    pub(crate) network_changed: Option<Instant>,
    /// Console errors and uncaught exceptions, first [`MAX_NOTES`].
    pub(crate) console_errors: Vec<String>,
    /// How many console errors there were in all.
    pub(crate) console_error_count: usize,
    /// Requests that failed or answered 4xx/5xx, first [`MAX_NOTES`].
    pub(crate) failed_requests: Vec<String>,
    /// How many in all.
    pub(crate) failed_request_count: usize,
    /// The renderer crashed or the target went away.
    pub(crate) gone: bool,
    /// The page's main frame (its id is the target's).
    pub(crate) main_frame: String,
    /// The main frame started loading a document, counted.
    pub(crate) main_started: u64,
    /// The main frame is loading a document now.
    pub(crate) main_loading: bool,
    /// The HTTP status of the main frame's last document.
    pub(crate) main_status: Option<u16>,
    /// URLs by request id, for naming a failed request (bounded like
    /// `in_flight`: removed when the request ends).
    urls: HashMap<String, String>,
    /// Requests not tracked because [`MAX_TRACKED_REQUESTS`] were already
    /// open: a page firing requests without end cannot grow the maps.
    pub(crate) untracked_requests: u64,
}

/// How many open requests a page's state follows at once.
const MAX_TRACKED_REQUESTS: usize = 1000;

/// Longest URL kept for a request (a data: URL can be megabytes).
const MAX_URL_CHARS: usize = 500;

/// One page session's events: the state and a counter that moves on every
/// change, so a waiter re-checks its condition only when something happened.
#[derive(Debug)]
pub(crate) struct PageEvents {
    pub(crate) state: Mutex<PageState>,
    changed: watch::Sender<u64>,
}

impl PageEvents {
    fn new() -> Self {
        Self {
            state: Mutex::new(PageState::default()),
            changed: watch::Sender::new(0),
        }
    }

    /// A receiver that wakes on the next change.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Reads the state.
    pub(crate) fn with<T>(&self, read: impl FnOnce(&PageState) -> T) -> T {
        match self.state.lock() {
            Ok(state) => read(&state),
            Err(poisoned) => read(&poisoned.into_inner()),
        }
    }

    fn update(&self, change: impl FnOnce(&mut PageState)) {
        match self.state.lock() {
            Ok(mut state) => change(&mut state),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Records one protocol event of this session.
    fn record(&self, method: &str, params: &Value) {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        match method {
            "Page.loadEventFired" => self.update(|s| s.loads += 1),
            "Page.frameStartedLoading" => {
                let frame = text(&params["frameId"]);
                self.update(|s| {
                    if frame == s.main_frame {
                        s.main_started += 1;
                        s.main_loading = true;
                    }
                });
            }
            "Page.frameStoppedLoading" => {
                let frame = text(&params["frameId"]);
                self.update(|s| {
                    if frame == s.main_frame {
                        s.main_loading = false;
                    }
                });
            }
            "Network.requestWillBeSent" => {
                let id = text(&params["requestId"]);
                let url = clip(&text(&params["request"]["url"]), MAX_URL_CHARS);
                self.update(|s| {
                    s.network_changed = Some(Instant::now());
                    if s.urls.len() >= MAX_TRACKED_REQUESTS {
                        s.untracked_requests += 1;
                        return;
                    }
                    // Data URLs never touch the network and never end with
                    // loadingFinished in some versions: not in flight.
                    if !url.starts_with("data:") {
                        s.in_flight.insert(id.clone(), url.clone());
                    }
                    s.urls.insert(id, url);
                });
            }
            "Network.responseReceived" => {
                let status = params["response"]["status"].as_u64().unwrap_or(0);
                let frame = text(&params["frameId"]);
                if params["type"].as_str() == Some("Document") {
                    self.update(|s| {
                        if frame == s.main_frame {
                            s.main_status = u16::try_from(status).ok();
                        }
                    });
                }
                let url = text(&params["response"]["url"]);
                // Chromium asks every site for a favicon by itself; a shop
                // without one is not failing its customers.
                let favicon = url
                    .split(['?', '#'])
                    .next()
                    .is_some_and(|u| u.ends_with("/favicon.ico"));
                if status >= 400 && !favicon {
                    self.update(|s| note_failed(s, format!("{url}: HTTP {status}")));
                }
            }
            "Network.loadingFinished" => {
                let id = text(&params["requestId"]);
                self.update(|s| {
                    s.in_flight.remove(&id);
                    s.urls.remove(&id);
                    s.network_changed = Some(Instant::now());
                });
            }
            "Network.loadingFailed" => {
                let id = text(&params["requestId"]);
                let error = text(&params["errorText"]);
                let canceled = params["canceled"].as_bool().unwrap_or(false);
                self.update(|s| {
                    s.in_flight.remove(&id);
                    let url = s.urls.remove(&id).unwrap_or_default();
                    s.network_changed = Some(Instant::now());
                    // A request the page itself abandoned (navigating away)
                    // is not a failure of the shop.
                    if !canceled {
                        note_failed(s, format!("{url}: {error}"));
                    }
                });
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let description = details["exception"]["description"]
                    .as_str()
                    .or_else(|| details["text"].as_str())
                    .unwrap_or("uncaught exception");
                let first_line = description.lines().next().unwrap_or_default().to_owned();
                self.update(|s| note_console(s, first_line));
            }
            "Runtime.consoleAPICalled" if params["type"].as_str() == Some("error") => {
                let args = params["args"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                let line = args
                    .iter()
                    .map(|a| {
                        a["value"]
                            .as_str()
                            .map(str::to_owned)
                            .or_else(|| a["description"].as_str().map(str::to_owned))
                            .unwrap_or_else(|| a["value"].to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                self.update(|s| note_console(s, line));
            }
            // Network errors are already failed requests.
            "Log.entryAdded"
                if params["entry"]["level"].as_str() == Some("error")
                    && params["entry"]["source"].as_str() != Some("network") =>
            {
                let line = text(&params["entry"]["text"]);
                self.update(|s| note_console(s, line));
            }
            "Inspector.targetCrashed" | "Inspector.detached" => self.update(|s| s.gone = true),
            _ => {}
        }
    }
}

/// Keeps a console error, bounded in count and length.
fn note_console(state: &mut PageState, line: String) {
    state.console_error_count += 1;
    if state.console_errors.len() < MAX_NOTES {
        state.console_errors.push(clip(&line, 300));
    }
}

/// Keeps a failed request, bounded in count and length.
fn note_failed(state: &mut PageState, line: String) {
    state.failed_request_count += 1;
    if state.failed_requests.len() < MAX_NOTES {
        state.failed_requests.push(clip(&line, 300));
    }
}

/// At most `max` characters of `text`.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

type Pending = HashMap<u64, oneshot::Sender<Result<Value, CdpError>>>;

/// Routing shared by the caller side and the reader task.
struct Routes {
    pending: Mutex<Pending>,
    sessions: Mutex<HashMap<String, Arc<PageEvents>>>,
    alive: AtomicBool,
}

impl Routes {
    fn fail_all(&self) {
        self.alive.store(false, Ordering::SeqCst);
        let pending = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for (_, answer) in pending {
            let _ = answer.send(Err(CdpError::Closed));
        }
        let sessions = match self.sessions.lock() {
            Ok(s) => s.values().cloned().collect::<Vec<_>>(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        };
        for events in sessions {
            events.update(|s| s.gone = true);
        }
    }

    fn take_pending(&self, id: u64) -> Option<oneshot::Sender<Result<Value, CdpError>>> {
        match self.pending.lock() {
            Ok(mut p) => p.remove(&id),
            Err(poisoned) => poisoned.into_inner().remove(&id),
        }
    }

    fn session(&self, id: &str) -> Option<Arc<PageEvents>> {
        match self.sessions.lock() {
            Ok(s) => s.get(id).cloned(),
            Err(poisoned) => poisoned.into_inner().get(id).cloned(),
        }
    }
}

/// One running Chromium and its protocol pipes.
pub(crate) struct Browser {
    child: Mutex<Option<Child>>,
    to_browser: tokio::sync::Mutex<pipe::Sender>,
    routes: Arc<Routes>,
    next_id: AtomicU64,
    /// A browser-level command went unanswered: before the next run uses
    /// this browser, the pool asks whether it still answers at all.
    suspect: AtomicBool,
    /// The executable it was started from (a changed `[browser]
    /// executable` starts a new one).
    pub(crate) executable: PathBuf,
    /// The profile directory, removed once the killed browser is reaped
    /// (so a dying process cannot write into it after its removal).
    profile: Mutex<Option<tempfile::TempDir>>,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("executable", &self.executable)
            .field("alive", &self.is_alive())
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts `executable` and waits until it answers, at most until
    /// `deadline`.
    pub(crate) async fn launch(executable: &Path, deadline: Instant) -> Result<Browser, CdpError> {
        let profile = tempfile::Builder::new()
            .prefix("keepup-browser-")
            .tempdir()
            .map_err(|e| CdpError::Launch(format!("cannot create a profile directory: {e}")))?;
        let (commands_read, commands_write) = cloexec_pipe()?;
        let (answers_read, answers_write) = cloexec_pipe()?;
        let child_in = commands_read.as_raw_fd();
        let child_out = answers_write.as_raw_fd();
        let mut command = Command::new(executable);
        command
            .args(chromium_args(profile.path()))
            // Nothing of keepup's environment (secrets in variables) is
            // inherited; the launcher script needs PATH, fonts need HOME.
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", profile.path())
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: only async-signal-safe calls (fcntl, dup2, setsid)
        // between fork and exec, on descriptors this function owns.
        unsafe {
            command.pre_exec(move || place_pipe_fds(child_in, child_out));
        }
        let mut child = command
            .spawn()
            .map_err(|e| CdpError::Launch(format!("cannot start {}: {e}", executable.display())))?;
        // The child's ends now belong to the child alone: closing ours makes
        // the pipes report its exit.
        drop(commands_read);
        drop(answers_write);
        let stderr_tail = Arc::new(Mutex::new(VecDeque::<u8>::new()));
        if let Some(stderr) = child.stderr.take() {
            let tail = Arc::clone(&stderr_tail);
            let _ = std::thread::Builder::new()
                .name("browser-stderr".into())
                .spawn(move || keep_tail(stderr, &tail));
        }
        let to_browser = pipe::Sender::from_owned_fd(commands_write)
            .map_err(|e| CdpError::Launch(format!("cannot use the command pipe: {e}")))?;
        let from_browser = pipe::Receiver::from_owned_fd(answers_read)
            .map_err(|e| CdpError::Launch(format!("cannot use the answer pipe: {e}")))?;
        let routes = Arc::new(Routes {
            pending: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            alive: AtomicBool::new(true),
        });
        tokio::spawn(read_messages(from_browser, Arc::clone(&routes)));
        let browser = Browser {
            child: Mutex::new(Some(child)),
            to_browser: tokio::sync::Mutex::new(to_browser),
            routes,
            next_id: AtomicU64::new(1),
            suspect: AtomicBool::new(false),
            executable: executable.to_owned(),
            profile: Mutex::new(Some(profile)),
        };
        match browser
            .call(None, "Browser.getVersion", json!({}), deadline)
            .await
        {
            Ok(_) => Ok(browser),
            Err(e) => {
                browser.kill();
                let said = tail_line(&stderr_tail);
                let why = match e {
                    CdpError::Timeout => "it did not answer in time".to_owned(),
                    other => other.to_string(),
                };
                Err(CdpError::Launch(match said {
                    Some(line) => format!("{} did not start: {why} ({line})", executable.display()),
                    None => format!("{} did not start: {why}", executable.display()),
                }))
            }
        }
    }

    /// Whether the process is still usable.
    pub(crate) fn is_alive(&self) -> bool {
        self.routes.alive.load(Ordering::SeqCst)
    }

    /// Sends `method` to the browser (`session` `None`) or a page session
    /// and waits for its answer until `deadline`.
    pub(crate) async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
        deadline: Instant,
    ) -> Result<Value, CdpError> {
        if !self.is_alive() {
            return Err(CdpError::Closed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = Value::String(session.to_owned());
        }
        let mut bytes = message.to_string().into_bytes();
        bytes.push(0);
        let (answer, answered) = oneshot::channel();
        match self.routes.pending.lock() {
            Ok(mut p) => p.insert(id, answer),
            Err(poisoned) => poisoned.into_inner().insert(id, answer),
        };
        let write = async {
            let mut pipe = self.to_browser.lock().await;
            pipe.write_all(&bytes).await
        };
        match tokio::time::timeout_at(deadline, write).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                self.routes.take_pending(id);
                self.kill();
                return Err(CdpError::Closed);
            }
            Err(_) => {
                // Part of a message may be in the pipe: nothing after it
                // could be understood any more.
                self.routes.take_pending(id);
                self.kill();
                return Err(CdpError::Timeout);
            }
        }
        match tokio::time::timeout_at(deadline, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CdpError::Closed),
            Err(_) => {
                self.routes.take_pending(id);
                if session.is_none() {
                    self.suspect.store(true, Ordering::SeqCst);
                }
                Err(CdpError::Timeout)
            }
        }
    }

    /// Whether a browser-level command went unanswered since the last
    /// [`Browser::still_answers`].
    pub(crate) fn is_suspect(&self) -> bool {
        self.suspect.load(Ordering::SeqCst)
    }

    /// Asks the browser for its version, until `deadline`; clears the
    /// suspicion when it answers.
    pub(crate) async fn still_answers(&self, deadline: Instant) -> bool {
        let answered = self
            .call(None, "Browser.getVersion", json!({}), deadline)
            .await
            .is_ok();
        if answered {
            self.suspect.store(false, Ordering::SeqCst);
        }
        answered
    }

    /// Starts routing the events of page session `session`, whose main
    /// frame is `main_frame`.
    pub(crate) fn watch_session(&self, session: &str, main_frame: &str) -> Arc<PageEvents> {
        let events = Arc::new(PageEvents::new());
        events.update(|s| s.main_frame = main_frame.to_owned());
        match self.routes.sessions.lock() {
            Ok(mut s) => s.insert(session.to_owned(), Arc::clone(&events)),
            Err(poisoned) => poisoned
                .into_inner()
                .insert(session.to_owned(), Arc::clone(&events)),
        };
        events
    }

    /// Stops routing the events of `session`.
    pub(crate) fn forget_session(&self, session: &str) {
        match self.routes.sessions.lock() {
            Ok(mut s) => s.remove(session),
            Err(poisoned) => poisoned.into_inner().remove(session),
        };
    }

    /// Kills the process (and its renderers, in its process group) and
    /// fails every call waiting for an answer.
    pub(crate) fn kill(&self) {
        self.routes.fail_all();
        let child = match self.child.lock() {
            Ok(mut c) => c.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(mut child) = child {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: kill(2) with a negative pid signals the process
                // group the child leads (setsid in pre_exec); no memory is
                // touched.
                unsafe {
                    libc::kill(-pid, libc::SIGKILL);
                }
            }
            let _ = child.kill();
            let profile = match self.profile.lock() {
                Ok(mut p) => p.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            // Reaped off the async threads: the process is already dying.
            // Its renderers, in the same process group, got the same
            // SIGKILL; the profile goes after the browser has exited.
            let _ = std::thread::Builder::new()
                .name("browser-reap".into())
                .spawn(move || {
                    let _ = child.wait();
                    if let Some(profile) = profile
                        && let Err(e) = profile.close()
                    {
                        tracing::warn!(error = %e, "cannot remove the browser's profile directory");
                    }
                });
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A pipe whose ends close on exec.
fn cloexec_pipe() -> Result<(OwnedFd, OwnedFd), CdpError> {
    let mut fds: [RawFd; 2] = [-1, -1];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(CdpError::Launch(format!("cannot create a pipe: {e}")));
    }
    // SAFETY: both descriptors were just created and are owned by no one else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// In the child before exec: the command pipe becomes fd 3 and the answer
/// pipe fd 4, and the child leads its own process group so that killing
/// the group takes its renderers too.
fn place_pipe_fds(commands: RawFd, answers: RawFd) -> std::io::Result<()> {
    // Moved above 4 first, so that placing one cannot overwrite the other
    // when either already is 3 or 4.
    // SAFETY: fcntl, dup2 and setsid are async-signal-safe and act on
    // descriptors the parent created for this child.
    unsafe {
        let commands_high = libc::fcntl(commands, libc::F_DUPFD_CLOEXEC, 10);
        let answers_high = libc::fcntl(answers, libc::F_DUPFD_CLOEXEC, 10);
        if commands_high < 0 || answers_high < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::dup2(commands_high, 3) < 0 || libc::dup2(answers_high, 4) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        libc::setsid();
    }
    Ok(())
}

/// Keeps the last [`MAX_STDERR_BYTES`] of the browser's stderr.
fn keep_tail(mut stderr: impl std::io::Read, tail: &Mutex<VecDeque<u8>>) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = stderr.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Ok(mut t) = tail.lock() {
            t.extend(buf.iter().take(n));
            while t.len() > MAX_STDERR_BYTES {
                t.pop_front();
            }
        }
    }
}

/// The last non-empty line the browser wrote to stderr.
fn tail_line(tail: &Mutex<VecDeque<u8>>) -> Option<String> {
    let bytes: Vec<u8> = tail.lock().ok()?.iter().copied().collect();
    let text = String::from_utf8_lossy(&bytes);
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| clip(l, 200))
}

/// Reads NUL-terminated messages until the pipe closes, then fails
/// everything still waiting. A message over [`MAX_MESSAGE_BYTES`] (a page
/// logging a multi-megabyte string, a huge screenshot) is skipped up to its
/// NUL: only the command it answers fails, and the browser, shared by every
/// check, stays usable.
async fn read_messages(mut from_browser: pipe::Receiver, routes: Arc<Routes>) {
    let mut buffer: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    // The start of an oversized message being skipped, for its answer id.
    let mut skipped_head: Option<Vec<u8>> = None;
    loop {
        let n = match from_browser.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut rest = &chunk[..n];
        while let Some(end) = rest.iter().position(|&b| b == 0) {
            match skipped_head.take() {
                Some(head) => drop_oversized(&head, &routes),
                None if buffer.len() + end > MAX_MESSAGE_BYTES => {
                    buffer.extend_from_slice(&rest[..end.min(OVERSIZED_HEAD_BYTES)]);
                    drop_oversized(&buffer, &routes);
                }
                None => {
                    buffer.extend_from_slice(&rest[..end]);
                    dispatch(&buffer, &routes);
                }
            }
            buffer.clear();
            rest = &rest[end + 1..];
        }
        if skipped_head.is_none() {
            buffer.extend_from_slice(rest);
            if buffer.len() > MAX_MESSAGE_BYTES {
                buffer.truncate(OVERSIZED_HEAD_BYTES);
                skipped_head = Some(std::mem::take(&mut buffer));
            }
        }
    }
    routes.fail_all();
}

/// How much of an oversized message is kept to learn which command it
/// answers.
const OVERSIZED_HEAD_BYTES: usize = 64;

/// Forgets a message over the size limit; when it answers a command (the
/// browser writes `{"id":N,` first), that command fails with the reason.
fn drop_oversized(head: &[u8], routes: &Routes) {
    tracing::warn!(
        limit = MAX_MESSAGE_BYTES,
        "browser message over the size limit skipped"
    );
    let id = head
        .strip_prefix(b"{\"id\":")
        .map(|r| {
            r.iter()
                .take_while(|b| b.is_ascii_digit())
                .copied()
                .collect::<Vec<u8>>()
        })
        .and_then(|digits| std::str::from_utf8(&digits).ok()?.parse::<u64>().ok());
    if let Some(answer) = id.and_then(|id| routes.take_pending(id)) {
        let _ = answer.send(Err(CdpError::Protocol(format!(
            "the browser's answer was over the {} MiB limit",
            MAX_MESSAGE_BYTES / (1024 * 1024)
        ))));
    }
}

/// Routes one message: an answer to its caller, an event to its session.
fn dispatch(message: &[u8], routes: &Routes) {
    let Ok(message) = serde_json::from_slice::<Value>(message) else {
        tracing::debug!("browser sent a message that is not JSON");
        return;
    };
    if let Some(id) = message["id"].as_u64() {
        let Some(answer) = routes.take_pending(id) else {
            return;
        };
        let result = match message.get("error") {
            Some(error) => Err(CdpError::Protocol(
                error["message"]
                    .as_str()
                    .unwrap_or("protocol error")
                    .to_owned(),
            )),
            None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
        };
        let _ = answer.send(result);
        return;
    }
    let Some(method) = message["method"].as_str() else {
        return;
    };
    if let Some(session) = message["sessionId"].as_str()
        && let Some(events) = routes.session(session)
    {
        events.record(method, &message["params"]);
    } else if method == "Target.detachedFromTarget"
        && let Some(session) = message["params"]["sessionId"].as_str()
        && let Some(events) = routes.session(session)
    {
        events.update(|s| s.gone = true);
    }
}
