//! Shared helpers of the backup engine tests: temp fixtures, plans from
//! real configuration text, generated trees, tree digests, and the Debian
//! `restic` binary for interop.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use keepup_backup::{NoProgress, Progress, RunOptions};
use keepup_config::BackupPlan;
use sha2::{Digest, Sha256};

/// A temp directory with a repository password file.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub password_file: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("keepup-backup-test-")
            .tempdir()
            .expect("temp dir");
        let password_file = dir.path().join("repo.pass");
        std::fs::write(&password_file, "test repo password\n").expect("password file");
        Self { dir, password_file }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// An empty directory for a repository.
    pub fn repo_dir(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(&p).expect("repo dir");
        p
    }

    /// The first plan of `[[backup]]` text (the plan's password is added).
    pub fn plan(&self, body: &str) -> BackupPlan {
        let src = body.replacen(
            "[[backup]]\n",
            &format!(
                "[[backup]]\npassword_file = \"{}\"\n",
                self.password_file.display()
            ),
            1,
        );
        let path = self.path("keepup.toml");
        std::fs::write(&path, &src).expect("config");
        let config = keepup_config::load(&path).unwrap_or_else(|p| panic!("{p}\n{src}"));
        config.backups.into_iter().next().expect("a plan")
    }

    /// `restic -r REPO --password-file ... ARGS`, output returned.
    pub fn restic(&self, repo: &Path, args: &[&str]) -> Output {
        restic(repo, &self.password_file, args)
    }

    /// Like [`Fixture::restic`], and it must succeed.
    pub fn restic_ok(&self, repo: &Path, args: &[&str]) -> String {
        keepup_testkit::restic::run(
            keepup_testkit::restic::command(repo, &self.password_file).args(args),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `restic check --read-data` passes.
    pub fn restic_check(&self, repo: &Path) {
        self.restic_ok(repo, &["check", "--read-data"]);
    }

    /// The snapshots restic sees, as JSON values.
    pub fn restic_snapshots(&self, repo: &Path) -> Vec<serde_json::Value> {
        let out = self.restic_ok(repo, &["snapshots", "--json"]);
        serde_json::from_str(&out).expect("restic snapshots --json")
    }
}

pub fn restic(repo: &Path, password_file: &Path, args: &[&str]) -> Output {
    keepup_testkit::restic::command(repo, password_file)
        .args(args)
        .output()
        .expect("the Debian `restic` package must be installed (scripts/test.sh installs it)")
}

pub fn progress() -> Arc<dyn Progress> {
    Arc::new(NoProgress)
}

/// No retry pauses in tests.
pub fn quick() -> RunOptions {
    RunOptions {
        retry_delay: std::time::Duration::from_millis(10),
        attempts: 2,
        ..RunOptions::default()
    }
}

/// Runs a plan with one target (`quick()`); its error, `None` when a
/// snapshot was recorded.
pub fn run_one_target(plan: &BackupPlan) -> Option<String> {
    let report = keepup_backup::run_plan_with(plan, None, &quick(), progress());
    let t = &report.targets[0];
    assert_eq!(t.error.is_none(), t.snapshot.is_some(), "{report:#?}");
    t.error.clone()
}

/// The file `/<plan id>/<filename>` of the latest snapshot on target
/// `local` (a command's or dump's output).
pub fn stored_stream(plan: &BackupPlan, filename: &str) -> Vec<u8> {
    let mut out = Vec::new();
    keepup_backup::restore(
        plan,
        "local",
        &keepup_backup::SnapshotRef::Latest,
        keepup_backup::RestoreTo::File {
            path: format!("/{}/{filename}", plan.id),
            writer: &mut out,
        },
        progress(),
    )
    .expect("restore the stored file");
    out
}

pub use keepup_testkit::random::Rng;

/// A shop-like tree: nested directories, files of mixed sizes (empty,
/// small text, binary up to `max_size`), a symlink.
pub fn generate_tree(root: &Path, seed: u64, files: usize, max_size: usize) {
    let mut rng = Rng::new(seed);
    for i in 0..files {
        let depth = rng.below(3);
        let mut dir = root.to_path_buf();
        for d in 0..depth {
            dir.push(format!("dir{}-{}", d, rng.below(4)));
        }
        std::fs::create_dir_all(&dir).unwrap();
        let size = match i % 5 {
            0 => 0,
            1 => rng.below(200) as usize,
            2 => rng.below(20_000) as usize,
            _ => rng.below(max_size as u64) as usize,
        };
        let mut data = vec![0u8; size];
        if i % 2 == 0 {
            rng.fill(&mut data);
        } else {
            // Compressible text.
            for (k, b) in data.iter_mut().enumerate() {
                *b = b"order;customer;total\n"[k % 21];
            }
        }
        std::fs::write(dir.join(format!("file-{i}.dat")), &data).unwrap();
    }
    std::os::unix::fs::symlink("dir0-1/../file-1.dat", root.join("link")).unwrap();
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
}

/// Random bytes from the kernel, fast, for big files.
pub fn urandom_file(path: &Path, bytes: usize) {
    let mut f = std::fs::File::create(path).unwrap();
    let mut src = std::fs::File::open("/dev/urandom").unwrap();
    let mut left = bytes;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let n = left.min(buf.len());
        std::io::Read::read_exact(&mut src, &mut buf[..n]).unwrap();
        f.write_all(&buf[..n]).unwrap();
        left -= n;
    }
}

/// Relative path → what is there (file: sha256; symlink: target; dir).
pub fn digest(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.file_type().is_symlink() {
            out.insert(
                rel,
                format!("link:{}", std::fs::read_link(&p).unwrap().display()),
            );
        } else if meta.is_dir() {
            out.insert(rel, "dir".into());
            walk(root, &p, out);
        } else {
            out.insert(rel, sha256_file(&p));
        }
    }
}

pub fn sha256_file(p: &Path) -> String {
    let data = std::fs::read(p).unwrap();
    sha256(&data)
}

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Files under `data/` of a repository (none if it has no `data/`).
pub fn pack_files(repo: &Path) -> Vec<PathBuf> {
    keepup_testkit::restic::pack_files(repo).unwrap_or_default()
}
