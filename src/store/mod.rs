//! Stored responses: the state the Codex backend does not keep.
//!
//! The backend must be sent `store: false`, so `previous_response_id`,
//! `GET /v1/responses/{id}` and `input_items` work only if the proxy keeps
//! each answer itself. This module keeps them in an embedded database and
//! expands a `previous_response_id` into the full, stateless input.
//!
//! # Why SQLite (rusqlite, bundled)
//! Its crash behaviour is the most tested of any embedded store: with WAL and
//! `synchronous = NORMAL` a committed transaction survives `kill -9` (power
//! loss may take the last moments' commits, not the file; see
//! docs/RESILIENCE.md), a torn write is rolled back on the next open, and a damaged file is
//! reported as such rather than misread. Recursive queries walk a chain of
//! responses in one statement, and users can inspect the file with the
//! `sqlite3` shell. Bundling pins the tested SQLite instead of the host's.
//!
//! # Layout of the data
//! A response is stored with only its own new input and its output, plus a
//! link to the response it continued: a conversation of n turns costs n
//! deltas, not n² copies. Every write "touches" the whole chain above it, so
//! age and size eviction (least recently used first, deepest first among
//! equals) never drops a response while a response continuing it remains. A
//! response deleted by the client while others continue it is hidden and
//! trimmed to its items (they are part of its successors' input) until those
//! go too.
//!
//! A client that sends the whole history on every turn instead (the SDKs
//! over HTTP) sends a long input that repeats the previous turn's up to
//! where it grew. Such an input (from two blocks of 64 KiB up) is kept as
//! content-addressed, compressed blocks shared by every response whose
//! input holds them (`blocks.rs`), so a turn writes the blocks from where
//! its history grew, not the whole history again.
//!
//! # Concurrency
//! One connection behind a mutex: SQLite takes one writer at a time anyway,
//! every operation here is a few small statements, and one connection keeps
//! the running size total exact and needs no `SQLITE_BUSY` retries. Reads
//! run on the blocking pool; commits and evictions on the store's writer
//! thread (`writer.rs`), because a checkpoint (every few MiB of WAL) does
//! fsync, which must not stall the threads serving connections.
//!
//! A short answer does not wait for SQLite at all: it is appended to the
//! journal beside the database in one `write` (`journal.rs`), which survives
//! a crash of the process as a commit does, and the writer moves what
//! gathered there into the database a moment later in one transaction.
//! Taking the connection moves it first, so every operation sees every
//! answer kept before it.
//!
//! Contents (prompts, answers) are never logged; errors name ids and paths only.

mod blocks;
pub mod continuity;
mod db;
mod delete;
mod evict;
mod expand;
mod handle;
mod journal;
pub mod list;
mod open;
mod schema;
mod writer;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub use crate::config::store as options;
pub use db::Db;
pub use evict::Evicted;
pub use expand::Expanded;
pub use handle::{Input, Store};
pub use list::{Cursor, ListQuery, Order, Page};
pub use open::OpenError;
pub use options::{StoreMode, StoreOptions};

/// A response as the client saw it, with what it takes to continue it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    /// `resp_…`, the response object's `id`.
    pub id: String,
    /// The response this one continued, the object's `previous_response_id`.
    pub previous_response_id: Option<String>,
    /// This turn's own input items, as forwarded (a string input already a
    /// message); earlier turns' items are reached through the chain.
    pub input: Vec<Value>,
    /// The Response object: `id`, `status`, `output`, `usage`, `created_at`,
    /// `model`, `instructions`, `metadata`, …, with the reasoning items'
    /// `encrypted_content` kept (strip it for a client that did not ask).
    pub response: Value,
}

impl StoredResponse {
    /// Takes the id and the chain link from the response object itself, and
    /// gives every input and output item an id (for `input_items` cursors).
    /// The object is the one the client gets, so its `previous_response_id`
    /// is the client's (the backend never saw one) and its `output` is the
    /// backend's, reasoning `encrypted_content` included.
    pub fn new(mut response: Value, mut input: Vec<Value>) -> Result<Self, StoreError> {
        let id = response
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .ok_or(StoreError::NotAResponse)?
            .to_owned();
        let previous_response_id = response
            .get("previous_response_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if previous_response_id.as_deref() == Some(id.as_str()) {
            return Err(StoreError::NotAResponse);
        }
        let Some(Value::Array(output)) = response.get_mut("output") else {
            return Err(StoreError::NotAResponse);
        };
        list::assign_ids(output, &id, "out");
        list::assign_ids(&mut input, &id, "in");
        Ok(StoredResponse {
            id,
            previous_response_id,
            input,
            response,
        })
    }

    /// The output items, `encrypted_content` included.
    pub fn output(&self) -> &[Value] {
        self.response
            .get("output")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// `completed`, `incomplete`, `failed`, … as the backend said.
    pub fn status(&self) -> Option<&str> {
        self.response.get("status").and_then(Value::as_str)
    }
}

/// An answer as the store writes it: the response object's JSON text, and
/// its id and the response it continued, read from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub(crate) id: String,
    pub(crate) previous_response_id: Option<String>,
    pub(crate) response: String,
}

impl Answer {
    /// `stored` as the store writes it.
    pub fn of(stored: &StoredResponse) -> Result<Answer, StoreError> {
        Ok(Answer {
            id: stored.id.clone(),
            previous_response_id: stored.previous_response_id.clone(),
            response: serde_json::to_string(&stored.response)?,
        })
    }

