//! A PostgreSQL connection for the store's synchronous callers.
//!
//! tokio-postgres is asynchronous, and the store is synchronous and called
//! from plain threads and from blocking tasks of the daemon's runtime
//! alike. So each [`PgConn`] owns a thread running a small current-thread
//! runtime with the session on it; a call sends its request there and
//! waits for the answer. Nothing here blocks inside an async context of
//! the caller's (the sync `postgres` crate would panic there), and the
//! session's runtime never sees the caller's.
//!
//! Every request has a deadline ([`STATEMENT_TIMEOUT`], also set on the
//! server as `statement_timeout`), a query's answer is capped at
//! [`MAX_ANSWER_BYTES`] while its rows stream in, and the connection
//! attempt at [`CONNECT_TIMEOUT`]. Messages name the server
//! (`user@host:port/db`), never the password, which only the login sees.
//!
//! A session that ends (the server restarted, the network failed, an
//! answer over the cap was cut off) is opened again by the next request,
//! with backoff within [`CONNECT_TIMEOUT`]; the request that met the end
//! returns its error and is never sent again. A session lost inside a
//! transaction refuses every request of that transaction until its
//! ROLLBACK: its first statements are gone with the server's rollback,
//! and the rest must not run outside any transaction.

use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::{Client, Statement};

use super::{Value, dollar_placeholders};
use crate::error::Fail;

/// How long connecting and logging in may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one statement may run (compactions of a large store included).
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(300);
/// The most one query's rows may hold, counted as they arrive: the store
/// reads in pages far smaller than this, so an answer this big is a bug
/// or a page gone wrong, and several sessions at the cap at once must
/// still fit in a small machine's memory.
pub(crate) const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// The first pause between attempts to open a lost session again; it
/// doubles up to [`MAX_BACKOFF`], all within [`CONNECT_TIMEOUT`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 256;

/// Where a PostgreSQL store is and how to log in (from `[store] url`,
/// `password_env` / `password_file`, `tls`, `ca_file`).
#[derive(Clone)]
pub struct PostgresTarget {
    /// Host name or IP address (also the TLS server name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// The user keepup logs in as.
    pub user: String,
    /// The database.
    pub database: String,
    /// The password, if the server asks for one; used for the login only.
    pub password: Option<String>,
    /// TLS or nothing (no clear-text fallback).
    pub tls: bool,
    /// CA certificates for the server's certificate; `None`: the system's.
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for PostgresTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl PostgresTarget {
    /// `postgres://user@host:port/database`, as messages show it (there is
    /// no password in it).
    pub fn shown(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "postgres://{}@{host}:{}/{}",
            self.user, self.port, self.database
        )
    }
}

/// What the session thread is asked to do.
enum Request {
    /// Statements without parameters or results (DDL, BEGIN, COMMIT).
    Batch(String, Reply<()>),
    /// One statement; the number of rows it changed.
    Execute(String, Vec<Value>, Reply<u64>),
    /// One statement; its rows.
    Query(String, Vec<Value>, Reply<Vec<Vec<Value>>>),
    /// BEGIN, COMMIT or ROLLBACK: the session tracks its transaction.
    Tx(TxStep, Reply<()>),
}

/// A step of a transaction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TxStep {
    Begin,
    Commit,
    Rollback,
}

type Reply<T> = std::sync::mpsc::SyncSender<Result<T, Fail>>;

/// One session with the server, on a thread of its own. Dropping it ends
/// the session and the thread.
pub(crate) struct PgConn {
    requests: mpsc::UnboundedSender<Request>,
}

impl PgConn {
    /// Connects and logs in.
    pub(crate) fn connect(target: &PostgresTarget) -> Result<PgConn, Fail> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let target = target.clone();
        std::thread::Builder::new()
            .name("keepup-store-pg".into())
            .spawn(move || session_thread(target, rx, ready_tx))
            .map_err(|e| Fail::Postgres(format!("cannot start the session thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(PgConn { requests: tx }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Fail::Postgres("the session thread ended".into())),
        }
    }

    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, Fail> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.requests
            .send(make(reply))
            .map_err(|_| Fail::Postgres("the session has ended".into()))?;
        answer
            .recv()
            .map_err(|_| Fail::Postgres("the session has ended".into()))?
    }

