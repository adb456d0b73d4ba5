//! PostgreSQL checks: is the server answering, is it the role it should
//! be, how full are its connections, and is replication keeping up?
//!
//! A run logs in (TCP and TLS are keepup's own, see [`crate::database`] for
//! why the connection is then kept between runs), times `SELECT 1`, and
//! reads the server's state in one round trip: recovery (replica) or not,
//! client connections against `max_connections`, on a replica the replay
//! lag (`pg_last_xact_replay_timestamp()`, zero while nothing waits to be
//! replayed, counted from the server's start while it replayed nothing
//! yet), the WAL received but not replayed, whether replay is paused
//! and whether the WAL receiver streams; on a primary each replica of
//! `pg_stat_replication` with its state and lag in bytes and seconds;
//! and the size of the database it is logged into
//! (`pg_database_size(current_database())`, for a forecast to follow).
//! An optional query of the operator's is compared with its expected
//! value. Every reply of a run counts against
//! [`crate::database::MAX_REPLY_BYTES`].

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepup_config::{DbRole, DbTls, PostgresSpec};
use keepup_model::{Finding, Outcome, Severity, TimingBreakdown};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_postgres::{Client, SimpleQueryMessage};

use crate::codes;
use crate::context::ProbeContext;
use crate::database::{Bounded, DiscardUnlessDone, KeptConnections, ReplyBudget, run_check};
use crate::util::{Fail, connect_first, ms};

/// The server's state, one row; every column NULL where it does not apply
/// (replica columns on a primary). A role without pg_read_all_stats (which
/// pg_monitor grants) sees the `pid` of the WAL receiver and of each WAL
/// sender but NULL for their details, hence the `pid` beside them.
macro_rules! state_sql {
    ($size:literal) => {
        concat!("SELECT pg_is_in_recovery(), \
    current_setting('server_version'), \
    current_setting('max_connections'), \
    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'), \
    CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END, \
    CASE WHEN pg_is_in_recovery() THEN (SELECT status FROM pg_stat_wal_receiver LIMIT 1) END, \
    CASE WHEN NOT pg_is_in_recovery() THEN NULL \
         WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 \
         ELSE extract(epoch FROM now() - coalesce(pg_last_xact_replay_timestamp(), pg_postmaster_start_time())) END, \
    CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) END, \
    CASE WHEN pg_is_in_recovery() THEN (SELECT pid FROM pg_stat_wal_receiver LIMIT 1) END, \
    ", $size, "; \
    SELECT coalesce(application_name, ''), coalesce(host(client_addr), 'local'), \
    state, coalesce(sync_state, ''), \
    pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() \
                         ELSE pg_current_wal_lsn() END, replay_lsn), \
    extract(epoch FROM replay_lag), pid \
    FROM pg_stat_replication ORDER BY 1, 2 LIMIT 100")
    };
}
const STATE_SQL: &str = state_sql!("pg_database_size(current_database())");
/// The same without the size (no forecast follows it): NULL in its place.
const STATE_SQL_NO_SIZE: &str = state_sql!("NULL");

/// A logged-in session kept between runs.
pub(crate) struct PgConnection {
    client: Client,
    budget: ReplyBudget,
    remote: SocketAddr,
    /// The certificate's findings and the handshake, when TLS is used:
    /// repeated on every run of the connection, so that an expiry warning
    /// does not come and go with reconnections; judged again at the next
    /// login, at the latest after [`crate::database::MAX_AGE`].
    tls: Option<(Vec<Finding>, Value)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PgConnection {
    fn drop(&mut self) {
        // The session's reader may wait on a server that stopped
        // answering; it goes with the client.
        self.task.abort();
    }
}

/// What a kept connection was opened with.
struct Settings<'a>(&'a PostgresSpec);

impl Hash for Settings<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        let s = &self.0.server;
        (&s.host, s.port, &s.user, &self.0.database).hash(h);
        s.password.as_ref().map(|p| p.expose()).hash(h);
        (s.tls.as_str(), &s.certificate.ca_file, s.certificate.verify).hash(h);
    }
}

