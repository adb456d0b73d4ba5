//! Redis checks: does the server answer, is it the role it should be, is
//! its memory nearly full, does it refuse clients, and is replication
//! keeping up?
//!
//! A run connects (TLS from the first byte with `tls = "require"`, judged
//! like an HTTPS certificate), logs in with `AUTH` when a password is
//! configured, times a `PING`, and reads `INFO`: the role; on a replica
//! `master_link_status` and `master_last_io_seconds_ago` (an idle master
//! is heard only at its `repl-ping-replica-period`, 10 s by default, so
//! the default `lag` warns from 30 s); on a primary
//! each replica's state, seconds since its last acknowledgement and
//! offset behind `master_repl_offset`; `used_memory` against `maxmemory`;
//! and `rejected_connections`, which is a finding when it grew since the
//! previous run. The client speaks RESP2 itself, a few commands only,
//! with every reply bounded (nesting, element counts, and the run's
//! [`crate::database::MAX_REPLY_BYTES`]). A Redis login costs the server
//! nothing worth saving, so each run opens its own connection.

use std::collections::HashMap;
use std::sync::Mutex;

use keepup_config::{DbRole, DbTls, RedisSpec};
use keepup_model::{Finding, Outcome, Severity, TimingBreakdown};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::database::{Bounded, MAX_REPLY_BYTES, ReplyBudget, run_check};
use crate::util::{Fail, connect_first, ms};

/// Elements of one array reply read at most.
const MAX_ARRAY: i64 = 1024;
/// Arrays within arrays read at most.
const MAX_DEPTH: usize = 4;

/// The byte stream of a run, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

/// `rejected_connections` as last seen, by check and server
/// ([`ProbeContext::check_key`]): growth between two runs of a check is
/// the finding, not the total since the server started.
#[derive(Default)]
struct RejectedSeen(Mutex<HashMap<String, u64>>);

/// Runs one Redis check.
pub async fn probe(spec: &RedisSpec, ctx: &ProbeContext) -> Outcome {
    let target = format!("{}:{}", spec.server.host, spec.server.port);
    run_check(
        ctx,
        "Redis",
        "redis",
        &target,
        async |ctx, outcome, timing| session(spec, ctx, outcome, timing).await,
    )
    .await
}

/// Connects, logs in, pings and judges `INFO`.
async fn session(
    spec: &RedisSpec,
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
    let stream: Box<dyn Io> = match server.tls {
        DbTls::Require => {
            let roots = ctx
                .trust_roots(server.certificate.ca_file.as_deref())
                .await?;
            for f in roots.findings {
                outcome.push(f);
            }
            let done = crate::tls::handshake(ctx, roots.store, &server.host, connected.stream, &[])
                .await?;
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
                // No password goes to a server that failed verification;
                // the certificate's findings say why.
                return Ok(());
            }
            Box::new(done.stream)
        }
        DbTls::Disable | DbTls::Prefer => Box::new(connected.stream),
    };
    let mut conn = Conn {
        io: BufReader::new(Bounded::new(stream, ReplyBudget::new())),
        spec,
    };
    if let Some(password) = &server.password {
        let mut args: Vec<&[u8]> = vec![b"AUTH"];
        if let Some(user) = &server.user {
            args.push(user.as_bytes());
        }
        args.push(password.expose().as_bytes());
        match conn.command(ctx, &args, "logging in").await? {
            Reply::Simple(_) => {}
            Reply::Error(e) => return Err(Fail::Finding(auth_failed(spec, &e))),
            other => return Err(Fail::Finding(unexpected("AUTH", &other))),
        }
    }
    let asked = Instant::now();
    match conn.command(ctx, &[b"PING"], "waiting for PING").await? {
        Reply::Simple(s) if s == "PONG" => {}
        Reply::Error(e) if e.starts_with("NOAUTH") => {
            return Err(Fail::Finding(auth_failed(spec, &e)));
        }
        Reply::Error(e) => {
            return Err(Fail::Finding(Finding::new(
                codes::REDIS_ERROR,
                Severity::Critical,
                format!("Redis answered PING with an error: {}", conn.scrub(&e)),
            )));
        }
        other => return Err(Fail::Finding(unexpected("PING", &other))),
    }
    timing.first_byte_ms = Some(ms(asked.elapsed()));
    let info = match conn.command(ctx, &[b"INFO"], "reading INFO").await? {
        Reply::Bulk(Some(text)) => parse_info(&String::from_utf8_lossy(&text)),
        Reply::Error(e) => {
            return Err(Fail::Finding(Finding::new(
                codes::REDIS_ERROR,
                Severity::Critical,
                format!("Redis answered INFO with an error: {}", conn.scrub(&e)),
            )));
        }
        other => return Err(Fail::Finding(unexpected("INFO", &other))),
    };
    let rejected_before = info
        .get("rejected_connections")
        .and_then(|v| v.parse::<u64>().ok())
        .and_then(|now| {
            let seen = ctx.kind_state::<RejectedSeen>();
            let mut map = seen.0.lock().unwrap_or_else(|p| p.into_inner());
            map.insert(
                ctx.check_key(&format!("{}:{}", server.host, server.port)),
                now,
            )
            .map(|before| (before, now))
        });
    judge(spec, &info, rejected_before, outcome);
    Ok(())
}

