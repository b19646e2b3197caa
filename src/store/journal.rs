//! The commit journal: how a kept answer survives `kill -9` without
//! waiting for SQLite.
//!
//! A short answer (its input under the blocks' threshold, which is every
//! answer but a long history's) is appended to `responses.journal`, beside
//! the database, as one record in one `write`, before its last byte goes to
//! the client. Once the `write` returns the record is in the kernel's page
//! cache, which outlives the process: the same promise a SQLite commit with
//! `synchronous = NORMAL` makes, at the cost of one system call instead of
//! a transaction's statements, locks and page writes. The store's writer
//! thread moves what is journalled into SQLite a moment later, many answers
//! to a transaction; whoever takes the database first (a read, a delete, a
//! long commit) moves it there before anything else, so every operation
//! sees every answer kept before it began.
//!
//! The database knows how far it holds the journal: the journal's
//! generation (in its header) and the offset up to which its records are
//! in the database, committed in the same transaction as the rows. On open,
//! the records past that point are written to the database, and the file is
//! started again under the next generation, as it is whenever everything in
//! it is in the database and nothing was appended since. A record cut
//! short by a crash (its length or checksum wrong) ends the journal: its
//! `write` never returned, so no client saw that answer.
//!
//! One process uses a journal at a time (an exclusive `flock`); a second
//! process opening the same store commits directly.
//!
//! A record: its payload's length (`u32`, little-endian), the payload's
//! xxh3-64 (`u64`), then the payload: when the answer was kept (`i64`
//! milliseconds), its id, the previous response's id, and the input's and
//! the response's JSON texts as the database row holds them, each a
//! presence byte, a `u32` length and the text.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use xxhash_rust::xxh3::xxh3_64;

use super::StoreError;
use super::db::{self, Row, State};
use super::open::FILE_MODE;
pub(super) use super::options::JOURNAL_FILE;

/// The header: a magic string, then the generation (`u64`, little-endian).
const MAGIC: &[u8; 8] = b"CRPJRNL1";
const HEADER: u64 = 16;

/// A record's length and checksum before its payload.
const RECORD_HEAD: usize = 12;

/// Under a steady stream of answers the journal is never idle, so past
/// this size it is replaced by a file holding only the records not yet in
/// the database.
const ROTATE_AT: u64 = 1024 * 1024;

/// The journal of an open store.
#[derive(Debug)]
pub(super) struct Journal {
    path: PathBuf,
    tail: Mutex<Tail>,
}

#[derive(Debug)]
struct Tail {
    file: File,
    generation: u64,
    /// Where the next record goes: the file's length.
    end: u64,
    /// The records not yet in the database, in the file's order.
    pending: Vec<Entry>,
    /// A write failed and could not be undone: the journal takes no more
    /// records, and answers are committed directly.
    broken: bool,
}

/// A journalled answer: its record as written, read as a [`Row`] when it
/// goes to the database. One allocation, made by the request's thread and
/// freed by the writer's: each allocation one thread frees for another
/// takes a lock of the allocator's, which the request threads then wait on.
#[derive(Debug)]
struct Entry {
    record: Vec<u8>,
}

impl Entry {
    /// Checked when made, so `None` never comes of one in the journal.
    fn row(&self) -> Option<Row<'_>> {
        decode(self.record.get(RECORD_HEAD..)?)
    }
}

/// What [`Journal::append`] did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Appended {
    /// Journalled; `true`: the first not yet in the database, so the
    /// writer should be told to move it there.
    Yes(bool),
    /// The journal takes no more records: commit directly.
    No,
}