/// Runs one PostgreSQL check.
pub async fn probe(spec: &PostgresSpec, ctx: &ProbeContext) -> Outcome {
    let target = format!("{}:{}", spec.server.host, spec.server.port);
    run_check(
        ctx,
        "PostgreSQL",
        "postgres",
        &target,
        async |ctx, outcome, timing| session(spec, ctx, outcome, timing, &target).await,
    )
    .await
}

/// Takes the kept session or logs in, then runs the queries; a session
/// that fails is not kept.
async fn session(
    spec: &PostgresSpec,
    ctx: &ProbeContext,
    outcome: &mut Outcome,
    timing: &mut TimingBreakdown,
    target: &str,
) -> Result<(), Fail> {
    let kept = ctx.kind_state::<KeptConnections<PgConnection>>();
    let key = kept.key(Settings(spec));
    let conn = match kept.take_usable(key, |c| !c.client.is_closed()) {
        Some(conn) => {
            outcome.evidence.insert("connection", "kept");
            conn
        }
        None => {
            let conn = Arc::new(connect(spec, ctx, timing).await?);
            outcome.evidence.insert("connection", "new");
            kept.keep(key, Arc::clone(&conn));
            conn
        }
    };
    let guard = DiscardUnlessDone::new(&kept, key, Arc::clone(&conn));
    conn.budget.refill();
    outcome
        .evidence
        .insert("remote_address", conn.remote.to_string());
    if let Some((findings, handshake)) = &conn.tls {
        outcome.evidence.insert("tls", handshake.clone());
        for f in findings {
            outcome.push(f.clone());
        }
    }
    run_queries(spec, ctx, &conn, outcome, timing, target).await?;
    guard.disarm();
    Ok(())
}

/// The queries of one run; an error when the session itself failed.
async fn run_queries(
    spec: &PostgresSpec,
    ctx: &ProbeContext,
    conn: &PgConnection,
    outcome: &mut Outcome,
    timing: &mut TimingBreakdown,
    target: &str,
) -> Result<(), Fail> {
    let asked = Instant::now();
    query(ctx, conn, "SELECT 1", "waiting for SELECT 1", spec).await?;
    timing.first_byte_ms = Some(ms(asked.elapsed()));
    let sql = if spec.measure_size {
        STATE_SQL
    } else {
        STATE_SQL_NO_SIZE
    };
    let sets = query(ctx, conn, sql, "reading the server's state", spec).await?;
    let state = State::read(&sets);
    judge(spec, &state, outcome, target);
    outcome.evidence.insert("postgres", state.to_json());
    if let Some(custom) = &spec.query {
        match query(ctx, conn, &custom.sql, "running the configured query", spec).await {
            Ok(sets) => {
                let first = sets
                    .first()
                    .and_then(|rows| rows.first())
                    .and_then(|row| row.first())
                    .cloned()
                    .flatten();
                outcome.evidence.insert(
                    "query_result",
                    first.clone().map_or(Value::Null, Value::String),
                );
                if let Some(expected) = &custom.expect
                    && first.as_deref() != Some(expected.as_str())
                {
                    let got = first.map_or_else(|| "no value".to_owned(), |v| format!("{v:?}"));
                    outcome.push(Finding::new(
                        codes::PG_QUERY_UNEXPECTED,
                        Severity::Critical,
                        format!("the configured query answered {got}, not {expected:?}"),
                    ));
                }
            }
            Err(Fail::Finding(f)) if f.code == codes::PG_SERVER_ERROR => {
                // The server refused the operator's query: the session is fine.
                outcome.push(Finding::new(
                    codes::PG_QUERY_FAILED,
                    Severity::Critical,
                    format!("the configured query failed: {}", f.text),
                ));
            }
            Err(fail) => return Err(fail),
        }
    }
    Ok(())
}

