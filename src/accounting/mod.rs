//! Token and cache accounting: what each turn cost, per client family and
//! dialect, from the backend's own count in its final event. The doors (the
//! HTTP routes and the WebSocket) give each turn a [`Meter`] and hand its
//! [`TurnRecord`] over when it ends; the record feeds the `/metrics`
//! counters, the summary line, and the [`Ledger`] `/v1/status` reads.
//!
//! - `client`: which program sent a request, from its headers (pure).
//! - `usage`: a turn's [`Usage`] and the [`Meter`] that reads it.
//! - `ledger`: the last turns and the last hour's totals per client.

mod client;
mod ledger;
mod usage;

pub use self::client::Client;
pub use self::ledger::{ClientUsage, Ledger, RECENT_TURNS, Turn, TurnRecord};
pub use self::usage::{Meter, Reading, Usage, cache_hit_ratio};
