//! The store's operations on its one SQLite connection, synchronous: the
//! async [`super::Store`] runs them on the blocking pool. Times are
//! milliseconds since the epoch, passed in so tests can age the data.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;

use super::blocks::{self, Linked};
use super::journal::{Appended, JOURNAL_FILE, Journal};
use super::open::{self, OpenError};
use super::writer::Writer;
use super::{Answer, StoreError, StoreOptions, StoredResponse};

/// Expired responses are looked for on a write at most this often (and
/// whenever the daemon's timer calls [`Db::evict`]).
pub(super) const SWEEP_INTERVAL_MS: i64 = 10 * 60 * 1000;

/// A chain is followed this far at most: a bound on a walk over data read
/// back from disk, far past any real conversation.
const MAX_CHAIN: i64 = 100_000;

/// The database, shared by every clone.
#[derive(Debug, Clone)]
pub struct Db {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    state: Mutex<State>,
    pub(super) max_bytes: i64,
    ttl_ms: i64,
    /// Set while an eviction runs, so a second one returns at once.
    pub(super) evicting: AtomicBool,
    /// The thread commits run on, started with the first.
    writer: OnceLock<Option<Writer>>,
    /// Short answers are kept here first (on disk only; unset in memory
    /// or while another process holds it).
    journal: OnceLock<Journal>,
    /// Where the journal is, on disk. One another process held at open (a
    /// daemon still draining while its successor starts) is tried again,
    /// at most once a [`JOURNAL_RETRY`], when an answer is kept.
    journal_path: Option<PathBuf>,
    journal_tried: Mutex<Instant>,
}

/// How often a journal another process holds is tried again.
const JOURNAL_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(super) struct State {
    pub(super) conn: Connection,
    /// The sum of the `bytes` column, kept as rows come and go.
    pub(super) total_bytes: i64,
    pub(super) last_sweep: i64,
}

/// One response of a chain as stored: its input list's JSON text and its
/// response's.
pub(super) struct StoredText {
    pub(super) previous_response_id: Option<String>,
    pub(super) visible: bool,
    pub(super) input: Vec<u8>,
    pub(super) response: String,
    pub(super) id: String,
}

/// One response of a chain, as read back.
struct Link {
    input: Vec<Value>,
    response: Value,
}

