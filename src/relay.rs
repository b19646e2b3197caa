//! The live event stream of one upstream answer: whole events, an idle
//! timeout between them, a bound on their size, and the two ways of handing
//! them on: passed through as they arrive, or collected into one object.

use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::sse::{self, Collector, Outcome, Splitter};
use crate::upstream;

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
            "upstream_error",
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
    response: reqwest::Response,
    splitter: Splitter,
    idle_timeout: Duration,
}

impl EventStream {
    pub fn new(
        response: reqwest::Response,
        idle_timeout: Duration,
        max_event_bytes: usize,
    ) -> Self {
        EventStream {
            response,
            splitter: Splitter::new(max_event_bytes),
            idle_timeout,
        }
    }

    /// The next block of whole events; `None` once the upstream closed cleanly.
    pub async fn next_block(&mut self) -> Option<Result<Bytes, StreamError>> {
        loop {
            let chunk = match tokio::time::timeout(self.idle_timeout, self.response.chunk()).await {
                Err(_) => return Some(Err(StreamError::Idle(self.idle_timeout))),
                Ok(Err(e)) => return Some(Err(StreamError::Broken(upstream::describe(&e)))),
                Ok(Ok(None)) if self.splitter.has_partial() => {
                    return Some(Err(StreamError::ClosedEarly));
                }
                Ok(Ok(None)) => return None,
                Ok(Ok(Some(chunk))) => chunk,
            };
            match self.splitter.push(chunk) {
                Ok(Some(block)) => return Some(Ok(block)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }
}

/// Passes events through as they arrive. The stream ends after the terminal
/// event; if the upstream vanishes first, a final `error` event says why.
pub fn passthrough(
    events: EventStream,
    guard: impl Send + 'static,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    futures_util::stream::unfold(Some((events, guard)), |state| async move {
        let (mut events, guard) = state?;
        match events.next_block().await {
            Some(Ok(block)) => {
                let terminal = sse::has_terminal(&block);
                let next = (!terminal).then_some((events, guard));
                Some((Ok(block), next))
            }
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
pub async fn collect(mut events: EventStream) -> Result<Value, ApiError> {
    let mut collector = Collector::default();
    while let Some(block) = events.next_block().await {
        let block = block.map_err(|e| e.to_api_error())?;
        for frame in sse::frames(&block) {
            // Most events (deltas, content parts) do not shape the answer:
            // their data is not even read.
            if let Some(name) = sse::frame_name(frame)
                && !collector.wants(name)
            {
                continue;
            }
            let Some(event) = sse::parse_frame(frame) else {
                continue;
            };
            let Some(kind) = event.kind() else { continue };
            match collector.push(&kind, &event.data) {
                Some(Outcome::Finished(response)) => return Ok(response),
                Some(Outcome::Failed(error)) => return Err(upstream::map_failure(&error)),
                None => {}
            }
        }
    }
    Err(StreamError::ClosedEarly.to_api_error())
}
