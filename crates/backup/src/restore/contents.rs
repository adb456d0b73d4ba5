//! The file contents of a whole-snapshot restore, in bounded memory.
//!
//! rustic_core's restorer hands every pack range to 20 threads and queues
//! the decompressed blobs for writing without a bound: a 2 GB restore
//! peaked at 2.2 GB of RSS, so restoring a big shop onto a small standby
//! server (the disaster case) would be killed. This one plans the same work
//! (each data blob of each file, grouped by pack and ordered by offset,
//! neighbouring blobs read in one request of at most [`READ_MAX`] bytes)
//! and runs it on [`WORKERS`] threads that each read one range, then
//! decrypt in place, decompress, check and write its blobs one at a time.
//! In flight at any moment: `WORKERS × (READ_MAX + the largest blob)`,
//! whatever the size of the snapshot. What grows with the snapshot is the plan: a few dozen
//! bytes per blob and a path per file, as in restic's restorer.
//!
//! Every blob is checked against its id before it is written (see
//! [`crate::blob`]). Each file gets its recorded modification time once its
//! last blob is written, so that rustic_core's restore, run afterwards for
//! directories, links, special files, owners, permissions and times, finds
//! the contents in place and only sets the metadata.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs::{File, OpenOptions};
use std::num::NonZeroU32;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use bytes::BytesMut;
use rustic_core::repofile::{Node, PackId};
use rustic_core::{FileType, Id, IndexedFull, LsOptions, ReadBackend, Repository};

use crate::blob::{Cipher, Opener};
use crate::error::{BackupError, one_line};
use crate::progress::Progress;

/// Reader threads: enough to keep two cores busy and a remote target's
/// round trips overlapped. Each holds one read (up to [`READ_MAX`], or one
/// larger blob) and one decompressed blob (up to 8 MiB, the chunker's
/// largest), so at most about 4 × 16 MiB are in flight.
pub(crate) const WORKERS: usize = 4;

/// The most bytes one request reads (more only for a single larger blob).
pub(crate) const READ_MAX: u32 = 4 << 20;

/// Blobs this close together in a pack are read in one request: reading a
/// short gap costs less than another round trip.
const GAP_MAX: u32 = 256 << 10;

/// One file to restore.
struct PlannedFile {
    /// Where it goes.
    path: PathBuf,
    /// Its recorded modification time, set once it is complete.
    mtime: Option<jiff::Timestamp>,
    /// Blob writes still to do; the last one sets the time.
    pending: AtomicU32,
}

/// One stored blob and where its content goes.
struct PlannedBlob {
    pack: PackId,
    offset: u32,
    length: u32,
    uncompressed: Option<NonZeroU32>,
    id: Id,
    /// `(file, offset in the file)`: a blob shared by files, or repeated in
    /// one, is read once and written to each place.
    dests: Vec<(usize, u64)>,
}

/// One request: a range of a pack holding `blobs[first..end]`.
struct PlannedRead {
    offset: u32,
    length: u32,
    first: usize,
    end: usize,
}

/// Restores the contents of every regular file under `root` into `dir`,
/// creating the directories on the way; `target` names the repository in
/// errors. Returns the files and bytes written.
pub(crate) fn restore_contents<S: IndexedFull>(
    repo: &Repository<S>,
    backend: &dyn ReadBackend,
    root: &Node,
    dir: &Path,
    target: &str,
    progress: &dyn Progress,
) -> Result<(u64, u64), BackupError> {
    let (files, blobs, bytes) = plan(repo, root, dir, target)?;
    let reads = coalesce(&blobs);
    progress.begin(&format!("{target}: restoring file contents"), Some(bytes));
    let cipher = Cipher::new(&repo.key());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<BackupError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(reads.len()) {
            s.spawn(|| {
                let result = Opener::new(&cipher)
                    .map_err(|e| BackupError::Repository {
                        target: target.to_owned(),
                        op: "restoring",
                        reason: e.to_string(),
                    })
                    .and_then(|mut opener| {
                        work(
                            backend,
                            &mut opener,
                            &files,
                            &blobs,
                            &reads,
                            &next,
                            &stop,
                            target,
                            progress,
                        )
                    });
                if let Err(e) = result {
                    stop.store(true, Ordering::Relaxed);
                    failure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                }
            });
        }
    });
    progress.finish();
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    tracing::debug!(
        target = target,
        files = files.len(),
        bytes,
        "file contents restored"
    );
    Ok((files.len() as u64, bytes))
}