impl Db {
    /// Opens (creating if needed) the store `options` describe.
    pub fn open(options: &StoreOptions) -> Result<Db, OpenError> {
        let (mut conn, path) = open::connect(options)?;
        let journal_path = path.as_ref().map(|path| path.with_file_name(JOURNAL_FILE));
        let journal = OnceLock::new();
        if let Some(path) = &journal_path {
            let opened = Journal::open(path, &mut conn).map_err(|e| OpenError::Journal {
                path: path.clone(),
                source: Box::new(e),
            })?;
            if let Some(opened) = opened {
                let _ = journal.set(opened);
            }
        }
        let total_bytes = stored_total(&conn)
            .map_err(|e| open::classify(path.as_deref().unwrap_or(Path::new(":memory:")), e))?;
        Ok(Db {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    conn,
                    total_bytes,
                    last_sweep: 0,
                }),
                max_bytes: i64::try_from(options.max_bytes).unwrap_or(i64::MAX),
                ttl_ms: i64::try_from(options.ttl.as_millis()).unwrap_or(i64::MAX),
                evicting: AtomicBool::new(false),
                writer: OnceLock::new(),
                journal,
                journal_path,
                journal_tried: Mutex::new(Instant::now()),
            }),
        })
    }

    /// Stored bytes, the quantity `max_bytes` bounds: the JSON text in the
    /// responses' rows and the compressed blocks of long inputs, each once.
    pub fn stored_bytes(&self) -> u64 {
        u64::try_from(self.lock().total_bytes).unwrap_or(0)
    }

    /// Commits `response` and marks its whole chain as used at `now`.
    /// Returns whether an eviction is due (over the size bound, or no sweep
    /// for a while).
    pub fn put(&self, response: &StoredResponse, now: i64) -> Result<bool, StoreError> {
        self.put_with_input(response, &serde_json::to_string(&response.input)?, now)
    }

    /// [`Db::put`] with this turn's input as the JSON text of its list, as
    /// the client sent it (`response.input` is not read): a long input is
    /// written as it came, not parsed and written again. Its items get
    /// their ids when read, the same ones [`StoredResponse::new`] gives.
    /// A long input is stored as blocks ([`super::blocks`]): only those no
    /// earlier response's input holds are written.
    pub fn put_with_input(
        &self,
        response: &StoredResponse,
        input: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let names = blocks::names(input.as_bytes());
        self.put_answer(&Answer::of(response)?, input, names.as_deref(), now)
    }

    /// Compresses the blocks of `input` the store lacks, into `names`
    /// ([`blocks::compress`]), or takes them from `frames`, the body's
    /// compression of the same text ([`blocks::frames_of`]). The database
    /// is held only to look them up. A failure leaves the work to the
    /// commit.
    pub(super) fn compress_missing(
        &self,
        input: &[u8],
        names: &mut [blocks::Name],
        frames: Option<std::sync::mpsc::Receiver<crate::wire::blocks::InputFrames>>,
    ) {
        let missing = {
            let state = self.lock();
            blocks::missing(&state.conn, names)
        };
        let done = missing.and_then(|missing| {
            let sent = match frames {
                Some(frames) if !missing.is_empty() => blocks::frames_of(input, frames),
                _ => None,
            };
            blocks::compress(input, names, &missing, sent.as_deref())
        });
        if let Err(e) = done {
            tracing::debug!(error = %e, "the new blocks are left for the commit to compress");
        }
    }

    /// [`Db::put_with_input`] with the names of a long input's blocks
    /// already made ([`blocks::names`]); `None`: the input stays inline.
    pub(super) fn put_answer(
        &self,
        answer: &Answer,
        input: &str,
        names: Option<&[blocks::Name]>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let row = Row::new(answer, input, now);
        let mut state = self.lock();
        let tx = state.conn.transaction()?;
        let added = put_row(&tx, &row, names)?;
        tx.commit()?;
        state.total_bytes += added;
        Ok(self.due(&state, now))
    }

    /// Keeps a short answer in the journal: once this returns
    /// [`Appended::Yes`] it survives a crash of the process, and every
    /// operation on the store sees it. [`Appended::No`]: commit it with
    /// [`Db::put_with_input`] instead.
    pub(super) fn journal(&self, answer: &Answer, input: &str, now: i64) -> Appended {
        match self.inner.journal.get() {
            Some(journal) => journal.append(&Row::new(answer, input, now)),
            None => {
                self.retry_journal();
                Appended::No
            }
        }
    }

    /// Tries again, on the writer, to take a journal another process held:
    /// once it has, its records are written to the database and answers
    /// are journalled from then on.
    fn retry_journal(&self) {
        let Some(path) = self.inner.journal_path.clone() else {
            return;
        };
        {
            let mut tried = self
                .inner
                .journal_tried
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if tried.elapsed() < JOURNAL_RETRY {
                return;
            }
            *tried = Instant::now();
        }
        let db = self.clone();
        let adopt = move || {
            let mut state = db.lock();
            if db.inner.journal.get().is_some() {
                return;
            }
            let opened = Journal::open(&path, &mut state.conn).and_then(|opened| {
                state.total_bytes = stored_total(&state.conn)?;
                Ok(opened)
            });
            match opened {
                Ok(Some(journal)) => {
                    let _ = db.inner.journal.set(journal);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the response store's journal could not be taken")
                }
            }
        };
        if let Ok(writer) = self.writer() {
            let _ = writer.submit(adopt);
        }
    }

    /// Writes the journalled answers to the database (as taking the
    /// database does); returns whether an eviction is due.
    pub(super) fn settle(&self, now: i64) -> bool {
        let state = self.lock();
        self.due(&state, now)
    }

    /// Whether an eviction is due: over the size bound, or no sweep for a
    /// while.
    pub(super) fn due(&self, state: &State, now: i64) -> bool {
        state.total_bytes > self.inner.max_bytes
            || now.saturating_sub(state.last_sweep) >= SWEEP_INTERVAL_MS
    }

    /// The response `id`, unless unknown, deleted or unused past the TTL.
    pub fn get(&self, id: &str, now: i64) -> Result<Option<StoredResponse>, StoreError> {
        let state = self.lock();
        let row = state
            .conn
            .prepare_cached(
                "SELECT previous_response_id, input, response, input_blocks FROM responses
                 WHERE id = ?1 AND hidden = 0 AND touched_at >= ?2",
            )?
            .query_row(params![id, self.cutoff(now)], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, String>(1)?.into_bytes(),
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .optional()?;
        let Some((previous_response_id, input, response, count)) = row else {
            return Ok(None);
        };
        let input = full_input(&state.conn, id, input, count)?;
        drop(state);
        Ok(Some(StoredResponse {
            id: id.to_owned(),
            previous_response_id,
            input: input_of(id, &input)?,
            response: serde_json::from_str(&response)?,
        }))
    }

    /// The items of every turn up to and including `id`'s own input, oldest
    /// first, with their ids; `None` when `id` is not a visible response.
    pub fn input_items(&self, id: &str, now: i64) -> Result<Option<Vec<Value>>, StoreError> {
        let Some(mut chain) = self.chain(id, now)? else {
            return Ok(None);
        };
        let own = chain.pop().map(|link| link.input).unwrap_or_default();
        let mut items = Vec::new();
        for link in chain {
            items.extend(link.input);
            items.extend(output_of(link.response));
        }
        items.extend(own);
        Ok(Some(items))
    }

    /// `id` and the responses above it, oldest first; `None` unless `id`
    /// itself is visible and in use. A chain cut short (an ancestor gone)
    /// shows as a first link that still names a previous response.
    fn chain(&self, id: &str, now: i64) -> Result<Option<Vec<Link>>, StoreError> {
        let Some(rows) = self.chain_text(id, now)? else {
            return Ok(None);
        };
        rows.into_iter()
            .map(|row| {
                Ok(Link {
                    input: input_of(&row.id, &row.input)?,
                    response: serde_json::from_str(&row.response)?,
                })
            })
            .collect::<Result<_, StoreError>>()
            .map(Some)
    }

    /// [`Db::chain`] as the text it is stored as: each input list as the
    /// client sent it (its blocks put back together), each response's JSON.
    pub(super) fn chain_text(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<Vec<StoredText>>, StoreError> {
        let state = self.lock();
        let mut statement = state.conn.prepare_cached(
            "WITH RECURSIVE chain (id, n) AS (
                 SELECT ?1, 0
                 UNION ALL
                 SELECT r.previous_response_id, c.n + 1 FROM responses r JOIN chain c ON r.id = c.id
                 WHERE r.previous_response_id IS NOT NULL AND c.n < ?3)
             SELECT r.previous_response_id, r.hidden = 0 AND r.touched_at >= ?2, r.input, r.response,
                 r.id, r.input_blocks
             FROM chain c JOIN responses r ON r.id = c.id ORDER BY c.n DESC",
        )?;
        let rows: Vec<(Option<String>, bool, String, String, String, i64)> = statement
            .query_map(params![id, self.cutoff(now), MAX_CHAIN], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        drop(statement);
        let chain = rows
            .into_iter()
            .map(
                |(previous_response_id, visible, input, response, id, count)| {
                    let input = full_input(&state.conn, &id, input.into_bytes(), count)?;
                    Ok(StoredText {
                        previous_response_id,
                        visible,
                        input,
                        response,
                        id,
                    })
                },
            )
            .collect::<Result<Vec<_>, StoreError>>()?;
        drop(state);
        // Ordered oldest first, so `id` itself is the last link.
        Ok(chain.last().is_some_and(|l| l.visible).then_some(chain))
    }

    /// The writer thread, started on first use.
    pub(super) fn writer(&self) -> Result<&Writer, StoreError> {
        self.inner
            .writer
            .get_or_init(|| Writer::start().ok())
            .as_ref()
            .ok_or(StoreError::WriterStopped)
    }

    pub(super) fn cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.inner.ttl_ms)
    }

    /// The connection, with every answer journalled so far written to it
    /// first: whatever takes the database sees every answer kept before.
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic mid-transaction rolled it back; the connection is sound.
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(journal) = self.inner.journal.get()
            && let Err(e) = journal.settle(&mut state)
        {
            tracing::warn!(error = %e, "journalled answers could not be written to the response store yet");
        }
        state
    }
}

