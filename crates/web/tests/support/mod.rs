//! What the web's tests share: a daemon's listener on loopback (real
//! store in a temporary directory, real monitor, `keepup_web::serve`) and
//! a small browser that keeps cookies, sends requests over real sockets
//! from a chosen 127.0.0.x address and parses the HTML it gets back.

#![allow(dead_code)]

use keepup_model::SystemClock;
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::{Role, Store};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpSocket;

/// A running listener.
pub struct Web {
    pub monitor: Arc<Monitor>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts the listener with `server` added to the `[server]` table of a
/// one-heartbeat configuration.
pub async fn start(server: &str) -> Web {
    start_with_tls(server, None).await
}

/// [`start`], speaking HTTPS with `tls`.
pub async fn start_with_tls(server: &str, tls: Option<Arc<keepup_web::tls::ListenerTls>>) -> Web {
    let src = format!(
        "[server]\n{server}\n[[site]]\nid = \"s\"\n[[site.check]]\nid = \"job\"\nkind = \"heartbeat\"\ntoken = \"job-token-1234\"\nperiod = \"1h\"\n"
    );
    start_in(tempfile::tempdir().unwrap(), &src, tls).await
}

/// Starts the listener on the configuration `src` (a whole keepup.toml).
pub async fn start_config(src: &str) -> Web {
    start_in(tempfile::tempdir().unwrap(), src, None).await
}

/// Starts the listener on configuration `src`, read as a file in `dir`
/// (relative paths in it are relative to `dir`; the store goes there too).
pub async fn start_in(
    dir: tempfile::TempDir,
    src: &str,
    tls: Option<Arc<keepup_web::tls::ListenerTls>>,
) -> Web {
    let config =
        keepup_config::load_str(src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let limits = config.server.limits.clone();
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = Arc::new(
        Monitor::start(
            Arc::new(config),
            store,
            ProbeContext::new(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap(),
    );
    let listener = keepup_web::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = keepup_web::router(monitor.clone());
    tokio::spawn(async move {
        keepup_web::serve_with(listener, router, &limits, tls, async move {
            let _ = rx.await;
        })
        .await
    });
    Web {
        monitor,
        addr,
        dir,
        _stop: tx,
    }
}

impl Web {
    /// Adds a user to the store as `keepup user add` does.
    pub fn add_user(&self, name: &str, password: &str, role: Role) {
        let hash = keepup_web::auth::password::hash(password).unwrap();
        assert!(self.monitor.store().add_user(name, &hash, role, 0).unwrap());
    }

    /// A browser with no cookies, connecting from 127.0.0.`host`.
    pub fn browser(&self, host: u8) -> Browser {
        self.browser_from(std::net::Ipv4Addr::new(127, 0, 0, host))
    }

    /// A browser with no cookies, connecting from `from` (a loopback
    /// address, another /24 of 127/8 for another source network).
    pub fn browser_from(&self, from: std::net::Ipv4Addr) -> Browser {
        Browser {
            addr: self.addr,
            from,
            cookies: BTreeMap::new(),
        }
    }

    /// The audit log's actions, oldest first.
    pub fn audit_actions(&self) -> Vec<String> {
        self.monitor
            .store()
            .audit_since(0, 1000)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

/// An answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The `Set-Cookie` line for cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// One header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as an HTML document.
    pub fn doc(&self) -> scraper::Html {
        scraper::Html::parse_document(&self.body)
    }

    /// The value of the first element matching `selector`'s `attr`.
    pub fn attr(&self, selector: &str, attr: &str) -> Option<String> {
        let doc = self.doc();
        let sel = scraper::Selector::parse(selector).unwrap();
        doc.select(&sel)
            .next()
            .and_then(|e| e.value().attr(attr))
            .map(str::to_owned)
    }

    /// The text of every element matching `selector`, joined by spaces.
    pub fn text(&self, selector: &str) -> String {
        let doc = self.doc();
        let sel = scraper::Selector::parse(selector).unwrap();
        doc.select(&sel)
            .map(|e| e.text().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A client that keeps the cookies it is given.
pub struct Browser {
    addr: SocketAddr,
    from: std::net::Ipv4Addr,
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    /// GET `path`.
    pub async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, &[], String::new()).await
    }

    /// POSTs `fields` as a form.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = fields
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    keepup_model::text::percent_encode(k),
                    keepup_model::text::percent_encode(v)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            "POST",
            path,
            &[("content-type", "application/x-www-form-urlencoded")],
            body,
        )
        .await
    }

    /// Sends one request on a fresh connection from the browser's address,
    /// with the kept cookies, and keeps the cookies of the answer.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Reply {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((self.from, 0))).unwrap();
        let stream = socket.connect(self.addr).await.unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "keepup.test");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if !self.cookies.is_empty() {
            let jar = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            request = request.header("cookie", jar);
        }
        let request = request
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = http_body_util::BodyExt::collect(body)
            .await
            .unwrap()
            .to_bytes();
        let reply = Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        for line in reply.headers.get_all("set-cookie") {
            let Ok(line) = line.to_str() else { continue };
            let pair = line.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || line.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        reply
    }

    /// Opens the login page and submits `name` and `password` with its
    /// CSRF token; the answer to the submission.
    pub async fn login(&mut self, name: &str, password: &str) -> Reply {
        let page = self.get("/login").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.attr("form input[name=csrf]", "value").unwrap();
        self.post(
            "/login",
            &[
                ("name", name),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ],
        )
        .await
    }

    /// The CSRF token of the session, from the logout form of a page.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/").await;
        page.attr("form[action='/logout'] input[name=csrf]", "value")
            .unwrap_or_else(|| panic!("no logout form: {} {}", page.status, page.body))
    }
}

/// An HTTP target on loopback for checks: 200 with a small page until it
/// is broken, then 500.
pub struct Target {
    pub server: keepup_testkit::http::TestServer,
    broken: Arc<std::sync::atomic::AtomicBool>,
}

impl Target {
    /// Starts the target on the current runtime.
    pub async fn start() -> Target {
        let broken = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let b = broken.clone();
        let server = keepup_testkit::http::TestServer::start(move |_req| {
            let b = b.clone();
            async move {
                if b.load(std::sync::atomic::Ordering::SeqCst) {
                    keepup_testkit::http::text(500, "broken")
                } else {
                    keepup_testkit::http::html(200, "<h1>shop</h1>")
                }
            }
        })
        .await
        .unwrap();
        Target { server, broken }
    }

    /// The URL of its page.
    pub fn url(&self) -> String {
        self.server.url("/")
    }

    /// From now on it answers 500.
    pub fn break_down(&self) {
        self.broken.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Web {
    /// Waits (at most a minute) until `ready` holds for the monitor.
    pub async fn wait_for(&self, ready: impl Fn(&Monitor) -> bool) {
        for _ in 0..600 {
            if ready(&self.monitor) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the monitor did not get there within a minute");
    }

    /// Waits (at most a minute) until `check` is in `status`.
    pub async fn wait_for_status(&self, check: &str, status: keepup_model::Status) {
        let id = keepup_model::CheckId(check.to_owned());
        self.wait_for(|m| {
            m.current()
                .get(&id)
                .is_some_and(|s| s.outcome.status == status)
        })
        .await;
    }

    /// Waits (at most a minute) until `check` has an open incident.
    pub async fn wait_for_incident(&self, check: &str) {
        for _ in 0..600 {
            let open = self.monitor.store().open_incidents().unwrap();
            if open.iter().any(|i| i.check.as_str() == check) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no incident of {check} within a minute");
    }
}

impl Browser {
    /// Opens the server-sent events at `path` with the kept cookies
    /// (HTTP/1.0, so the stream is the bare body); fails unless 200.
    pub async fn events(&mut self, path: &str) -> Events {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((self.from, 0))).unwrap();
        let mut stream = socket.connect(self.addr).await.unwrap();
        let jar = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        stream
            .write_all(
                format!("GET {path} HTTP/1.0\r\nHost: keepup.test\r\nAccept: text/event-stream\r\nCookie: {jar}\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .unwrap();
        let mut reader = tokio::io::BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        assert!(line.contains(" 200 "), "{line}");
        loop {
            line.clear();
            reader.read_line(&mut line).await.unwrap();
            if line.trim().is_empty() {
                break;
            }
        }
        Events { reader }
    }
}

/// A server-sent event stream.
pub struct Events {
    reader: tokio::io::BufReader<tokio::net::TcpStream>,
}

impl Events {
    /// The next event's name and data (comments skipped), within a minute.
    pub async fn next(&mut self) -> (String, String) {
        use tokio::io::AsyncBufReadExt;
        let read = async {
            let (mut name, mut data) = (String::new(), String::new());
            let mut line = String::new();
            loop {
                line.clear();
                let n = self.reader.read_line(&mut line).await.unwrap();
                assert!(n > 0, "the event stream ended");
                let l = line.trim_end_matches(['\r', '\n']);
                if l.is_empty() {
                    if !data.is_empty() || !name.is_empty() {
                        return (name, data);
                    }
                } else if let Some(v) = l.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = l.strip_prefix("data:") {
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                }
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), read)
            .await
            .expect("an event within a minute")
    }
}