    /// Runs statements that take no parameters (`;`-separated).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), Fail> {
        self.ask(|r| Request::Batch(sql.to_owned(), r))
    }

    /// Runs one statement (`?N` placeholders, as for SQLite); rows changed.
    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, Fail> {
        self.ask(|r| Request::Execute(sql.to_owned(), params.to_vec(), r))
    }

    /// Runs one query (`?N` placeholders, as for SQLite); its rows.
    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, Fail> {
        self.ask(|r| Request::Query(sql.to_owned(), params.to_vec(), r))
    }

    /// Starts a transaction.
    pub(crate) fn begin(&self) -> Result<(), Fail> {
        self.ask(|r| Request::Tx(TxStep::Begin, r))
    }

    /// Commits the transaction.
    pub(crate) fn commit(&self) -> Result<(), Fail> {
        self.ask(|r| Request::Tx(TxStep::Commit, r))
    }

    /// Rolls the transaction back; nothing without one.
    pub(crate) fn rollback(&self) -> Result<(), Fail> {
        self.ask(|r| Request::Tx(TxStep::Rollback, r))
    }

    /// The first column of the first row, `None` without rows.
    pub(crate) fn query_value(&self, sql: &str, params: &[Value]) -> Result<Option<Value>, Fail> {
        Ok(self
            .query(sql, params)?
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next()))
    }
}

fn session_thread(
    target: PostgresTarget,
    mut requests: mpsc::UnboundedReceiver<Request>,
    ready: std::sync::mpsc::SyncSender<Result<(), Fail>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(Fail::Postgres(format!("cannot start a runtime: {e}"))));
            return;
        }
    };
    runtime.block_on(async move {
        let first = match tokio::time::timeout(CONNECT_TIMEOUT, Session::open(&target)).await {
            Ok(Ok(session)) => session,
            Ok(Err(e)) => {
                let _ = ready.send(Err(e));
                return;
            }
            Err(_) => {
                let _ = ready.send(Err(no_answer(CONNECT_TIMEOUT)));
                return;
            }
        };
        if ready.send(Ok(())).is_err() {
            return;
        }
        let mut state = State {
            session: Some(first),
            in_tx: false,
            lost_tx: false,
        };
        while let Some(request) = requests.recv().await {
            match request {
                Request::Batch(sql, reply) => {
                    let done = state.run(&target, |s| Box::pin(s.batch(sql))).await;
                    let _ = reply.send(done);
                }
                Request::Execute(sql, params, reply) => {
                    let done = state
                        .run(&target, |s| Box::pin(s.execute(sql, params)))
                        .await;
                    let _ = reply.send(done);
                }
                Request::Query(sql, params, reply) => {
                    let done = state.run(&target, |s| Box::pin(s.query(sql, params))).await;
                    let _ = reply.send(done);
                }
                Request::Tx(step, reply) => {
                    let _ = reply.send(state.tx(&target, step).await);
                }
            }
        }
    });
}

/// The session thread's state: the live session, if any, and where its
/// transaction stands.
struct State {
    session: Option<Session>,
    /// A BEGIN was answered and no COMMIT or ROLLBACK sent since.
    in_tx: bool,
    /// The session ended inside a transaction not yet rolled back by
    /// its owner: requests fail until the ROLLBACK.
    lost_tx: bool,
}

type Step<'a, T> = Pin<Box<dyn std::future::Future<Output = Result<T, Fail>> + 'a>>;

