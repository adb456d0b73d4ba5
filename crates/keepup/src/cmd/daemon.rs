//! `keepup run`: the daemon. Also the part of `keepup demo` that is the
//! real thing (store, monitor, listener), so the demo runs production code.

use super::reload::pid_file;
use anyhow::Context;
use keepup_config::Config;
use keepup_model::SystemClock;
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::Store;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// A started monitor with its HTTP listener.
pub struct Daemon {
    pub monitor: Arc<Monitor>,
    pub listen: SocketAddr,
    /// The listener's certificate when it speaks HTTPS (`[server] tls_cert`).
    pub tls: Option<Arc<keepup_web::tls::ListenerTls>>,
    stop: watch::Sender<bool>,
    web: tokio::task::JoinHandle<()>,
}

impl Daemon {
    /// Opens the store, starts the monitor and the listener.
    pub async fn start(config: Config, probes: ProbeContext) -> anyhow::Result<Daemon> {
        let config = Arc::new(config);
        let descriptors = raise_descriptor_limit(&config);
        let store_path = config.store.path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&store_path)).await??;
        let listener = keepup_web::bind(config.server.listen).with_context(|| {
            format!("cannot listen on {} (server.listen)", config.server.listen)
        })?;
        let listen = listener.local_addr()?;
        let tls = match &config.server.web.tls {
            None => None,
            Some(files) => {
                let files = files.clone();
                let loaded =
                    tokio::task::spawn_blocking(move || keepup_web::tls::ListenerTls::load(&files))
                        .await?
                        .context("cannot use [server] tls_cert and tls_key")?;
                Some(Arc::new(loaded))
            }
        };
        let monitor =
            Arc::new(Monitor::start(config.clone(), store, probes, Arc::new(SystemClock)).await?);
        let (stop, mut stopped) = watch::channel(false);
        let router = keepup_web::router(monitor.clone());
        let limits = config.server.limits.clone();
        let serving_tls = tls.clone();
        let web = tokio::spawn(async move {
            keepup_web::serve_with(listener, router, &limits, serving_tls, async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
        });
        tracing::info!(
            %listen,
            https = tls.is_some(),
            descriptors,
            checks = config.checks().count(),
            store = %config.store.path.display(),
            "keepup is monitoring"
        );
        Ok(Daemon {
            monitor,
            listen,
            tls,
            stop,
            web,
        })
    }

    /// Stops the listener and the monitor, committing every result.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.web.await;
        self.monitor.shutdown().await;
    }
}

/// Raises the file-descriptor limit to the hard limit (the listener's
/// connections and the probes waiting on sockets are bounded by it) and
/// returns the limit in force, warning when it is lower than the hard limit
/// or than what `[server] max_connections` asks for.
fn raise_descriptor_limit(config: &Config) -> u64 {
    let Some(limit) = keepup_config::descriptors::raise_to_hard_limit() else {
        tracing::warn!("cannot read the file-descriptor limit; assuming 1024");
        return 1024;
    };
    if !limit.at_hard_limit() {
        tracing::warn!(
            descriptors = limit.soft,
            hard_limit = limit.hard,
            "cannot raise the file-descriptor limit to the hard limit"
        );
    }
    if let Some(max) = config.server.limits.max_connections
        && max as u64 > limit.soft
    {
        tracing::warn!(
            max_connections = max,
            descriptors = limit.soft,
            "server.max_connections is more than the file descriptors keepup got; connections beyond them will fail to be accepted"
        );
    }
    limit.soft
}

