//! MySQL and MariaDB checks: does the server answer, how full are its
//! connections, is replication running and keeping up, and is a Galera
//! cluster whole and synced?
//!
//! A run connects (TLS through the protocol's SSL request, judged like an
//! HTTPS certificate; the password is not sent to a server that fails
//! verification), logs in with `mysql_native_password` or
//! `caching_sha2_password` (its fast path; the full path only over TLS),
//! times `SELECT 1`, then reads `max_connections`, the status counters
//! (`Threads_connected`, `wsrep_*`) and `SHOW REPLICA STATUS` (`SHOW SLAVE
//! STATUS` where the former is not known): the IO and SQL threads,
//! `Seconds_Behind_Master` / `Seconds_Behind_Source` and the last errors;
//! and the size of the schema logged into (`database`), or of every schema
//! without one: `data_length + index_length` of the tables
//! `information_schema.tables` shows the user, for a forecast to follow.
//!
//! The client is keepup's own and speaks only the few packets this needs
//! (handshake v10, the 4.1 handshake response, text result sets), every
//! packet bounded by the run's [`crate::database::MAX_REPLY_BYTES`]. A
//! MySQL login is a thread on the server, cheap enough that each run opens
//! its own connection.

use std::collections::HashMap;

use aws_lc_rs::digest;
use keepup_config::{DbRole, DbTls, MysqlSpec};
use keepup_model::{Finding, Outcome, Severity, TimingBreakdown};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::database::{Bounded, MAX_REPLY_BYTES, ReplyBudget, run_check};
use crate::util::{Fail, connect_first, ms};

const CLIENT_LONG_PASSWORD: u32 = 1;
const CLIENT_CONNECT_WITH_DB: u32 = 0x8;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_TRANSACTIONS: u32 = 0x2000;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;
/// utf8mb4_general_ci.
const CHARSET: u8 = 45;

/// The size of the schema logged into, or of every schema when none
/// (the virtual `information_schema` and `performance_schema` left out),
/// and the tables counted.
const SIZE_SQL: &str = "SELECT coalesce(sum(data_length + index_length), 0), count(*) \
    FROM information_schema.tables \
    WHERE table_schema NOT IN ('information_schema', 'performance_schema') \
    AND (DATABASE() IS NULL OR table_schema = DATABASE())";

/// The byte stream of a run, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A session: the stream and the packet sequence number.
struct Session<S> {
    io: Bounded<S>,
    seq: u8,
}

/// A result set: column names and rows (NULL as `None`).
#[derive(Default)]
struct Rows {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
}

/// What went wrong in the dialogue, before it becomes a finding.
enum Wire {
    /// The server sent an ERR packet.
    Server { code: u16, message: String },
    /// Closed, malformed or too large.
    Broken(String),
}

impl<S: Io> Session<S> {
    async fn read_packet(&mut self) -> Result<Vec<u8>, Wire> {
        let mut head = [0u8; 4];
        self.io
            .read_exact(&mut head)
            .await
            .map_err(|e| Wire::Broken(crate::util::io_reason(&e)))?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
        if len as u64 > MAX_REPLY_BYTES {
            return Err(Wire::Broken(format!(
                "a packet of {len} bytes is larger than the {} a run reads",
                crate::util::fmt_bytes(MAX_REPLY_BYTES)
            )));
        }
        self.seq = head[3].wrapping_add(1);
        let mut body = vec![0u8; len];
        self.io
            .read_exact(&mut body)
            .await
            .map_err(|e| Wire::Broken(crate::util::io_reason(&e)))?;
        if body.first() == Some(&0xff) {
            return Err(server_error(&body));
        }
        Ok(body)
    }

    async fn write_packet(&mut self, body: &[u8]) -> Result<(), Wire> {
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes();
        let mut out = vec![len[0], len[1], len[2], self.seq];
        out.extend_from_slice(body);
        self.seq = self.seq.wrapping_add(1);
        self.io
            .write_all(&out)
            .await
            .map_err(|e| Wire::Broken(crate::util::io_reason(&e)))?;
        self.io
            .flush()
            .await
            .map_err(|e| Wire::Broken(crate::util::io_reason(&e)))
    }