/// One response's row as it is written: its input list's JSON text as the
/// client sent it, the response object's, and when it was kept.
pub(super) struct Row<'a> {
    pub(super) id: &'a str,
    pub(super) previous_response_id: Option<&'a str>,
    pub(super) input: &'a str,
    pub(super) response: &'a str,
    pub(super) at: i64,
}

impl<'a> Row<'a> {
    pub(super) fn new(answer: &'a Answer, input: &'a str, at: i64) -> Row<'a> {
        Row {
            id: &answer.id,
            previous_response_id: answer.previous_response_id.as_deref(),
            input,
            response: &answer.response,
            at,
        }
    }
}

/// Writes `row` inside `tx`, replacing a row of the same id, and marks
/// its chain as used; the input is stored as the blocks `names` names
/// when given ([`blocks::split`]), else inline. Returns the stored bytes
/// it added (negative when it replaced a larger row).
pub(super) fn put_row(
    tx: &Transaction<'_>,
    row: &Row<'_>,
    names: Option<&[blocks::Name]>,
) -> Result<i64, StoreError> {
    let split = names.and_then(|names| blocks::split(row.input.as_bytes(), names));
    let inline = if split.is_some() { "" } else { row.input };
    let bytes = i64::try_from(inline.len() + row.response.len()).unwrap_or(i64::MAX);
    let parent = row.previous_response_id;
    let depth: i64 = match parent {
        Some(parent) => tx
            .prepare_cached("SELECT depth + 1 FROM responses WHERE id = ?1")?
            .query_row([parent], |r| r.get(0))
            .optional()?
            .unwrap_or(0),
        None => 0,
    };
    let replaced: Option<i64> = tx
        .prepare_cached("SELECT bytes FROM responses WHERE id = ?1")?
        .query_row([row.id], |r| r.get(0))
        .optional()?;
    // The blocks of the input this one replaces are swept only once the
    // new input has named those it shares.
    let old_blocks = match replaced {
        Some(_) => blocks::unlink(tx, row.id)?,
        None => Vec::new(),
    };
    let linked = match &split {
        Some(split) => blocks::link(tx, row.id, split)?,
        None => Linked::default(),
    };
    tx.prepare_cached(
        "INSERT INTO responses
             (id, previous_response_id, depth, touched_at, hidden, bytes, input, response,
              input_blocks, blocks_bytes)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (id) DO UPDATE SET
             previous_response_id = excluded.previous_response_id,
             depth = excluded.depth, touched_at = excluded.touched_at, hidden = 0,
             bytes = excluded.bytes, input = excluded.input, response = excluded.response,
             input_blocks = excluded.input_blocks, blocks_bytes = excluded.blocks_bytes",
    )?
    .execute(params![
        row.id,
        parent,
        depth,
        row.at,
        bytes,
        inline,
        row.response,
        linked.count,
        linked.referenced
    ])?;
    let freed = blocks::sweep(tx, &old_blocks)?;
    if let Some(parent) = parent {
        touch_chain(tx, parent, row.at)?;
    }
    Ok(bytes + linked.added - replaced.unwrap_or(0) - freed)
}