impl Journal {
    /// Opens the journal at `path` for the database `conn`, first writing
    /// to the database the records it does not hold yet. `None`: another
    /// process holds the journal.
    pub(super) fn open(path: &Path, conn: &mut Connection) -> Result<Option<Journal>, StoreError> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(FILE_MODE)
            .open(path)
            .map_err(StoreError::Journal)?;
        file.set_permissions(Permissions::from_mode(FILE_MODE))
            .map_err(StoreError::Journal)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::Journal(e)),
        }
        // A replacement a crash left unfinished: the journal itself is whole.
        let _ = std::fs::remove_file(next_path(path));
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(StoreError::Journal)?;
        let (generation, applied) = position(conn)?;
        let found = header(&text);
        let start = match found {
            Some(found) if found == generation => applied.max(HEADER),
            Some(_) => HEADER,
            None => u64::try_from(text.len()).unwrap_or(u64::MAX),
        };
        let entries = records(&text, start);
        if !entries.is_empty() {
            let tx = conn.transaction()?;
            for row in entries.iter().filter_map(Entry::row) {
                db::put_row(&tx, &row, None)?;
            }
            let end = u64::try_from(text.len()).unwrap_or(u64::MAX);
            set_position(&tx, found.unwrap_or(generation), end)?;
            tx.commit()?;
            tracing::info!(
                responses = entries.len(),
                "kept answers written to the response store from its journal"
            );
        }
        // Past both, so the next generation is one the database has never
        // named.
        let mut tail = Tail {
            file,
            generation: found.unwrap_or(0).max(generation),
            end: 0,
            pending: Vec::new(),
            broken: false,
        };
        tail.restart().map_err(StoreError::Journal)?;
        Ok(Some(Journal {
            path: path.to_path_buf(),
            tail: Mutex::new(tail),
        }))
    }

    /// Appends `row` in one `write`; once this returns [`Appended::Yes`]
    /// the answer survives a crash of the process.
    pub(super) fn append(&self, row: &Row<'_>) -> Appended {
        let Some(record) = encode(row) else {
            return Appended::No;
        };
        let mut tail = self.lock();
        if tail.broken {
            return Appended::No;
        }
        let at = tail.end;
        if let Err(e) = tail.file.write_all(&record) {
            // A record cut short would end the journal for every record
            // after it: cut it off, or take no more.
            tail.broken = tail.file.set_len(at).is_err();
            tracing::warn!(error = %e, "the response store's journal could not be written; committing directly");
            return Appended::No;
        }
        tail.end = at + record.len() as u64;
        let first = tail.pending.is_empty();
        tail.pending.push(Entry { record });
        Appended::Yes(first)
    }

    /// Writes the journalled answers to the database, with the position
    /// they reach, in one transaction (appenders do not wait for it); then
    /// starts the file again if nothing was appended meanwhile, or, past
    /// [`ROTATE_AT`], replaces it by one holding only what was. On failure
    /// they stay journalled (and in memory, for the next try). Called with
    /// the database taken, so one runs at a time.
    pub(super) fn settle(&self, state: &mut State) -> Result<(), StoreError> {
        let mut tail = self.lock();
        if tail.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut tail.pending);
        let (generation, end) = (tail.generation, tail.end);
        drop(tail);
        let written = write(state, &batch, generation, end);
        let mut tail = self.lock();
        if let Err(e) = written {
            tail.pending.splice(0..0, batch);
            return Err(e);
        }
        if tail.end == end {
            if let Err(e) = tail.restart() {
                tracing::warn!(error = %e, "the response store's journal could not be started again");
                tail.broken = true;
            }
        } else if tail.end >= ROTATE_AT
            && let Err(e) = tail.rotate(&self.path)
        {
            tracing::warn!(error = %e, "the response store's journal could not be replaced; it grows until it can");
        }
        Ok(())
    }

    /// Whether answers wait in the journal to be written to the database.
    #[cfg(test)]
    pub(super) fn has_pending(&self) -> bool {
        !self.lock().pending.is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Tail {
    /// Replaces the file by one of the next generation holding only the
    /// records not yet in the database, written beside it and renamed over
    /// it: a crash leaves either file whole, and the database's position
    /// names the old generation, so either replays exactly those records.
    fn rotate(&mut self, path: &Path) -> io::Result<()> {
        let next = next_path(path);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(FILE_MODE)
            .open(&next)?;
        file.set_len(0)?;
        file.try_lock().map_err(io::Error::other)?;
        let generation = self.generation + 1;
        let mut text = header_bytes(generation).to_vec();
        for entry in &self.pending {
            text.extend_from_slice(&entry.record);
        }
        file.write_all(&text)?;
        std::fs::rename(&next, path)?;
        self.file = file;
        self.generation = generation;
        self.end = text.len() as u64;
        Ok(())
    }

    /// Empties the file and writes the next generation's header. Called
    /// only when everything in it is in the database.
    fn restart(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.generation += 1;
        self.file.write_all(&header_bytes(self.generation))?;
        self.end = HEADER;
        Ok(())
    }
}

/// Where a replacement journal is written before it is renamed over it.
fn next_path(path: &Path) -> PathBuf {
    let mut next = path.as_os_str().to_owned();
    next.push(".next");
    PathBuf::from(next)
}

fn header_bytes(generation: u64) -> [u8; HEADER as usize] {
    let mut header = [0; HEADER as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..].copy_from_slice(&generation.to_le_bytes());
    header
}

/// `batch` and the position it reaches, in one transaction.
fn write(state: &mut State, batch: &[Entry], generation: u64, end: u64) -> Result<(), StoreError> {
    let tx = state.conn.transaction()?;
    let mut added = 0;
    for row in batch.iter().filter_map(Entry::row) {
        added += db::put_row(&tx, &row, None)?;
    }
    set_position(&tx, generation, end)?;
    tx.commit()?;
    state.total_bytes += added;
    Ok(())
}

/// The journal's generation and offset the database holds it up to.
fn position(conn: &Connection) -> Result<(u64, u64), StoreError> {
    let found: Option<(i64, i64)> = conn
        .query_row(
            "SELECT generation, applied FROM journal WHERE id = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (generation, applied) = found.unwrap_or((0, 0));
    Ok((
        u64::try_from(generation).unwrap_or(0),
        u64::try_from(applied).unwrap_or(0),
    ))
}

fn set_position(tx: &Transaction<'_>, generation: u64, end: u64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO journal (id, generation, applied) VALUES (0, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET generation = excluded.generation, applied = excluded.applied",
    )?
    .execute(params![
        i64::try_from(generation).unwrap_or(i64::MAX),
        i64::try_from(end).unwrap_or(i64::MAX)
    ])?;
    Ok(())
}

/// The generation a file's header names; `None` for an empty or damaged
/// header.
fn header(text: &[u8]) -> Option<u64> {
    let header = text.get(..HEADER as usize)?;
    if &header[..8] != MAGIC {
        return None;
    }
    Some(u64::from_le_bytes(header[8..].try_into().ok()?))
}

/// The whole records from `start` on, up to the first that is cut short
/// or damaged.
fn records(text: &[u8], start: u64) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut at = usize::try_from(start).unwrap_or(usize::MAX);
    while let Some(head) = text.get(at..at.saturating_add(RECORD_HEAD)) {
        let (len, sum) = head.split_at(4);
        let len = u32::from_le_bytes(len.try_into().unwrap_or_default()) as usize;
        let sum = u64::from_le_bytes(sum.try_into().unwrap_or_default());
        let Some(payload) = text.get(at + RECORD_HEAD..at + RECORD_HEAD + len) else {
            break;
        };
        if xxh3_64(payload) != sum || decode(payload).is_none() {
            break;
        }
        entries.push(Entry {
            record: text[at..at + RECORD_HEAD + len].to_vec(),
        });
        at += RECORD_HEAD + len;
    }
    entries
}

