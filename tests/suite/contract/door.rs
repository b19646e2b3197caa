//! One adapter per door: how a turn is asked for in that door's dialect,
//! sent (over HTTP, or as a `response.create` frame on a WebSocket), and
//! read back into a [`Reply`] that a case can check the same way at every
//! door. Scripting the mock is door-aware too: the WebSocket door reaches
//! the backend's socket, the others its HTTP endpoint.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::common::mock::{self, WsAnswer};
use crate::common::{Answer, MockBackend, TestProxy, sse_data};

/// Longest wait for one frame of a WebSocket answer.
const PATIENCE: Duration = Duration::from_secs(10);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The four ways a turn comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// `POST /v1/responses`.
    Responses,
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/messages`.
    Messages,
    /// A `response.create` frame on the `GET /v1/responses` upgrade.
    WebSocket,
}

/// What a case asks for, whatever the door.
#[derive(Debug, Clone)]
pub struct Turn {
    pub model: String,
    pub input: String,
    /// Ignored by the WebSocket door, which always streams.
    pub stream: bool,
    /// `store`, where the dialect has it (Responses over HTTP and WebSocket).
    pub store: Option<bool>,
    /// The turn this one continues.
    pub after: Option<Earlier>,
}

/// A turn answered before, as a door continues from it: by
/// `previous_response_id` where the dialect has one, else by sending the
/// conversation again.
#[derive(Debug, Clone)]
pub struct Earlier {
    pub response_id: String,
    pub input: String,
    pub answer: String,
}

impl Turn {
    pub fn new(model: &str, input: &str) -> Self {
        Turn {
            model: model.to_owned(),
            input: input.to_owned(),
            stream: false,
            store: None,
            after: None,
        }
    }

    pub fn streamed(mut self, stream: bool) -> Self {
        self.stream = stream;
        self
    }
}

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

/// What the mock does with the next turn, at whichever door it arrives.
#[derive(Debug, Clone)]
pub enum Script {
    /// The backend's `usage_limit_reached` 429, resetting at this time.
    UsageLimit { resets_at: i64 },
    /// The start of an answer, then silence.
    Stall,
}

impl Door {
    pub const ALL: [Door; 4] = [Door::Responses, Door::Chat, Door::Messages, Door::WebSocket];

    /// The path the turn is asked on (the upgrade's, for the WebSocket).
    pub fn path(self) -> &'static str {
        match self {
            Door::Responses | Door::WebSocket => "/v1/responses",
            Door::Chat => "/v1/chat/completions",
            Door::Messages => "/v1/messages",
        }
    }

    /// The `route` label of `/metrics` for this door's requests.
    pub fn route(self) -> &'static str {
        match self {
            Door::Responses => "responses",
            Door::Chat => "chat_completions",
            Door::Messages => "messages",
            Door::WebSocket => "responses_websocket",
        }
    }

    /// The `dialect` label of `/metrics`.
    pub fn dialect(self) -> &'static str {
        match self {
            Door::Responses | Door::WebSocket => "responses",
            Door::Chat => "chat",
            Door::Messages => "messages",
        }
    }

    /// Whether the dialect names an earlier answer by id and asks to keep one.
    pub fn keeps_answers(self) -> bool {
        matches!(self, Door::Responses | Door::WebSocket)
    }

    /// Whether this door's turns stream (the WebSocket's always do).
    pub fn streams(self, turn: &Turn) -> bool {
        self == Door::WebSocket || turn.stream
    }

    /// Makes the mock answer the next turn at this door with `script`.
    pub fn script(self, mock: &MockBackend, script: Script) {
        let head = mock::text_answer("stuck", 2)[..2].to_vec();
        match (self, script) {
            (Door::WebSocket, Script::UsageLimit { resets_at }) => {
                mock.push_ws_answer(WsAnswer::usage_limit(resets_at));
            }
            (Door::WebSocket, Script::Stall) => {
                mock.push_ws_answer(WsAnswer::Stall { events: head })
            }
            (_, Script::UsageLimit { resets_at }) => mock.push_answer(usage_limit(resets_at)),
            (_, Script::Stall) => mock.push_answer(Answer::Stall { events: head }),
        }
    }

    /// The request body of `turn` in this door's dialect (for the
    /// WebSocket, its `response.create` frame).
    pub fn request(self, turn: &Turn) -> Value {
        match self {
            Door::Responses | Door::WebSocket => {
                let mut body = json!({"model": turn.model, "input": [user(&turn.input)],
                    "stream": self.streams(turn)});
                if self == Door::WebSocket {
                    body["type"] = json!("response.create");
                    body["tools"] = json!([]);
                }
                if let Some(store) = turn.store {
                    body["store"] = json!(store);
                }
                if let Some(earlier) = &turn.after {
                    body["previous_response_id"] = json!(earlier.response_id);
                }
                body
            }
            Door::Chat | Door::Messages => {
                let mut messages = Vec::new();
                if let Some(earlier) = &turn.after {
                    messages.push(json!({"role": "user", "content": earlier.input}));
                    messages.push(json!({"role": "assistant", "content": earlier.answer}));
                }
                messages.push(json!({"role": "user", "content": turn.input}));
                let mut body =
                    json!({"model": turn.model, "messages": messages, "stream": turn.stream});
                if self == Door::Messages {
                    body["max_tokens"] = json!(1024);
                }
                body
            }
        }
    }
}

/// A Responses input message.
pub fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// The backend's 429 for a reached usage limit, with the headers it sends along.
fn usage_limit(resets_at: i64) -> Answer {
    Answer::Status {
        status: 429,
        body: json!({"error": {"type": "usage_limit_reached",
            "message": "You've hit your usage limit.", "plan_type": "plus",
            "resets_at": resets_at}})
        .to_string(),
        content_type: "application/json",
        headers: vec![
            ("x-codex-primary-used-percent".into(), "100".into()),
            ("x-codex-primary-window-minutes".into(), "300".into()),
            ("x-codex-primary-reset-at".into(), resets_at.to_string()),
        ],
    }
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
