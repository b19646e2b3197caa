//! The live event stream of one upstream answer: whole events, an idle
//! timeout between them, a bound on their size, the two ways of handing
//! them on (passed through as they arrive, or collected into one object),
//! and the mapping of a failure the backend reports inside the stream.

use std::pin::Pin;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::time::Sleep;

use serde_json::Value;

use super::watch::StreamTap;
use crate::error::{ApiError, ErrorKind};
use crate::net;
use crate::sse::{self, Splitter};
use crate::turn::collect::{Collected, Collector, Outcome};
use crate::turn::finish::Finish;

/// Why a stream ended without a terminal event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("no event from the Codex backend for {}", humantime::format_duration(*.0))]
    Idle(Duration),
    #[error(transparent)]
    TooLarge(#[from] sse::EventTooLarge),
    #[error("the stream from the Codex backend broke: {0}")]
    Broken(String),
    #[error("the Codex backend closed the stream before response.completed")]
    ClosedEarly,
}

impl StreamError {
    pub fn code(&self) -> &'static str {
        match self {
            StreamError::Idle(_) => "upstream_idle_timeout",
            StreamError::TooLarge(_) => "upstream_event_too_large",
            StreamError::Broken(_) => "upstream_stream_broken",
            StreamError::ClosedEarly => "upstream_stream_incomplete",
        }
    }

    pub fn to_api_error(&self) -> ApiError {
        let status = match self {
            StreamError::Idle(_) => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        };
        ApiError::new(
            status,
            ErrorKind::Upstream,
            Some(self.code()),
            self.to_string(),
        )
    }

    /// The `error` event a streaming client gets before the stream closes.
    pub fn to_event(&self) -> Bytes {
        let data = json!({
            "type": "error",
            "code": self.code(),
            "message": self.to_string(),
            "param": null,
        });
        Bytes::from(format!("event: error\ndata: {data}\n\n"))
    }
}

/// Whole events from an upstream answer, with the idle timeout applied.
#[derive(Debug)]
pub struct EventStream {
    body: reqwest::Body,
    splitter: Splitter,
    idle_timeout: Duration,
    /// One timer for the whole stream, moved on at each chunk.
    idle: Pin<Box<Sleep>>,
    /// Shown every block, failure and end, for limits and metrics.
    tap: Option<StreamTap>,
}

impl EventStream {
    pub fn new(body: reqwest::Body, idle_timeout: Duration, max_event_bytes: usize) -> Self {
        EventStream {
            body,
            splitter: Splitter::new(max_event_bytes),
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            tap: None,
        }
    }

