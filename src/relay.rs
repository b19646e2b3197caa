//! The live event stream of one upstream answer: whole events, an idle
//! timeout between them, a bound on their size, and the two ways of handing
//! them on: passed through as they arrive, or collected into one object.

use std::pin::Pin;
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::time::Sleep;

use crate::collect::{Collected, Collector, Outcome};
use crate::error::ApiError;
use crate::sse::{self, Splitter};
use crate::upstream::{self, PooledBody};

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
    body: PooledBody,
    splitter: Splitter,
    idle_timeout: Duration,
    /// One timer for the whole stream, moved on at each chunk.
    idle: Pin<Box<Sleep>>,
}

impl EventStream {
    pub fn new(body: PooledBody, idle_timeout: Duration, max_event_bytes: usize) -> Self {
        EventStream {
            body,
            splitter: Splitter::new(max_event_bytes),
            idle_timeout,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
        }
    }

    /// The next block of whole events; `None` once the upstream closed cleanly.
    pub async fn next_block(&mut self) -> Option<Result<Bytes, StreamError>> {
        loop {
            let frame = tokio::select! {
                biased;
                frame = self.body.frame() => frame,
                () = &mut self.idle => return Some(Err(StreamError::Idle(self.idle_timeout))),
            };
            let chunk = match frame {
                Some(Err(e)) => return Some(Err(StreamError::Broken(upstream::describe(&e)))),
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
                if sse::has_terminal(&block) {
                    events.finish();
                    return Some((Ok(block), None));
                }
                Some((Ok(block), Some((events, guard))))
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
                return Err(upstream::map_failure(&error));
            }
            None => {}
        }
    }
    Err(StreamError::ClosedEarly.to_api_error())
}