impl State {
    /// Runs one request on the session, opening it again first if it has
    /// ended (outside a transaction only); a session that ends during the
    /// request is dropped, and the request's error returned.
    async fn run<T>(
        &mut self,
        target: &PostgresTarget,
        f: impl for<'a> FnOnce(&'a mut Session) -> Step<'a, T>,
    ) -> Result<T, Fail> {
        self.notice_end();
        if self.lost_tx {
            return Err(lost_in_transaction());
        }
        let session = self.live(target).await?;
        let done = f(session).await;
        if done.is_err() {
            self.notice_end();
        }
        done
    }

    async fn tx(&mut self, target: &PostgresTarget, step: TxStep) -> Result<(), Fail> {
        self.notice_end();
        match step {
            TxStep::Rollback if self.lost_tx => {
                // The server rolled it back when the session ended.
                self.lost_tx = false;
                return Ok(());
            }
            TxStep::Rollback if !self.in_tx => return Ok(()),
            TxStep::Commit if self.lost_tx => return Err(lost_in_transaction()),
            TxStep::Begin => self.lost_tx = false,
            _ => {}
        }
        let session = self.live(target).await?;
        let sql = match step {
            TxStep::Begin => "BEGIN",
            TxStep::Commit => "COMMIT",
            TxStep::Rollback => "ROLLBACK",
        };
        let done = within(session.client.batch_execute(sql)).await;
        // COMMIT and ROLLBACK end the transaction, failed or not (a
        // failed COMMIT rolls back); a failed BEGIN starts none.
        self.in_tx = step == TxStep::Begin && done.is_ok();
        if done.is_err() {
            self.notice_end();
        }
        done
    }

    /// Drops a session that has ended; its transaction, if any, is lost.
    fn notice_end(&mut self) {
        if self.session.as_ref().is_some_and(|s| s.client.is_closed()) {
            self.drop_session();
        }
    }

    fn drop_session(&mut self) {
        self.session = None;
        if self.in_tx {
            self.in_tx = false;
            self.lost_tx = true;
        }
    }

    /// The live session, opened again if it has ended: attempts with
    /// growing pauses until [`CONNECT_TIMEOUT`] has passed.
    async fn live(&mut self, target: &PostgresTarget) -> Result<&mut Session, Fail> {
        if self.session.is_none() {
            let until = tokio::time::Instant::now() + CONNECT_TIMEOUT;
            let mut pause = FIRST_BACKOFF;
            let session = loop {
                let left = until.saturating_duration_since(tokio::time::Instant::now());
                let failed = match tokio::time::timeout(left, Session::open(target)).await {
                    Ok(Ok(session)) => break session,
                    // Connecting fails with the server's or the socket's
                    // words only.
                    Ok(Err(Fail::Postgres(said))) => said,
                    Ok(Err(other)) => format!("{other:?}"),
                    Err(_) => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                };
                if tokio::time::Instant::now() + pause >= until {
                    return Err(Fail::Postgres(format!(
                        "the session ended and opening it again failed for {} s: {failed}",
                        CONNECT_TIMEOUT.as_secs()
                    )));
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_BACKOFF);
            };
            tracing::info!(server = %target.shown(), "PostgreSQL session opened again");
            self.session = Some(session);
        }
        self.session
            .as_mut()
            .ok_or_else(|| Fail::Postgres("the session has ended".into()))
    }
}

/// One logged-in session: the client, the task that carries its
/// connection, and the statements prepared on it (they die with it).
struct Session {
    client: Client,
    connection: tokio::task::JoinHandle<()>,
    statements: HashMap<String, Statement>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closes the socket at once, also mid-answer: the server stops
        // the statement when it cannot send.
        self.connection.abort();
    }
}

impl Session {
    async fn open(target: &PostgresTarget) -> Result<Session, Fail> {
        let (client, connection) = connect(target).await?;
        Ok(Session {
            client,
            connection,
            statements: HashMap::new(),
        })
    }

    async fn batch(&mut self, sql: String) -> Result<(), Fail> {
        within(self.client.batch_execute(&sql)).await
    }

    async fn execute(&mut self, sql: String, params: Vec<Value>) -> Result<u64, Fail> {
        let stmt = self.prepared(&sql).await?;
        within(self.client.execute(&stmt, &refs(&params))).await
    }