/// Walks the snapshot: creates its directories and (empty, sized) files,
/// and lists the blobs to write, ordered by pack and offset.
#[allow(clippy::type_complexity)]
fn plan<S: IndexedFull>(
    repo: &Repository<S>,
    root: &Node,
    dir: &Path,
    target: &str,
) -> Result<(Vec<PlannedFile>, Vec<PlannedBlob>, u64), BackupError> {
    let repo_err =
        |op: &'static str, e: &rustic_core::RusticError| BackupError::repo(target, op, e);
    let mut files = Vec::new();
    let mut by_place: BTreeMap<(PackId, u32), PlannedBlob> = BTreeMap::new();
    // The first path of a hard-linked file gets the content; rustic_core
    // links the others to it when it sets the metadata.
    let mut linked = std::collections::HashSet::new();
    let mut bytes = 0u64;
    let ls = repo
        .ls(root, &LsOptions::default())
        .map_err(|e| repo_err("reading the snapshot", &e))?;
    for item in ls {
        let (path, node) = item.map_err(|e| repo_err("reading the snapshot", &e))?;
        let out = dir.join(&path);
        if node.is_dir() {
            // Directories come before their contents, so every directory
            // on the way to a file was made a real one here: a link
            // planted in its place is replaced, never followed out.
            replace_non_dir(&out)?;
            std::fs::create_dir_all(&out)
                .map_err(|e| io(format!("creating {}", out.display()), e))?;
            continue;
        }
        if !node.is_file() {
            continue;
        }
        if node.meta.links > 1
            && node.meta.device_id != 0
            && node.meta.inode != 0
            && !linked.insert((node.meta.device_id, node.meta.inode))
        {
            // Linked afterwards; a file left there by an earlier restore
            // would make the link fail.
            match std::fs::remove_file(&out) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io(format!("replacing {}", out.display()), e));
                }
                _ => continue,
            }
        }
        let index = files.len();
        let mut length = 0u64;
        let mut count = 0u32;
        for id in node.content.iter().flatten() {
            let entry = repo
                .get_index_entry(id)
                .map_err(|e| repo_err("reading the index", &e))?;
            let location = entry.location;
            let place = (entry.pack, location.offset);
            let blob = match by_place.entry(place) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert(PlannedBlob {
                    pack: entry.pack,
                    offset: location.offset,
                    length: location.length,
                    uncompressed: location.uncompressed_length,
                    id: **id,
                    dests: Vec::with_capacity(1),
                }),
            };
            blob.dests.push((index, length));
            length += u64::from(location.data_length());
            count += 1;
        }
        bytes += length;
        let file = create(&out, length)?;
        if count == 0 {
            set_mtime(&file, &out, node.meta.mtime)?;
        }
        files.push(PlannedFile {
            path: out,
            mtime: node.meta.mtime,
            pending: AtomicU32::new(count),
        });
    }
    Ok((files, by_place.into_values().collect(), bytes))
}

/// Neighbouring blobs of one pack become one request.
fn coalesce(blobs: &[PlannedBlob]) -> Vec<PlannedRead> {
    let mut reads: Vec<PlannedRead> = Vec::new();
    for (i, b) in blobs.iter().enumerate() {
        if let Some(last) = reads.last_mut() {
            let prev = &blobs[last.end - 1];
            // In u64: the index's offsets and lengths are not trusted to
            // stay clear of u32's end.
            let end = u64::from(last.offset) + u64::from(last.length);
            let b_end = u64::from(b.offset) + u64::from(b.length);
            if prev.pack == b.pack
                && u64::from(b.offset) >= end
                && u64::from(b.offset) - end <= u64::from(GAP_MAX)
                && b_end - u64::from(last.offset) <= u64::from(READ_MAX)
            {
                // At most READ_MAX, so it fits.
                last.length = (b_end - u64::from(last.offset)) as u32;
                last.end = i + 1;
                continue;
            }
        }
        reads.push(PlannedRead {
            offset: b.offset,
            length: b.length,
            first: i,
            end: i + 1,
        });
    }
    reads
}

