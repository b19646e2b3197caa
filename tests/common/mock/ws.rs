//! The Responses WebSocket of PROTOCOL.md §8 on `GET {base}/responses`: the
//! handshake with its checks, and the socket loop that reads frames while a
//! turn plays, one turn at a time. What a frame means is `ws_turn`'s job.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::time::Instant;

use super::events;
use super::tokens::check_auth;
use super::ws_turn::{Connection, Reply, Step, Turn};
use super::{MockState, detail};

/// The `OpenAI-Beta` value of the current client, and the older one still accepted.
pub const BETA: &str = "responses_websockets=2026-02-06";
pub const BETA_OLD: &str = "responses_websockets=2026-02-04";

/// What the backend does with the next `response.create` that generates.
#[derive(Debug, Clone)]
pub enum WsAnswer {
    /// These events, one text frame each, with a pause before each.
    Events { events: Vec<Value>, pace: Duration },
    /// These events, then nothing: the turn never ends, the socket stays open.
    Stall { events: Vec<Value> },
    /// These events, then a close frame (1011) before any terminal event.
    Close { events: Vec<Value> },
    /// These events, then the connection drops without a close frame.
    Vanish { events: Vec<Value> },
    /// One wrapped `error` frame, then a close frame if `close`.
    Error { frame: Value, close: bool },
}

impl WsAnswer {
    /// The wrapped usage-limit error (429) with its `resets_at`; the socket stays open.
    pub fn usage_limit(resets_at: i64) -> Self {
        WsAnswer::Error {
            frame: events::usage_limit_error(resets_at),
            close: false,
        }
    }

    /// The 60-minute `websocket_connection_limit_reached` error, then a close.
    pub fn connection_limit() -> Self {
        WsAnswer::Error {
            frame: events::connection_limit_error(),
            close: true,
        }
    }
}

/// One upgrade request, accepted or refused.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub headers: HeaderMap,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Upgraded; `connection` numbers the sockets from 1.
    Accepted {
        connection: usize,
    },
    Refused {
        status: u16,
    },
}

/// One frame the backend received.
#[derive(Debug, Clone, PartialEq)]
pub struct WsFrame {
    pub connection: usize,
    pub message: Received,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A text frame holding JSON.
    Json(Value),
    /// A text frame that is not JSON.
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<u16>),
}

/// The WebSocket side of the mock: its script and its records.
#[derive(Debug, Default)]
pub struct WsState {
    pub(super) answers: Mutex<VecDeque<WsAnswer>>,
    pub(super) default_answer: Mutex<Option<WsAnswer>>,
    /// The text (and the number of its deltas) of an unscripted answer.
    pub(super) default_text: Mutex<Option<(String, usize)>>,
    pub(super) refuse: Mutex<Option<u16>>,
    pub(super) skip_metadata: AtomicBool,
    /// The next socket to get a `response.create` forgets its previous response.
    pub(super) forget: AtomicBool,
    pub handshakes: Mutex<Vec<Handshake>>,
    pub frames: Mutex<Vec<WsFrame>>,
    /// Sockets accepted, ever.
    pub opened: AtomicUsize,
    /// Sockets open now.
    pub open: AtomicUsize,
    /// `response.create` frames received.
    pub creates: AtomicUsize,
    /// Sockets the client ended while a turn was still in flight.
    pub abandoned: AtomicUsize,
    /// `response.create` frames sent while a turn was in flight (refused).
    pub overlapping: AtomicUsize,
}

pub(super) async fn upgrade(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let headers = parts.headers.clone();
    let refused = |state: &MockState, headers: HeaderMap, response: Response| {
        let status = response.status().as_u16();
        let outcome = Outcome::Refused { status };
        state
            .ws
            .handshakes
            .lock()
            .unwrap()
            .push(Handshake { headers, outcome });
        response
    };
    if let Some(refusal) = handshake_refusal(&state, &headers) {
        return refused(&state, headers, refusal);
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return refused(&state, headers, rejection.into_response()),
    };
    let connection = state.ws.opened.fetch_add(1, Ordering::SeqCst) + 1;
    let outcome = Outcome::Accepted { connection };
    let record = Handshake {
        headers: headers.clone(),
        outcome,
    };
    state.ws.handshakes.lock().unwrap().push(record);
    let answer_headers = state.answer_headers("");
    let mut response = upgrade.on_upgrade(move |socket| serve(state, socket, connection, headers));
    for (k, v) in answer_headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            response.headers_mut().insert(k, v);
        }
    }
    response
}

/// The refusal of an upgrade: the test's switch, then the beta header, then
/// the login checks of HTTP.
fn handshake_refusal(state: &MockState, headers: &HeaderMap) -> Option<Response> {
    if let Some(status) = *state.ws.refuse.lock().unwrap() {
        let status = StatusCode::from_u16(status).unwrap();
        return Some(detail(status, "WebSocket transport is not available"));
    }
    let beta = headers
        .get_all("openai-beta")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| [BETA, BETA_OLD].contains(&v.trim()));
    if !beta {
        return Some(detail(
            StatusCode::BAD_REQUEST,
            &format!("Missing or unsupported OpenAI-Beta header: expected {BETA}"),
        ));
    }
    check_auth(state, headers)
}

/// Who ended the socket loop.
enum End {
    Client,
    Mock,
}

async fn serve(
    state: Arc<MockState>,
    mut socket: WebSocket,
    connection: usize,
    headers: HeaderMap,
) {
    state.ws.open.fetch_add(1, Ordering::SeqCst);
    let mut conn = Connection::new(state.clone(), connection, headers);
    let mut turn: Option<Turn> = None;
    let end = loop {
        let due = turn.as_ref().and_then(Turn::due);
        tokio::select! {
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { break End::Client };
                match conn.reply(message, turn.is_some()) {
                    None => break End::Client,
                    Some(Reply::Nothing) => {}
                    Some(Reply::Turn(next)) => turn = Some(next),
                    Some(Reply::Frame(frame)) => {
                        if let Some(end) = play(&mut socket, Step::Send(frame)).await {
                            break end;
                        }
                    }
                }
            }
            () = until(due), if due.is_some() => {
                let Some(step) = turn.as_mut().and_then(Turn::next_step) else { continue };
                if let Some(end) = play(&mut socket, step).await {
                    if matches!(end, End::Mock) {
                        turn = None;
                    }
                    break end;
                }
                if turn.as_ref().is_some_and(Turn::finished) {
                    turn = None;
                }
            }
        }
    };
    if matches!(end, End::Client) && turn.is_some() {
        state.ws.abandoned.fetch_add(1, Ordering::SeqCst);
    }
    state.ws.open.fetch_sub(1, Ordering::SeqCst);
    // Dropping the socket without a close frame is how `Vanish` breaks it.
    drop(socket);
}

/// Resolves at `due`, and at once when it has passed: a timer would round
/// it up to the next millisecond, and the events of an unpaced answer go
/// out back to back, as the backend writes them.
async fn until(due: Option<Instant>) {
    match due {
        Some(at) if at > Instant::now() => tokio::time::sleep_until(at).await,
        Some(_) => {}
        None => std::future::pending().await,
    }
}

/// Plays one step of a turn; `Some` when the socket is done with.
async fn play(socket: &mut WebSocket, step: Step) -> Option<End> {
    match step {
        Step::Send(frame) => {
            let sent = socket.send(Message::text(frame.to_string())).await;
            sent.err().map(|_| End::Client)
        }
        Step::Close { code, reason } => {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = socket.send(Message::Close(Some(frame))).await;
            Some(End::Mock)
        }
        Step::Vanish => Some(End::Mock),
    }
}
