//! Repository targets end to end: keepup writes a repository through each
//! backend (local directory, SFTP over a real OpenSSH server, REST served by
//! `rclone serve restic`), then the Debian `restic` lists the snapshot,
//! checks every byte (`check --read-data`) and restores identical files; and
//! the reverse (restic writes, keepup reads). Bad input: wrong password,
//! unreachable or wrong SFTP host, hostile REST servers, missing and
//! read-only local targets. Everything on loopback, in temporary
//! directories.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keepup_backup::backend::{
    Location, Secret, SftpBackend, TargetAccess, TargetOptions, open_backend,
};
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::random;
use keepup_testkit::rclone::RcloneRestServer;
use keepup_testkit::restic;
use keepup_testkit::sshd::Sshd;
use keepup_testkit::tree::{self, make_shop_tree, read_tree};
use keepup_testkit::{CertAuthority, TestServer};
use rustic_core::{
    BackupOptions, CheckOptions, ConfigOptions, Credentials, FileType, KeyOptions,
    LocalDestination, LsOptions, PathList, Repository, RepositoryBackends, RepositoryOptions,
    RestoreOptions, SnapshotOptions, WriteBackend,
};

const PASSWORD: &str = "correct horse battery staple";

// ---------------------------------------------------------------- helpers

/// The trees of `expected` and `got` are the same.
fn assert_same_tree(expected: &Path, got: &Path) {
    tree::assert_same_tree(&read_tree(expected).unwrap(), &read_tree(got).unwrap());
}

/// Initialises a repository through `be` and backs up `src`; returns the
/// snapshot id.
fn init_and_backup(be: Arc<dyn WriteBackend>, src: &Path) -> String {
    be.create().unwrap();
    let backends = RepositoryBackends::new(be, None);
    let repo = Repository::new(&RepositoryOptions::default(), &backends)
        .unwrap()
        .init(
            &Credentials::Password(PASSWORD.into()),
            &KeyOptions::default(),
            &ConfigOptions::default(),
        )
        .unwrap()
        .to_indexed_ids()
        .unwrap();
    let snap = SnapshotOptions::default()
        .add_tags("keepup-test")
        .unwrap()
        .to_snapshot()
        .unwrap();
    let source = PathList::from_string(src.to_str().unwrap())
        .unwrap()
        .sanitize()
        .unwrap();
    let snap = repo
        .backup(&BackupOptions::default(), &source, snap)
        .unwrap();
    snap.id.to_hex().as_str().to_owned()
}

/// Opens the repository through `be`, checks all data, restores the latest
/// snapshot into `dest` (with rustic_core, through the backend).
fn open_check_restore(be: Arc<dyn WriteBackend>, dest: &Path) -> usize {
    let backends = RepositoryBackends::new(be, None);
    let repo = Repository::new(&RepositoryOptions::default(), &backends)
        .unwrap()
        .open(&Credentials::Password(PASSWORD.into()))
        .unwrap();
    let snaps = repo.get_all_snapshots().unwrap();
    let check = repo.check(CheckOptions::default().read_data(true)).unwrap();
    check.is_ok().unwrap();
    let repo = repo.to_indexed().unwrap();
    let node = repo.node_from_snapshot_path("latest", |_| true).unwrap();
    let ls = repo.ls(&node, &LsOptions::default()).unwrap();
    let dest_str = format!("{}/", dest.display());
    let dest = LocalDestination::new(&dest_str, true, !node.is_dir()).unwrap();
    let opts = RestoreOptions::default();
    let plan = repo
        .prepare_restore(&opts, ls.clone(), &dest, false)
        .unwrap();
    repo.restore(plan, &opts, ls, &dest).unwrap();
    snaps.len()
}

/// Runs the Debian `restic` on `repo` with the test password; `extra` are
/// global options (e.g. `-o sftp.command=...`). Panics with its output when
/// it fails.
fn restic(repo: &str, extra: &[String], args: &[&str], work: &Path) -> String {
    let pw = work.join("restic-password");
    std::fs::write(&pw, PASSWORD).unwrap();
    restic::run(restic::command(repo, &pw).args(extra).args(args)).unwrap_or_else(|e| panic!("{e}"))
}

