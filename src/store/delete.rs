//! Deleting a response at the client's request: gone, or hidden and cut
//! down to its items while other responses continue it.

use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Value, json};

use super::StoreError;
use super::blocks;
use super::db::Db;

impl Db {
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
            -bytes - blocks::release(&tx, id)? - prune_hidden_above(&tx, parent)?
        };
        tx.commit()?;
        state.total_bytes += delta;
        Ok(true)
    }
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
        freed += bytes + blocks::release(tx, &id)?;
        next = above;
    }
    Ok(freed)
}