    /// The rows of one query, read as they arrive; at [`MAX_ANSWER_BYTES`]
    /// the session is closed (the caller drops it) and the rest never
    /// read.
    async fn query(&mut self, sql: String, params: Vec<Value>) -> Result<Vec<Vec<Value>>, Fail> {
        use futures_util::TryStreamExt;
        let stmt = self.prepared(&sql).await?;
        // Whether the answer was left unread (then the session must end).
        let mut cut = false;
        let read = async {
            let stream = self
                .client
                .query_raw(&stmt, refs(&params))
                .await
                .map_err(pg_fail)?;
            let mut stream = std::pin::pin!(stream);
            let mut out = Vec::new();
            let mut bytes = 0usize;
            while let Some(row) = stream.try_next().await.map_err(pg_fail)? {
                let values = row_to_values(&row)?;
                bytes = values
                    .iter()
                    .fold(bytes, |sum, v| sum.saturating_add(v.size()));
                if bytes > MAX_ANSWER_BYTES {
                    cut = true;
                    return Err(Fail::Postgres(format!(
                        "the answer to `{}` holds more than {} MiB; the statement was cut off",
                        first_words(&sql),
                        MAX_ANSWER_BYTES / (1024 * 1024)
                    )));
                }
                out.push(values);
            }
            Ok(out)
        };
        let done =
            match tokio::time::timeout(STATEMENT_TIMEOUT + Duration::from_secs(5), read).await {
                Ok(done) => done,
                Err(_) => {
                    cut = true;
                    Err(no_answer(STATEMENT_TIMEOUT))
                }
            };
        if cut && !self.client.is_closed() {
            // The rest of an answer cut off would still arrive and be
            // read on this session: end it instead (the caller sees it
            // closed and drops it).
            self.connection.abort();
            let _ = (&mut self.connection).await;
        }
        done
    }

    /// The prepared statement for `sql`, from the cache or prepared now.
    async fn prepared(&mut self, sql: &str) -> Result<Statement, Fail> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        // Rewritten once, on the cache's miss: the store writes `?N`.
        let stmt = within(self.client.prepare(&dollar_placeholders(sql))).await?;
        if self.statements.len() >= STATEMENT_CACHE {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

/// The first words of a statement, for messages (never its parameters,
/// which are sent apart from it).
fn first_words(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().take(6).collect();
    let mut shown = words.join(" ");
    if shown.len() > 60 {
        let mut end = 60;
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        shown.truncate(end);
    }
    if sql.split_whitespace().count() > words.len() || shown.len() < words.join(" ").len() {
        shown.push_str(" …");
    }
    shown
}

fn no_answer(limit: Duration) -> Fail {
    Fail::Postgres(format!("no answer within {} s", limit.as_secs()))
}

fn lost_in_transaction() -> Fail {
    Fail::Postgres(
        "the session to the server ended inside this transaction, which the server rolled back"
            .into(),
    )
}

/// Logs in, with TLS when asked, and sets the session's statement timeout.
async fn connect(target: &PostgresTarget) -> Result<(Client, tokio::task::JoinHandle<()>), Fail> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| Fail::Postgres(format!("cannot connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let mut config = tokio_postgres::Config::new();
    config
        .user(&target.user)
        .dbname(&target.database)
        .application_name("keepup store");
    if let Some(p) = &target.password {
        config.password(p.as_bytes());
    }
    let (client, connection) = if target.tls {
        config.ssl_mode(tokio_postgres::config::SslMode::Require);
        let tls = RustlsConnect::new(target)?;
        let (client, connection) = config.connect_raw(tcp, tls).await.map_err(pg_fail)?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        (client, task)
    } else {
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        let (client, connection) = config
            .connect_raw(tcp, tokio_postgres::NoTls)
            .await
            .map_err(pg_fail)?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        (client, task)
    };
    within(client.batch_execute(&format!(
        "SET statement_timeout = {}; SET client_min_messages = warning",
        STATEMENT_TIMEOUT.as_millis()
    )))
    .await?;
    Ok((client, connection))
}

async fn within<T>(
    f: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Fail> {
    match tokio::time::timeout(STATEMENT_TIMEOUT + Duration::from_secs(5), f).await {
        Ok(done) => done.map_err(pg_fail),
        Err(_) => Err(no_answer(STATEMENT_TIMEOUT)),
    }
}

/// The error's text with its causes (tokio-postgres keeps the cause, e.g.
/// the I/O error, in its source) and the SQLSTATE of a server's error.
pub(crate) fn pg_fail(e: tokio_postgres::Error) -> Fail {
    if let Some(db) = e.as_db_error() {
        return Fail::Postgres(format!("{} (SQLSTATE {})", db.message(), db.code().code()));
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    Fail::Postgres(text)
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            // The schema's integers are BIGINT; smaller ones only in
            // the server's own catalogues.
            Value::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) if *ty == Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Real(v) => v.to_sql(ty, out),
            Value::Text(v) => v.to_sql(ty, out),
            Value::Blob(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

/// One row's values, in the store's types.
fn row_to_values(row: &tokio_postgres::Row) -> Result<Vec<Value>, Fail> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let get =
            |e: tokio_postgres::Error| Fail::Corrupt(format!("column {}: {e}", column.name()));
        let v = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)
                .map_err(get)?
                .map(Value::Int)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map_err(get)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)
                .map_err(get)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map_err(get)?
                .map(|v| Value::Int(v.into()))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i)
                .map_err(get)?
                .map(Value::Real)
        } else if *ty == Type::BYTEA {
            row.try_get::<_, Option<Vec<u8>>>(i)
                .map_err(get)?
                .map(Value::Blob)
        } else if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
            row.try_get::<_, Option<String>>(i)
                .map_err(get)?
                .map(Value::Text)
        } else {
            return Err(Fail::Corrupt(format!(
                "column {}: type {} is not one the store uses",
                column.name(),
                ty.name()
            )));
        };
        values.push(v.unwrap_or(Value::Null));
    }
    Ok(values)
}

