//! A long input as content-addressed blocks, each stored once however many
//! responses' inputs hold it.
//!
//! A client that resends its whole history on every turn (the SDKs over
//! HTTP do: about 1 MiB, 600 items, for a coding agent) sends inputs that
//! are byte-identical up to where the history grew. The input's JSON text
//! is cut into [`BLOCK_SIZE`] blocks from its start, so every block before
//! that point is one an earlier turn already stored: a turn writes only the
//! blocks from where its history grew, zstd-compressed, and one small row
//! per block that names it. The blocks are the size of the backend body's
//! ([`crate::wire::blocks`]), whose compression cuts them from the start
//! of the same list: a new block is stored as the frame the body went in.
//!
//! A block is named by the BLAKE3 hash of its text. A collision would hand
//! one response another's text, so the name must not collide even for text
//! an adversary chose (a web page a tool read into the history). BLAKE3 is
//! a cryptographic hash, as SHA-256 is, and costs 0.16 ms of CPU per MiB of
//! 64 KiB blocks here against SHA-256's 0.58 ms (`ring`, with the CPU's SHA
//! instructions); both need no secret kept beside the data, which a fast
//! keyed hash (xxh3-128, 0.04 ms per MiB) would, with only a heuristic
//! claim against chosen text. Blocks named with SHA-256 by an earlier
//! version stay readable (a response finds its blocks by their row ids,
//! not their names); a later turn only stores its blocks again under their
//! new names.
//!
//! Blocks are never updated: a block's row holds its data, and who uses it
//! is in `response_blocks` (indexed by block), so adding or dropping a
//! reference never rewrites 64 KiB. A block no response names any more is
//! deleted with the last response that named it, in the same transaction.

use std::sync::mpsc::Receiver;

use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::wire::blocks::InputFrames;

use super::StoreError;

/// The size of every block but an input's last: the backend body's.
pub(super) const BLOCK_SIZE: usize = crate::wire::blocks::BLOCK;

/// Inputs shorter than this stay in their response's row, as JSON text:
/// what blocks save them is less than the rows that name the blocks cost.
pub(super) const INLINE_BELOW: usize = 2 * BLOCK_SIZE;

/// One block of an input, named.
pub(super) struct Block<'a> {
    hash: [u8; 32],
    text: &'a [u8],
    /// Its stored form, when [`compress`] made it ahead of the commit.
    data: Option<&'a [u8]>,
}

/// A block's name, and its stored form when it was made ahead of the commit.
#[derive(Debug, Clone)]
pub(super) struct Name {
    hash: [u8; 32],
    data: Option<Bytes>,
}

/// Whether `input` is long enough to be kept as blocks.
pub(super) fn is_long(input: &[u8]) -> bool {
    input.len() >= INLINE_BELOW
}

/// The names of `input`'s blocks in order, or `None` when it is short
/// enough to stay inline. Hashing needs no database, so it is done before
/// the commit: from the time the request came in
/// ([`super::Store::name_input`]).
pub(super) fn names(input: &[u8]) -> Option<Vec<Name>> {
    if !is_long(input) {
        return None;
    }
    let names = input
        .chunks(BLOCK_SIZE)
        .map(|text| Name {
            hash: *blake3::hash(text).as_bytes(),
            data: None,
        })
        .collect();
    Some(names)
}

impl Name {
    #[cfg(test)]
    pub(super) fn is_compressed(&self) -> bool {
        self.data.is_some()
    }
}

/// Which of `names` the store does not hold yet, by index.
pub(super) fn missing(conn: &Connection, names: &[Name]) -> Result<Vec<usize>, StoreError> {
    let mut find = conn.prepare_cached("SELECT 1 FROM blocks WHERE hash = ?1")?;
    let mut missing = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if !find.exists([&name.hash[..]])? {
            missing.push(i);
        }
    }
    Ok(missing)
}

/// The frames the backend's body was compressed into for `input`, once
/// they come ([`crate::wire::blocks::FrameSink`]); `None` when every sink
/// was dropped unsent, or the frames are of other text. Each is a block
/// compressed on its own at the level [`compress`] uses, so it is what the
/// store would make of that block. Waits on the blocking pool, for the
/// compression of the body the request is sending anyway.
pub(super) fn frames_of(input: &[u8], frames: Receiver<InputFrames>) -> Option<Vec<Bytes>> {
    let sent = frames.recv().ok()?;
    let whole = sent.text == input && sent.frames.len() == input.len().div_ceil(BLOCK_SIZE);
    whole.then_some(sent.frames)
}

/// Compresses the `missing` blocks of `input` into their `names`, so that
/// the commit, which the client's last byte waits for, only writes them.
/// Done with the [`names`], while the backend answers; `sent`: the blocks'
/// frames as the body went to the backend ([`frames_of`]), taken instead of
/// compressing again. A block stored or deleted by another commit
/// meanwhile costs nothing: [`link`] looks again, and compresses a block it
/// must write and finds no data for.
pub(super) fn compress(
    input: &[u8],
    names: &mut [Name],
    missing: &[usize],
    sent: Option<&[Bytes]>,
) -> Result<(), StoreError> {
    for (i, (name, text)) in names
        .iter_mut()
        .zip(input.chunks(BLOCK_SIZE))
        .enumerate()
        .filter(|(i, _)| missing.binary_search(i).is_ok())
    {
        name.data = Some(match sent.and_then(|sent| sent.get(i)) {
            Some(frame) => frame.clone(),
            None => Bytes::from(crate::compression::zstd(text)?),
        });
    }
    Ok(())
}