/// One worker: takes the next request until none is left or another
/// worker failed.
#[allow(clippy::too_many_arguments)]
fn work(
    backend: &dyn ReadBackend,
    opener: &mut Opener<'_>,
    files: &[PlannedFile],
    blobs: &[PlannedBlob],
    reads: &[PlannedRead],
    next: &AtomicUsize,
    stop: &AtomicBool,
    target: &str,
    progress: &dyn Progress,
) -> Result<(), BackupError> {
    let damaged = |pack: &PackId, why: String| BackupError::Repository {
        target: target.to_owned(),
        op: "restoring",
        reason: format!(
            "data could not be read or decrypted (pack {}: {why}); the files restored so far are incomplete. \
             Run `keepup backup check` on this target and restore from another one",
            pack.to_hex().as_str()
        ),
    };
    while !stop.load(Ordering::Relaxed) {
        let Some(read) = reads.get(next.fetch_add(1, Ordering::Relaxed)) else {
            return Ok(());
        };
        let pack = &blobs[read.first].pack;
        let data = backend
            .read_partial(FileType::Pack, pack, false, read.offset, read.length)
            .map_err(|e| damaged(pack, one_line(&e)))?;
        // Blobs are decrypted where they were read (no copy when the
        // backend hands over its only reference, as the local one does).
        let mut data = data
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        if data.len() != read.length as usize {
            return Err(damaged(
                pack,
                format!(
                    "{} bytes read at offset {} where {} were asked for",
                    data.len(),
                    read.offset,
                    read.length
                ),
            ));
        }
        for blob in &blobs[read.first..read.end] {
            let start = (blob.offset - read.offset) as usize;
            // Inside the read by construction (coalesce).
            let Some(sealed) = data.get_mut(start..start + blob.length as usize) else {
                return Err(damaged(
                    pack,
                    "the index places a blob outside its pack".into(),
                ));
            };
            let plain = opener
                .open(sealed, blob.uncompressed, &blob.id)
                .map_err(|e| damaged(pack, format!("blob {}: {e}", blob.id.to_hex().as_str())))?;
            for &(index, at) in &blob.dests {
                let file = &files[index];
                write_at(file, plain, at)?;
                progress.advance(plain.len() as u64);
            }
        }
    }
    Ok(())
}

/// Writes one blob into its file; the file's last blob also sets its
/// modification time.
fn write_at(file: &PlannedFile, data: &[u8], at: u64) -> Result<(), BackupError> {
    let f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&file.path)
        .map_err(|e| io(format!("opening {}", file.path.display()), e))?;
    f.write_all_at(data, at)
        .map_err(|e| io(format!("writing {}", file.path.display()), e))?;
    if file.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
        set_mtime(&f, &file.path, file.mtime)?;
    }
    Ok(())
}