/// A connection and what its messages need of the check.
struct Conn<'a> {
    io: BufReader<Bounded<Box<dyn Io>>>,
    spec: &'a RedisSpec,
}

impl Conn<'_> {
    /// Sends `args` as a RESP array and reads the reply.
    async fn command(
        &mut self,
        ctx: &ProbeContext,
        args: &[&[u8]],
        phase: &'static str,
    ) -> Result<Reply, Fail> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        let sent = ctx
            .within(phase, async {
                self.io.get_mut().write_all(&out).await?;
                self.io.get_mut().flush().await
            })
            .await?;
        sent.map_err(|e| {
            Fail::Finding(protocol_error(&format!(
                "sending failed: {}",
                crate::util::io_reason(&e)
            )))
        })?;
        ctx.within(phase, read_reply(&mut self.io, 0))
            .await?
            .map_err(|why| Fail::Finding(protocol_error(&self.scrub(&why))))
    }

    fn scrub(&self, text: &str) -> String {
        match &self.spec.server.password {
            Some(p) => p.scrub(text),
            None => text.to_owned(),
        }
    }
}

/// Reads one reply (boxed: arrays recurse).
fn read_reply<'a, R: AsyncBufReadExt + Unpin + Send>(
    io: &'a mut R,
    depth: usize,
) -> std::pin::Pin<Box<dyn Future<Output = Result<Reply, String>> + Send + 'a>> {
    Box::pin(async move {
        let mut line = Vec::new();
        let n = io
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| crate::util::io_reason(&e))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        let Some(body) = line.strip_suffix(b"\r\n") else {
            return Err("a reply line does not end with CRLF".into());
        };
        let (kind, rest) = body.split_first().ok_or("an empty reply line")?;
        let text = || String::from_utf8_lossy(rest).into_owned();
        let number = || {
            std::str::from_utf8(rest)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| format!("{:?} is not a number", String::from_utf8_lossy(rest)))
        };
        match kind {
            b'+' => Ok(Reply::Simple(text())),
            b'-' => Ok(Reply::Error(text())),
            b':' => Ok(Reply::Integer(number()?)),
            b'$' => {
                let len = number()?;
                if len < 0 {
                    return Ok(Reply::Bulk(None));
                }
                if len as u64 > MAX_REPLY_BYTES {
                    return Err(format!(
                        "a reply of {len} bytes is larger than the {} a run reads",
                        crate::util::fmt_bytes(MAX_REPLY_BYTES)
                    ));
                }
                let mut data = vec![0u8; len as usize + 2];
                io.read_exact(&mut data)
                    .await
                    .map_err(|e| crate::util::io_reason(&e))?;
                if !data.ends_with(b"\r\n") {
                    return Err("a bulk reply does not end with CRLF".into());
                }
                data.truncate(len as usize);
                Ok(Reply::Bulk(Some(data)))
            }
            b'*' => {
                let count = number()?;
                if count < 0 {
                    return Ok(Reply::Array(None));
                }
                if count > MAX_ARRAY || depth >= MAX_DEPTH {
                    return Err(format!("an array reply of {count} elements is too large"));
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(read_reply(io, depth + 1).await?);
                }
                Ok(Reply::Array(Some(items)))
            }
            _ => Err(format!(
                "not a Redis reply: {:?}",
                crate::util::escape_received(&line, 60)
            )),
        }
    })
}