/// restic lists snapshot `id`, checks every pack, restores files identical
/// to `src`.
fn restic_verifies(repo: &str, extra: &[String], id: &str, src: &Path, work: &Path) {
    let list = restic(repo, extra, &["snapshots", "--json"], work);
    let snaps: serde_json::Value = serde_json::from_str(&list).unwrap();
    let ids: Vec<&str> = snaps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id], "restic lists the snapshot keepup wrote");
    let check = restic(repo, extra, &["check", "--read-data"], work);
    assert!(check.contains("no errors were found"), "{check}");
    let target = work.join("restic-restore");
    restic(
        repo,
        extra,
        &["restore", "latest", "--target", target.to_str().unwrap()],
        work,
    );
    // restic restores the absolute path under the target.
    let restored = target.join(src.strip_prefix("/").unwrap());
    assert_same_tree(src, &restored);
}

fn work_dirs() -> (tempfile::TempDir, PathBuf) {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("shop-files");
    make_shop_tree(&src).unwrap();
    (work, src)
}

fn error_text(e: &rustic_core::RusticError) -> String {
    e.to_string()
}

// ---------------------------------------------------------------- local

#[test]
fn local_target_is_read_by_restic() {
    let (work, src) = work_dirs();
    let repo_dir = work.path().join("repo");
    let loc = Location::parse(repo_dir.to_str().unwrap()).unwrap();
    let be = open_backend(&loc, &TargetOptions::default()).unwrap();
    let id = init_and_backup(be, &src);
    restic_verifies(repo_dir.to_str().unwrap(), &[], &id, &src, work.path());
}

/// keepup's chunker (rustic_core on our `rustic_cdc` drop-in, crates/rabin)
/// cuts files exactly where restic's does: after keepup backed a tree up,
/// restic re-reading every file (`--force`) into the same repository finds
/// no data blob it does not already have.
#[test]
fn chunk_boundaries_are_restics() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("media");
    std::fs::create_dir_all(&src).unwrap();
    // Several chunks each (the minimum chunk is 512 KiB, the mean 1 MiB),
    // and small files, each chunked by a fresh hash.
    std::fs::write(src.join("video.bin"), random::bytes(1, 9 << 20)).unwrap();
    std::fs::write(src.join("catalogue.bin"), random::bytes(2, 3 << 20)).unwrap();
    for i in 0..20 {
        let thumb = random::bytes(100 + i, 1000 + i as usize * 700);
        std::fs::write(src.join(format!("thumb-{i}.bin")), thumb).unwrap();
    }
    let repo_dir = work.path().join("repo");
    let loc = Location::parse(repo_dir.to_str().unwrap()).unwrap();
    let be = open_backend(&loc, &TargetOptions::default()).unwrap();
    init_and_backup(be, &src);

    let out = restic(
        repo_dir.to_str().unwrap(),
        &[],
        &["backup", "--force", "--json", src.to_str().unwrap()],
        work.path(),
    );
    let summary: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .unwrap_or_else(|| panic!("no summary from restic backup: {out}"));
    assert_eq!(summary["total_files_processed"], 22, "{summary}");
    assert_eq!(
        summary["data_blobs"], 0,
        "restic chunked differently and stored new blobs: {summary}"
    );
}

#[test]
fn missing_local_target_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let repo_dir = work.path().join("not-mounted");
    let loc = Location::parse(&format!("local:{}", repo_dir.display())).unwrap();
    let be = open_backend(&loc, &TargetOptions::default()).unwrap();
    let backends = RepositoryBackends::new(be, None);
    let err = Repository::new(&RepositoryOptions::default(), &backends)
        .unwrap()
        .open(&Credentials::Password(PASSWORD.into()))
        .expect_err("opening a missing directory fails");
    let text = error_text(&err);
    assert!(text.contains("does not exist"), "{text}");
    assert!(text.contains(repo_dir.to_str().unwrap()), "{text}");
    assert!(!repo_dir.exists(), "the directory must not be created");
}

#[test]
fn wrong_password_is_a_clear_error() {
    let (work, src) = work_dirs();
    let repo_dir = work.path().join("repo");
    let loc = Location::parse(repo_dir.to_str().unwrap()).unwrap();
    let opts = TargetOptions::default();
    init_and_backup(open_backend(&loc, &opts).unwrap(), &src);
    let backends = RepositoryBackends::new(open_backend(&loc, &opts).unwrap(), None);
    let err = Repository::new(&RepositoryOptions::default(), &backends)
        .unwrap()
        .open(&Credentials::Password("wrong password".into()))
        .expect_err("a wrong password fails");
    assert!(err.is_incorrect_password(), "{err}");
    assert!(!err.to_string().contains("wrong password"), "{err}");
}