/// Removes what is at `path` unless it is a real directory (a link, a
/// file), so that a directory can be made there.
fn replace_non_dir(path: &Path) -> Result<(), BackupError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => {
            std::fs::remove_file(path).map_err(|e| io(format!("replacing {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

/// A new, empty file of `length` bytes at `path`; whatever was there (a
/// file, or a link that must not be followed) is replaced. Readable by the
/// owner only until rustic_core sets the recorded mode: a snapshot's
/// private files (keys, `.pgpass`) are never open to others meanwhile.
fn create(path: &Path, length: u64) -> Result<File, BackupError> {
    if let Ok(meta) = std::fs::symlink_metadata(path)
        && !meta.is_file()
        && !meta.is_dir()
    {
        std::fs::remove_file(path).map_err(|e| io(format!("replacing {}", path.display()), e))?;
    }
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| io(format!("creating {}", path.display()), e))?;
    file.set_len(length)
        .map_err(|e| io(format!("sizing {}", path.display()), e))?;
    Ok(file)
}

fn set_mtime(file: &File, path: &Path, mtime: Option<jiff::Timestamp>) -> Result<(), BackupError> {
    let Some(t) = mtime else { return Ok(()) };
    file.set_modified(std::time::SystemTime::from(t))
        .map_err(|e| io(format!("setting the time of {}", path.display()), e))
}

fn io(what: String, source: std::io::Error) -> BackupError {
    BackupError::Io { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use rustic_core::{LocalDestination, RestoreOptions};
    use std::sync::Arc;

    /// The contents this module writes are complete and carry their times,
    /// so that rustic_core's restore, which runs after it for the metadata,
    /// takes them as they are (it would otherwise read every file again to
    /// compare it, or restore it once more with its unbounded queue).
    #[test]
    fn restored_contents_leave_nothing_for_rustic_to_rewrite() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("a/b")).unwrap();
        std::fs::write(src.join("a/b/small.txt"), b"hello").unwrap();
        std::fs::write(src.join("empty"), b"").unwrap();
        let big: Vec<u8> = (0..5_000_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(src.join("big.bin"), &big).unwrap();
        std::fs::write(src.join("big-copy.bin"), &big).unwrap();
        let repo_dir = tmp.path().join("repo");
        std::fs::create_dir_all(&repo_dir).unwrap();
        std::fs::write(tmp.path().join("pass"), "pw").unwrap();
        let config = tmp.path().join("keepup.toml");
        std::fs::write(
            &config,
            format!(
                "[[backup]]\nid = \"f\"\npassword_file = \"{}\"\n[[backup.source]]\nkind = \"paths\"\npaths = [\"{}\"]\n[[backup.target]]\nid = \"t\"\nrepository = \"{}\"\n",
                tmp.path().join("pass").display(),
                src.display(),
                repo_dir.display()
            ),
        )
        .unwrap();
        let plan = keepup_config::load(&config).unwrap().backups.remove(0);
        crate::init(&plan, "t").unwrap();
        assert!(crate::run_plan(&plan, None, Arc::new(NoProgress)).ok());

        let opened = crate::repo::open(&plan.targets[0], Arc::new(NoProgress)).unwrap();
        let repo = opened.repo.to_indexed().unwrap();
        let snap = repo.get_all_snapshots().unwrap().pop().expect("a snapshot");
        let root = repo.node_from_snapshot_and_path(&snap, "").unwrap();
        let out = tmp.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        restore_contents(&repo, &*opened.guard, &root, &out, "t", &NoProgress).unwrap();

        let restored = out.join(src.strip_prefix("/").unwrap());
        assert_eq!(std::fs::read(restored.join("big.bin")).unwrap(), big);
        assert_eq!(std::fs::read(restored.join("big-copy.bin")).unwrap(), big);
        assert_eq!(
            std::fs::read(restored.join("a/b/small.txt")).unwrap(),
            b"hello"
        );
        assert_eq!(std::fs::read(restored.join("empty")).unwrap(), b"");
        // Private until rustic_core sets the recorded modes.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(restored.join("big.bin"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let ls = repo.ls(&root, &LsOptions::default()).unwrap();
        let dest = LocalDestination::new(&out.to_string_lossy(), true, false).unwrap();
        let prepared = repo
            .prepare_restore(&RestoreOptions::default(), ls, &dest, true)
            .unwrap();
        assert_eq!(prepared.restore_size, 0);
        // Taken as they are on size and time: not even read again.
        assert_eq!(prepared.stats.files.unchanged, 4, "{:?}", prepared.stats);
        assert_eq!(prepared.stats.files.verified, 0, "{:?}", prepared.stats);
    }

    fn blob(pack: u8, offset: u32, length: u32) -> PlannedBlob {
        let mut id = [0u8; 32];
        id[0] = pack;
        PlannedBlob {
            pack: PackId::from(Id::new(id)),
            offset,
            length,
            uncompressed: None,
            id: Id::default(),
            dests: Vec::new(),
        }
    }

    #[test]
    fn neighbours_in_a_pack_share_a_request_up_to_the_limit() {
        let mb = 1 << 20;
        let blobs = vec![
            blob(1, 0, mb),
            blob(1, mb, mb),
            blob(1, 2 * mb + 1000, mb), // a small gap: still one request
            blob(1, 3 * mb + 1000 + GAP_MAX + 1, 100), // too far
            blob(2, 0, 10),             // another pack
            blob(3, 0, 3 * mb),
            blob(3, 3 * mb, 2 * mb), // would pass READ_MAX
            blob(3, 5 * mb, 9 * mb), // larger than READ_MAX alone
        ];
        let reads = coalesce(&blobs);
        let spans: Vec<_> = reads
            .iter()
            .map(|r| (r.first, r.end, r.offset, r.length))
            .collect();
        assert_eq!(
            spans,
            vec![
                (0, 3, 0, 3 * mb + 1000),
                (3, 4, 3 * mb + 1000 + GAP_MAX + 1, 100),
                (4, 5, 0, 10),
                (5, 6, 0, 3 * mb),
                (6, 7, 3 * mb, 2 * mb),
                (7, 8, 5 * mb, 9 * mb),
            ]
        );
    }
}
