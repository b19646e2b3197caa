//! Requests and streams in flight and when the last one ended: what idle
//! exit, `STATUS=` and `/v1/status` read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// Counts requests and streams in flight (an open WebSocket counts as one
/// request), and when the last one ended.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    pub(super) streams: AtomicUsize,
    origin: Instant,
    /// Milliseconds after `origin` when a request last started or ended.
    last_ms: AtomicU64,
    /// Woken when a request starts or ends, for `STATUS=`.
    changed: Arc<tokio::sync::Notify>,
}

impl Default for Activity {
    fn default() -> Self {
        Self::new(Arc::default())
    }
}

impl Activity {
    /// Counters that wake `changed` whenever they move.
    pub fn new(changed: Arc<tokio::sync::Notify>) -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
            changed,
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Streamed answers in flight (counted in [`Activity::in_flight`] too).
    pub fn streams(&self) -> usize {
        self.streams.load(Ordering::SeqCst)
    }

    /// How long since the daemon started.
    pub fn uptime(&self) -> std::time::Duration {
        self.origin.elapsed()
    }

    /// How long nothing has been in flight and no connection was accepted;
    /// zero while a request is in flight.
    pub fn idle_for(&self) -> std::time::Duration {
        if self.in_flight() > 0 {
            return std::time::Duration::ZERO;
        }
        self.quiet_for()
    }

    /// Time since a request last started or ended, or a connection was accepted.
    pub fn quiet_for(&self) -> std::time::Duration {
        let last = std::time::Duration::from_millis(self.last_ms.load(Ordering::SeqCst));
        self.origin.elapsed().saturating_sub(last)
    }

    /// A connection was accepted: it counts as activity until its request starts.
    pub fn connection_accepted(&self) {
        self.touch();
    }

    fn touch(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::SeqCst);
    }

    pub(crate) fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.touch();
        self.changed.notify_one();
    }

    pub(crate) fn end(&self) {
        self.touch();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.changed.notify_one();
    }
}