/// `input`'s blocks, given the [`names`] of its text; `None` when the
/// names are not of this text's blocks.
pub(super) fn split<'a>(input: &'a [u8], names: &'a [Name]) -> Option<Vec<Block<'a>>> {
    if input.len().div_ceil(BLOCK_SIZE) != names.len() {
        return None;
    }
    let blocks = input
        .chunks(BLOCK_SIZE)
        .zip(names)
        .map(|(text, name)| Block {
            hash: name.hash,
            text,
            data: name.data.as_deref(),
        })
        .collect();
    Some(blocks)
}

/// What [`link`] stored for one response.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Linked {
    /// How many blocks the input is.
    pub(super) count: i64,
    /// The stored size of the blocks written now: new to the store.
    pub(super) added: i64,
    /// The stored size of every block the input names, new or not.
    pub(super) referenced: i64,
}

/// Names `blocks` as `response_id`'s input, in order, storing those the
/// store does not hold yet. The response must hold no blocks already
/// ([`unlink`] them first).
pub(super) fn link(
    tx: &Transaction<'_>,
    response_id: &str,
    blocks: &[Block<'_>],
) -> Result<Linked, StoreError> {
    let mut find = tx.prepare_cached("SELECT id, bytes FROM blocks WHERE hash = ?1")?;
    let mut insert =
        tx.prepare_cached("INSERT INTO blocks (hash, bytes, data) VALUES (?1, ?2, ?3)")?;
    let mut name = tx.prepare_cached(
        "INSERT INTO response_blocks (response_id, seq, block) VALUES (?1, ?2, ?3)",
    )?;
    let mut linked = Linked::default();
    for (seq, block) in (0_i64..).zip(blocks) {
        let found: Option<(i64, i64)> = find
            .query_row([&block.hash[..]], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (id, bytes) = match found {
            Some(found) => found,
            None => {
                let data = match block.data {
                    Some(data) => std::borrow::Cow::Borrowed(data),
                    None => std::borrow::Cow::Owned(crate::compression::zstd(block.text)?),
                };
                let bytes = size(data.len());
                insert.execute(params![&block.hash[..], bytes, &data[..]])?;
                linked.added += bytes;
                (tx.last_insert_rowid(), bytes)
            }
        };
        linked.referenced += bytes;
        linked.count += 1;
        name.execute(params![response_id, seq, id])?;
    }
    Ok(linked)
}

/// Drops `response_id`'s names for its blocks; returns the blocks, for
/// [`sweep`] once the transaction has linked whatever replaces them.
pub(super) fn unlink(tx: &Transaction<'_>, response_id: &str) -> Result<Vec<i64>, StoreError> {
    let mut unlink =
        tx.prepare_cached("DELETE FROM response_blocks WHERE response_id = ?1 RETURNING block")?;
    let mut blocks: Vec<i64> = unlink
        .query_map([response_id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    blocks.sort_unstable();
    blocks.dedup();
    Ok(blocks)
}

/// Deletes those of `blocks` that no response names any more; returns the
/// stored bytes freed.
pub(super) fn sweep(tx: &Transaction<'_>, blocks: &[i64]) -> Result<i64, StoreError> {
    let mut sweep = tx.prepare_cached(
        "DELETE FROM blocks WHERE id = ?1
             AND NOT EXISTS (SELECT 1 FROM response_blocks WHERE block = ?1)
         RETURNING bytes",
    )?;
    let mut freed = 0;
    for block in blocks {
        let bytes: Option<i64> = sweep.query_row([block], |r| r.get(0)).optional()?;
        freed += bytes.unwrap_or(0);
    }
    Ok(freed)
}

/// [`unlink`] and [`sweep`] for a response that is gone: the bytes freed.
pub(super) fn release(tx: &Transaction<'_>, response_id: &str) -> Result<i64, StoreError> {
    let blocks = unlink(tx, response_id)?;
    sweep(tx, &blocks)
}

/// The text of `response_id`'s input, put back together from its `count`
/// blocks.
pub(super) fn assemble(
    conn: &Connection,
    response_id: &str,
    count: i64,
) -> Result<Vec<u8>, StoreError> {
    let mut read = conn.prepare_cached(
        "SELECT b.data FROM response_blocks n JOIN blocks b ON b.id = n.block
         WHERE n.response_id = ?1 ORDER BY n.seq",
    )?;
    let mut rows = read.query([response_id])?;
    let mut text = Vec::with_capacity(usize::try_from(count).unwrap_or(0) * BLOCK_SIZE);
    let mut decompressor = zstd::bulk::Decompressor::new()?;
    let mut found = 0;
    while let Some(row) = rows.next()? {
        let data: Vec<u8> = row.get(0)?;
        text.extend_from_slice(&decompressor.decompress(&data, BLOCK_SIZE)?);
        found += 1;
    }
    if found != count {
        return Err(StoreError::MissingBlocks(response_id.to_owned()));
    }
    Ok(text)
}

/// The stored size of every block.
pub(super) fn total_bytes(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COALESCE(SUM(bytes), 0) FROM blocks", [], |r| {
        r.get(0)
    })
}

fn size(len: usize) -> i64 {
    i64::try_from(len).unwrap_or(i64::MAX)
}