/// The text result sets of `sql` (NULL as `None`), bounded by the run's
/// deadline.
async fn query(
    ctx: &ProbeContext,
    conn: &PgConnection,
    sql: &str,
    phase: &'static str,
    spec: &PostgresSpec,
) -> Result<Vec<Vec<Vec<Option<String>>>>, Fail> {
    let messages = ctx
        .within(phase, conn.client.simple_query(sql))
        .await?
        .map_err(|e| Fail::Finding(session_error(&e, spec, &conn.budget)))?;
    let mut sets = Vec::new();
    let mut rows = Vec::new();
    for m in messages {
        match m {
            SimpleQueryMessage::Row(row) => rows.push(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_owned))
                    .collect(),
            ),
            SimpleQueryMessage::CommandComplete(_) => sets.push(std::mem::take(&mut rows)),
            _ => {}
        }
    }
    Ok(sets)
}

/// What the state query says.
#[derive(Debug, Default)]
struct State {
    in_recovery: bool,
    version: Option<String>,
    max_connections: Option<u64>,
    connections: Option<u64>,
    replay_paused: Option<bool>,
    receiver: Option<String>,
    /// The WAL receiver runs but its status is hidden from this role.
    receiver_hidden: bool,
    lag_seconds: Option<f64>,
    lag_bytes: Option<f64>,
    /// The size of the database logged into, bytes.
    database_size: Option<f64>,
    replicas: Vec<Replica>,
}

/// One row of `pg_stat_replication`.
#[derive(Debug)]
struct Replica {
    name: String,
    address: String,
    state: String,
    sync_state: String,
    lag_bytes: Option<f64>,
    lag_seconds: Option<f64>,
    /// Listed, but its state is hidden from this role.
    hidden: bool,
}

impl State {
    fn read(sets: &[Vec<Vec<Option<String>>>]) -> Self {
        let text = |row: &[Option<String>], i: usize| row.get(i).cloned().flatten();
        let number =
            |row: &[Option<String>], i: usize| text(row, i).and_then(|v| v.parse::<f64>().ok());
        let flag = |row: &[Option<String>], i: usize| text(row, i).map(|v| v == "t");
        let mut state = State::default();
        if let Some(row) = sets.first().and_then(|rows| rows.first()) {
            state.in_recovery = flag(row, 0).unwrap_or(false);
            state.version = text(row, 1);
            state.max_connections = number(row, 2).map(|n| n as u64);
            state.connections = number(row, 3).map(|n| n as u64);
            state.replay_paused = flag(row, 4);
            state.receiver = text(row, 5);
            state.lag_seconds = number(row, 6);
            state.lag_bytes = number(row, 7);
            state.receiver_hidden = state.receiver.is_none() && text(row, 8).is_some();
            state.database_size = number(row, 9);
        }
        if let Some(rows) = sets.get(1) {
            state.replicas = rows
                .iter()
                .map(|row| Replica {
                    name: text(row, 0).unwrap_or_default(),
                    address: text(row, 1).unwrap_or_default(),
                    state: text(row, 2).unwrap_or_default(),
                    sync_state: text(row, 3).unwrap_or_default(),
                    lag_bytes: number(row, 4),
                    lag_seconds: number(row, 5),
                    hidden: text(row, 2).is_none() && text(row, 6).is_some(),
                })
                .collect();
        }
        state
    }

    fn role(&self) -> DbRole {
        if self.in_recovery {
            DbRole::Replica
        } else {
            DbRole::Primary
        }
    }

    fn to_json(&self) -> Value {
        let replicas: Vec<Value> = self
            .replicas
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "address": r.address,
                    "state": r.state,
                    "sync_state": r.sync_state,
                    "lag_bytes": r.lag_bytes,
                    "lag_seconds": r.lag_seconds,
                    "details_hidden": r.hidden,
                })
            })
            .collect();
        let mut v = json!({
            "role": self.role().as_str(),
            "version": self.version,
            "connections": self.connections,
            "max_connections": self.max_connections,
            "database_size_bytes": self.database_size,
        });
        if self.in_recovery {
            v["replay_lag_seconds"] = json!(self.lag_seconds);
            v["replay_lag_bytes"] = json!(self.lag_bytes);
            v["replay_paused"] = json!(self.replay_paused);
            v["wal_receiver"] = json!(self.receiver);
            v["wal_receiver_hidden"] = json!(self.receiver_hidden);
        } else {
            v["replicas"] = Value::Array(replicas);
        }
        v
    }
}

