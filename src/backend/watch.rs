//! Usage limits on the request path. What each backend answer says about its
//! login's windows (headers, `codex.rate_limits` events) goes into the
//! [`LimitsBook`]; a `usage_limit_reached` refusal turns into a local 429
//! until the reset (the cooldown); a window passing 90 % or 100 % is one
//! warning in the journal; and the usage endpoint is asked for `/v1/status`
//! at most once a minute. The decisions are the pure `limits` core's; this
//! module calls it at the right moments and reports what it returns.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;
use tokio::sync::Notify;

use super::events::StreamError;
use super::{Upstream, usage};
use crate::error::{ApiError, ErrorKind};
use crate::limits::{CooldownPolicy, LimitEvent, Limits, LimitsBook, UsageLimitReached};
use crate::metrics::{Metrics, UpstreamErrorKind};
use crate::{net, sse};

pub use super::tap::StreamTap;

/// The usage endpoint is asked at most this often, however often status is.
const USAGE_EVERY: Duration = Duration::from_secs(60);

/// The login an answer was for, put in the answer's extensions so that its
/// event stream reports to the same login.
#[derive(Debug, Clone)]
pub struct AnsweredFor(pub Arc<str>);

/// The book, the metrics and the time zone, shared by every request. Cheap
/// to clone.
#[derive(Debug, Clone)]
pub struct LimitsWatch {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    book: LimitsBook,
    metrics: Option<Arc<Metrics>>,
    /// For the clock times in log records; read once, at start.
    tz: TimeZone,
    /// Woken when the book or the activity changed, for `STATUS=`.
    changed: Arc<Notify>,
    /// The login of the last answer, for the summary record.
    last_account: std::sync::Mutex<Option<Arc<str>>>,
    /// One usage call at a time; the others wait and share its result.
    usage: tokio::sync::Mutex<UsageFetch>,
}

/// What the last call to the usage endpoint gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageFetch {
    attempted: Option<Instant>,
    /// When it last answered with usage.
    pub fetched_at: Option<Timestamp>,
    /// Why the last call told nothing, in plain words.
    pub error: Option<String>,
}

impl Default for LimitsWatch {
    fn default() -> Self {
        Self::new(CooldownPolicy::default(), None)
    }
}

impl LimitsWatch {
    pub fn new(policy: CooldownPolicy, metrics: Option<Arc<Metrics>>) -> Self {
        LimitsWatch {
            inner: Arc::new(Inner {
                book: LimitsBook::new(policy),
                metrics,
                tz: TimeZone::system(),
                changed: Arc::default(),
                last_account: std::sync::Mutex::default(),
                usage: tokio::sync::Mutex::default(),
            }),
        }
    }

    pub fn book(&self) -> &LimitsBook {
        &self.inner.book
    }