    /// A text query's result set (empty for a statement without one).
    async fn query(&mut self, sql: &str) -> Result<Rows, Wire> {
        self.seq = 0;
        let mut body = vec![0x03];
        body.extend_from_slice(sql.as_bytes());
        self.write_packet(&body).await?;
        let first = self.read_packet().await?;
        if first.first() == Some(&0x00) {
            return Ok(Rows {
                columns: Vec::new(),
                rows: Vec::new(),
            });
        }
        let mut pos = 0;
        let count = lenenc_int(&first, &mut pos).ok_or_else(|| broken("column count"))?;
        if count > 512 {
            return Err(broken("column count"));
        }
        let mut columns = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let def = self.read_packet().await?;
            let mut p = 0;
            // catalog, schema, table, org_table, then the name.
            for _ in 0..4 {
                lenenc_str(&def, &mut p).ok_or_else(|| broken("column definition"))?;
            }
            let name = lenenc_str(&def, &mut p).ok_or_else(|| broken("column definition"))?;
            columns.push(name.unwrap_or_default());
        }
        let eof = self.read_packet().await?;
        if !is_eof(&eof) {
            return Err(broken("end of the column definitions"));
        }
        let mut rows = Vec::new();
        loop {
            let row = self.read_packet().await?;
            if is_eof(&row) {
                break;
            }
            let mut p = 0;
            let mut values = Vec::with_capacity(columns.len());
            for _ in 0..columns.len() {
                values.push(lenenc_str(&row, &mut p).ok_or_else(|| broken("row"))?);
            }
            rows.push(values);
        }
        Ok(Rows { columns, rows })
    }
}

fn broken(what: &str) -> Wire {
    Wire::Broken(format!("the server sent a malformed {what}"))
}

fn is_eof(packet: &[u8]) -> bool {
    packet.first() == Some(&0xfe) && packet.len() < 9
}

fn server_error(body: &[u8]) -> Wire {
    let code = body
        .get(1..3)
        .map_or(0, |c| u16::from_le_bytes([c[0], c[1]]));
    // `#` and a five-character SQL state come before the message.
    let text = body.get(3..).unwrap_or_default();
    let text = if text.first() == Some(&b'#') {
        text.get(6..).unwrap_or_default()
    } else {
        text
    };
    Wire::Server {
        code,
        message: String::from_utf8_lossy(text).into_owned(),
    }
}

/// A length-encoded integer at `*pos`.
fn lenenc_int(b: &[u8], pos: &mut usize) -> Option<u64> {
    let first = *b.get(*pos)?;
    *pos += 1;
    let n = match first {
        0..=0xfa => return Some(u64::from(first)),
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        _ => return None,
    };
    let bytes = b.get(*pos..*pos + n)?;
    *pos += n;
    let mut v = [0u8; 8];
    v[..n].copy_from_slice(bytes);
    Some(u64::from_le_bytes(v))
}

/// A length-encoded string at `*pos`; `Some(None)` for NULL (0xfb).
fn lenenc_str(b: &[u8], pos: &mut usize) -> Option<Option<String>> {
    if b.get(*pos) == Some(&0xfb) {
        *pos += 1;
        return Some(None);
    }
    let len = usize::try_from(lenenc_int(b, pos)?).ok()?;
    let s = b.get(*pos..pos.checked_add(len)?)?;
    *pos += len;
    Some(Some(String::from_utf8_lossy(s).into_owned()))
}

/// What the server's greeting says.
struct Greeting {
    version: String,
    capabilities: u32,
    scramble: Vec<u8>,
    plugin: String,
}