/// `row` as a record; `None` if it is too long for one (4 GiB).
fn encode(row: &Row<'_>) -> Option<Vec<u8>> {
    let fields = [
        Some(row.id),
        row.previous_response_id,
        Some(row.input),
        Some(row.response),
    ];
    let len = 8 + fields
        .iter()
        .map(|f| 5 + f.map_or(0, str::len))
        .sum::<usize>();
    let mut record = Vec::with_capacity(RECORD_HEAD + len);
    record.extend_from_slice(&u32::try_from(len).ok()?.to_le_bytes());
    record.extend_from_slice(&[0; 8]);
    record.extend_from_slice(&row.at.to_le_bytes());
    for field in fields {
        record.push(u8::from(field.is_some()));
        let field = field.unwrap_or_default();
        record.extend_from_slice(&u32::try_from(field.len()).ok()?.to_le_bytes());
        record.extend_from_slice(field.as_bytes());
    }
    let sum = xxh3_64(&record[RECORD_HEAD..]);
    record[4..RECORD_HEAD].copy_from_slice(&sum.to_le_bytes());
    Some(record)
}

/// A record's payload: when it was kept, then the id, the previous
/// response's id, the input's and the response's JSON texts, each a
/// presence byte, a `u32` length and UTF-8.
fn decode(payload: &[u8]) -> Option<Row<'_>> {
    let (at, mut rest) = payload.split_at_checked(8)?;
    let mut field = || -> Option<Option<&str>> {
        let (&present, after) = rest.split_first()?;
        let (len, after) = after.split_at_checked(4)?;
        let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
        let (text, after) = after.split_at_checked(len)?;
        rest = after;
        let text = std::str::from_utf8(text).ok()?;
        Some((present == 1).then_some(text))
    };
    let row = Row {
        id: field()??,
        previous_response_id: field()?,
        input: field()??,
        response: field()??,
        at: i64::from_le_bytes(at.try_into().ok()?),
    };
    rest.is_empty().then_some(row)
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
