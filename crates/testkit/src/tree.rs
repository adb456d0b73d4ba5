//! A small shop-like file tree for the backup tests, and a snapshot of any
//! tree to compare what a restore gave back with what was backed up.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What is at one path of a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir,
    File(Vec<u8>),
    /// A symbolic link and its target (not followed).
    Link(PathBuf),
}

/// Writes the shapes a backup must get right under `root`: nested
/// directories, an empty directory and an empty file, a non-ASCII name
/// with spaces, 15 small JSON files, 3 MiB of pseudo-random bytes (several
/// chunks, nothing to deduplicate), a symbolic link (`featured`), and
/// `upload.tmp`, which plans may exclude.
pub fn make_shop_tree(root: &Path) -> io::Result<()> {
    let sub = root.join("media").join("2024");
    fs::create_dir_all(&sub)?;
    fs::create_dir_all(root.join("empty-dir"))?;
    fs::write(root.join("README.txt"), "the shop's files\n")?;
    fs::write(root.join("empty"), "")?;
    fs::write(root.join("prüfung mit leerzeichen.csv"), "a;b\n1;2\n")?;
    fs::write(root.join("upload.tmp"), "half an upload")?;
    for i in 0..15 {
        fs::write(
            sub.join(format!("product-{i:03}.json")),
            format!("{{\"id\":{i},\"price\":{}}}\n", i * 17),
        )?;
    }
    fs::write(sub.join("catalogue.bin"), crate::random::bytes(1, 3 << 20))?;
    std::os::unix::fs::symlink("media/2024/product-001.json", root.join("featured"))
}

/// Every path under `root` (relative to it) and what is there.
pub fn read_tree(root: &Path) -> io::Result<BTreeMap<PathBuf, Entry>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) -> io::Result<()> {
        for e in fs::read_dir(dir)? {
            let path = e?.path();
            let rel = path
                .strip_prefix(root)
                .map_err(io::Error::other)?
                .to_owned();
            let meta = fs::symlink_metadata(&path)?;
            if meta.file_type().is_symlink() {
                out.insert(rel, Entry::Link(fs::read_link(&path)?));
            } else if meta.is_dir() {
                out.insert(rel, Entry::Dir);
                walk(root, &path, out)?;
            } else {
                out.insert(rel, Entry::File(fs::read(&path)?));
            }
        }
        Ok(())
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out)?;
    Ok(out)
}

/// Asserts that `got` holds exactly `expected`: the same paths first, then
/// each entry, so a failure names the path that differs.
pub fn assert_same_tree(expected: &BTreeMap<PathBuf, Entry>, got: &BTreeMap<PathBuf, Entry>) {
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "the restored tree lists other entries"
    );
    for (path, entry) in expected {
        assert!(
            got[path] == *entry,
            "{} differs after the restore",
            path.display()
        );
    }
}