fn parse_greeting(b: &[u8]) -> Option<Greeting> {
    if *b.first()? != 10 {
        return None;
    }
    let nul = b[1..].iter().position(|&c| c == 0)? + 1;
    let version = String::from_utf8_lossy(&b[1..nul]).into_owned();
    let mut p = nul + 1 + 4; // thread id
    let mut scramble = b.get(p..p + 8)?.to_vec();
    p += 8 + 1;
    let low = u16::from_le_bytes([*b.get(p)?, *b.get(p + 1)?]);
    p += 2 + 1 + 2; // charset, status
    let high = u16::from_le_bytes([*b.get(p)?, *b.get(p + 1)?]);
    p += 2;
    let capabilities = u32::from(low) | (u32::from(high) << 16);
    let data_len = usize::from(*b.get(p)?);
    p += 1 + 10;
    if capabilities & CLIENT_SECURE_CONNECTION != 0 {
        let n = data_len.saturating_sub(8).max(13);
        let part = b.get(p..p + n)?;
        // The second part ends with a NUL that is not part of the scramble.
        scramble.extend_from_slice(part.strip_suffix(&[0]).unwrap_or(part));
        p += n;
    }
    let plugin = b
        .get(p..)
        .map(|rest| {
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).into_owned()
        })
        .unwrap_or_default();
    Some(Greeting {
        version,
        capabilities,
        scramble,
        plugin,
    })
}

fn sha1(parts: &[&[u8]]) -> Vec<u8> {
    let mut c = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    for p in parts {
        c.update(p);
    }
    c.finish().as_ref().to_vec()
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut c = digest::Context::new(&digest::SHA256);
    for p in parts {
        c.update(p);
    }
    c.finish().as_ref().to_vec()
}

/// The scrambled password `plugin` expects; `None` for a plugin keepup
/// does not speak.
fn scramble(plugin: &str, password: &[u8], nonce: &[u8]) -> Option<Vec<u8>> {
    if password.is_empty() {
        return Some(Vec::new());
    }
    let xor = |a: Vec<u8>, b: Vec<u8>| a.iter().zip(b).map(|(x, y)| x ^ y).collect();
    match plugin {
        "mysql_native_password" | "" => {
            let once = sha1(&[password]);
            let twice = sha1(&[&once]);
            Some(xor(once, sha1(&[nonce, &twice])))
        }
        "caching_sha2_password" => {
            let once = sha256(&[password]);
            let twice = sha256(&[&once]);
            Some(xor(once, sha256(&[&twice, nonce])))
        }
        _ => None,
    }
}

/// Runs one MySQL / MariaDB check.
pub async fn probe(spec: &MysqlSpec, ctx: &ProbeContext) -> Outcome {
    let target = format!("{}:{}", spec.server.host, spec.server.port);
    run_check(
        ctx,
        "MySQL",
        "mysql",
        &target,
        async |ctx, outcome, timing| run(spec, ctx, outcome, timing).await,
    )
    .await
}

