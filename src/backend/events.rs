//! The live event stream of one upstream answer: whole events, an idle
//! timeout between them, a bound on their size, why a stream ended without
//! its terminal event, and the connection handed back once it is done.

use std::pin::Pin;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::time::Sleep;

use super::watch::StreamTap;
use crate::accounting::Meter;
use crate::error::{ApiError, ErrorKind};
use crate::net;
use crate::sse::{self, Splitter};

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
    /// Shown every block, for the turn's first event and usage.
    meter: Option<Meter>,
}

impl EventStream {
    pub fn new(body: reqwest::Body, idle_timeout: Duration, max_event_bytes: usize) -> Self {
        EventStream {
            body,
            splitter: Splitter::new(max_event_bytes),
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            tap: None,
            meter: None,
        }
    }

    /// Shows `tap` every block, failure and end of this stream.
    pub fn with_tap(mut self, tap: StreamTap) -> Self {
        self.tap = Some(tap);
        self
    }

    /// Shows `meter` every block of this stream.
    pub fn meter(&mut self, meter: Meter) {
        self.meter = Some(meter);
    }

    /// The next block of whole events; `None` once the upstream closed cleanly.
    pub async fn next_block(&mut self) -> Option<Result<Bytes, StreamError>> {
        let next = self.read_block().await;
        if let Some(tap) = &mut self.tap {
            tap.saw(next.as_ref());
        }
        if let (Some(meter), Some(Ok(block))) = (&self.meter, &next) {
            meter.block(block);
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