/// TLS for the session: rustls with the aws-lc-rs provider, trusting the
/// target's `ca_file` or the system's roots (the `keepup-trust` crate).
struct RustlsConnect {
    config: Arc<rustls::ClientConfig>,
    name: rustls_pki_types::ServerName<'static>,
}

impl RustlsConnect {
    fn new(target: &PostgresTarget) -> Result<RustlsConnect, Fail> {
        let certs = match &target.ca_file {
            Some(path) => keepup_trust::read_ca_file(path)
                .map_err(|e| Fail::Postgres(format!("ca_file {}: {e}", path.display())))?,
            None => {
                let roots = keepup_trust::load_system_roots();
                if let Some(why) = roots.unavailable {
                    return Err(Fail::Postgres(format!(
                        "no system CA certificates ({why}); set ca_file"
                    )));
                }
                roots.certs
            }
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            // A certificate rustls cannot use is skipped, as the other
            // TLS clients of keepup do; none usable fails the handshake.
            let _ = roots.add(cert);
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Fail::Postgres(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from(target.host.clone())
            .map_err(|_| Fail::Postgres(format!("{:?} is not a TLS server name", target.host)))?;
        Ok(RustlsConnect {
            config: Arc::new(config),
            name,
        })
    }
}

/// The TLS stream tokio-postgres reads and writes (a newtype: both the
/// trait and tokio-rustls's stream are other crates').
struct PgTlsStream(tokio_rustls::client::TlsStream<TcpStream>);

impl tokio_postgres::tls::TlsStream for PgTlsStream {
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        tokio_postgres::tls::ChannelBinding::none()
    }
}

impl AsyncRead for PgTlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for PgTlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl tokio_postgres::tls::TlsConnect<TcpStream> for RustlsConnect {
    type Stream = PgTlsStream;
    type Error = std::io::Error;
    type Future = Pin<
        Box<dyn std::future::Future<Output = Result<PgTlsStream, std::io::Error>> + Send + 'static>,
    >;

    fn connect(self, stream: TcpStream) -> Self::Future {
        Box::pin(async move {
            let connector = tokio_rustls::TlsConnector::from(self.config);
            let tls = connector.connect(self.name, stream).await?;
            Ok(PgTlsStream(tls))
        })
    }
}

/// Against a real PostgreSQL (the testkit's, on 127.0.0.1; one per test,
/// as two of them restart it): the answer's cap, a session lost inside a
/// transaction, and a panic inside a write transaction.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::sql::Db;
    use keepup_testkit::postgres::Postgres;