/// `INFO`'s `field:value` lines (sections and comments left out).
fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A replica as the primary's `INFO` lists it (`slaveN:ip=..,port=..,...`).
#[derive(Debug)]
struct Replica {
    address: String,
    state: String,
    offset: Option<f64>,
    lag: Option<f64>,
}

fn replicas(info: &HashMap<String, String>) -> Vec<Replica> {
    let mut found: Vec<(u32, Replica)> = info
        .iter()
        .filter_map(|(k, v)| {
            let n = k.strip_prefix("slave")?.parse::<u32>().ok()?;
            let fields: HashMap<&str, &str> =
                v.split(',').filter_map(|f| f.split_once('=')).collect();
            Some((
                n,
                Replica {
                    address: format!(
                        "{}:{}",
                        fields.get("ip").unwrap_or(&"?"),
                        fields.get("port").unwrap_or(&"?")
                    ),
                    state: fields.get("state").unwrap_or(&"").to_string(),
                    offset: fields.get("offset").and_then(|o| o.parse().ok()),
                    lag: fields.get("lag").and_then(|l| l.parse().ok()),
                },
            ))
        })
        .collect();
    found.sort_by_key(|(n, _)| *n);
    found.into_iter().map(|(_, r)| r).collect()
}

/// The findings of `INFO` against the check's expectations;
/// `rejected`: the previous and current `rejected_connections`.
fn judge(
    spec: &RedisSpec,
    info: &HashMap<String, String>,
    rejected: Option<(u64, u64)>,
    outcome: &mut Outcome,
) {
    let number = |k: &str| info.get(k).and_then(|v| v.parse::<f64>().ok());
    let is_replica = info.get("role").is_some_and(|r| r == "slave");
    let role = if is_replica {
        DbRole::Replica
    } else {
        DbRole::Primary
    };
    let mut evidence = json!({
        "role": role.as_str(),
        "version": info.get("redis_version"),
        "connected_clients": number("connected_clients"),
        "used_memory": number("used_memory"),
        "maxmemory": number("maxmemory"),
        "rejected_connections": number("rejected_connections"),
    });
    if let Some(expected) = spec.role
        && expected != role
    {
        outcome.push(Finding::new(
            codes::REDIS_ROLE_UNEXPECTED,
            Severity::Critical,
            format!(
                "the server is a {}, not the {} it should be",
                role.as_str(),
                expected.as_str()
            ),
        ));
    }
    if let (Some(used), Some(max)) = (number("used_memory"), number("maxmemory"))
        && max > 0.0
    {
        push(
            outcome,
            spec.memory
                .finding(used * 100.0 / max, codes::REDIS_MEMORY_HIGH, |_, level| {
                    format!("{level} or more of maxmemory is used")
                }),
        );
    }
    if let Some((before, now)) = rejected
        && now > before
    {
        outcome.push(Finding::new(
            codes::REDIS_REJECTED_CONNECTIONS,
            Severity::Warning,
            "the server refused connections since the last run (maxclients reached)",
        ));
        evidence["rejected_since_last_run"] = json!(now - before);
    }
    if is_replica {
        let link = info.get("master_link_status").map(String::as_str);
        evidence["master"] = json!(format!(
            "{}:{}",
            info.get("master_host").map_or("?", String::as_str),
            info.get("master_port").map_or("?", String::as_str)
        ));
        evidence["master_link_status"] = json!(link);
        evidence["master_last_io_seconds_ago"] = json!(number("master_last_io_seconds_ago"));
        evidence["master_sync_in_progress"] = json!(number("master_sync_in_progress"));
        if link != Some("up") {
            outcome.push(Finding::new(
                codes::REDIS_MASTER_LINK_DOWN,
                Severity::Critical,
                "the replica's link to its master is down",
            ));
        } else if let Some(seconds) = number("master_last_io_seconds_ago").filter(|s| *s >= 0.0) {
            push(
                outcome,
                spec.lag
                    .finding(seconds, codes::REDIS_REPLICA_LAG, |_, level| {
                        format!("the replica has not heard from its master for {level} or more")
                    }),
            );
        }
    } else {
        let listed = replicas(info);
        let master_offset = number("master_repl_offset");
        let mut shown = Vec::new();
        for r in &listed {
            let behind = match (master_offset, r.offset) {
                (Some(m), Some(o)) => Some((m - o).max(0.0)),
                _ => None,
            };
            shown.push(json!({
                "address": r.address,
                "state": r.state,
                "lag_seconds": r.lag,
                "lag_bytes": behind,
            }));
            if r.state != "online" {
                continue;
            }
            let who = format!("replica {}", r.address);
            // A replica that holds the master's whole offset is caught up
            // however long ago it last acknowledged; the seconds judge only
            // one that is behind or whose offset is not listed.
            if let Some(seconds) = r.lag.filter(|_| behind.is_none_or(|b| b > 0.0)) {
                push(
                    outcome,
                    spec.lag
                        .finding(seconds, codes::REDIS_REPLICA_LAG, |_, level| {
                            format!("{who} has not acknowledged for {level} or more")
                        }),
                );
            }
            if let Some(bytes) = behind {
                push(
                    outcome,
                    spec.lag_bytes
                        .finding(bytes, codes::REDIS_REPLICA_LAG, |_, level| {
                            format!("{who} is {level} or more behind the master")
                        }),
                );
            }
        }
        evidence["replicas"] = Value::Array(shown);
        let online = listed.iter().filter(|r| r.state == "online").count();
        if let Some(expected) = spec.replicas
            && (online as u64) < u64::from(expected)
        {
            outcome.push(Finding::new(
                codes::REDIS_REPLICAS_MISSING,
                Severity::Critical,
                format!("{online} of the {expected} expected replicas are online"),
            ));
        }
    }
    outcome.evidence.insert("redis", evidence);
}

