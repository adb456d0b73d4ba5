//! Recording the real size of streamed files.
//!
//! rustic_core stores a file read from a stream (stdin, a command) with
//! the size its tree node had before the stream was read: 0. Its content
//! blobs are right, but `restic restore` (and rustic's own restore) treat a
//! file whose recorded size is 0 as empty and restore nothing — a dump that
//! restic cannot restore is no backup. The size is only known once the
//! stream ended, and rustic offers no way to change a node afterwards, so
//! after the archive this module rewrites the two small tree blobs on the
//! way to the streamed files (the plan's directory and the root), with the
//! sizes counted while streaming, into a pack and index of their own, in
//! restic's repository format:
//!
//! - a blob is `IV ‖ AES-256-CTR(plaintext) ‖ Poly1305-AES MAC` with the
//!   repository's master key (sealed by `blob.rs`);
//! - a pack is its encrypted blobs, then the encrypted header (per blob:
//!   type byte 1 = tree, u32 LE encrypted length, 32-byte id), then the
//!   header's length as u32 LE; its id is the SHA-256 of the whole file;
//! - the index file is encrypted JSON (`{"packs":[{"id","blobs":[...]}]}`,
//!   uncompressed, which both restic and rustic accept); its id is the
//!   SHA-256 of the encrypted file.
//!
//! The snapshot then points at the new root tree. Nothing else changes;
//! the old tree blobs stay unreferenced until the next prune.

use std::collections::HashMap;

use keepup_model::text::unhex;
use rustic_core::repofile::{SnapshotFile, Tree};
use rustic_core::{FileType, Id, IndexedTree, Repository};

use crate::blob::{Cipher, id_of};

use crate::error::BackupError;
use crate::repo::Guard;

/// Sets the sizes of the streamed files `sizes` (file name → bytes) in the
/// directory `/<dir>` of `snap`'s tree, and points `snap` at the new root.
/// Returns whether anything changed.
pub(crate) fn fix_stream_sizes<S: IndexedTree>(
    repo: &Repository<S>,
    guard: &Guard,
    target: &str,
    snap: &mut SnapshotFile,
    dir: &str,
    sizes: &HashMap<String, u64>,
) -> Result<bool, BackupError> {
    let err = |op: &'static str, e: &rustic_core::RusticError| BackupError::repo(target, op, e);
    let mut root = repo
        .get_tree(&snap.tree)
        .map_err(|e| err("reading the snapshot's tree", &e))?;
    let Some(dir_node) = root
        .nodes
        .iter_mut()
        .find(|n| n.is_dir() && n.name() == std::ffi::OsStr::new(dir))
    else {
        return Err(BackupError::Repository {
            target: target.to_owned(),
            op: "recording the streamed files",
            reason: format!("the snapshot has no directory /{dir}"),
        });
    };
    let Some(sub_id) = dir_node.subtree else {
        return Err(BackupError::Repository {
            target: target.to_owned(),
            op: "recording the streamed files",
            reason: format!("/{dir} has no tree"),
        });
    };
    let mut sub = repo
        .get_tree(&sub_id)
        .map_err(|e| err("reading the snapshot's tree", &e))?;
    let mut changed = false;
    for node in &mut sub.nodes {
        if !node.is_file() {
            continue;
        }
        if let Some(&size) = node.name().to_str().and_then(|n| sizes.get(n))
            && node.meta.size != size
        {
            node.meta.size = size;
            changed = true;
        }
    }
    if !changed {
        return Ok(false);
    }
    let (sub_chunk, new_sub) = serialize(&sub, target)?;
    dir_node.subtree = Some(new_sub.into());
    let (root_chunk, new_root) = serialize(&root, target)?;

    let key = Cipher::new(&repo.key());
    write_tree_pack(
        guard,
        &key,
        &[(new_sub, &sub_chunk), (new_root, &root_chunk)],
    )
    .map_err(|e| BackupError::repo(target, "writing the corrected trees", &e))?;
    snap.tree = new_root.into();
    Ok(true)
}

fn serialize(tree: &Tree, target: &str) -> Result<(Vec<u8>, Id), BackupError> {
    let (chunk, id) = tree.serialize().map_err(|e| BackupError::Repository {
        target: target.to_owned(),
        op: "serialising a tree",
        reason: e.to_string(),
    })?;
    Ok((chunk, *id))
}

/// Writes tree blobs `(id, plaintext)` as one pack plus an index file.
fn write_tree_pack(
    guard: &Guard,
    key: &Cipher,
    blobs: &[(Id, &Vec<u8>)],
) -> Result<(), Box<rustic_core::RusticError>> {
    let mut pack = Vec::new();
    let mut header = Vec::new();
    let mut entries = Vec::new();
    for (id, plain) in blobs {
        let enc = key.seal(plain)?;
        let offset = pack.len();
        let length = u32::try_from(enc.len()).map_err(|_| {
            rustic_core::RusticError::new(rustic_core::ErrorKind::Internal, "tree too large")
        })?;
        header.push(1u8); // an uncompressed tree blob
        header.extend_from_slice(&length.to_le_bytes());
        // An id is 64 hex digits by construction.
        let raw_id = unhex(&id.to_hex()).ok_or_else(|| {
            rustic_core::RusticError::new(rustic_core::ErrorKind::Internal, "a blob id is not hex")
        })?;
        header.extend_from_slice(&raw_id);
        entries.push(serde_json::json!({
            "id": id.to_hex().as_str(),
            "type": "tree",
            "offset": offset,
            "length": length,
        }));
        pack.extend_from_slice(&enc);
    }
    let enc_header = key.seal(&header)?;
    let header_len = u32::try_from(enc_header.len()).unwrap_or(u32::MAX);
    pack.extend_from_slice(&enc_header);
    pack.extend_from_slice(&header_len.to_le_bytes());
    let pack_id = id_of(&pack);
    let pack_size = pack.len();
    guard.write_through(FileType::Pack, &pack_id, false, pack.into())?;

    let index = serde_json::json!({
        "packs": [{
            "id": pack_id.to_hex().as_str(),
            "time": jiff::Timestamp::now().to_string(),
            "size": pack_size,
            "blobs": entries,
        }]
    });
    let json = serde_json::to_vec(&index).map_err(|e| {
        rustic_core::RusticError::with_source(
            rustic_core::ErrorKind::Internal,
            "index serialisation failed",
            e,
        )
    })?;
    let enc = key.seal(&json)?;
    let index_id = id_of(&enc);
    guard.write_through(FileType::Index, &index_id, true, enc.into())
}