    fn target(pg: &Postgres) -> PostgresTarget {
        PostgresTarget {
            host: pg.host().to_string(),
            port: pg.port(),
            user: pg.user().to_owned(),
            database: "postgres".to_owned(),
            password: Some(pg.password().to_owned()),
            tls: false,
            ca_file: None,
        }
    }

    fn message(e: Fail) -> String {
        match e {
            Fail::Postgres(m) => m,
            other => panic!("not a PostgreSQL error: {other:?}"),
        }
    }

    #[test]
    fn an_answer_over_the_cap_is_cut_off_as_it_streams_and_named_by_its_first_words() {
        let pg = Postgres::start().expect("PostgreSQL starts");
        let conn = PgConn::connect(&target(&pg)).expect("connects");
        // 1 GiB in rows of 1 MiB, from a parameter the message must not
        // show.
        let secret = "s3cret-word";
        let err = conn
            .query(
                "SELECT repeat(?1, 1048576 / length(?1)), generate_series(1, 1024)",
                &[Value::Text(secret.into())],
            )
            .expect_err("over the cap");
        let said = message(err);
        assert!(
            said.contains("`SELECT repeat(?1, 1048576 / length(?1)), generate_series(1, …`"),
            "{said}"
        );
        assert!(said.contains("more than 32 MiB"), "{said}");
        assert!(!said.contains(secret), "{said}");
        // The server stopped the statement (its session was ended rather
        // than the rest of the answer read), and the next request gets a
        // new session.
        let mut running = None;
        for _ in 0..100 {
            let n = conn
                .query_value(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT repeat(%'",
                    &[],
                )
                .expect("a new session answers");
            running = Some(n.clone());
            if n == Some(Value::Int(0)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(running, Some(Some(Value::Int(0))));
    }

    #[test]
    fn a_session_lost_inside_a_transaction_refuses_the_rest_of_it_then_works_again() {
        let mut pg = Postgres::start().expect("PostgreSQL starts");
        let conn = PgConn::connect(&target(&pg)).expect("connects");
        conn.batch("CREATE TABLE t (v BIGINT)").expect("table");
        conn.begin().expect("begin");
        conn.execute("INSERT INTO t VALUES (?1)", &[Value::Int(1)])
            .expect("first insert");
        pg.restart().expect("restarted");
        // The rest of the transaction would run outside any: refused.
        let said = message(
            conn.execute("INSERT INTO t VALUES (?1)", &[Value::Int(2)])
                .expect_err("the transaction is gone"),
        );
        assert!(said.contains("ended inside this transaction"), "{said}");
        assert!(conn.commit().is_err(), "a commit of the lost transaction");
        conn.rollback().expect("the owner's rollback");
        // A new session, a new transaction.
        conn.begin().expect("begin again");
        conn.execute("INSERT INTO t VALUES (?1)", &[Value::Int(3)])
            .expect("insert");
        conn.commit().expect("commit");
        let rows = conn.query("SELECT v FROM t", &[]).expect("read");
        assert_eq!(rows, vec![vec![Value::Int(3)]]);
    }

    #[test]
    fn a_panic_inside_a_write_transaction_releases_the_lock_at_once() {
        let pg = Postgres::start().expect("PostgreSQL starts");
        let first = Store::open_postgres(&target(&pg)).expect("store");
        let second = Store::open_postgres(&target(&pg)).expect("another instance");
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = first.with_db_tx("test", |_| -> Result<(), Fail> { panic!("on purpose") });
        }));
        assert!(panicked.is_err());
        // `first` is not touched again: the other instance gets the lock
        // now, not when `first` next runs something.
        let free = second
            .with_db("test", |db| match db {
                Db::Postgres(conn) => conn.query_value(
                    "SELECT pg_try_advisory_lock(?1)",
                    &[Value::Int(crate::schema::APPLICATION_ID.into())],
                ),
                Db::Sqlite(_) => unreachable!("a PostgreSQL store"),
            })
            .expect("asked");
        assert_eq!(free, Some(Value::Int(1)));
    }
}