    /// A response object's JSON text as it is, when [`StoredResponse::new`]
    /// would change nothing in it: a non-empty `id`, no link to itself, and
    /// an `output` list whose items all have their `type` and `id` already
    /// (the backend's do). `None`: go through [`StoredResponse::new`].
    pub fn from_json(response: String) -> Option<Answer> {
        use std::borrow::Cow;
        #[derive(serde::Deserialize)]
        struct Head<'a> {
            #[serde(borrow)]
            id: Cow<'a, str>,
            #[serde(borrow, default)]
            previous_response_id: Option<Cow<'a, str>>,
            #[serde(borrow)]
            output: Vec<Item<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Item<'a> {
            #[serde(borrow, rename = "type")]
            _kind: Cow<'a, str>,
            #[serde(borrow)]
            id: Cow<'a, str>,
        }
        let head: Head<'_> = serde_json::from_str(&response).ok()?;
        let whole = !head.id.is_empty()
            && head.previous_response_id.as_deref() != Some(&head.id)
            && head.output.iter().all(|item| !item.id.is_empty());
        let answer = whole.then(|| {
            (
                head.id.into_owned(),
                head.previous_response_id.map(Cow::into_owned),
            )
        })?;
        Some(Answer {
            id: answer.0,
            previous_response_id: answer.1,
            response,
        })
    }
}

/// Why a store operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The public API's wording, for a 400 `previous_response_not_found`.
    #[error("Previous response with id '{0}' not found.")]
    PreviousResponseNotFound(String),
    #[error(
        "the response store is off (store mode `off`), so stored responses and \
         previous_response_id are not available"
    )]
    Off,
    #[error(
        "the response store is unavailable ({reason}), so stored responses and previous_response_id are not available"
    )]
    Unavailable { reason: Arc<str> },
    #[error("No item with id '{id}' is in this list (`{param}`).")]
    CursorNotFound { param: Cursor, id: String },
    #[error(
        "a stored response needs a non-empty string `id`, an `output` list, and no link to itself"
    )]
    NotAResponse,
    #[error("the response store failed: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("the response store holds a record that is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the response store could not pack or unpack a block: {0}")]
    Block(#[from] std::io::Error),
    #[error("the response store lost blocks of the input of '{0}'")]
    MissingBlocks(String),
    #[error("the response store's worker stopped: {0}")]
    Worker(#[from] tokio::task::JoinError),
    #[error("the response store's writer thread stopped")]
    WriterStopped,
    #[error("the response store's journal failed: {0}")]
    Journal(std::io::Error),
}

impl StoreError {
    /// The HTTP status a client should get for it.
    pub fn status(&self) -> u16 {
        match self {
            StoreError::PreviousResponseNotFound(_)
            | StoreError::CursorNotFound { .. }
            | StoreError::Off
            | StoreError::NotAResponse => 400,
            StoreError::Unavailable { .. } => 503,
            StoreError::Database(_)
            | StoreError::Json(_)
            | StoreError::Block(_)
            | StoreError::MissingBlocks(_)
            | StoreError::Worker(_)
            | StoreError::WriterStopped
            | StoreError::Journal(_) => 500,
        }
    }

    /// The error `code` and `param` of the OpenAI-shaped body, where the
    /// public API has them.
    pub fn code_and_param(&self) -> Option<(&'static str, &'static str)> {
        match self {
            StoreError::PreviousResponseNotFound(_) => {
                Some(("previous_response_not_found", "previous_response_id"))
            }
            StoreError::CursorNotFound { param, .. } => Some((
                "invalid_value",
                match param {
                    Cursor::After => "after",
                    Cursor::Before => "before",
                },
            )),
            StoreError::Off
            | StoreError::Unavailable { .. }
            | StoreError::NotAResponse
            | StoreError::Database(_)
            | StoreError::Json(_)
            | StoreError::Block(_)
            | StoreError::MissingBlocks(_)
            | StoreError::Worker(_)
            | StoreError::WriterStopped
            | StoreError::Journal(_) => None,
        }
    }
}

/// How often the daemon sweeps the store: expired responses are invisible
/// at once, so this only bounds how long their bytes stay on disk.
pub const SWEEP_PERIOD: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Milliseconds since the epoch: the store's clock for ages.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "blocks_tests.rs"]
mod blocks_tests;

#[cfg(test)]
#[path = "crash_tests.rs"]
mod crash_tests;

/// The client's error for a store that could not answer: a missing
/// response is the client's mistake, a broken store the server's.
impl From<StoreError> for crate::error::ApiError {
    fn from(e: StoreError) -> Self {
        use crate::error::{ApiError, ErrorKind};
        use axum::http::StatusCode;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (kind, code) = match &e {
            StoreError::PreviousResponseNotFound(_)
            | StoreError::CursorNotFound { .. }
            | StoreError::NotAResponse => (ErrorKind::InvalidRequest, None),
            StoreError::Off => (ErrorKind::InvalidRequest, Some("response_store_off")),
            StoreError::Unavailable { .. } => {
                (ErrorKind::Server, Some("response_store_unavailable"))
            }
            StoreError::Database(_)
            | StoreError::Json(_)
            | StoreError::Block(_)
            | StoreError::MissingBlocks(_)
            | StoreError::Worker(_)
            | StoreError::WriterStopped
            | StoreError::Journal(_) => {
                tracing::warn!(error = %e, "the response store failed");
                (ErrorKind::Server, Some("response_store_failed"))
            }
        };
        let error = ApiError::new(status, kind, code, e.to_string());
        match e.code_and_param() {
            Some((code, param)) => error.with_code(code).with_param(param),
            None => error,
        }
    }
}
