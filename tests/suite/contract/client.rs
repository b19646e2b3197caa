//! A client of one door: it sends a turn as that door's request (over
//! HTTP, or as a frame on a WebSocket it keeps for all its turns) and reads
//! the answer, whole or streamed, back into a door-neutral [`Reply`].

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::door::{Door, Turn};
use crate::common::mock;
use crate::common::{TestProxy, sse_data};

/// Longest wait for one frame of a WebSocket answer.
const PATIENCE: Duration = Duration::from_secs(10);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A door's answer in door-neutral terms.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// The HTTP status, or on a WebSocket the wrapped error's status (200
    /// for an answer that completed).
    pub status: u16,
    /// The answer's text, deltas joined.
    pub text: String,
    /// The answer's id (`resp_…`, `chatcmpl-…`, `msg_…`), when it has one.
    pub id: Option<String>,
    pub error: Option<Failure>,
}

/// An error as the door's dialect shaped it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failure {
    /// `error.type`.
    pub kind: String,
    /// `error.code`; Anthropic's errors have none.
    pub code: Option<String>,
    /// `Retry-After` (a header, or on a WebSocket the wrapped `headers`).
    pub retry_after: Option<u64>,
}

/// A client of one door; the WebSocket door keeps one socket for all its turns.
#[derive(Debug)]
pub struct Client<'a> {
    door: Door,
    proxy: &'a TestProxy,
    socket: Option<Socket>,
}

impl<'a> Client<'a> {
    pub fn new(door: Door, proxy: &'a TestProxy) -> Self {
        Client {
            door,
            proxy,
            socket: None,
        }
    }

    /// Asks for `turn` and reads its whole answer.
    pub async fn ask(&mut self, turn: &Turn) -> Reply {
        let body = self.door.request(turn);
        if self.door == Door::WebSocket {
            return self.ask_socket(&body).await;
        }
        let response = self.proxy.post(self.door.path(), &body).await;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let text = response.text().await.unwrap();
        let mut reply = if status == 200 && turn.stream {
            self.streamed(&sse_data(&text))
        } else {
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            self.collected(&body)
        };
        reply.status = status;
        if let Some(error) = &mut reply.error {
            error.retry_after = retry_after;
        }
        reply
    }

    /// A whole answer (or an error body) of an HTTP door.
    fn collected(&self, body: &Value) -> Reply {
        let error = body.get("error").filter(|e| e.is_object()).map(failure);
        let text = match self.door {
            Door::Chat => body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            Door::Messages => texts(&body["content"], "text"),
            Door::Responses | Door::WebSocket => body["output"]
                .as_array()
                .map(|items| items.iter().map(|i| texts(&i["content"], "output_text")))
                .map(|texts| texts.collect())
                .unwrap_or_default(),
        };
        Reply {
            text,
            id: body["id"].as_str().map(str::to_owned),
            error,
            ..Reply::default()
        }
    }

    /// A streamed answer of an HTTP door, from its events' data.
    fn streamed(&self, events: &[Value]) -> Reply {
        let mut reply = Reply::default();
        for event in events {
            read_event(self.door, event, &mut reply);
        }
        reply
    }

    async fn ask_socket(&mut self, frame: &Value) -> Reply {
        if self.socket.is_none() {
            self.socket = Some(connect(self.proxy).await);
        }
        let socket = self.socket.as_mut().unwrap();
        socket.send(Message::text(frame.to_string())).await.unwrap();
        let mut reply = Reply {
            status: 200,
            ..Reply::default()
        };
        loop {
            let frame = next_frame(socket).await;
            read_event(Door::WebSocket, &frame, &mut reply);
            if let Some(status) = frame["status"]
                .as_u64()
                .filter(|_| frame["type"] == "error")
            {
                reply.status = status as u16;
                if let Some(error) = &mut reply.error {
                    error.retry_after = frame["headers"]["retry-after"]
                        .as_str()
                        .and_then(|s| s.parse().ok());
                }
            }
            let end = [
                "response.completed",
                "response.failed",
                "response.incomplete",
                "error",
            ];
            if end.contains(&frame["type"].as_str().unwrap_or_default()) {
                return reply;
            }
        }
    }
}

/// Adds what one streamed event (an SSE data payload or a WebSocket frame)
/// says to `reply`.
fn read_event(door: Door, event: &Value, reply: &mut Reply) {
    if let Some(error) = event.get("error").filter(|e| e.is_object()) {
        reply.error = Some(failure(error));
        return;
    }
    match door {
        Door::Chat => {
            reply.id = event["id"].as_str().map(str::to_owned).or(reply.id.take());
            if let Some(delta) = event["choices"][0]["delta"]["content"].as_str() {
                reply.text.push_str(delta);
            }
        }
        Door::Messages => match event["type"].as_str() {
            Some("message_start") => reply.id = event["message"]["id"].as_str().map(str::to_owned),
            Some("content_block_delta") => {
                reply
                    .text
                    .push_str(event["delta"]["text"].as_str().unwrap_or_default());
            }
            _ => {}
        },
        Door::Responses | Door::WebSocket => match event["type"].as_str() {
            Some("response.output_text.delta") => {
                reply
                    .text
                    .push_str(event["delta"].as_str().unwrap_or_default());
            }
            Some("response.completed") => {
                reply.id = event["response"]["id"].as_str().map(str::to_owned);
            }
            // The `error` event of an HTTP stream: a code and a message,
            // at the top level, and no error type.
            Some("error") => {
                let kind = String::new();
                reply.error = Some(Failure {
                    kind,
                    ..failure(event)
                });
            }
            Some("response.failed") => reply.error = Some(failure(&event["response"]["error"])),
            _ => {}
        },
    }
}

fn failure(error: &Value) -> Failure {
    Failure {
        kind: error["type"].as_str().unwrap_or_default().to_owned(),
        code: error["code"].as_str().map(str::to_owned),
        retry_after: None,
    }
}

/// The text of the parts of `content` of type `kind`, joined.
fn texts(content: &Value, kind: &str) -> String {
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter(|part| part["type"] == kind)
        .filter_map(|part| part["text"].as_str())
        .collect()
}

/// A socket to the proxy as the Codex CLI opens one.
async fn connect(proxy: &TestProxy) -> Socket {
    let url = format!("ws://{}/v1/responses", proxy.addr);
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("openai-beta", mock::BETA.parse().unwrap());
    headers.insert("originator", "codex_exec".parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
}

/// The next text frame, as JSON (pings and pongs skipped).
async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next()).await;
        match message.expect("no frame in time") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(text.as_str()).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}
