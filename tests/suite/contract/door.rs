//! One adapter per door: how a turn is asked for in that door's dialect
//! (the request body, or the `response.create` frame), and how the mock is
//! scripted for it: the WebSocket door reaches the backend's socket, the
//! others its HTTP endpoint. Sending and reading back is `client`'s job.

use serde_json::{Value, json};

use crate::common::mock::{self, WsAnswer};
use crate::common::{Answer, MockBackend};

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
fn user(text: &str) -> Value {
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