async fn run(
    spec: &MysqlSpec,
    ctx: &ProbeContext,
    outcome: &mut Outcome,
    timing: &mut TimingBreakdown,
) -> Result<(), Fail> {
    let server = &spec.server;
    let resolution = ctx.resolve(&server.host, server.port).await?;
    timing.dns_ms = resolution.dns.map(ms);
    let connected = connect_first(ctx, &resolution.addrs).await?;
    timing.connect_ms = Some(ms(connected.elapsed));
    outcome
        .evidence
        .insert("remote_address", connected.remote.to_string());
    let mut plain = Session {
        io: Bounded::new(connected.stream, ReplyBudget::new()),
        seq: 0,
    };
    let wire = |w: Wire| Fail::Finding(wire_finding(spec, w));
    let greeting_bytes = ctx
        .within("waiting for the greeting", plain.read_packet())
        .await?
        .map_err(wire)?;
    let greeting = parse_greeting(&greeting_bytes)
        .ok_or_else(|| Fail::Finding(protocol("the greeting is not MySQL's handshake v10")))?;
    let mut caps = CLIENT_LONG_PASSWORD
        | CLIENT_PROTOCOL_41
        | CLIENT_TRANSACTIONS
        | CLIENT_SECURE_CONNECTION
        | CLIENT_PLUGIN_AUTH;
    if spec.database.is_some() {
        caps |= CLIENT_CONNECT_WITH_DB;
    }
    let offers_tls = greeting.capabilities & CLIENT_SSL != 0;
    let use_tls = match (server.tls, offers_tls) {
        (DbTls::Require, false) => {
            return Err(Fail::Finding(Finding::new(
                codes::MYSQL_TLS_UNAVAILABLE,
                Severity::Critical,
                "the server does not offer TLS, which tls = \"require\" demands",
            )));
        }
        (DbTls::Require | DbTls::Prefer, true) => true,
        _ => false,
    };
    let mut session: Session<Box<dyn Io>> = if use_tls {
        caps |= CLIENT_SSL;
        let mut request = caps.to_le_bytes().to_vec();
        request.extend_from_slice(&(MAX_REPLY_BYTES as u32).to_le_bytes());
        request.push(CHARSET);
        request.extend_from_slice(&[0u8; 23]);
        ctx.within("asking for TLS", plain.write_packet(&request))
            .await?
            .map_err(wire)?;
        let seq = plain.seq;
        let (tcp, budget) = plain.io.into_parts();
        let roots = ctx
            .trust_roots(server.certificate.ca_file.as_deref())
            .await?;
        for f in roots.findings {
            outcome.push(f);
        }
        let done = crate::tls::handshake(ctx, roots.store, &server.host, tcp, &[]).await?;
        timing.tls_ms = Some(ms(done.elapsed));
        let judged = crate::tls::judge(
            ctx,
            &done.captured,
            &server.host,
            &server.certificate,
            crate::tls::Purpose::Request,
        )
        .await;
        outcome.evidence.insert(
            "tls",
            json!({"handshake": done.info.to_json(), "verification": judged.verification}),
        );
        for f in judged.findings {
            outcome.push(f);
        }
        if judged.blocked {
            // No password goes to a server that failed verification.
            return Ok(());
        }
        Session {
            io: Bounded::new(Box::new(done.stream), budget),
            seq,
        }
    } else {
        let seq = plain.seq;
        let (tcp, budget) = plain.io.into_parts();
        Session {
            io: Bounded::new(Box::new(tcp), budget),
            seq,
        }
    };
    login(spec, ctx, &mut session, &greeting, caps, use_tls).await?;
    let asked = Instant::now();
    ctx.within("waiting for SELECT 1", session.query("SELECT 1"))
        .await?
        .map_err(wire)?;
    timing.first_byte_ms = Some(ms(asked.elapsed()));
    let vars = ctx
        .within(
            "reading the server's state",
            session.query("SELECT @@max_connections, @@read_only"),
        )
        .await?
        .map_err(wire)?;
    let status = ctx
        .within(
            "reading the server's state",
            session.query(
                "SHOW GLOBAL STATUS WHERE Variable_name IN ('Threads_connected', \
                 'wsrep_cluster_size', 'wsrep_local_state_comment', 'wsrep_ready', \
                 'wsrep_cluster_status')",
            ),
        )
        .await?
        .map_err(wire)?;
    let replica = match ctx
        .within(
            "reading the replication state",
            session.query("SHOW REPLICA STATUS"),
        )
        .await?
    {
        Ok(rows) => rows,
        // 1064: a server that does not know the REPLICA spelling.
        Err(Wire::Server { code: 1064, .. }) => ctx
            .within(
                "reading the replication state",
                session.query("SHOW SLAVE STATUS"),
            )
            .await?
            .map_err(wire)?,
        Err(e) => return Err(wire(e)),
    };
    // Only when a forecast follows it: summing information_schema reads
    // every table's statistics.
    let size = if spec.measure_size {
        // MySQL 8 caches information_schema's table sizes for a day unless
        // the session asks otherwise (MariaDB's are live).
        if mysql8_or_later(&greeting.version) {
            let _ = ctx
                .within(
                    "reading the database's size",
                    session.query("SET SESSION information_schema_stats_expiry = 0"),
                )
                .await?;
        }
        ctx.within("reading the database's size", session.query(SIZE_SQL))
            .await?
            .map_err(wire)?
    } else {
        Rows::default()
    };
    let status: HashMap<String, String> = status
        .rows
        .into_iter()
        .filter_map(|r| {
            let mut r = r.into_iter();
            Some((r.next()??.to_ascii_lowercase(), r.next()??))
        })
        .collect();
    let first = |rows: &Rows, i: usize| rows.rows.first().and_then(|r| r.get(i).cloned().flatten());
    let max_connections = first(&vars, 0).and_then(|v| v.parse::<f64>().ok());
    let read_only = first(&vars, 1).is_some_and(|v| v == "1");
    judge(
        spec,
        &greeting.version,
        max_connections,
        read_only,
        &status,
        &replica,
        outcome,
    );
    if let Some(serde_json::Value::Object(evidence)) = outcome.evidence.details.get_mut("mysql") {
        evidence.insert("database".into(), json!(spec.database));
        evidence.insert(
            "database_size_bytes".into(),
            json!(first(&size, 0).and_then(|v| v.parse::<f64>().ok())),
        );
        evidence.insert(
            "database_tables".into(),
            json!(first(&size, 1).and_then(|v| v.parse::<u64>().ok())),
        );
    }
    // A polite goodbye; the answer is not waited for.
    session.seq = 0;
    let _ = ctx.within("closing", session.write_packet(&[0x01])).await;
    Ok(())
}