/// The findings of a state against the check's expectations.
fn judge(spec: &PostgresSpec, state: &State, outcome: &mut Outcome, target: &str) {
    match (spec.role, state.role()) {
        (Some(DbRole::Primary), DbRole::Replica) => outcome.push(Finding::new(
            codes::PG_IN_RECOVERY,
            Severity::Critical,
            format!("{target} is a replica in recovery, not the primary it should be"),
        )),
        (Some(DbRole::Replica), DbRole::Primary) => outcome.push(Finding::new(
            codes::PG_NOT_IN_RECOVERY,
            Severity::Critical,
            format!(
                "{target} is not in recovery: the replica was promoted or never followed a primary"
            ),
        )),
        _ => {}
    }
    if let (Some(used), Some(max)) = (state.connections, state.max_connections)
        && max > 0
    {
        let percent = used as f64 * 100.0 / max as f64;
        outcome.extend_finding(spec.connections.finding(
            percent,
            codes::PG_CONNECTIONS_HIGH,
            // The level, not the count, so the message stays the same
            // while the situation does (the count is in the evidence).
            |_, level| format!("{level} or more of the {max} connections are in use"),
        ));
    }
    let user = spec.server.user.as_deref().unwrap_or("postgres");
    let hidden = |what: &str| {
        Finding::new(
            codes::PG_INSUFFICIENT_PRIVILEGE,
            Severity::Warning,
            format!(
                "{what} is hidden from user {user:?}: grant it pg_monitor (or pg_read_all_stats)"
            ),
        )
    };
    if state.in_recovery {
        if state.receiver_hidden {
            outcome.push(hidden("the WAL receiver's status"));
        } else if state.receiver.as_deref() != Some("streaming") {
            outcome.push(Finding::new(
                codes::PG_REPLICA_NOT_STREAMING,
                Severity::Critical,
                match &state.receiver {
                    Some(status) => {
                        format!("the replica's WAL receiver is {status:?}, not streaming")
                    }
                    None => "the replica receives no WAL: no WAL receiver runs".to_owned(),
                },
            ));
        }
        if state.replay_paused == Some(true) {
            outcome.push(Finding::new(
                codes::PG_REPLAY_PAUSED,
                Severity::Warning,
                "WAL replay is paused on the replica (pg_wal_replay_pause)",
            ));
        }
        lag_findings(
            spec,
            "the replica",
            state.lag_seconds,
            state.lag_bytes,
            outcome,
        );
    } else {
        let unseen = state.replicas.iter().filter(|r| r.hidden).count();
        if unseen > 0 {
            outcome.push(hidden("the replicas' replication state"));
        }
        for r in state.replicas.iter().filter(|r| !r.hidden) {
            let who = format!("replica {:?} at {}", r.name, r.address);
            if r.state != "streaming" {
                outcome.push(Finding::new(
                    codes::PG_REPLICA_NOT_STREAMING,
                    Severity::Warning,
                    format!("{who} is in state {:?}, not streaming", r.state),
                ));
            }
            lag_findings(spec, &who, r.lag_seconds, r.lag_bytes, outcome);
        }
        let streaming = state
            .replicas
            .iter()
            .filter(|r| r.state == "streaming")
            .count();
        if let Some(expected) = spec.replicas
            && ((streaming + unseen) as u64) < u64::from(expected)
        {
            outcome.push(Finding::new(
                codes::PG_REPLICAS_MISSING,
                Severity::Critical,
                format!("{streaming} of the {expected} expected replicas stream from the primary"),
            ));
        }
    }
}

