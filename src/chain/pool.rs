//! The backend sockets kept for HTTP clients' conversations, one per
//! conversation key: lent to one turn at a time, given back with what the
//! next turn is compared to, closed when idle for `incremental_idle` (below
//! the backend's own 60-minute limit) and, past `incremental_max_sockets`,
//! the least recently used first.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::rule::Base;
use crate::backend::socket::BackendSocket;

/// An open socket and what it has carried.
#[derive(Debug)]
pub struct Held {
    pub socket: Box<BackendSocket>,
    pub opened: Instant,
    /// Turns answered on it.
    pub turns: u64,
}

impl Held {
    pub fn new(socket: Box<BackendSocket>) -> Self {
        Held {
            socket,
            opened: Instant::now(),
            turns: 0,
        }
    }
}

#[derive(Debug)]
struct Slot {
    held: Option<Held>,
    base: Option<Base>,
    /// Lent to a turn in flight.
    busy: bool,
    used: Instant,
}

#[derive(Debug)]
pub struct Pool {
    slots: Mutex<HashMap<String, Slot>>,
    max: usize,
    idle: Duration,
    sweeping: std::sync::Once,
}

/// One conversation's socket (if one is open) and base (if its last turn
/// finished), lent to one turn. Given back with [`Lease::give_back`];
/// dropped instead, the conversation starts over (its socket is gone).
#[derive(Debug)]
pub struct Lease {
    pool: Arc<Pool>,
    key: String,
    pub held: Option<Held>,
    pub base: Option<Base>,
    returned: bool,
}

/// An open conversation socket as `/v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketStatus {
    /// A hash of the conversation key: the key may be a client's session id.
    pub conversation: String,
    pub age_seconds: u64,
    pub idle_seconds: u64,
    pub turns: u64,
    pub in_turn: bool,
}

impl Pool {
    pub fn new(max: usize, idle: Duration) -> Arc<Self> {
        Arc::new(Pool {
            slots: Mutex::default(),
            max: max.max(1),
            idle,
            sweeping: std::sync::Once::new(),
        })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The conversation `key`'s place for one turn; `None` while another
    /// turn of it is in flight (turns do not share a chain), or when every
    /// place is held by a turn in flight.
    pub fn lease(self: &Arc<Self>, key: &str) -> Option<Lease> {
        self.start_sweeping();
        let now = Instant::now();
        let mut closing = Vec::new();
        let mut slots = self.slots();
        if !slots.contains_key(key) && slots.len() >= self.max {
            let oldest = slots
                .iter()
                .filter(|(_, s)| !s.busy)
                .min_by_key(|(_, s)| s.used)
                .map(|(k, _)| k.clone())?;
            closing.extend(slots.remove(&oldest).and_then(|s| s.held));
        }
        let slot = slots.entry(key.to_owned()).or_insert_with(|| Slot {
            held: None,
            base: None,
            busy: false,
            used: now,
        });
        if slot.busy {
            return None;
        }
        if now.duration_since(slot.used) >= self.idle {
            closing.extend(slot.held.take());
            slot.base = None;
        }
        slot.busy = true;
        let lease = Lease {
            pool: self.clone(),
            key: key.to_owned(),
            held: slot.held.take(),
            base: slot.base.take(),
            returned: false,
        };
        drop(slots);
        close_all(closing);
        Some(lease)
    }

    /// The open sockets, most recently used first.
    pub fn status(&self) -> Vec<SocketStatus> {
        let now = Instant::now();
        let slots = self.slots();
        let mut out: Vec<_> = slots
            .iter()
            .filter(|(_, s)| s.busy || s.held.is_some())
            .map(|(key, s)| SocketStatus {
                conversation: hashed(key),
                age_seconds: s
                    .held
                    .as_ref()
                    .map_or(0, |h| now.duration_since(h.opened).as_secs()),
                idle_seconds: now.duration_since(s.used).as_secs(),
                turns: s.held.as_ref().map_or(0, |h| h.turns),
                in_turn: s.busy,
            })
            .collect();
        out.sort_by_key(|s| s.idle_seconds);
        out
    }

    /// Closes the sockets idle for `idle` or longer.
    fn sweep(&self) {
        let now = Instant::now();
        let mut closing = Vec::new();
        self.slots().retain(|_, s| {
            let expired = !s.busy && now.duration_since(s.used) >= self.idle;
            if expired {
                closing.extend(s.held.take());
            }
            !expired
        });
        close_all(closing);
    }

    /// A task that sweeps while the pool lives, started with the first
    /// lease (the pool is built before the runtime runs).
    fn start_sweeping(self: &Arc<Self>) {
        let weak: Weak<Pool> = Arc::downgrade(self);
        let period = (self.idle / 2).clamp(Duration::from_millis(50), Duration::from_secs(30));
        self.sweeping.call_once(|| {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(period).await;
                    let Some(pool) = weak.upgrade() else { break };
                    pool.sweep();
                }
            });
        });
    }
}

impl Lease {
    /// The turn ended with the socket usable: it stays for the
    /// conversation, with `base` for its next turn (`None`: whole).
    pub fn give_back(mut self, held: Held, base: Option<Base>) {
        self.returned = true;
        let mut slots = self.pool.slots();
        if let Some(slot) = slots.get_mut(&self.key) {
            slot.held = Some(held);
            slot.base = base;
            slot.busy = false;
            slot.used = Instant::now();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.returned {
            return;
        }
        self.pool.slots().remove(&self.key);
        close_all(self.held.take());
    }
}

/// Closes sockets in the background: a closing handshake may take a while.
fn close_all(sockets: impl IntoIterator<Item = Held>) {
    for held in sockets {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(held.socket.close());
        }
    }
}

/// A short, stable stand-in for a conversation key.
fn hashed(key: &str) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}
