//! The Debian `restic`, the tests' independent reader of the repositories
//! keepup writes, and the repository files tests damage on purpose.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `restic -r REPO --password-file FILE --no-cache`, without restic's own
/// `RESTIC_PASSWORD` and `RESTIC_REPOSITORY` from the environment (so a
/// developer's settings cannot leak into a test). Add global options and
/// the subcommand with `.args(..)`.
pub fn command(repo: impl AsRef<OsStr>, password_file: &Path) -> Command {
    let mut cmd = Command::new("restic");
    cmd.arg("-r")
        .arg(repo)
        .arg("--password-file")
        .arg(password_file)
        .arg("--no-cache")
        .env_remove("RESTIC_PASSWORD")
        .env_remove("RESTIC_REPOSITORY");
    cmd
}

/// Runs a restic command and returns its stdout, or an error quoting its
/// arguments, exit status, stdout and stderr when it fails or cannot start.
pub fn run(cmd: &mut Command) -> io::Result<String> {
    let args: Vec<_> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let out = cmd.output().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot run restic (Debian package restic; scripts/test.sh installs it): {e}"),
        )
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "restic {args:?} failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(stdout)
}

/// The pack files (`data/*/*`) of a local repository, sorted by path.
pub fn pack_files(repo: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in fs::read_dir(repo.join("data"))? {
        for file in fs::read_dir(dir?.path())? {
            out.push(file?.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Flips 16 bytes in the middle of the largest pack of a local repository
/// (file data, so reading it back fails its authentication code) and
/// returns the pack's path. Packs are written read-only; it is made
/// writable first.
pub fn damage_largest_pack(repo: &Path) -> io::Result<PathBuf> {
    let mut largest: Option<(u64, PathBuf)> = None;
    for pack in pack_files(repo)? {
        let len = fs::metadata(&pack)?.len();
        if largest.as_ref().is_none_or(|(l, _)| len > *l) {
            largest = Some((len, pack));
        }
    }
    let (_, pack) = largest.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} has no pack file", repo.display()),
        )
    })?;
    let mut data = fs::read(&pack)?;
    let mid = data.len() / 2;
    let end = (mid + 16).min(data.len());
    data[mid..end].iter_mut().for_each(|b| *b ^= 0xff);
    fs::set_permissions(&pack, fs::Permissions::from_mode(0o600))?;
    fs::write(&pack, &data)?;
    Ok(pack)
}