fn push(outcome: &mut Outcome, finding: Option<Finding>) {
    if let Some(f) = finding {
        outcome.push(f);
    }
}

fn auth_failed(spec: &RedisSpec, said: &str) -> Finding {
    let said = match &spec.server.password {
        Some(p) => p.scrub(said),
        None => said.to_owned(),
    };
    let text = if said.starts_with("NOAUTH") {
        "Redis requires a password: give password_env or password_file".to_owned()
    } else {
        let who = spec.server.user.as_deref().unwrap_or("default");
        format!("Redis refused the login of user {who:?}: {said}")
    };
    Finding::new(codes::REDIS_AUTH_FAILED, Severity::Critical, text)
}

fn unexpected(command: &str, reply: &Reply) -> Finding {
    let what = match reply {
        Reply::Simple(s) => format!("the status {s:?}"),
        Reply::Error(_) => "an error".to_owned(),
        Reply::Integer(n) => format!("the number {n}"),
        Reply::Bulk(_) => "a string".to_owned(),
        Reply::Array(_) => "an array".to_owned(),
    };
    protocol_error(&format!("{command} was answered with {what}"))
}

fn protocol_error(why: &str) -> Finding {
    Finding::new(
        codes::REDIS_PROTOCOL_ERROR,
        Severity::Critical,
        format!("the Redis session failed: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_model::Status;

    async fn parse(bytes: &[u8]) -> Result<Reply, String> {
        let mut reader = BufReader::new(bytes);
        read_reply(&mut reader, 0).await
    }

    #[tokio::test]
    async fn replies_are_read_and_bounded() {
        assert_eq!(parse(b"+PONG\r\n").await, Ok(Reply::Simple("PONG".into())));
        assert_eq!(parse(b":42\r\n").await, Ok(Reply::Integer(42)));
        assert_eq!(parse(b"$-1\r\n").await, Ok(Reply::Bulk(None)));
        assert_eq!(
            parse(b"*2\r\n$1\r\na\r\n:1\r\n").await,
            Ok(Reply::Array(Some(vec![
                Reply::Bulk(Some(b"a".to_vec())),
                Reply::Integer(1)
            ])))
        );
        assert!(
            parse(b"$99999999999\r\n")
                .await
                .unwrap_err()
                .contains("larger than")
        );
        assert!(
            parse(b"*100000\r\n")
                .await
                .unwrap_err()
                .contains("too large")
        );
        assert!(
            parse(b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n")
                .await
                .is_err()
        );
        assert!(
            parse(b"HTTP/1.1 200 OK\r\n")
                .await
                .unwrap_err()
                .starts_with("not a Redis reply")
        );
        assert!(parse(b"+no end").await.is_err());
    }

    #[test]
    fn replicas_and_rejections_are_read_from_info() {
        let info = parse_info(
            "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
             slave1:ip=127.0.0.1,port=7001,state=wait_bgsave,offset=0,lag=0\r\n\
             slave0:ip=127.0.0.1,port=7000,state=online,offset=100,lag=1\r\n\
             master_repl_offset:300\r\nrejected_connections:5\r\n",
        );
        let listed = replicas(&info);
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].address, "127.0.0.1:7000");
        assert_eq!(listed[0].offset, Some(100.0));
        assert_eq!(listed[1].state, "wait_bgsave");
        let src = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"c\"\nkind = \"redis\"\nhost = \"127.0.0.1\"\nreplicas = 2\nlag_bytes = { warn = \"100B\" }\n";
        let config = keepup_config::load_str(src, std::path::Path::new("k.toml"))
            .unwrap_or_else(|p| panic!("{p}"));
        let Some(keepup_config::ProbeSpec::Redis(spec)) = config.checks().find_map(|c| c.probe())
        else {
            panic!("no redis check")
        };
        let mut o = Outcome::new(Status::Up, "");
        judge(spec, &info, Some((5, 5)), &mut o);
        let found: Vec<&str> = o.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(found, ["REDIS_REPLICA_LAG", "REDIS_REPLICAS_MISSING"]);
        let mut o = Outcome::new(Status::Up, "");
        judge(spec, &info, Some((3, 5)), &mut o);
        assert!(
            o.findings
                .iter()
                .any(|f| f.code == "REDIS_REJECTED_CONNECTIONS")
        );
        assert_eq!(o.evidence.details["redis"]["rejected_since_last_run"], 2);
    }

    #[test]
    fn an_idle_master_between_pings_is_not_lag() {
        let src = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"c\"\nkind = \"redis\"\nhost = \"127.0.0.1\"\n";
        let config = keepup_config::load_str(src, std::path::Path::new("k.toml"))
            .unwrap_or_else(|p| panic!("{p}"));
        let Some(keepup_config::ProbeSpec::Redis(spec)) = config.checks().find_map(|c| c.probe())
        else {
            panic!("no redis check")
        };
        let judged = |info: &str| {
            let mut o = Outcome::new(Status::Up, "");
            judge(spec, &parse_info(info), None, &mut o);
            o.findings.into_iter().map(|f| f.text).collect::<Vec<_>>()
        };
        // A replica just before the master's next PING (every 10 s by default).
        let replica = "role:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6379\r\n\
                       master_link_status:up\r\nmaster_last_io_seconds_ago:10\r\n";
        assert_eq!(judged(replica), Vec::<String>::new());
        let silent = replica.replace("io_seconds_ago:10", "io_seconds_ago:31");
        assert_eq!(
            judged(&silent),
            ["the replica has not heard from its master for 30s or more"]
        );
        // On the master: caught up, the seconds since the last ACK do not count.
        let master = "role:master\r\nmaster_repl_offset:300\r\n\
                      slave0:ip=127.0.0.1,port=7000,state=online,offset=300,lag=45\r\n";
        assert_eq!(judged(master), Vec::<String>::new());
        let behind = master.replace("offset=300", "offset=299");
        assert_eq!(
            judged(&behind),
            ["replica 127.0.0.1:7000 has not acknowledged for 30s or more"]
        );
    }
}
