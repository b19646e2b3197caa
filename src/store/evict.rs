//! Eviction: responses unused past the TTL, then the least recently used
//! while over the size bound. Run after a write (in the background) and from
//! the daemon's timer, never on a request's path.

use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::params;

use super::StoreError;
use super::blocks;
use super::db::Db;

/// Responses removed per transaction, so a large eviction does not hold the
/// lock (and the writers waiting on it) for long.
const EVICT_BATCH: i64 = 64;

/// Eviction goes down to this share of `max_bytes`, so the writes that follow
/// do not each start another.
const LOW_WATER_PERCENT: i64 = 90;

/// What one eviction removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evicted {
    pub responses: u64,
    pub bytes: u64,
}

/// Clears the running flag however the eviction ends.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Db {
    /// Drops responses unused past the TTL, then the least recently used while
    /// over the size bound, then hidden responses nothing continues any more.
    /// A second call while one runs returns at once.
    pub fn evict(&self, now: i64) -> Result<Evicted, StoreError> {
        if self.inner.evicting.swap(true, Ordering::AcqRel) {
            return Ok(Evicted::default());
        }
        let _running = Running(&self.inner.evicting);
        self.evict_batches(now)
    }

    /// [`Db::evict`] for a background task: counts at debug, failures as a warning.
    pub fn evict_logged(&self, now: i64) {
        match self.evict(now) {
            Ok(Evicted { responses: 0, .. }) => {}
            Ok(done) => tracing::debug!(
                responses = done.responses,
                bytes = done.bytes,
                "evicted stored responses"
            ),
            Err(e) => tracing::warn!(error = %e, "evicting stored responses failed"),
        }
    }

    fn evict_batches(&self, now: i64) -> Result<Evicted, StoreError> {
        let mut done = Evicted::default();
        // Least recently used first, and among equals the deepest first: a
        // response's successors were used no later than it, so any prefix of
        // this order takes a response only with everything continuing it.
        let expired = "DELETE FROM responses WHERE id IN (
                SELECT id FROM responses WHERE touched_at < ?1
                ORDER BY touched_at, depth DESC LIMIT ?2)
            RETURNING id, bytes";
        while self.delete_batch(expired, self.cutoff(now), &mut done)? > 0 {}
        // The shortest prefix of that order that frees `?1` bytes, were no
        // block shared: a response weighs its row and every block its input
        // names, the most deleting it can free, so this never takes more
        // than it must; the loop takes more while blocks shared with
        // responses that stay keep the store over its bound.
        let excess = "DELETE FROM responses WHERE id IN (
                SELECT id FROM (
                    SELECT id, SUM(bytes + blocks_bytes) OVER (ORDER BY touched_at, depth DESC
                        ROWS UNBOUNDED PRECEDING) - bytes - blocks_bytes AS before
                    FROM responses ORDER BY touched_at, depth DESC LIMIT ?2)
                WHERE before < ?1)
            RETURNING id, bytes";
        let low_water = self.inner.max_bytes / 100 * LOW_WATER_PERCENT;
        loop {
            let over = self.lock().total_bytes - low_water;
            if over <= 0 || self.delete_batch(excess, over, &mut done)? == 0 {
                break;
            }
        }
        let orphans = "DELETE FROM responses WHERE id IN (
                SELECT id FROM responses p WHERE hidden = 1 AND touched_at < ?1 AND NOT EXISTS
                (SELECT 1 FROM responses c WHERE c.previous_response_id = p.id) LIMIT ?2)
            RETURNING id, bytes";
        while self.delete_batch(orphans, i64::MAX, &mut done)? > 0 {}
        let mut state = self.lock();
        if done.responses > 0 {
            state.conn.execute_batch("PRAGMA incremental_vacuum;")?;
        }
        state.last_sweep = now;
        Ok(done)
    }

    /// Runs one `DELETE … RETURNING id, bytes` with `(?1 = bound, ?2 =
    /// batch)`, and deletes the blocks only those responses named.
    fn delete_batch(&self, sql: &str, bound: i64, done: &mut Evicted) -> Result<u64, StoreError> {
        let mut state = self.lock();
        let tx = state.conn.transaction()?;
        let removed: Vec<(String, i64)> = tx
            .prepare_cached(sql)?
            .query_map(params![bound, EVICT_BATCH], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut bytes = 0;
        for (id, row) in &removed {
            bytes += row + blocks::release(&tx, id)?;
        }
        tx.commit()?;
        state.total_bytes -= bytes;
        let count = removed.len() as u64;
        done.responses += count;
        done.bytes += u64::try_from(bytes).unwrap_or(0);
        Ok(count)
    }
}