    /// Shows `tap` every block, failure and end of this stream.
    pub fn with_tap(mut self, tap: StreamTap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// The tap, to time the first event from the request's arrival.
    pub fn tap_mut(&mut self) -> Option<&mut StreamTap> {
        self.tap.as_mut()
    }

    /// The next block of whole events; `None` once the upstream closed cleanly.
    pub async fn next_block(&mut self) -> Option<Result<Bytes, StreamError>> {
        let next = self.read_block().await;
        if let Some(tap) = &mut self.tap {
            tap.saw(next.as_ref());
        }
        next
    }

    async fn read_block(&mut self) -> Option<Result<Bytes, StreamError>> {
        loop {
            let frame = tokio::select! {
                biased;
                frame = self.body.frame() => frame,
                () = &mut self.idle => return Some(Err(StreamError::Idle(self.idle_timeout))),
            };
            let chunk = match frame {
                Some(Err(e)) => return Some(Err(StreamError::Broken(net::describe(&e)))),
                None if self.splitter.has_partial() => {
                    return Some(Err(StreamError::ClosedEarly));
                }
                None => return None,
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(chunk) => chunk,
                    // Trailers: nothing to pass on.
                    Err(_) => continue,
                },
            };
            self.idle
                .as_mut()
                .reset(tokio::time::Instant::now() + self.idle_timeout);
            match self.splitter.push(chunk) {
                Ok(Some(block)) => return Some(Ok(block)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }
}

impl EventStream {
    /// After the terminal event: reads the body to its end so that its
    /// connection goes back to the pool. The end is usually in the same
    /// read as the last event; if not, a task on this thread waits for it.
    pub fn finish(self) {
        use futures_util::FutureExt;
        let mut body = self.body;
        if let Some(None) = body.frame().now_or_never() {
            return;
        }
        tokio::spawn(async move {
            let drained = async { while let Some(Ok(_)) = body.frame().await {} };
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, drained).await;
        });
    }
}

/// How long a finished answer's connection is given to end its body before
/// it is closed instead of reused.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Passes events through as they arrive, with a [`Collector`] reading them
/// on the way (most events by their `event:` line alone). The terminal event
/// is held back until [`Finish::terminal_block`] has rebuilt its response
/// (the backend sends `output: []`) and committed it when it is kept; the
/// stream ends after it. If the upstream vanishes first, a final `error`
/// event says why.
pub fn passthrough(
    events: EventStream,
    finish: Finish,
    guard: impl Send + 'static,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    let state = Some((events, Collector::default(), finish, guard));
    futures_util::stream::unfold(state, |state| async move {
        let (mut events, mut collector, finish, guard) = state?;
        match events.next_block().await {
            Some(Ok(block)) => match collector.push_block(&block) {
                None => {
                    let block = finish.event_block(block);
                    Some((Ok(block), Some((events, collector, finish, guard))))
                }
                Some(Outcome::Finished(response)) => {
                    events.finish();
                    let block = finish.terminal_block(&block, response).await;
                    drop(guard);
                    Some((Ok(block), None))
                }
                Some(Outcome::Failed(_)) => {
                    events.finish();
                    Some((Ok(finish.event_block(block)), None))
                }
            },
            Some(Err(e)) => {
                tracing::warn!(error = %e, "upstream stream ended abnormally");
                Some((Ok(e.to_event()), None))
            }
            None => {
                let e = StreamError::ClosedEarly;
                tracing::warn!(error = %e, "upstream stream ended abnormally");
                Some((Ok(e.to_event()), None))
            }
        }
    })
}

/// Reads the whole stream into one Responses object, or the error it ended with.
pub async fn collect(mut events: EventStream) -> Result<Collected, ApiError> {
    let mut collector = Collector::default();
    while let Some(block) = events.next_block().await {
        let block = block.map_err(|e| e.to_api_error())?;
        match collector.push_block(&block) {
            Some(Outcome::Finished(response)) => {
                events.finish();
                return Ok(response);
            }
            Some(Outcome::Failed(error)) => {
                events.finish();
                return Err(map_failure(&error));
            }
            None => {}
        }
    }
    Err(StreamError::ClosedEarly.to_api_error())
}

/// Maps an in-stream `response.failed` / `error` object (`{code, message}`).
pub fn map_failure(error: &Value) -> ApiError {
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or("upstream_failed");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("the Codex backend failed the response ({code})"));
    let (status, kind) = match code {
        "rate_limit_exceeded"
        | "insufficient_quota"
        | "usage_not_included"
        | "usage_limit_reached" => (StatusCode::TOO_MANY_REQUESTS, ErrorKind::RateLimit),
        "server_is_overloaded" | "slow_down" => {
            (StatusCode::SERVICE_UNAVAILABLE, ErrorKind::Server)
        }
        "context_length_exceeded" | "invalid_prompt" => {
            (StatusCode::BAD_REQUEST, ErrorKind::InvalidRequest)
        }
        _ => (StatusCode::BAD_GATEWAY, ErrorKind::Upstream),
    };
    let retry = if code == "rate_limit_exceeded" {
        retry_after_from_message(&message)
    } else {
        None
    };
    ApiError::new(status, kind, Some(code), message).with_retry_after(retry)
}

/// The delay in "… try again in 11.054s." (or "in 250ms"), rounded up to seconds.
pub fn retry_after_from_message(message: &str) -> Option<u64> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("try again in ")? + "try again in ".len();
    let rest = &lower[at..];
    let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let n: f64 = rest[..num_end].parse().ok()?;
    let unit = rest[num_end..].trim_start();
    let secs = if unit.starts_with("ms") {
        n / 1000.0
    } else if unit.starts_with('m') && !unit.starts_with("ms") {
        n * 60.0
    } else {
        n
    };
    Some(secs.ceil().max(1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn in_stream_failures_map_to_fitting_statuses() {
        let cases = [
            ("rate_limit_exceeded", StatusCode::TOO_MANY_REQUESTS),
            ("insufficient_quota", StatusCode::TOO_MANY_REQUESTS),
            ("usage_not_included", StatusCode::TOO_MANY_REQUESTS),
            ("server_is_overloaded", StatusCode::SERVICE_UNAVAILABLE),
            ("slow_down", StatusCode::SERVICE_UNAVAILABLE),
            ("context_length_exceeded", StatusCode::BAD_REQUEST),
            ("invalid_prompt", StatusCode::BAD_REQUEST),
            ("something_else", StatusCode::BAD_GATEWAY),
        ];
        for (code, status) in cases {
            assert_eq!(
                map_failure(&json!({"code": code, "message": "m"})).status,
                status,
                "{code}"
            );
        }
        let e = map_failure(
            &json!({"code":"rate_limit_exceeded","message":"Rate limit reached. Please try again in 11.054s."}),
        );
        assert_eq!(e.retry_after, Some(12));
    }

    #[test]
    fn retry_delays_are_read_in_seconds_minutes_and_milliseconds() {
        assert_eq!(retry_after_from_message("try again in 2s"), Some(2));
        assert_eq!(retry_after_from_message("Try again in 1.5m."), Some(90));
        assert_eq!(retry_after_from_message("try again in 250ms"), Some(1));
        assert_eq!(retry_after_from_message("no delay here"), None);
    }
}
