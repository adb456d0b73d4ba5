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
//! [`MAX_ANSWER_BYTES`], and the connection attempt at
//! [`CONNECT_TIMEOUT`]. Messages name the server (`user@host:port/db`),
//! never the password, which only the login sees.

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
/// The most one query's rows may hold; the store reads in pages far
/// smaller than this.
pub(crate) const MAX_ANSWER_BYTES: usize = 256 * 1024 * 1024;
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
        let client = match tokio::time::timeout(CONNECT_TIMEOUT, connect(&target)).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                let _ = ready.send(Err(e));
                return;
            }
            Err(_) => {
                let _ = ready.send(Err(Fail::Postgres(format!(
                    "no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                ))));
                return;
            }
        };
        if ready.send(Ok(())).is_err() {
            return;
        }
        let mut statements: HashMap<String, Statement> = HashMap::new();
        while let Some(request) = requests.recv().await {
            match request {
                Request::Batch(sql, reply) => {
                    let done = within(client.batch_execute(&sql)).await;
                    let _ = reply.send(done);
                }
                Request::Execute(sql, params, reply) => {
                    let done = async {
                        let stmt = prepared(&client, &mut statements, &sql).await?;
                        within(client.execute(&stmt, &refs(&params))).await
                    }
                    .await;
                    let _ = reply.send(done);
                }
                Request::Query(sql, params, reply) => {
                    let done = async {
                        let stmt = prepared(&client, &mut statements, &sql).await?;
                        let rows = within(client.query(&stmt, &refs(&params))).await?;
                        rows_to_values(&rows)
                    }
                    .await;
                    let _ = reply.send(done);
                }
            }
        }
    });
}

/// Logs in, with TLS when asked, and sets the session's statement timeout.
async fn connect(target: &PostgresTarget) -> Result<Client, Fail> {
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
    let client = if target.tls {
        config.ssl_mode(tokio_postgres::config::SslMode::Require);
        let tls = RustlsConnect::new(target)?;
        let (client, connection) = config.connect_raw(tcp, tls).await.map_err(pg_fail)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    } else {
        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
        let (client, connection) = config
            .connect_raw(tcp, tokio_postgres::NoTls)
            .await
            .map_err(pg_fail)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    };
    within(client.batch_execute(&format!(
        "SET statement_timeout = {}; SET client_min_messages = warning",
        STATEMENT_TIMEOUT.as_millis()
    )))
    .await?;
    Ok(client)
}

/// The prepared statement for `sql`, from the cache or prepared now.
async fn prepared(
    client: &Client,
    cache: &mut HashMap<String, Statement>,
    sql: &str,
) -> Result<Statement, Fail> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    // Rewritten once, on the cache's miss: the store writes `?N`.
    let stmt = within(client.prepare(&dollar_placeholders(sql))).await?;
    if cache.len() >= STATEMENT_CACHE {
        cache.clear();
    }
    cache.insert(sql.to_owned(), stmt.clone());
    Ok(stmt)
}

async fn within<T>(
    f: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Fail> {
    match tokio::time::timeout(STATEMENT_TIMEOUT + Duration::from_secs(5), f).await {
        Ok(done) => done.map_err(pg_fail),
        Err(_) => Err(Fail::Postgres(format!(
            "no answer within {} s",
            STATEMENT_TIMEOUT.as_secs()
        ))),
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

fn rows_to_values(rows: &[tokio_postgres::Row]) -> Result<Vec<Vec<Value>>, Fail> {
    let mut out = Vec::with_capacity(rows.len());
    let mut bytes = 0usize;
    for row in rows {
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
            let v = v.unwrap_or(Value::Null);
            bytes += v.size();
            values.push(v);
        }
        if bytes > MAX_ANSWER_BYTES {
            return Err(Fail::Postgres(format!(
                "the answer holds more than {} MiB",
                MAX_ANSWER_BYTES / (1024 * 1024)
            )));
        }
        out.push(values);
    }
    Ok(out)
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