// ---------------------------------------------------------------- REST

fn rest_opts(password: Option<&str>) -> TargetOptions {
    TargetOptions {
        access: TargetAccess {
            rest_password: password.map(|p| Secret::new(p.to_owned())),
            ..TargetAccess::default()
        },
        ..TargetOptions::default()
    }
}

#[test]
fn rest_target_is_read_by_restic() {
    let server = RcloneRestServer::start(Some(("backup", "s3cr3t-pass"))).unwrap();
    let (work, src) = work_dirs();
    let loc = Location::parse(&server.location("shop")).unwrap();
    let be = open_backend(&loc, &rest_opts(Some("s3cr3t-pass"))).unwrap();
    let id = init_and_backup(be, &src);
    assert!(server.dir().join("shop").join("config").is_file());
    restic_verifies(
        &server.location_with_password("shop", "s3cr3t-pass"),
        &[],
        &id,
        &src,
        work.path(),
    );
}

#[test]
fn restic_written_rest_repository_is_read_by_keepup() {
    let server = RcloneRestServer::start(None).unwrap();
    let (work, src) = work_dirs();
    let repo = server.location("written-by-restic");
    restic(&repo, &[], &["init"], work.path());
    restic(&repo, &[], &["backup", src.to_str().unwrap()], work.path());
    let loc = Location::parse(&repo).unwrap();
    let be = open_backend(&loc, &TargetOptions::default()).unwrap();
    let dest = work.path().join("keepup-restore");
    assert_eq!(open_check_restore(be, &dest), 1);
    assert_same_tree(&src, &dest.join(src.strip_prefix("/").unwrap()));
}

#[test]
fn rest_wrong_credentials_are_a_clear_error() {
    let server = RcloneRestServer::start(Some(("backup", "right"))).unwrap();
    let loc = Location::parse(&server.location("shop")).unwrap();
    let be = open_backend(&loc, &rest_opts(Some("Pw-wr0ng-XYZ"))).unwrap();
    let err = be.create().unwrap_err().to_string();
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!err.contains("Pw-wr0ng-XYZ"), "the password leaked: {err}");
}

