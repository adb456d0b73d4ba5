//! Space and inodes of the mounts, by `statvfs`, each bounded in time.
//!
//! A `statvfs` on a hung network mount blocks in the kernel and cannot be
//! cancelled: the blocking thread it holds stays until the server answers.
//! So a mount whose call timed out is marked pending and not asked again
//! until that call returns (it is named in `problems` meanwhile): one
//! stuck thread per hung mount, not one per collection, which would soon
//! fill tokio's blocking pool and stall every mount. The mounts are asked
//! all at once, so k hung mounts cost one timeout, not k.

use std::collections::HashSet;
use std::ffi::CString;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use keepup_model::host::Mount;

use crate::procfs;

/// How long one file system may take to answer `statvfs` (a hung network
/// mount must not stop the whole collection).
const STATVFS_TIMEOUT: Duration = Duration::from_secs(2);

/// Size, available to users, free (with root's reserve), inodes, inodes
/// free.
pub(crate) type Space = (u64, u64, u64, u64, u64);

/// The blocking call asked per mount: [`statvfs`] in production.
type Ask = fn(&Path) -> std::io::Result<Space>;

/// Asks the mounts, remembering which calls have not returned yet.
pub(crate) struct MountSpace {
    ask: Ask,
    timeout: Duration,
    /// Mount points whose call is still blocked in its thread.
    pending: Arc<Mutex<HashSet<String>>>,
}

impl MountSpace {
    /// Asks with `statvfs(3)`, [`STATVFS_TIMEOUT`] per collection.
    pub(crate) fn new() -> Self {
        Self::asking(statvfs, STATVFS_TIMEOUT)
    }

    fn asking(ask: Ask, timeout: Duration) -> Self {
        MountSpace {
            ask,
            timeout,
            pending: Arc::default(),
        }
    }

    /// The mounts found (by [`procfs::mounts`]) with their space; a mount
    /// that fails, gives no answer in time or still has an earlier call
    /// pending is a line in `problems` instead.
    pub(crate) async fn measure(
        &self,
        entries: Vec<procfs::MountEntry>,
        problems: &mut Vec<String>,
    ) -> Vec<Mount> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut asked = Vec::new();
        for entry in entries {
            let fresh = self
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(entry.path.clone());
            if !fresh {
                problems.push(format!(
                    "statvfs {} has still not answered since an earlier collection (a hung network file system?)",
                    entry.path
                ));
                continue;
            }
            let (ask, pending, path) = (self.ask, Arc::clone(&self.pending), entry.path.clone());
            let call = tokio::task::spawn_blocking(move || {
                let space = ask(Path::new(&path));
                pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&path);
                space
            });
            asked.push((entry, call));
        }
        let mut out = Vec::new();
        // All calls run already; one deadline bounds them together.
        for (entry, call) in asked {
            match tokio::time::timeout_at(deadline, call).await {
                Ok(Ok(Ok(fs))) => out.push(Mount {
                    path: entry.path,
                    device: entry.device,
                    fstype: entry.fstype,
                    read_only: entry.read_only,
                    size: fs.0,
                    available: fs.1,
                    free: Some(fs.2),
                    inodes: fs.3,
                    inodes_free: fs.4,
                }),
                Ok(Ok(Err(e))) => problems.push(format!("statvfs {}: {e}", entry.path)),
                Ok(Err(e)) => problems.push(format!("statvfs {}: {e}", entry.path)),
                Err(_) => problems.push(format!(
                    "statvfs {} gave no answer within {}s (a hung network file system?)",
                    entry.path,
                    self.timeout.as_secs_f64()
                )),
            }
        }
        out
    }
}

/// (size, available to users, free, inodes, inodes free) of the file system at
/// `path`.
fn statvfs(path: &Path) -> std::io::Result<Space> {
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("a mount point with a NUL byte"))?;
    // SAFETY: `c` is a valid C string; `vfs` is written by the kernel.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut vfs) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let block = vfs.f_frsize as u64;
    Ok((
        vfs.f_blocks as u64 * block,
        vfs.f_bavail as u64 * block,
        vfs.f_bfree as u64 * block,
        vfs.f_files as u64,
        vfs.f_ffree as u64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Condvar;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const MOUNTINFO: &str = "\
30 1 8:1 / /hung rw,relatime - nfs4 server:/export rw
31 1 8:2 / /ok rw,relatime - ext4 /dev/sda2 rw
";

    /// Calls the stand-in got for /hung.
    static HUNG_CALLS: AtomicUsize = AtomicUsize::new(0);
    /// Set to let the /hung call return.
    static RELEASED: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

    /// A statvfs whose /hung blocks like a dead NFS server until released.
    fn stand_in(path: &Path) -> std::io::Result<Space> {
        if path == Path::new("/hung") {
            HUNG_CALLS.fetch_add(1, Ordering::SeqCst);
            let (lock, freed) = &RELEASED;
            let mut released = lock.lock().unwrap();
            while !*released {
                released = freed.wait(released).unwrap();
            }
        }
        Ok((100, 50, 50, 10, 5))
    }

    /// Lets the /hung call return, also when an assertion fails first
    /// (the runtime waits for blocking calls when it shuts down).
    fn release() {
        *RELEASED.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
        RELEASED.1.notify_all();
    }

    struct ReleaseOnDrop;

    impl Drop for ReleaseOnDrop {
        fn drop(&mut self) {
            release();
        }
    }

    #[tokio::test]
    async fn a_hung_mount_is_asked_again_only_once_its_call_returned() {
        let _release = ReleaseOnDrop;
        let space = MountSpace::asking(stand_in, Duration::from_millis(200));
        let mut problems = Vec::new();
        let mounts = space
            .measure(procfs::mounts(MOUNTINFO), &mut problems)
            .await;
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].path, "/ok");
        assert!(problems[0].contains("/hung gave no answer"), "{problems:?}");

        // Still hung: named, but no second blocking call.
        let mut problems = Vec::new();
        let mounts = space
            .measure(procfs::mounts(MOUNTINFO), &mut problems)
            .await;
        assert_eq!(mounts.len(), 1);
        assert!(
            problems[0].contains("/hung has still not answered"),
            "{problems:?}"
        );
        assert_eq!(HUNG_CALLS.load(Ordering::SeqCst), 1);

        // The server answers: the next collection asks again and has it.
        release();
        let mut problems = vec![String::new()];
        for _ in 0..100 {
            if problems.is_empty() {
                break;
            }
            problems.clear();
            let mounts = space
                .measure(procfs::mounts(MOUNTINFO), &mut problems)
                .await;
            if problems.is_empty() {
                assert_eq!(mounts.len(), 2);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(HUNG_CALLS.load(Ordering::SeqCst), 2);
    }
}