/// The handshake response and whatever authentication exchange follows.
async fn login(
    spec: &MysqlSpec,
    ctx: &ProbeContext,
    session: &mut Session<Box<dyn Io>>,
    greeting: &Greeting,
    caps: u32,
    tls: bool,
) -> Result<(), Fail> {
    let wire = |w: Wire| Fail::Finding(wire_finding(spec, w));
    let password = spec
        .server
        .password
        .as_ref()
        .map_or(&b""[..], |p| p.expose().as_bytes());
    let user = spec.server.user.as_deref().unwrap_or("root");
    let mut plugin = if greeting.plugin.is_empty() {
        "mysql_native_password".to_owned()
    } else {
        greeting.plugin.clone()
    };
    let auth = scramble(&plugin, password, &greeting.scramble).unwrap_or_default();
    let mut response = caps.to_le_bytes().to_vec();
    response.extend_from_slice(&(MAX_REPLY_BYTES as u32).to_le_bytes());
    response.push(CHARSET);
    response.extend_from_slice(&[0u8; 23]);
    response.extend_from_slice(user.as_bytes());
    response.push(0);
    response.push(u8::try_from(auth.len()).unwrap_or(0));
    response.extend_from_slice(&auth);
    if let Some(db) = &spec.database {
        // With CLIENT_CONNECT_WITH_DB (the configuration refuses a NUL).
        response.extend_from_slice(db.as_bytes());
        response.push(0);
    }
    response.extend_from_slice(plugin.as_bytes());
    response.push(0);
    ctx.within("logging in", session.write_packet(&response))
        .await?
        .map_err(wire)?;
    // At most a few rounds: a switch, a fast-auth result, the OK.
    for _ in 0..4 {
        let reply = ctx
            .within("logging in", session.read_packet())
            .await?
            .map_err(wire)?;
        match reply.first() {
            Some(0x00) => return Ok(()),
            Some(0xfe) => {
                // Auth switch: a plugin name and a new nonce.
                let rest = &reply[1..];
                let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
                plugin = String::from_utf8_lossy(&rest[..end]).into_owned();
                let nonce = rest.get(end + 1..).unwrap_or_default();
                let nonce = nonce.strip_suffix(&[0]).unwrap_or(nonce);
                let Some(answer) = scramble(&plugin, password, nonce) else {
                    return Err(Fail::Finding(Finding::new(
                        codes::MYSQL_AUTH_FAILED,
                        Severity::Critical,
                        format!(
                            "the server wants the authentication plugin {plugin:?}, which keepup does not speak (use mysql_native_password or caching_sha2_password for the monitoring user)"
                        ),
                    )));
                };
                ctx.within("logging in", session.write_packet(&answer))
                    .await?
                    .map_err(wire)?;
            }
            Some(0x01) if reply.get(1) == Some(&0x03) => {} // fast auth done; OK follows
            Some(0x01) if reply.get(1) == Some(&0x04) => {
                if !tls {
                    return Err(Fail::Finding(Finding::new(
                        codes::MYSQL_AUTH_FAILED,
                        Severity::Critical,
                        "caching_sha2_password wants the full password exchange, which keepup makes only over TLS: use tls = \"require\", or log in once with another client to fill the server's cache",
                    )));
                }
                let mut clear = password.to_vec();
                clear.push(0);
                ctx.within("logging in", session.write_packet(&clear))
                    .await?
                    .map_err(wire)?;
            }
            _ => {
                return Err(Fail::Finding(protocol(
                    "an unexpected packet while logging in",
                )));
            }
        }
    }
    Err(Fail::Finding(protocol("the login did not end")))
}