fn lag_findings(
    spec: &PostgresSpec,
    who: &str,
    seconds: Option<f64>,
    bytes: Option<f64>,
    outcome: &mut Outcome,
) {
    if let Some(s) = seconds.filter(|s| s.is_finite() && *s >= 0.0) {
        outcome.extend_finding(spec.lag.finding(s, codes::PG_REPLICA_LAG, |_, level| {
            format!("{who} replays {level} or more behind the primary")
        }));
    }
    if let Some(b) = bytes.filter(|b| b.is_finite() && *b >= 0.0) {
        outcome.extend_finding(
            spec.lag_bytes
                .finding(b, codes::PG_REPLICA_LAG, |_, level| {
                    format!("{who} has {level} or more of WAL not yet replayed")
                }),
        );
    }
}

trait ExtendFinding {
    fn extend_finding(&mut self, finding: Option<Finding>);
}

impl ExtendFinding for Outcome {
    fn extend_finding(&mut self, finding: Option<Finding>) {
        if let Some(f) = finding {
            self.push(f);
        }
    }
}

/// Connects, reaches TLS as configured and logs in.
async fn connect(
    spec: &PostgresSpec,
    ctx: &ProbeContext,
    timing: &mut TimingBreakdown,
) -> Result<PgConnection, Fail> {
    let server = &spec.server;
    let resolution = ctx.resolve(&server.host, server.port).await?;
    timing.dns_ms = resolution.dns.map(ms);
    let connected = connect_first(ctx, &resolution.addrs).await?;
    timing.connect_ms = Some(ms(connected.elapsed));
    let budget = ReplyBudget::new();
    let stream = Bounded::new(connected.stream, budget.clone());
    let mut config = tokio_postgres::Config::new();
    config
        .user(server.user.as_deref().unwrap_or("postgres"))
        .dbname(&spec.database)
        .application_name("keepup")
        .ssl_mode(match server.tls {
            DbTls::Disable => tokio_postgres::config::SslMode::Disable,
            DbTls::Prefer => tokio_postgres::config::SslMode::Prefer,
            DbTls::Require => tokio_postgres::config::SslMode::Require,
        });
    if let Some(p) = &server.password {
        config.password(p.expose());
    }
    let tls = PgTls {
        ctx: ctx.clone(),
        host: server.host.clone(),
        options: server.certificate.clone(),
        result: Arc::default(),
    };
    let tls_result = Arc::clone(&tls.result);
    let login = ctx
        .within("logging in", config.connect_raw(stream, tls))
        .await?;
    let handshake = tls_result.lock().unwrap_or_else(|p| p.into_inner()).take();
    let (client, connection) = match login {
        Ok(pair) => pair,
        Err(e) => {
            // A TLS failure keepup explained itself says more than the
            // session's error.
            if let Some(Err(finding)) = handshake {
                return Err(Fail::Finding(finding));
            }
            return Err(Fail::Finding(session_error(&e, spec, &budget)));
        }
    };
    let tls = match handshake {
        Some(Ok(done)) => {
            timing.tls_ms = Some(ms(done.elapsed));
            Some((done.findings, done.evidence))
        }
        _ => None,
    };
    let task = tokio::spawn(async move {
        // Ends when the client is dropped or the server goes away; its
        // error reaches the next query as a closed client.
        let _ = connection.await;
    });
    Ok(PgConnection {
        client,
        budget,
        remote: connected.remote,
        tls,
        task,
    })
}