impl Drop for Inner {
    /// A store closed in order leaves nothing in its journal.
    fn drop(&mut self) {
        if let Some(journal) = self.journal.get() {
            let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
            if let Err(e) = journal.settle(state) {
                tracing::warn!(error = %e, "journalled answers stay in the journal for the next start");
            }
        }
    }
}

/// The stored bytes: every row's, and every block's once.
fn stored_total(conn: &Connection) -> rusqlite::Result<i64> {
    let rows = conn.query_row("SELECT COALESCE(SUM(bytes), 0) FROM responses", [], |r| {
        r.get::<_, i64>(0)
    })?;
    Ok(rows + blocks::total_bytes(conn)?)
}

/// Marks `id` and every response above it as used at `now`, which keeps a
/// continued conversation from ageing out under its newest turn.
fn touch_chain(tx: &Transaction<'_>, id: &str, now: i64) -> Result<(), StoreError> {
    tx.prepare_cached(
        "WITH RECURSIVE chain (id, n) AS (
             SELECT ?1, 0
             UNION ALL
             SELECT r.previous_response_id, c.n + 1 FROM responses r JOIN chain c ON r.id = c.id
             WHERE r.previous_response_id IS NOT NULL AND c.n < ?3)
         UPDATE responses SET touched_at = MAX(touched_at, ?2)
         WHERE id IN (SELECT id FROM chain)",
    )?
    .execute(params![id, now, MAX_CHAIN])?;
    Ok(())
}

/// A stored input list, its items given their ids: those written as the
/// client sent them ([`Db::put_with_input`]) have none yet, and the ones
/// given at writing are kept.
pub(super) fn input_of(id: &str, text: &[u8]) -> Result<Vec<Value>, StoreError> {
    let mut items: Vec<Value> = serde_json::from_slice(text)?;
    super::list::assign_ids(&mut items, id, "in");
    Ok(items)
}

/// A row's input text: `inline` itself, or its `count` blocks put back
/// together.
fn full_input(
    conn: &Connection,
    id: &str,
    inline: Vec<u8>,
    count: i64,
) -> Result<Vec<u8>, StoreError> {
    if count == 0 {
        return Ok(inline);
    }
    blocks::assemble(conn, id, count)
}

pub(super) fn output_of(response: Value) -> Vec<Value> {
    match response {
        Value::Object(mut map) => match map.remove("output") {
            Some(Value::Array(items)) => items,
            Some(_) | None => Vec::new(),
        },
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Array(_) => {
            Vec::new()
        }
    }
}
