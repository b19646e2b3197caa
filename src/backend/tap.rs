//! The limits watch inside one event stream: the `codex.rate_limits` events
//! it carries, a `usage_limit_reached` failure, the time to its first event
//! and how it broke, if it did. It reads every block the relay reads, so it
//! must cost next to nothing on a block of text deltas: each concern is one
//! substring search, and an event is parsed only when its block holds the
//! word it is about.

use std::sync::{Arc, LazyLock};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use jiff::Timestamp;
use memchr::memmem::Finder;
use serde_json::Value;

use super::watch::{LimitsWatch, frames_of, stream_error_kind};
use crate::backend::events::StreamError;
use crate::limits::Limits;
use crate::metrics::UpstreamErrorKind;
use crate::sse;

static RATE_LIMITS: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("codex.rate_limits"));
static FAILED: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("response.failed"));
static USAGE_LIMIT: LazyLock<Finder<'static>> =
    LazyLock::new(|| Finder::new("usage_limit_reached"));

/// What one stream tells the limits watch; see the module documentation.
#[derive(Debug)]
pub struct StreamTap {
    watch: LimitsWatch,
    account: Arc<str>,
    /// The last block, to tell at a clean close whether it ended the answer.
    last: Option<Bytes>,
}

impl StreamTap {
    pub(super) fn new(watch: LimitsWatch, account: Arc<str>) -> Self {
        StreamTap {
            watch,
            account,
            last: None,
        }
    }

    /// What the stream's reader got: a block, a failure, or the end.
    pub fn saw(&mut self, next: Option<&Result<Bytes, StreamError>>) {
        match next {
            Some(Ok(block)) => self.block(block),
            Some(Err(e)) => self.watch.stream_failed(stream_error_kind(e)),
            None => {
                let finished = self.last.as_deref().is_some_and(sse::has_terminal);
                if !finished {
                    self.watch
                        .stream_failed(UpstreamErrorKind::StreamIncomplete);
                }
            }
        }
    }

    fn block(&mut self, block: &Bytes) {
        for data in frames_of(block, &RATE_LIMITS, "codex.rate_limits") {
            if let Some(limits) = Limits::from_event(&data, Timestamp::now()) {
                self.watch.observe(&self.account, limits);
            }
        }
        for data in frames_of(block, &FAILED, "response.failed") {
            self.watch.stream_failed(UpstreamErrorKind::ResponseFailed);
            if USAGE_LIMIT.find(data.as_bytes()).is_some()
                && let Ok(event) = serde_json::from_str::<Value>(&data)
                && let Some(response) = event.get("response")
            {
                self.watch.usage_limit(&self.account, response, false);
            }
        }
        for data in frames_of(block, &USAGE_LIMIT, "error") {
            if let Ok(event) = serde_json::from_str::<Value>(&data) {
                self.watch.usage_limit(&self.account, &event, false);
            }
        }
        if self.watch.metrics().is_some() {
            self.last = Some(block.clone());
        }
    }
}

impl LimitsWatch {
    /// One frame of the backend's WebSocket, an event's JSON as a stream's
    /// `data:` line would carry it: its `codex.rate_limits` windows, and a
    /// usage-limit refusal (a wrapped `error`, with the headers it carries,
    /// or a failed response) that starts a cooldown. As with [`StreamTap`],
    /// only a frame that names one of them is parsed.
    pub fn socket_frame(&self, account: &str, text: &str) {
        if RATE_LIMITS.find(text.as_bytes()).is_some()
            && let Some(limits) = Limits::from_event(text, Timestamp::now())
        {
            self.observe(account, limits);
        }
        if USAGE_LIMIT.find(text.as_bytes()).is_none() {
            return;
        }
        let Ok(event) = serde_json::from_str::<Value>(text) else {
            return;
        };
        match event.get("type").and_then(Value::as_str) {
            Some("error") => {
                let headers = wrapped_headers(&event);
                let limits = Limits::from_headers(&headers, Timestamp::now());
                let carried = !limits.is_empty();
                if carried {
                    self.observe(account, limits);
                }
                self.usage_limit(account, &event, carried);
            }
            Some("response.failed") => {
                self.stream_failed(UpstreamErrorKind::ResponseFailed);
                if let Some(response) = event.get("response") {
                    self.usage_limit(account, response, false);
                }
            }
            _ => {}
        }
    }
}

/// The `headers` object of a wrapped `error` frame, as a header map.
fn wrapped_headers(event: &Value) -> HeaderMap {
    let fields = event.get("headers").and_then(Value::as_object);
    fields
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| {
            let value = match value {
                Value::String(text) => HeaderValue::from_str(text).ok(),
                Value::Number(n) => HeaderValue::from_str(&n.to_string()).ok(),
                _ => None,
            };
            Some((HeaderName::from_bytes(name.as_bytes()).ok()?, value?))
        })
        .collect()
}
