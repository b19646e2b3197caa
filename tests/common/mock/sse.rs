//! How the mock answers an HTTP `/responses` request: the scripted
//! [`Answer`]s played as an SSE stream or a plain status, and the record of
//! streams the client left before they finished.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::Response;
use serde_json::Value;

use super::MockState;

/// What the backend does with the next `/responses` request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// An event stream: `(type, data)` pairs, with a pause before each event.
    Events { events: Vec<Value>, pace: Duration },
    /// [`super::text_answer`] in `pieces` deltas, under a response id of its
    /// own per request (`resp_mock_N`, N counting `/responses` requests), so
    /// that a client can chain answers by `previous_response_id`.
    Text {
        text: String,
        pieces: usize,
        pace: Duration,
    },
    /// Send these events, then stop sending anything while keeping the connection.
    Stall { events: Vec<Value> },
    /// Send these events, then drop the connection without a terminal event.
    Vanish { events: Vec<Value> },
    /// Raw bytes as the body of an SSE answer (malformed lines and the like).
    Raw { body: String },
    /// An HTTP status with a body and content type.
    Status {
        status: u16,
        body: String,
        content_type: &'static str,
        headers: Vec<(String, String)>,
    },
}

impl Answer {
    /// A [`Answer::Text`] as the events of response `resp_mock_{n}`; any
    /// other answer as it is.
    pub fn numbered(self, n: usize) -> Answer {
        match self {
            Answer::Text { text, pieces, pace } => Answer::Events {
                events: super::events::text_answer_as(&format!("resp_mock_{n}"), &text, pieces),
                pace,
            },
            other => other,
        }
    }
}

/// Marks a stream cancelled when it is dropped before it finished.
struct CancelGuard {
    state: Arc<MockState>,
    finished: std::cell::Cell<bool>,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.finished.get() {
            self.state.streams_cancelled.fetch_add(1, Ordering::SeqCst);
            self.state.cancelled.notify_waiters();
        }
    }
}

fn sse_frame(event: &Value) -> Bytes {
    let kind = event["type"].as_str().unwrap_or("message");
    Bytes::from(format!("event: {kind}\ndata: {event}\n\n"))
}

/// Plays `answer`; `headers` go on every SSE answer (a scripted status
/// carries only its own).
pub(super) fn play(
    state: Arc<MockState>,
    answer: Answer,
    headers: Vec<(String, String)>,
) -> Response {
    let sse = |body: Body| {
        let mut r = Response::builder().header(header::CONTENT_TYPE, "text/event-stream");
        for (k, v) in &headers {
            r = r.header(k, v);
        }
        r.body(body).unwrap()
    };
    match answer {
        Answer::Status {
            status,
            body,
            content_type,
            headers,
        } => {
            let mut r = Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, content_type);
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.body(Body::from(body)).unwrap()
        }
        Answer::Raw { body } => sse(Body::from(body)),
        Answer::Events { events, pace } => sse(paced(state, events, pace)),
        text @ Answer::Text { .. } => play(state, text.numbered(1), headers),
        Answer::Stall { events } => sse(stalled(state, events)),
        Answer::Vanish { events } => sse(vanishing(events)),
    }
}

fn paced(state: Arc<MockState>, events: Vec<Value>, pace: Duration) -> Body {
    let guard = CancelGuard {
        state,
        finished: std::cell::Cell::new(false),
    };
    let stream = futures_util::stream::unfold(
        (events.into_iter(), guard),
        move |(mut it, guard)| async move {
            let Some(event) = it.next() else {
                guard.finished.set(true);
                return None;
            };
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
            Some((
                Ok::<_, std::convert::Infallible>(sse_frame(&event)),
                (it, guard),
            ))
        },
    );
    Body::from_stream(stream)
}

fn stalled(state: Arc<MockState>, events: Vec<Value>) -> Body {
    let guard = CancelGuard {
        state,
        finished: std::cell::Cell::new(false),
    };
    let head = futures_util::stream::iter(
        events
            .iter()
            .map(sse_frame)
            .map(Ok::<_, std::convert::Infallible>)
            .collect::<Vec<_>>(),
    );
    let tail = futures_util::stream::once(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
        Ok(Bytes::new())
    });
    Body::from_stream(futures_util::StreamExt::chain(head, tail))
}

fn vanishing(events: Vec<Value>) -> Body {
    let head = futures_util::stream::iter(
        events
            .iter()
            .map(sse_frame)
            .map(Ok::<_, std::io::Error>)
            .collect::<Vec<_>>(),
    );
    // Let the events go out before the connection breaks.
    let tail = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err(std::io::Error::other("connection reset by the mock"))
    });
    Body::from_stream(futures_util::StreamExt::chain(head, tail))
}
