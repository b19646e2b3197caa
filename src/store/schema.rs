//! The tables, and the steps that bring a file of any earlier version to
//! the current one.
//!
//! Version 1: one row per response, its input as JSON text.
//! Version 2: a long input is kept as content-addressed blocks shared by
//! every response whose input holds them (see [`super::blocks`]); its row
//! keeps an empty `input`, the number of its blocks and what they weigh.
//! Version 3: the journal's position (see [`super::journal`]): which of
//! its records the database holds.

use rusqlite::Connection;

/// The schema this version writes; a file with a higher one is refused.
pub const SCHEMA_VERSION: i64 = 3;

/// Each step takes a file of version `n` (its index) to `n + 1`.
const STEPS: [&str; SCHEMA_VERSION as usize] = [
    "
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY NOT NULL,
    previous_response_id TEXT,
    depth INTEGER NOT NULL,
    touched_at INTEGER NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL,
    input TEXT NOT NULL,
    response TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_by_parent ON responses (previous_response_id);
CREATE INDEX IF NOT EXISTS responses_by_use ON responses (touched_at, depth DESC);
",
    // `bytes` stays what the row itself holds; the blocks are counted once
    // each, in their own table. `blocks_bytes` is the stored size of every
    // block the input references, shared or not: the most deleting the
    // response can free, which eviction uses to choose.
    "
ALTER TABLE responses ADD COLUMN input_blocks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE responses ADD COLUMN blocks_bytes INTEGER NOT NULL DEFAULT 0;
CREATE TABLE blocks (
    id INTEGER PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    bytes INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE response_blocks (
    response_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    block INTEGER NOT NULL,
    PRIMARY KEY (response_id, seq)
) WITHOUT ROWID;
CREATE INDEX response_blocks_by_block ON response_blocks (block);
",
    "
CREATE TABLE journal (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    generation INTEGER NOT NULL,
    applied INTEGER NOT NULL
);
",
];

/// The file's version, read inside the caller's write transaction.
pub(super) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Brings a file of version `found` (at most [`SCHEMA_VERSION`]) up to
/// date, inside the caller's write transaction, so two processes opening
/// one file at once migrate it once.
pub(super) fn migrate(conn: &Connection, found: i64) -> rusqlite::Result<()> {
    let from = usize::try_from(found).unwrap_or(0);
    for step in STEPS.iter().skip(from) {
        conn.execute_batch(step)?;
    }
    if found < SCHEMA_VERSION {
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(())
}

#[cfg(test)]
pub(super) const VERSION_1: &str = STEPS[0];
