//! Disks that misbehave for real: a small tmpfs that a test fills to the
//! last byte (needs root, like the other mounts of the test suite).

use std::io::Write;
use std::path::{Path, PathBuf};

/// A tmpfs of a given size mounted at a path until dropped.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount -o size=`, e.g. `"8m"`) at `path`,
    /// creating the directory.
    pub fn mount(path: &Path, size: &str) -> Self {
        Self::mount_with(path, &format!("size={size}"))
    }

    /// Mounts a tmpfs with these `mount -o` options (e.g.
    /// `"size=8m,nr_inodes=64"` for one that runs out of inodes).
    pub fn mount_with(path: &Path, options: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs (tests run as root)");
        Self(path.to_owned())
    }

    /// Fills the file system with a file named `name` until it is full;
    /// delete the file to free the space again.
    pub fn fill(&self, name: &str) -> PathBuf {
        let path = self.0.join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0xa5u8; 64 * 1024];
        loop {
            if f.write_all(&block).is_err() {
                break;
            }
        }
        // The last partial block, byte by byte chunks, down to nothing.
        let mut size = 4096;
        while size > 0 {
            if f.write_all(&block[..size]).is_err() {
                size /= 2;
            }
        }
        let _ = f.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