/// The finding for a failed login or query.
fn session_error(e: &tokio_postgres::Error, spec: &PostgresSpec, budget: &ReplyBudget) -> Finding {
    let scrub = |text: &str| match &spec.server.password {
        Some(p) => p.scrub(text),
        None => text.to_owned(),
    };
    let user = spec.server.user.as_deref().unwrap_or("postgres");
    if let Some(db) = e.as_db_error() {
        let state = db.code().code();
        let said = scrub(db.message());
        return if state.starts_with("28") {
            Finding::new(
                codes::PG_AUTH_FAILED,
                Severity::Critical,
                format!("PostgreSQL refused the login of user {user:?}: {said}"),
            )
        } else {
            Finding::new(
                codes::PG_SERVER_ERROR,
                Severity::Critical,
                format!("PostgreSQL answered with an error: {said} (SQLSTATE {state})"),
            )
        };
    }
    // tokio-postgres puts the cause in the error's source, not its text.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        source = cause.source();
    }
    let text = scrub(&text);
    if budget.exhausted() {
        return Finding::new(
            codes::PG_CONNECTION_FAILED,
            Severity::Critical,
            format!(
                "the server sent more than {} in one run; the session was closed",
                crate::util::fmt_bytes(crate::database::MAX_REPLY_BYTES)
            ),
        );
    }
    if spec.server.tls == DbTls::Require && text.contains("does not support TLS") {
        return Finding::new(
            codes::PG_TLS_UNAVAILABLE,
            Severity::Critical,
            "the server does not offer TLS, which tls = \"require\" demands",
        );
    }
    Finding::new(
        codes::PG_CONNECTION_FAILED,
        Severity::Critical,
        format!("the PostgreSQL session failed: {text}"),
    )
}

/// A completed TLS handshake: its duration, the certificate's findings and
/// the evidence.
struct TlsDone {
    elapsed: Duration,
    findings: Vec<Finding>,
    evidence: Value,
}

/// keepup's TLS for the PostgreSQL session: the handshake and certificate
/// analysis every TLS-speaking probe uses, against the system roots and
/// the check's `ca_file`. tokio-postgres asks for it after the server
/// agreed to `SSLRequest`.
struct PgTls {
    ctx: ProbeContext,
    host: String,
    options: keepup_config::TlsOptions,
    result: Arc<Mutex<Option<Result<TlsDone, Finding>>>>,
}

type PgTlsStream = Bounded<tokio_rustls::client::TlsStream<TcpStream>>;

impl tokio_postgres::tls::TlsStream for PgTlsStream {
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        tokio_postgres::tls::ChannelBinding::none()
    }
}

impl tokio_postgres::tls::TlsConnect<Bounded<TcpStream>> for PgTls {
    type Stream = PgTlsStream;
    type Error = std::io::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<PgTlsStream, std::io::Error>> + Send + 'static>>;

    fn connect(self, stream: Bounded<TcpStream>) -> Self::Future {
        Box::pin(async move {
            let (tcp, budget) = stream.into_parts();
            let done = handshake(&self.ctx, &self.host, &self.options, tcp).await;
            let mut slot = self.result.lock().unwrap_or_else(|p| p.into_inner());
            match done {
                Ok((stream, done)) => {
                    *slot = Some(Ok(done));
                    Ok(Bounded::new(stream, budget))
                }
                Err(finding) => {
                    let text = finding.text.clone();
                    *slot = Some(Err(finding));
                    Err(std::io::Error::other(text))
                }
            }
        })
    }
}

async fn handshake(
    ctx: &ProbeContext,
    host: &str,
    options: &keepup_config::TlsOptions,
    tcp: TcpStream,
) -> Result<(tokio_rustls::client::TlsStream<TcpStream>, TlsDone), Finding> {
    let roots = ctx.trust_roots(options.ca_file.as_deref()).await?;
    let done = crate::tls::handshake(ctx, roots.store, host, tcp, &[])
        .await
        .map_err(|f| f.into_finding(ctx))?;
    let judged = crate::tls::judge(
        ctx,
        &done.captured,
        host,
        options,
        crate::tls::Purpose::Request,
    )
    .await;
    let mut findings = roots.findings;
    findings.extend(judged.findings);
    if judged.blocked {
        // The password must not go to a server that failed verification.
        let worst = findings
            .iter()
            .max_by_key(|f| f.severity)
            .cloned()
            .unwrap_or_else(|| {
                Finding::new(
                    codes::TLS_HANDSHAKE_FAILED,
                    Severity::Critical,
                    format!("the certificate of {host} failed verification"),
                )
            });
        return Err(worst);
    }
    let evidence = json!({
        "handshake": done.info.to_json(),
        "verification": judged.verification,
    });
    Ok((
        done.stream,
        TlsDone {
            elapsed: done.elapsed,
            findings,
            evidence,
        },
    ))
}