/// The findings of the server's state against the check's expectations.
fn judge(
    spec: &MysqlSpec,
    version: &str,
    max_connections: Option<f64>,
    read_only: bool,
    status: &HashMap<String, String>,
    replica: &Rows,
    outcome: &mut Outcome,
) {
    let col = |names: &[&str]| -> Option<String> {
        let i = replica
            .columns
            .iter()
            .position(|c| names.iter().any(|n| c.eq_ignore_ascii_case(n)))?;
        replica.rows.first()?.get(i).cloned().flatten()
    };
    let is_replica = !replica.rows.is_empty();
    let role = if is_replica {
        DbRole::Replica
    } else {
        DbRole::Primary
    };
    let threads = status
        .get("threads_connected")
        .and_then(|v| v.parse::<f64>().ok());
    let mut evidence = json!({
        "role": role.as_str(),
        "version": version,
        "connections": threads,
        "max_connections": max_connections,
        "read_only": read_only,
    });
    if let Some(expected) = spec.role
        && expected != role
    {
        outcome.push(Finding::new(
            codes::MYSQL_ROLE_UNEXPECTED,
            Severity::Critical,
            match role {
                DbRole::Primary => {
                    "the server replicates from no primary, yet it should be a replica"
                }
                DbRole::Replica => {
                    "the server replicates from a primary, yet it should be the primary"
                }
            },
        ));
    }
    if let (Some(used), Some(max)) = (threads, max_connections)
        && max > 0.0
        && let Some(f) = spec.connections.finding(
            used * 100.0 / max,
            codes::MYSQL_CONNECTIONS_HIGH,
            |_, level| format!("{level} or more of the {max} connections are in use"),
        )
    {
        outcome.push(f);
    }
    if is_replica {
        let io = col(&["Slave_IO_Running", "Replica_IO_Running"]);
        let sql = col(&["Slave_SQL_Running", "Replica_SQL_Running"]);
        let behind = col(&["Seconds_Behind_Master", "Seconds_Behind_Source"]);
        let io_error = col(&["Last_IO_Error"]).filter(|e| !e.is_empty());
        let sql_error = col(&["Last_SQL_Error"]).filter(|e| !e.is_empty());
        evidence["primary"] = json!(format!(
            "{}:{}",
            col(&["Master_Host", "Source_Host"]).unwrap_or_default(),
            col(&["Master_Port", "Source_Port"]).unwrap_or_default()
        ));
        evidence["io_running"] = json!(io);
        evidence["sql_running"] = json!(sql);
        evidence["seconds_behind"] = json!(behind.as_deref().and_then(|b| b.parse::<f64>().ok()));
        evidence["last_io_error"] = json!(io_error);
        evidence["last_sql_error"] = json!(sql_error);
        if io.as_deref() != Some("Yes") {
            let why = io_error
                .as_deref()
                .map_or_else(String::new, |e| format!(": {e}"));
            outcome.push(Finding::new(
                codes::MYSQL_REPLICA_IO_STOPPED,
                Severity::Critical,
                format!(
                    "the replica's IO thread is {}, not running{why}",
                    io.as_deref().unwrap_or("absent")
                ),
            ));
        }
        if sql.as_deref() != Some("Yes") {
            let why = sql_error
                .as_deref()
                .map_or_else(String::new, |e| format!(": {e}"));
            outcome.push(Finding::new(
                codes::MYSQL_REPLICA_SQL_STOPPED,
                Severity::Critical,
                format!(
                    "the replica's SQL thread is {}, not running{why}",
                    sql.as_deref().unwrap_or("absent")
                ),
            ));
        }
        if let Some(seconds) = behind.as_deref().and_then(|b| b.parse::<f64>().ok())
            && let Some(f) = spec
                .lag
                .finding(seconds, codes::MYSQL_REPLICA_LAG, |_, level| {
                    format!("the replica is {level} or more behind its primary")
                })
        {
            outcome.push(f);
        }
    }
    if let Some(size) = status
        .get("wsrep_cluster_size")
        .and_then(|v| v.parse::<u32>().ok())
    {
        let state = status.get("wsrep_local_state_comment").cloned();
        evidence["galera"] = json!({
            "cluster_size": size,
            "local_state": state,
            "cluster_status": status.get("wsrep_cluster_status"),
        });
        if let Some(s) = state.filter(|s| s != "Synced") {
            outcome.push(Finding::new(
                codes::MYSQL_GALERA_NOT_SYNCED,
                Severity::Critical,
                format!("the Galera node is {s:?}, not Synced"),
            ));
        }
        if let Some(expected) = spec.cluster_size
            && size < expected
        {
            outcome.push(Finding::new(
                codes::MYSQL_GALERA_CLUSTER_SMALL,
                Severity::Critical,
                format!("the Galera cluster has {size} of the {expected} expected nodes"),
            ));
        }
    }
    outcome.evidence.insert("mysql", evidence);
}

