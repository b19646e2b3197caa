//! The store's operations on its one SQLite connection, synchronous: the
//! async [`super::Store`] runs them on the blocking pool. Times are
//! milliseconds since the epoch, passed in so tests can age the data.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::{Value, json};

use super::continuity::for_upstream;
use super::open::{self, OpenError};
use super::writer::Writer;
use super::{StoreError, StoreOptions, StoredResponse};

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
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) conn: Connection,
    /// The sum of the `bytes` column, kept as rows come and go.
    pub(super) total_bytes: i64,
    pub(super) last_sweep: i64,
}

/// One response of a chain, as read back.
struct Link {
    previous_response_id: Option<String>,
    visible: bool,
    input: Vec<Value>,
    response: Value,
}

impl Db {
    /// Opens (creating if needed) the store `options` describe.
    pub fn open(options: &StoreOptions) -> Result<Db, OpenError> {
        let (conn, path) = open::connect(options)?;
        let total_bytes = conn
            .query_row("SELECT COALESCE(SUM(bytes), 0) FROM responses", [], |r| {
                r.get(0)
            })
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
            }),
        })
    }

    /// Stored JSON bytes, the quantity `max_bytes` bounds.
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
    pub fn put_with_input(
        &self,
        response: &StoredResponse,
        input: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let body = serde_json::to_string(&response.response)?;
        let bytes = i64::try_from(input.len() + body.len()).unwrap_or(i64::MAX);
        let mut state = self.lock();
        let tx = state.conn.transaction()?;
        let parent = response.previous_response_id.as_deref();
        let depth: i64 = match parent {
            Some(parent) => tx
                .query_row(
                    "SELECT depth + 1 FROM responses WHERE id = ?1",
                    [parent],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0),
            None => 0,
        };
        let replaced: i64 = tx
            .query_row(
                "SELECT bytes FROM responses WHERE id = ?1",
                [&response.id],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        tx.execute(
            "INSERT INTO responses
                 (id, previous_response_id, depth, touched_at, hidden, bytes, input, response)
             VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET
                 previous_response_id = excluded.previous_response_id,
                 depth = excluded.depth, touched_at = excluded.touched_at, hidden = 0,
                 bytes = excluded.bytes, input = excluded.input, response = excluded.response",
            params![response.id, parent, depth, now, bytes, input, body],
        )?;
        if let Some(parent) = parent {
            touch_chain(&tx, parent, now)?;
        }
        tx.commit()?;
        state.total_bytes += bytes - replaced;
        Ok(state.total_bytes > self.inner.max_bytes
            || now.saturating_sub(state.last_sweep) >= SWEEP_INTERVAL_MS)
    }

    /// The response `id`, unless unknown, deleted or unused past the TTL.
    pub fn get(&self, id: &str, now: i64) -> Result<Option<StoredResponse>, StoreError> {
        let state = self.lock();
        let row = state
            .conn
            .query_row(
                "SELECT previous_response_id, input, response FROM responses
                 WHERE id = ?1 AND hidden = 0 AND touched_at >= ?2",
                params![id, self.cutoff(now)],
                |r| Ok((r.get(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)),
            )
            .optional()?;
        drop(state);
        let Some((previous_response_id, input, response)) = row else {
            return Ok(None);
        };
        Ok(Some(StoredResponse {
            id: id.to_owned(),
            previous_response_id,
            input: input_of(id, &input)?,
            response: serde_json::from_str(&response)?,
        }))
    }

    /// Deletes `id`; `false` when there is no such visible response. One that
    /// others continue is hidden and cut down to its items until they go.
    pub fn delete(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let tx = state.conn.transaction()?;
        let row: Option<(Option<String>, i64, String, String)> = tx
            .query_row(
                "SELECT previous_response_id, bytes, input, response FROM responses
                 WHERE id = ?1 AND hidden = 0 AND touched_at >= ?2",
                params![id, self.cutoff(now)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((parent, bytes, input, response)) = row else {
            return Ok(false);
        };
        let continued: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM responses WHERE previous_response_id = ?1)",
            [id],
            |r| r.get(0),
        )?;
        let delta = if continued {
            let response: Value = serde_json::from_str(&response)?;
            let kept = json!({"id": id, "output": response.get("output")}).to_string();
            let kept_bytes = i64::try_from(input.len() + kept.len()).unwrap_or(i64::MAX);
            tx.execute(
                "UPDATE responses SET hidden = 1, response = ?2, bytes = ?3 WHERE id = ?1",
                params![id, kept, kept_bytes],
            )?;
            kept_bytes - bytes
        } else {
            tx.execute("DELETE FROM responses WHERE id = ?1", [id])?;
            -bytes - prune_hidden_above(&tx, parent)?
        };
        tx.commit()?;
        state.total_bytes += delta;
        Ok(true)
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

    /// The items to send before a new input that continues `id`: every turn's
    /// input and output, oldest first, as the backend takes them back.
    pub fn expand(&self, id: &str, now: i64) -> Result<Vec<Value>, StoreError> {
        let not_found = |id: &str| StoreError::PreviousResponseNotFound(id.to_owned());
        let chain = self.chain(id, now)?.ok_or_else(|| not_found(id))?;
        if let Some(missing) = chain
            .first()
            .and_then(|l| l.previous_response_id.as_deref())
        {
            return Err(not_found(missing));
        }
        let mut items = Vec::new();
        for link in chain {
            items.extend(link.input.iter().filter_map(for_upstream));
            items.extend(output_of(link.response).iter().filter_map(for_upstream));
        }
        Ok(items)
    }

    /// `id` and the responses above it, oldest first; `None` unless `id`
    /// itself is visible and in use. A chain cut short (an ancestor gone)
    /// shows as a first link that still names a previous response.
    fn chain(&self, id: &str, now: i64) -> Result<Option<Vec<Link>>, StoreError> {
        let state = self.lock();
        let mut statement = state.conn.prepare_cached(
            "WITH RECURSIVE chain (id, n) AS (
                 SELECT ?1, 0
                 UNION ALL
                 SELECT r.previous_response_id, c.n + 1 FROM responses r JOIN chain c ON r.id = c.id
                 WHERE r.previous_response_id IS NOT NULL AND c.n < ?3)
             SELECT r.previous_response_id, r.hidden = 0 AND r.touched_at >= ?2, r.input, r.response,
                 r.id
             FROM chain c JOIN responses r ON r.id = c.id ORDER BY c.n DESC",
        )?;
        let rows: Vec<(Option<String>, bool, String, String, String)> = statement
            .query_map(params![id, self.cutoff(now), MAX_CHAIN], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        drop(statement);
        drop(state);
        let mut chain = Vec::with_capacity(rows.len());
        for (previous_response_id, visible, input, response, id) in rows {
            chain.push(Link {
                previous_response_id,
                visible,
                input: input_of(&id, &input)?,
                response: serde_json::from_str(&response)?,
            });
        }
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

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic mid-transaction rolled it back; the connection is sound.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marks `id` and every response above it as used at `now`, which keeps a
/// continued conversation from ageing out under its newest turn.
fn touch_chain(tx: &Transaction<'_>, id: &str, now: i64) -> Result<(), StoreError> {
    tx.execute(
        "WITH RECURSIVE chain (id, n) AS (
             SELECT ?1, 0
             UNION ALL
             SELECT r.previous_response_id, c.n + 1 FROM responses r JOIN chain c ON r.id = c.id
             WHERE r.previous_response_id IS NOT NULL AND c.n < ?3)
         UPDATE responses SET touched_at = MAX(touched_at, ?2)
         WHERE id IN (SELECT id FROM chain)",
        params![id, now, MAX_CHAIN],
    )?;
    Ok(())
}

/// Deletes hidden responses above `parent` that nothing continues any more;
/// returns the bytes freed.
fn prune_hidden_above(tx: &Transaction<'_>, parent: Option<String>) -> Result<i64, StoreError> {
    let mut freed = 0;
    let mut next = parent;
    while let Some(id) = next {
        let removed: Option<(Option<String>, i64)> = tx
            .query_row(
                "DELETE FROM responses WHERE id = ?1 AND hidden = 1
                 AND NOT EXISTS (SELECT 1 FROM responses c WHERE c.previous_response_id = ?1)
                 RETURNING previous_response_id, bytes",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((above, bytes)) = removed else { break };
        freed += bytes;
        next = above;
    }
    Ok(freed)
}

/// A stored input list, its items given their ids: those written as the
/// client sent them ([`Db::put_with_input`]) have none yet, and the ones
/// given at writing are kept.
fn input_of(id: &str, text: &str) -> Result<Vec<Value>, StoreError> {
    let mut items: Vec<Value> = serde_json::from_str(text)?;
    super::list::assign_ids(&mut items, id, "in");
    Ok(items)
}

fn output_of(response: Value) -> Vec<Value> {
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
