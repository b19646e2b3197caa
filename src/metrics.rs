//! The daemon as Prometheus sees it: requests, durations, time to first event,
//! upstream errors, token refreshes, and each login's usage windows and
//! cooldown, in the OpenMetrics text format for `GET /metrics`.
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

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use jiff::Timestamp;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::limits::{LimitsBook, LoginView, Slot};

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

/// The route a request was answered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Responses,
    ResponsesWebSocket,
    ChatCompletions,
    Messages,
    CountTokens,
    Models,
    Status,
    Metrics,
    Health,
    /// No route matched (404, 405).
    Other,
}

/// The API shape a request spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Responses,
    Chat,
    Messages,
    /// Not a model request (models list, status, health, metrics).
    None,
}

/// Why a call to the backend failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamErrorKind {
    /// No connection: DNS, TCP, TLS or the HTTP proxy failed.
    Connect,
    /// Connected, but no answer head in time.
    Timeout,
    /// 401 or 403: the login was refused.
    Unauthorized,
    /// 429: a rate or usage limit.
    RateLimited,
    /// 503 `server_is_overloaded` / `slow_down`.
    Overloaded,
    /// Any other 5xx.
    ServerError,
    /// Any other 4xx: the backend refused what it was sent.
    Refused,
    /// No event for the idle timeout.
    IdleTimeout,
    /// The stream broke mid-way.
    StreamBroken,
    /// The stream ended without a terminal event.
    StreamIncomplete,
    /// One event exceeded the size limit.
    EventTooLarge,
    /// `response.failed` inside a 200 stream.
    ResponseFailed,
}

/// How a token refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefreshOutcome {
    Refreshed,
    /// The endpoint failed this time; a later refresh may succeed.
    Transient,
    /// The login is dead until `codex login`.
    Permanent,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: Route,
    dialect: Dialect,
    status: u16,
    stream: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DurationLabels {
    route: Route,
    stream: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DialectLabels {
    dialect: Dialect,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpstreamErrorLabels {
    kind: UpstreamErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RefreshLabels {
    outcome: RefreshOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WindowLabels {
    account: String,
    limit: String,
    window: Slot,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

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
        Metrics {
            registry,
            requests,
            durations,
            first_events,
            in_flight,
            upstream_errors,
            refreshes,
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

    pub fn refresh(&self, outcome: RefreshOutcome) {
        self.refreshes
            .get_or_create(&RefreshLabels { outcome })
            .inc();
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

impl UpstreamErrorKind {
    /// The kind of an error status from the backend; `None` for a success.
    /// A 503 is [`Overloaded`](Self::Overloaded) only when its body says so,
    /// which the caller knows and this does not: here it is a server error.
    pub fn from_status(status: u16) -> Option<Self> {
        match status {
            401 | 403 => Some(Self::Unauthorized),
            429 => Some(Self::RateLimited),
            400..=499 => Some(Self::Refused),
            500..=599 => Some(Self::ServerError),
            _ => None,
        }
    }
}

/// A registry built for one scrape from the book's view of every login.
fn login_registry(logins: &[LoginView], now: Timestamp) -> Registry {
    let used = Family::<WindowLabels, FloatGauge>::default();
    let reset_after = Family::<WindowLabels, Gauge>::default();
    let length = Family::<WindowLabels, Gauge>::default();
    let seen = Family::<AccountLabels, Gauge>::default();
    let cooling = Family::<AccountLabels, Gauge>::default();
    let cooldown_left = Family::<AccountLabels, Gauge>::default();
    for login in logins {
        let account = AccountLabels {
            account: login.account.clone(),
        };
        let cooldown = login.cooldown.as_ref();
        cooling
            .get_or_create(&account)
            .set(i64::from(cooldown.is_some()));
        cooldown_left
            .get_or_create(&account)
            .set(cooldown.map_or(0, |c| (c.resets_at.as_second() - now.as_second()).max(0)));
        let Some(limits) = &login.limits else {
            continue;
        };
        seen.get_or_create(&account).set(limits.seen_at.as_second());
        for family in &limits.families {
            for (slot, window) in family.windows() {
                let labels = WindowLabels {
                    account: login.account.clone(),
                    limit: family.id.clone(),
                    window: slot,
                };
                used.get_or_create(&labels).set(window.used_percent_at(now));
                if let Some(left) = window.seconds_to_reset(now) {
                    reset_after.get_or_create(&labels).set(left);
                }
                if let Some(minutes) = window.window_minutes {
                    length.get_or_create(&labels).set(i64::from(minutes) * 60);
                }
            }
        }
    }
    let mut registry = Registry::with_prefix(PREFIX);
    let percent = Unit::Other("percent".to_owned());
    registry.register_with_unit(
        "limit_used",
        "Share of a usage window used (0 once it has reset)",
        percent,
        used,
    );
    registry.register_with_unit(
        "limit_reset_after",
        "Time until a usage window resets",
        Unit::Seconds,
        reset_after,
    );
    registry.register_with_unit(
        "limit_window",
        "Length of a usage window",
        Unit::Seconds,
        length,
    );
    registry.register_with_unit(
        "limits_seen_timestamp",
        "When the backend last reported a login's limits",
        Unit::Seconds,
        seen,
    );
    registry.register(
        "cooldown_active",
        "1 while a reached limit is answered locally with 429",
        cooling,
    );
    registry.register_with_unit(
        "cooldown_remaining",
        "Time until a login's cooldown ends",
        Unit::Seconds,
        cooldown_left,
    );
    registry
}

/// Label values are the snake_case names a dashboard filters on.
macro_rules! label_values {
    ($($ty:ty { $($variant:ident => $name:literal),* $(,)? })*) => {$(
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
        }
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
                fmt::Write::write_str(encoder, self.as_str())
            }
        }
    )*};
}

label_values! {
    Route {
        Responses => "responses", ResponsesWebSocket => "responses_websocket",
        ChatCompletions => "chat_completions", Messages => "messages",
        CountTokens => "count_tokens", Models => "models", Status => "status",
        Metrics => "metrics", Health => "health", Other => "other",
    }
    Dialect { Responses => "responses", Chat => "chat", Messages => "messages", None => "none" }
    UpstreamErrorKind {
        Connect => "connect", Timeout => "timeout", Unauthorized => "unauthorized",
        RateLimited => "rate_limited", Overloaded => "overloaded", ServerError => "server_error",
        Refused => "refused", IdleTimeout => "idle_timeout", StreamBroken => "stream_broken",
        StreamIncomplete => "stream_incomplete", EventTooLarge => "event_too_large",
        ResponseFailed => "response_failed",
    }
    RefreshOutcome { Refreshed => "refreshed", Transient => "transient", Permanent => "permanent" }
}

impl EncodeLabelValue for Slot {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        fmt::Write::write_str(encoder, self.as_str())
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