/// Whether a greeting's version is MySQL 8 or later (not MariaDB, whose
/// 10.x and 11.x versions do not have the setting).
fn mysql8_or_later(version: &str) -> bool {
    !version.contains("MariaDB")
        && version
            .split('.')
            .next()
            .and_then(|major| major.parse::<u32>().ok())
            .is_some_and(|major| major >= 8)
}

fn wire_finding(spec: &MysqlSpec, w: Wire) -> Finding {
    let scrub = |t: &str| match &spec.server.password {
        Some(p) => p.scrub(t),
        None => t.to_owned(),
    };
    match w {
        // 1045: access denied; 1044: no access to the database; 1130: host
        // not allowed.
        Wire::Server {
            code: 1044 | 1045 | 1130 | 1698,
            message,
        } => Finding::new(
            codes::MYSQL_AUTH_FAILED,
            Severity::Critical,
            format!("the server refused the login: {}", scrub(&message)),
        ),
        Wire::Server { code, message } => Finding::new(
            codes::MYSQL_SERVER_ERROR,
            Severity::Critical,
            format!("the server answered with error {code}: {}", scrub(&message)),
        ),
        Wire::Broken(why) => protocol(&scrub(&why)),
    }
}

fn protocol(why: &str) -> Finding {
    Finding::new(
        codes::MYSQL_CONNECTION_FAILED,
        Severity::Critical,
        format!("the MySQL session failed: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_encoded_values_are_read_within_the_packet() {
        let mut p = 0;
        assert_eq!(lenenc_int(&[0xfc, 0x10, 0x27], &mut p), Some(10000));
        let mut p = 0;
        assert_eq!(
            lenenc_str(&[3, b'a', b'b', b'c'], &mut p),
            Some(Some("abc".into()))
        );
        let mut p = 0;
        assert_eq!(lenenc_str(&[0xfb], &mut p), Some(None));
        let mut p = 0;
        assert_eq!(lenenc_str(&[10, b'a'], &mut p), None);
        let mut p = 0;
        assert_eq!(lenenc_int(&[0xfe, 1], &mut p), None);
    }

    #[test]
    fn the_native_scramble_matches_the_documented_construction() {
        // SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))).
        let nonce = [7u8; 20];
        let got = scramble("mysql_native_password", b"secret", &nonce).unwrap();
        let once = sha1(&[b"secret"]);
        let expected: Vec<u8> = once
            .iter()
            .zip(sha1(&[&nonce, &sha1(&[&once])]))
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(got, expected);
        assert_eq!(got.len(), 20);
        assert!(scramble("client_ed25519", b"x", &nonce).is_none());
        assert_eq!(
            scramble("mysql_native_password", b"", &nonce),
            Some(Vec::new())
        );
    }
}