/// How often the daemon takes over the resolutions `keepup resolve`
/// wrote to the store (one indexed query over the open incidents).
const ADOPT_RESOLUTIONS_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// `keepup run`.
pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    // Locked before anything starts: a second daemon on this store would
    // probe, page and act beside the first, and the command line would
    // not know which one runs its actions.
    let pid = PidFile::lock(pid_file(&config.store.path))?;
    super::runtime()?.block_on(async move {
        let daemon = Daemon::start(config, ProbeContext::new()).await?;
        write_documents(&daemon.monitor);
        // Handlers first: `keepup reload` signals the pid it finds in the
        // file, and an unhandled SIGHUP would end the daemon.
        let mut hup = signal(SignalKind::hangup())?;
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        pid.write()?;
        // `keepup resolve` writes resolutions to the store beside the
        // daemon; they are taken over on this beat rather than on a signal,
        // which an older daemon (mid-upgrade) would not handle and die of.
        let mut adopt = tokio::time::interval(ADOPT_RESOLUTIONS_EVERY);
        adopt.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    reload_tls(daemon.tls.as_deref()).await;
                    reload(&daemon.monitor, path).await
                }
                _ = adopt.tick() => {
                    if let Err(e) = daemon.monitor.adopt_store_resolutions().await {
                        tracing::error!(error = %e, "resolutions from the command line not adopted");
                    }
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        tracing::info!("stopping: finishing runs in flight and committing results");
        daemon.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Reads the listener's certificate and key again; a pair that cannot be
/// used keeps the one in use.
async fn reload_tls(tls: Option<&keepup_web::tls::ListenerTls>) {
    let Some(tls) = tls else { return };
    match tokio::task::block_in_place(|| tls.reload()) {
        Ok(()) => tracing::info!("TLS certificate and key reloaded"),
        Err(e) => tracing::error!(
            error = %e,
            "TLS certificate not reloaded; the listener keeps the one in use"
        ),
    }
}

/// Reloads from disk; a broken file keeps the running configuration.
async fn reload(monitor: &Monitor, path: &Path) {
    let p = path.to_path_buf();
    let loaded = tokio::task::spawn_blocking(move || keepup_config::load(&p)).await;
    let new = match loaded {
        Ok(Ok(c)) => c,
        Ok(Err(problems)) => {
            for p in &problems.0 {
                tracing::error!(problem = %p, "configuration problem");
            }
            tracing::error!(
                count = problems.0.len(),
                "reload refused; the running configuration stays in force"
            );
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, "reload failed");
            return;
        }
    };
    let old = monitor.config();
    if old.server != new.server || old.store != new.store {
        tracing::warn!("[server] and [store] changes take effect at the next restart");
    }
    match monitor.reload(Arc::new(new)).await {
        Ok(s) => {
            tracing::info!(
                added = s.added,
                changed = s.changed,
                removed = s.removed,
                unchanged = s.unchanged,
                "configuration reloaded"
            );
            write_documents(monitor);
        }
        Err(e) => {
            tracing::error!(error = %e, "reload failed; the running configuration stays in force")
        }
    }
}

/// Writes the Recovery Plan document of each plan with a `document_dir`
/// from the configuration in force and the journal, so that the copy a
/// person reads when keepup is down matches the last configuration it ran.
fn write_documents(monitor: &Monitor) {
    let config = monitor.config();
    let now = keepup_model::Clock::now_ms(&SystemClock);
    let written = tokio::task::block_in_place(|| {
        keepup_recovery::document::write_configured(&config, Some(monitor.store()), now)
    });
    for (plan, result) in written {
        match result {
            Ok(w) => {
                tracing::info!(plan = %plan, html = %w.html.display(), markdown = %w.markdown.display(), "recovery plan document written")
            }
            Err(e) => {
                tracing::error!(plan = %plan, error = %e, "recovery plan document not written")
            }
        }
    }
}

/// The pid file, removed when the daemon exits. The daemon holds an
/// exclusive lock on it while it runs: how `keepup actions run` knows a
/// daemon holds the store (`reload::daemon_holds`), even after a crash
/// left the file behind.
struct PidFile(PathBuf, std::fs::File);

impl PidFile {
    /// Opens the pid file (never truncating it before the lock is ours:
    /// it may be another daemon's) and takes its exclusive lock, held
    /// while this process lives; refused while another keepup holds it.
    fn lock(path: PathBuf) -> anyhow::Result<PidFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open pid file {}", path.display()))?;
        // SAFETY: flock(2) on a descriptor `file` owns; the lock lives as
        // long as the descriptor, and dies with the process.
        let locked = unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        } == 0;
        if !locked {
            let other = std::fs::read_to_string(&path).unwrap_or_default();
            let other = other.trim();
            anyhow::bail!(
                "another keepup{} runs on this store (it holds {}); stop it first, or give this one a store of its own ([store] path)",
                if other.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {other})")
                },
                path.display()
            );
        }
        Ok(PidFile(path, file))
    }

    /// Writes this process's pid, once the signal handlers are in place
    /// (`keepup reload` signals the pid it reads there).
    fn write(&self) -> anyhow::Result<()> {
        let mut file = &self.1;
        file.set_len(0)
            .and_then(|()| std::io::Seek::rewind(&mut file))
            .and_then(|()| {
                std::io::Write::write_all(&mut file, format!("{}\n", std::process::id()).as_bytes())
            })
            .with_context(|| format!("cannot write pid file {}", self.0.display()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Ours: the lock was taken before anything else ran.
        let _ = std::fs::remove_file(&self.0);
    }
}