    /// The daemon's metrics, when `metrics = true`.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.inner.metrics.as_ref()
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.inner.tz
    }

    /// Woken whenever what `STATUS=` shows may have changed.
    pub fn changed(&self) -> &Arc<Notify> {
        &self.inner.changed
    }

    /// The login the last answer was for.
    pub fn last_account(&self) -> Option<Arc<str>> {
        lock(&self.inner.last_account).clone()
    }

    /// Before a call that spends `account`'s allowance: during a cooldown,
    /// the 429 to answer instead, with the time left to the reset.
    pub fn check(&self, account: &str) -> Result<(), ApiError> {
        let now = Timestamp::now();
        let Some(cooldown) = self.inner.book.check(account, now) else {
            return Ok(());
        };
        if cooldown.first_refusal {
            tracing::info!(
                account,
                limit_resets_at = %cooldown.resets_at,
                "the usage limit is reached: answering this login's requests locally until {}",
                self.clock(cooldown.resets_at)
            );
            self.inner.changed.notify_one();
        }
        Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::RateLimit,
            Some("usage_limit_reached"),
            cooldown.message,
        )
        .with_retry_after(Some(cooldown.retry_after_secs)))
    }

    /// An answer head for `account`, any status: keeps its limit headers,
    /// and a success of a call that `spent` the allowance (a model request,
    /// not a model list) ends a cooldown. Whether it carried limits.
    pub fn answered(
        &self,
        account: &Arc<str>,
        status: StatusCode,
        headers: &HeaderMap,
        spent: bool,
    ) -> bool {
        let now = Timestamp::now();
        {
            let mut last = lock(&self.inner.last_account);
            if last.as_deref() != Some(&**account) {
                *last = Some(account.clone());
            }
        }
        let limits = Limits::from_headers(headers, now);
        let carried = !limits.is_empty();
        if carried {
            self.observe(account, limits);
        }
        if spent && status.is_success() {
            self.inner.book.lifted(account);
        }
        carried
    }

    /// A model request for `account` was answered in full (a WebSocket
    /// turn): whatever limit there was has lifted.
    pub fn spent(&self, account: &str) {
        self.inner.book.lifted(account);
    }

    /// An error answer for `account`: counted, and a usage-limit refusal
    /// with a reset time starts a cooldown. `limit_headers`: the same
    /// answer's headers carried limits (whose warning then said it already).
    pub fn refused(&self, account: &str, status: StatusCode, body: &[u8], limit_headers: bool) {
        let body: Option<Value> = serde_json::from_slice(body).ok();
        if let Some(metrics) = &self.inner.metrics {
            let code = body.as_ref().and_then(error_code);
            let kind = match code {
                Some("server_is_overloaded" | "slow_down") => Some(UpstreamErrorKind::Overloaded),
                _ => UpstreamErrorKind::from_status(status.as_u16()),
            };
            if let Some(kind) = kind {
                metrics.upstream_error(kind);
            }
        }
        if let Some(body) = &body {
            self.usage_limit(account, body, limit_headers);
        }
    }

    /// The backend could not be reached at all.
    pub fn unreachable(&self, e: &reqwest::Error) {
        if let Some(metrics) = &self.inner.metrics {
            metrics.upstream_error(match net::Failure::of(e) {
                net::Failure::TimedOut => UpstreamErrorKind::Timeout,
                _ => UpstreamErrorKind::Connect,
            });
        }
    }

    /// The tap for the event stream of `response`.
    pub fn tap(&self, response: &reqwest::Response) -> StreamTap {
        let account = response
            .extensions()
            .get::<AnsweredFor>()
            .map_or_else(|| Arc::from(crate::auth::NO_ACCOUNT), |a| a.0.clone());
        StreamTap::new(self.clone(), account)
    }

    /// Asks the usage endpoint unless it was asked within a minute; what it
    /// said last. Never on a model request's path: for `/v1/status`.
    pub async fn refresh_usage(&self, upstream: &Upstream) -> UsageFetch {
        let mut fetch = self.inner.usage.lock().await;
        if fetch.attempted.is_some_and(|at| at.elapsed() < USAGE_EVERY) {
            return fetch.clone();
        }
        fetch.attempted = Some(Instant::now());
        let result = match upstream.usage().await {
            Ok(response) => self.read_usage(response).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.message),
        };
        match result {
            Ok(()) => {
                fetch.fetched_at = Some(Timestamp::now());
                fetch.error = None;
            }
            Err(reason) => fetch.error = Some(reason),
        }
        fetch.clone()
    }

    async fn read_usage(&self, response: reqwest::Response) -> Result<(), usage::UsageError> {
        let account = response.extensions().get::<AnsweredFor>().cloned();
        let status = response.status().as_u16();
        let body = tokio::time::timeout(usage::USAGE_TIMEOUT, response.bytes())
            .await
            .map_err(|_| usage::UsageError::Unreachable("timed out".into()))?
            .map_err(|e| usage::UsageError::Unreachable(net::describe(&e)))?;
        let limits = usage::read(status, &body, Timestamp::now())?;
        let account = account.map_or_else(|| Arc::from(crate::auth::NO_ACCOUNT), |a| a.0);
        self.observe(&account, limits);
        Ok(())
    }

    /// Keeps `limits` for `account` and reports the levels it crosses.
    pub(super) fn observe(&self, account: &str, limits: Limits) {
        let now = limits.seen_at;
        for event in self.inner.book.observe(account, limits) {
            self.report(&event, now);
        }
        self.inner.changed.notify_one();
    }

    /// One `WARNING` record for a window passing 90 % or reaching 100 %.
    fn report(&self, event: &LimitEvent, now: Timestamp) {
        tracing::warn!(
            limit_level = event.level.as_str(),
            limit_family = %event.family,
            limit_window = %event.window.name(event.slot),
            limit_used_pct = %event.window.used_percent,
            limit_resets_at = event.window.resets_at.map(|at| at.to_string()),
            account = %event.account,
            "{}",
            event.describe(now, &self.inner.tz)
        );
    }

    /// A usage-limit refusal in `body` (an HTTP error body, or an in-stream
    /// failure) starts a cooldown for `account`.
    pub(super) fn usage_limit(&self, account: &str, body: &Value, already_warned: bool) {
        let now = Timestamp::now();
        let Some(refusal) = UsageLimitReached::from_error_body(body, now) else {
            return;
        };
        if !self.inner.book.reached(account, &refusal, now) {
            return;
        }
        let until = refusal
            .resets_at
            .map_or_else(String::new, |at| self.clock(at));
        if already_warned {
            tracing::info!(
                account,
                "the backend refused the login's usage limit until {until}"
            );
        } else {
            tracing::warn!(
                account,
                "the backend refused the login's usage limit until {until}"
            );
        }
        self.inner.changed.notify_one();
    }

    pub(super) fn stream_failed(&self, kind: UpstreamErrorKind) {
        if let Some(metrics) = &self.inner.metrics {
            metrics.upstream_error(kind);
        }
    }

    /// `14:05` (with the day when further than a day) in the system's time zone.
    fn clock(&self, at: Timestamp) -> String {
        crate::limits::clock(at, Timestamp::now(), &self.inner.tz)
    }
}

/// The kind of upstream error a broken stream counts as.
pub(super) fn stream_error_kind(e: &StreamError) -> UpstreamErrorKind {
    match e {
        StreamError::Idle(_) => UpstreamErrorKind::IdleTimeout,
        StreamError::TooLarge(_) => UpstreamErrorKind::EventTooLarge,
        StreamError::Broken(_) => UpstreamErrorKind::StreamBroken,
        StreamError::ClosedEarly => UpstreamErrorKind::StreamIncomplete,
    }
}

/// `error.code` (or `error.type`) of an error body.
fn error_code(body: &Value) -> Option<&str> {
    let error = body.get("error").unwrap_or(body);
    ["code", "type"]
        .iter()
        .find_map(|key| error.get(key).and_then(Value::as_str))
}

/// The data is plain fields: a panic elsewhere leaves it usable.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The data of `block`'s events of type `kind`, looked for only when the
/// block holds the finder's needle at all: most blocks are text deltas, and
/// none of their events is parsed here.
pub(super) fn frames_of<'a>(
    block: &'a [u8],
    finder: &'a memchr::memmem::Finder<'static>,
    kind: &'a str,
) -> impl Iterator<Item = std::borrow::Cow<'a, str>> + 'a {
    finder
        .find(block)
        .into_iter()
        .flat_map(move |_| sse::frames(block))
        .filter(move |frame| sse::frame_kind(frame).as_deref() == Some(kind))
        .filter_map(sse::parse_frame)
        .map(|event| event.data)
}
