//! The daemon as Prometheus sees it: requests, durations, time to first event,
//! upstream errors, token refreshes, turns and tokens per client family, and
//! each login's usage windows and cooldown, in the OpenMetrics text format for `GET /metrics`.
//!
//! Built on `prometheus-client` (the Prometheus project's own Rust client)
//! rather than the `metrics` facade with `metrics-exporter-prometheus`:
//! - it writes OpenMetrics text (`# UNIT`, `# EOF`), which the exporter does
//!   not: it writes the older Prometheus text format;
//! - label sets are types, so a route or an error kind is an enum checked by
//!   the compiler instead of a string written at each call site;
//! - the registry is a value the daemon owns, not a process-wide recorder, so
//!   each test builds its own and parallel tests do not share counters;
//! - encoding is a call we make, so the per-login gauges are computed from the
//!   [`LimitsBook`] at scrape time and can never go stale between answers.
//!
//! Recording costs an atomic add (plus a map lookup under a read lock for a
//! labelled family); nothing here allocates on the request path once a label
//! set has been seen.

mod labels;
mod logins;

pub use self::labels::{Dialect, RefreshOutcome, Route, TurnMode, UpstreamErrorKind};

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use self::labels::{
    ClientLabels, DialectLabels, DurationLabels, RefreshLabels, RequestLabels, TokenLabels,
    TurnLabels, UpstreamErrorLabels,
};
use self::logins::login_registry;
use crate::accounting::{Client, Usage};
use crate::limits::LimitsBook;

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric name starts with this.
const PREFIX: &str = "codex_proxy";

/// From a local answer (models, a cooldown 429) in milliseconds to a long
/// streamed answer of ten minutes.
const REQUEST_SECONDS_BUCKETS: [f64; 13] = [
    0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// The backend's first event comes within a second when idle and after tens
/// of seconds when it queues or thinks long before speaking.
const FIRST_EVENT_SECONDS_BUCKETS: [f64; 11] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0];

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Writing to a `String` failed: only a broken label encoder could do that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("encoding the metrics failed")]
pub struct EncodeError(#[from] fmt::Error);

/// The daemon's metrics. Share it behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<DurationLabels>,
    first_events: HistogramFamily<DialectLabels>,
    in_flight: Gauge,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    refreshes: Family<RefreshLabels, Counter>,
    upstream_turns: Family<TurnLabels, Counter>,
    upstream_bytes: Family<TurnLabels, Counter>,
    turns: Family<ClientLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
}

/// One request in flight; the gauge goes down when this is dropped, however
/// the request ends (a finished body, a client gone, a panic).
#[derive(Debug)]
#[must_use = "the request counts as in flight only while this lives"]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let requests = Family::default();
        let durations: HistogramFamily<DurationLabels> =
            Family::new_with_constructor(|| Histogram::new(REQUEST_SECONDS_BUCKETS));
        let first_events: HistogramFamily<DialectLabels> =
            Family::new_with_constructor(|| Histogram::new(FIRST_EVENT_SECONDS_BUCKETS));
        let in_flight = Gauge::default();
        let upstream_errors = Family::default();
        let refreshes = Family::default();
        let turns = Family::default();
        let upstream_turns = Family::default();
        let upstream_bytes = Family::default();
        let tokens = Family::default();

        let mut registry = Registry::with_prefix(PREFIX);
        registry.register(
            "requests",
            "Requests answered, by route, dialect, status and whether streamed",
            requests.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from a request's arrival to the end of its answer, a stream included",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register_with_unit(
            "first_event",
            "Time from a model request's arrival to the backend's first event",
            Unit::Seconds,
            first_events.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Requests whose answer has not finished",
            in_flight.clone(),
        );
        registry.register(
            "upstream_errors",
            "Failed calls to the Codex backend, by kind",
            upstream_errors.clone(),
        );
        registry.register(
            "token_refreshes",
            "Refreshes of the login's tokens, by outcome",
            refreshes.clone(),
        );
        registry.register(
            "upstream_turns",
            "Model requests sent to the backend, by mode: whole, or incremental (only the new items after the previous answer)",
            upstream_turns.clone(),
        );
        registry.register_with_unit(
            "upstream_sent",
            "Request bytes sent to the backend (bodies and socket frames), by mode",
            Unit::Bytes,
            upstream_bytes.clone(),
        );
        registry.register(
            "turns",
            "Model turns ended (HTTP answers and WebSocket turns), by client family and dialect",
            turns.clone(),
        );
        registry.register(
            "tokens",
            "Tokens the backend counted for ended turns, by client family, dialect and kind \
             (input includes cached_input; output includes reasoning)",
            tokens.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            first_events,
            in_flight,
            upstream_errors,
            refreshes,
            turns,
            upstream_turns,
            upstream_bytes,
            tokens,
        }
    }

    /// Counts a request as in flight until the returned guard is dropped.
    pub fn request_started(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// A request's answer ended (its body finished or was dropped).
    pub fn request_finished(
        &self,
        route: Route,
        dialect: Dialect,
        status: u16,
        stream: bool,
        duration: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                route,
                dialect,
                status,
                stream,
            })
            .inc();
        self.durations
            .get_or_create(&DurationLabels { route, stream })
            .observe(duration.as_secs_f64());
    }

    /// The backend's first event for a model request, `elapsed` after arrival.
    pub fn first_event(&self, dialect: Dialect, elapsed: Duration) {
        self.first_events
            .get_or_create(&DialectLabels { dialect })
            .observe(elapsed.as_secs_f64());
    }

    pub fn upstream_error(&self, kind: UpstreamErrorKind) {
        self.upstream_errors
            .get_or_create(&UpstreamErrorLabels { kind })
            .inc();
    }

    /// A model request went to the backend as `mode`, `bytes` long.
    pub fn upstream_turn(&self, mode: TurnMode, bytes: u64) {
        let labels = TurnLabels { mode };
        self.upstream_turns.get_or_create(&labels).inc();
        self.upstream_bytes.get_or_create(&labels).inc_by(bytes);
    }

    pub fn refresh(&self, outcome: RefreshOutcome) {
        self.refreshes
            .get_or_create(&RefreshLabels { outcome })
            .inc();
    }

    /// A model turn ended; `usage` is what the backend counted, if it said.
    pub fn turn(&self, client: Client, dialect: Dialect, usage: Option<Usage>) {
        self.turns
            .get_or_create(&ClientLabels { client, dialect })
            .inc();
        for (kind, count) in usage.iter().flat_map(|u| u.kinds()) {
            let labels = TokenLabels {
                client,
                dialect,
                kind,
            };
            self.tokens.get_or_create(&labels).inc_by(count);
        }
    }

    /// The OpenMetrics text: the counters so far, then each login's windows
    /// and cooldown as `book` knows them at `now`.
    pub fn encode(&self, book: &LimitsBook, now: Timestamp) -> Result<String, EncodeError> {
        let mut text = String::new();
        encode_registry(&mut text, &self.registry)?;
        encode_registry(&mut text, &login_registry(&book.logins(now), now))?;
        encode_eof(&mut text)?;
        Ok(text)
    }
}

#[cfg(test)]
mod openmetrics;
#[cfg(test)]
mod tests;
