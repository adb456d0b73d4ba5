//! SFTP against a server that stops answering or announces a size no
//! repository file has (private sshd from testkit): a request that times
//! out is retried on a new connection instead of being taken for the
//! server's refusal, and a whole-file read never believes a size beyond
//! what a repository file can have.

use std::time::Duration;

use bytes::Bytes;
use keepup_backup::backend::{Location, TargetAccess, TargetOptions, open_backend};
use keepup_testkit::sshd::Sshd;
use rustic_core::{FileType, Id};

fn opts(sshd: &Sshd) -> TargetOptions {
    TargetOptions {
        access: TargetAccess {
            ssh_identity_file: Some(sshd.identity_file()),
            ssh_known_hosts_file: Some(sshd.known_hosts_file()),
            ..TargetAccess::default()
        },
        io_timeout: Duration::from_secs(2),
        attempts: 3,
        ..TargetOptions::default()
    }
}

/// Every process below `root` (by parent pid).
fn descendants(root: u32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces.
            let after = &stat[stat.rfind(')')? + 2..];
            let ppid: i32 = after.split(' ').nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root as i32];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

fn signal(pids: &[i32], sig: i32) {
    for &pid in pids {
        // SAFETY: kill(2) on the test's own sshd session processes.
        unsafe { libc::kill(pid, sig) };
    }
}

/// The session serving keepup is stopped (SIGSTOP): its requests time out.
/// The read must succeed on a fresh connection, not fail as a refusal.
#[test]
fn a_silent_sftp_session_is_replaced_and_the_request_retried() {
    let sshd = Sshd::start().expect("sshd");
    let loc = Location::parse(&sshd.location("repo")).unwrap();
    let be = open_backend(&loc, &opts(&sshd)).unwrap();
    be.create().expect("create the repository layout");
    let id = Id::random();
    let content = Bytes::from_static(b"a key file, as far as this test goes");
    be.write_bytes(FileType::Key, &id, false, content.clone().into())
        .expect("write");

    let sessions = descendants(sshd.pid());
    assert!(!sessions.is_empty(), "keepup's session runs under sshd");
    signal(&sessions, libc::SIGSTOP);
    let read = be.read_full(FileType::Key, &id);
    signal(&sessions, libc::SIGCONT);
    assert_eq!(read.expect("read on a new connection"), content);
    // A new session served it.
    assert!(
        descendants(sshd.pid())
            .iter()
            .any(|p| !sessions.contains(p)),
        "a second session was opened"
    );
}

/// A repository file the server reports at 2 GiB (a sparse file): refused
/// with the size named, not allocated and read.
#[test]
fn a_whole_file_read_refuses_a_size_no_repository_file_has() {
    let sshd = Sshd::start().expect("sshd");
    let loc = Location::parse(&sshd.location("repo")).unwrap();
    let be = open_backend(&loc, &opts(&sshd)).unwrap();
    be.create().expect("create the repository layout");
    let id = Id::random();
    let path = sshd
        .storage_dir()
        .join("repo/snapshots")
        .join(id.to_hex().as_str());
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(2 << 30).unwrap();
    let err = be
        .read_full(FileType::Snapshot, &id)
        .expect_err("a 2 GiB snapshot file must be refused");
    let text = err.to_string();
    eprintln!("{text}");
    assert!(text.contains("2147483648 bytes"), "{text}");
    assert!(
        text.contains("more than any repository file may have"),
        "{text}"
    );
}