#[test]
fn rest_unreachable_is_a_clear_error_in_bounded_time() {
    // A port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let loc = Location::parse(&format!("rest:http://127.0.0.1:{port}/repo/")).unwrap();
    let opts = TargetOptions {
        attempts: 2,
        ..TargetOptions::default()
    };
    let be = open_backend(&loc, &opts).unwrap();
    let started = Instant::now();
    let err = be.list(FileType::Snapshot).unwrap_err().to_string();
    assert!(err.contains("cannot connect"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("after 2 attempts"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

// ---------------------------------------------------------------- SFTP

fn sftp_opts(sshd: &Sshd) -> TargetOptions {
    TargetOptions {
        access: TargetAccess {
            ssh_identity_file: Some(sshd.identity_file()),
            ssh_known_hosts_file: Some(sshd.known_hosts_file()),
            ..TargetAccess::default()
        },
        ..TargetOptions::default()
    }
}

#[test]
fn sftp_target_is_read_by_restic() {
    let sshd = Sshd::start().unwrap();
    let (work, src) = work_dirs();
    let loc = Location::parse(&sshd.location("shop")).unwrap();
    let be = open_backend(&loc, &sftp_opts(&sshd)).unwrap();
    let id = init_and_backup(be, &src);
    let repo_dir = sshd.storage_dir().join("shop");
    // restic's layout, and no temporary file left behind.
    for d in ["keys", "snapshots", "index", "locks", "data/00", "data/ff"] {
        assert!(repo_dir.join(d).is_dir(), "{d}");
    }
    let leftovers: Vec<_> = walk_names(&repo_dir)
        .into_iter()
        .filter(|n| n.contains("-tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let repo = format!("sftp:{}@127.0.0.1:{}", sshd.user(), repo_dir.display());
    let extra = vec![
        "-o".to_owned(),
        format!("sftp.command={}", sshd.sftp_command()),
    ];
    restic_verifies(&repo, &extra, &id, &src, work.path());
}

fn walk_names(dir: &Path) -> Vec<String> {
    read_tree(dir)
        .unwrap()
        .keys()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sftp_reconnects_after_the_connection_dies() {
    let sshd = Sshd::start().unwrap();
    let (work, src) = work_dirs();
    let loc = Location::parse(&sshd.location("shop")).unwrap();
    let sftp = Arc::new(SftpBackend::new(&loc, &sftp_opts(&sshd)).unwrap());
    init_and_backup(sftp.clone(), &src);
    sftp.kill_connection();
    let dest = work.path().join("restore");
    assert_eq!(open_check_restore(sftp, &dest), 1);
    assert_same_tree(&src, &dest.join(src.strip_prefix("/").unwrap()));
}

/// The error of a first operation on `loc`, and how long it took.
fn first_error(loc: &str, opts: &TargetOptions) -> (String, Duration) {
    let be = open_backend(&Location::parse(loc).unwrap(), opts).unwrap();
    let started = Instant::now();
    let err = be.list(FileType::Snapshot).unwrap_err().to_string();
    (err, started.elapsed())
}

#[test]
fn sftp_wrong_port_is_a_clear_error_in_bounded_time() {
    let sshd = Sshd::start().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let opts = TargetOptions {
        attempts: 2,
        ..sftp_opts(&sshd)
    };
    let (err, took) = first_error(
        &format!("sftp://{}@127.0.0.1:{port}//srv/r", sshd.user()),
        &opts,
    );
    assert!(
        err.contains(&format!("ssh to {}@127.0.0.1:{port} failed", sshd.user())),
        "{err}"
    );
    assert!(
        err.contains("Connection refused"),
        "ssh's stderr is quoted: {err}"
    );
    assert!(err.contains("after 2 attempts"), "{err}");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn sftp_silent_host_is_a_clear_error_in_bounded_time() {
    // Accepts TCP, never sends the SSH banner.
    let silent = HostileServer::start_background(Behaviour::Silent).unwrap();
    let opts = TargetOptions {
        attempts: 1,
        connect_timeout: Duration::from_secs(2),
        ..TargetOptions::default()
    };
    let (err, took) = first_error(
        &format!("sftp://backup@127.0.0.1:{}//srv/r", silent.port()),
        &opts,
    );
    assert!(
        err.contains(&format!("ssh to backup@127.0.0.1:{}", silent.port())),
        "{err}"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn sftp_unknown_host_key_is_refused() {
    let sshd = Sshd::start().unwrap();
    let work = tempfile::tempdir().unwrap();
    let empty = work.path().join("known_hosts");
    std::fs::write(&empty, "").unwrap();
    let opts = {
        let mut opts = sftp_opts(&sshd);
        opts.access.ssh_known_hosts_file = Some(empty);
        opts.attempts = 1;
        opts
    };
    let (err, _) = first_error(&sshd.location("shop"), &opts);
    assert!(
        err.contains("failed: the server's host key is not in ssh_known_hosts_file (or differs from the one there): add the key after checking it, e.g. with ssh-keyscan (ssh said: "),
        "{err}"
    );
    assert!(err.contains("Host key verification failed"), "{err}");
}

#[test]
fn sftp_wrong_key_is_refused() {
    let sshd = Sshd::start().unwrap();
    let other = Sshd::start().unwrap();
    let mut opts = sftp_opts(&sshd);
    // A key the server does not know.
    opts.access.ssh_identity_file = Some(other.identity_file());
    opts.attempts = 1;
    let (err, _) = first_error(&sshd.location("shop"), &opts);
    assert!(
        err.contains(
            "failed: the server refused the login: check the user in the location and the key in ssh_identity_file (its public key must be in the server's authorized_keys) (ssh said: "
        ),
        "{err}"
    );
    assert!(err.contains("Permission denied"), "{err}");
}

// ---------------------------------------------------------------- REST over TLS

#[test]
fn rest_over_https_trusts_the_ca_file_only() {
    let ca = CertAuthority::new("keepup test root").unwrap();
    let leaf = ca
        .issue(&["127.0.0.1"], keepup_testkit::pki::validity::current())
        .unwrap();
    let (_pem_dir, pem) = leaf.write_to_temp_dir().unwrap();
    let ca_file = ca.root_pem_file().unwrap();
    let server = RcloneRestServer::start_with(None, Some((&pem.chain, &pem.key))).unwrap();
    let (work, src) = work_dirs();
    let loc = Location::parse(&server.location("tls")).unwrap();
    assert!(loc.to_string().starts_with("rest:https://"));

    // Without the CA: a certificate error, not retried.
    let be = open_backend(
        &loc,
        &TargetOptions {
            attempts: 3,
            ..TargetOptions::default()
        },
    )
    .unwrap();
    let err = be.create().unwrap_err().to_string();
    assert!(
        err.contains("TLS handshake with 127.0.0.1 failed: the certificate for 127.0.0.1 is not issued by a certificate authority keepup trusts (self-signed or from a private CA?): add its CA with `ca_file`"),
        "{err}"
    );
    assert!(
        !err.contains("attempts"),
        "certificate errors are not retried: {err}"
    );

    // With it: a repository restic (trusting the same CA) reads.
    let opts = TargetOptions {
        access: TargetAccess {
            ca_file: Some(ca_file.path().to_owned()),
            ..TargetAccess::default()
        },
        ..TargetOptions::default()
    };
    let id = init_and_backup(open_backend(&loc, &opts).unwrap(), &src);
    let extra = vec!["--cacert".to_owned(), ca_file.path().display().to_string()];
    restic_verifies(&server.location("tls"), &extra, &id, &src, work.path());
}

#[test]
fn rest_bad_ca_file_is_refused_at_setup() {
    let work = tempfile::tempdir().unwrap();
    let loc = Location::parse("rest:https://127.0.0.1:1/r/").unwrap();
    let not_pem = work.path().join("ca.pem");
    std::fs::write(&not_pem, "this is no certificate").unwrap();
    for (path, want) in [
        (not_pem, "no certificate in the file"),
        (work.path().join("missing.pem"), "No such file"),
    ] {
        let err = open_backend(
            &loc,
            &TargetOptions {
                access: TargetAccess {
                    ca_file: Some(path),
                    ..TargetAccess::default()
                },
                ..TargetOptions::default()
            },
        )
        .expect_err("a bad CA file is refused")
        .to_string();
        assert!(err.contains(want), "{err}");
    }
}

// ---------------------------------------------------------------- hostile REST servers

fn quick_opts(attempts: u32) -> TargetOptions {
    TargetOptions {
        attempts,
        connect_timeout: Duration::from_secs(2),
        io_timeout: Duration::from_secs(2),
        ..TargetOptions::default()
    }
}

#[test]
fn rest_server_errors_are_retried_then_reported() {
    let server = TestServer::start_background(|_req| async {
        keepup_testkit::http::text(503, "backend storage offline")
    })
    .unwrap();
    let loc = Location::parse(&format!("rest:http://{}/repo/", server.addr())).unwrap();
    let be = open_backend(&loc, &quick_opts(3)).unwrap();
    let err = be.list(FileType::Snapshot).unwrap_err().to_string();
    assert!(err.contains("HTTP 503"), "{err}");
    assert!(err.contains("backend storage offline"), "{err}");
    assert!(err.contains("after 3 attempts"), "{err}");
    assert_eq!(server.requests(), 3, "5xx is retried");
}

#[test]
fn rest_client_errors_are_not_retried() {
    let server = TestServer::start_background(|_req| async {
        keepup_testkit::http::text(403, "forbidden\u{1b}[31m")
    })
    .unwrap();
    let loc = Location::parse(&format!("rest:http://{}/repo/", server.addr())).unwrap();
    let be = open_backend(&loc, &quick_opts(3)).unwrap();
    let err = be.list(FileType::Index).unwrap_err().to_string();
    assert!(err.contains("HTTP 403"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "control characters are dropped: {err:?}"
    );
    assert_eq!(server.requests(), 1, "4xx is not retried");
}

#[test]
fn rest_garbage_listing_is_a_clear_error() {
    let server = TestServer::start_background(|_req| async {
        keepup_testkit::http::json(200, "<html>surprise</html>")
    })
    .unwrap();
    let loc = Location::parse(&format!("rest:http://{}/repo/", server.addr())).unwrap();
    let be = open_backend(&loc, &quick_opts(1)).unwrap();
    let err = be.list(FileType::Snapshot).unwrap_err().to_string();
    assert!(err.contains("not a restic REST v2 listing"), "{err}");
    assert!(err.contains("surprise"), "{err}");
}

#[test]
fn rest_short_ranged_read_is_an_error() {
    // Answers every ranged read with fewer bytes than asked.
    let server =
        TestServer::start_background(|_req| async { keepup_testkit::http::text(206, "abc") })
            .unwrap();
    let loc = Location::parse(&format!("rest:http://{}/repo/", server.addr())).unwrap();
    let be = open_backend(&loc, &quick_opts(1)).unwrap();
    let id = rustic_core::Id::default();
    let err = be
        .read_partial(FileType::Pack, &id, false, 10, 100)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("asked for 100 bytes at offset 10, got 3"),
        "{err}"
    );
}

#[test]
fn rest_hostile_peers_fail_in_bounded_time() {
    for (behaviour, want) in [
        (Behaviour::Silent, "no answer within"),
        (Behaviour::Garbage, "request failed"),
        (Behaviour::CloseImmediately, "request failed"),
        (Behaviour::EndlessHeaders, "request failed"),
        // A head in byte steps: never complete in time.
        (
            Behaviour::Trickle {
                interval: Duration::from_millis(300),
            },
            "no answer within",
        ),
        // A quick head, then a body at 100 bytes/s.
        (
            Behaviour::Trickle {
                interval: Duration::from_millis(10),
            },
            "response body too slow",
        ),
    ] {
        let server = HostileServer::start_background(behaviour.clone()).unwrap();
        let loc = Location::parse(&format!("rest:http://{}/repo/", server.addr())).unwrap();
        let be = open_backend(&loc, &quick_opts(2)).unwrap();
        let started = Instant::now();
        let err = be.list(FileType::Snapshot).unwrap_err().to_string();
        assert!(err.contains(want), "{behaviour:?}: {err}");
        assert!(err.contains("after 2 attempts"), "{behaviour:?}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{behaviour:?}: {:?}",
            started.elapsed()
        );
    }
}

// ---------------------------------------------------------------- read-only local target

/// A read-only bind mount of a directory over itself, undone on drop.
struct ReadOnlyMount(PathBuf);

impl ReadOnlyMount {
    fn new(dir: &Path) -> Self {
        let out = Command::new("mount")
            .args(["--bind", "-o", "ro"])
            .arg(dir)
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "read-only bind mount (needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_owned())
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn read_only_local_target_fails_clearly_and_keeps_the_repository() {
    let (work, src) = work_dirs();
    let repo_dir = work.path().join("repo");
    let loc = Location::parse(repo_dir.to_str().unwrap()).unwrap();
    let id = init_and_backup(open_backend(&loc, &TargetOptions::default()).unwrap(), &src);
    std::fs::write(src.join("new-file.txt"), "written after the first backup").unwrap();
    {
        let _ro = ReadOnlyMount::new(&repo_dir);
        let backends =
            RepositoryBackends::new(open_backend(&loc, &TargetOptions::default()).unwrap(), None);
        let repo = Repository::new(&RepositoryOptions::default(), &backends)
            .unwrap()
            .open(&Credentials::Password(PASSWORD.into()))
            .unwrap()
            .to_indexed_ids()
            .unwrap();
        let source = PathList::from_string(src.to_str().unwrap())
            .unwrap()
            .sanitize()
            .unwrap();
        let err = repo
            .backup(
                &BackupOptions::default(),
                &source,
                SnapshotOptions::default().to_snapshot().unwrap(),
            )
            .expect_err("a backup into a read-only target fails")
            .to_string();
        assert!(err.contains("Read-only file system"), "{err}");
        assert!(err.contains(repo_dir.to_str().unwrap()), "{err}");
    }
    // The earlier snapshot is intact and the repository consistent.
    let list = restic(
        repo_dir.to_str().unwrap(),
        &[],
        &["snapshots", "--json"],
        work.path(),
    );
    assert!(list.contains(&id), "{list}");
    let check = restic(repo_dir.to_str().unwrap(), &[], &["check"], work.path());
    assert!(check.contains("no errors were found"), "{check}");
}

#[test]
fn rest_server_ignoring_range_still_reads_the_right_bytes() {
    let whole: Vec<u8> = (0..=255u8).collect();
    let body = whole.clone();
    let server = TestServer::start_background(move |_req| {
        let body = body.clone();
        async move { keepup_testkit::http::text(200, body) }
    })
    .unwrap();
    let loc = Location::parse(&format!("rest:http://{}/repo/", server.addr())).unwrap();
    let be = open_backend(&loc, &quick_opts(1)).unwrap();
    let got = be
        .read_partial(FileType::Pack, &rustic_core::Id::default(), false, 10, 100)
        .unwrap();
    assert_eq!(&got[..], &whole[10..110]);
    let ranges: Vec<_> = server
        .received()
        .iter()
        .filter_map(|r| r.headers.get("range").cloned())
        .collect();
    assert_eq!(ranges, ["bytes=10-109"]);
}
