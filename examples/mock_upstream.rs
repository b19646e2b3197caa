//! A stand-in for the Codex backend and the token endpoint, on 127.0.0.1, for
//! trying the daemon without a subscription and for the systemd tests.
//!
//! ```sh
//! cargo run --example mock_upstream -- 127.0.0.1:0   # prints "listening on ADDR"
//! codex-responses-proxy --upstream-url http://ADDR/backend-api/codex \
//!     --token-url http://ADDR/oauth/token
//! ```
//!
//! `POST /backend-api/codex/responses` answers with a short text answer as an
//! event stream. A request whose body contains `pace-ms=N` gets its events N
//! milliseconds apart, so a test can keep a stream in flight.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

/// The words of every answer, one delta event each.
pub const ANSWER: [&str; 4] = ["Hello", ", ", "world", "!"];

/// The routes of the backend and the token endpoint.
pub fn router() -> Router {
    Router::new()
        .route("/backend-api/codex/responses", post(responses))
        .route("/backend-api/codex/models", get(models))
        .route("/oauth/token", post(token))
}

/// Serves until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, router()).await
}

/// The `pace-ms=N` marker in a request body, if any.
fn pace(body: &[u8]) -> Duration {
    let text = String::from_utf8_lossy(body);
    let ms = text
        .split("pace-ms=")
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|digits| digits.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_millis(ms)
}

fn event(data: serde_json::Value) -> Bytes {
    let kind = data["type"].as_str().unwrap_or("message").to_owned();
    Bytes::from(format!("event: {kind}\ndata: {data}\n\n"))
}

/// The events of one answer, in order.
fn answer_events() -> Vec<Bytes> {
    let id = "resp_mock";
    let text: String = ANSWER.concat();
    let item = json!({"id": "msg_mock", "type": "message", "role": "assistant", "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}]});
    let mut events = vec![
        event(
            json!({"type": "response.created", "response": {"id": id, "object": "response", "status": "in_progress", "output": []}}),
        ),
        event(
            json!({"type": "response.output_item.added", "output_index": 0,
            "item": {"id": "msg_mock", "type": "message", "role": "assistant", "status": "in_progress", "content": []}}),
        ),
    ];
    for delta in ANSWER {
        events.push(event(
            json!({"type": "response.output_text.delta", "item_id": "msg_mock",
            "output_index": 0, "content_index": 0, "delta": delta}),
        ));
    }
    events.push(event(
        json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
    ));
    events.push(event(json!({"type": "response.completed", "response": {"id": id, "object": "response",
        "status": "completed", "output": [],
        "usage": {"input_tokens": 5, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 4,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 9}}})));
    events
}

async fn responses(body: Bytes) -> Response {
    let pace = pace(&body);
    let events = answer_events();
    let stream = futures_util::stream::unfold(
        (events.into_iter(), true),
        move |(mut rest, first)| async move {
            let next = rest.next()?;
            if !first && !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
            Some((Ok::<_, std::io::Error>(next), (rest, false)))
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (
                header::HeaderName::from_static("x-request-id"),
                "upstream-mock-1",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

async fn models() -> Response {
    axum::Json(
        json!({"models": [{"slug": "gpt-5", "display_name": "gpt-5", "visibility": "list",
        "supported_in_api": true, "priority": 1}]}),
    )
    .into_response()
}

/// The test logins never need a refresh; one that asks anyway is refused
/// the way a burnt refresh token is.
async fn token() -> Response {
    (
        axum::http::StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": {"code": "refresh_token_invalidated"}})),
    )
        .into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    serve(listener).await
}
