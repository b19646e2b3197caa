//! A mock Codex backend and token endpoint, as strict as PROTOCOL.md: a real
//! HTTP server on 127.0.0.1:0 that also speaks the Responses WebSocket.
//! Shared by the tests, the benchmarks and the example binary.
//!
//! Layout: `server` (listeners, routes), `tokens` (logins, refresh, auth
//! checks), `body` (encodings, body rules, compaction items), `http` (the
//! HTTP endpoints), `sse` (scripted HTTP answers), `ws` (handshake, socket
//! loop), `ws_turn` (per-socket state, scripted WebSocket answers), `events`
//! (what answers are made of).
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

mod body;
mod catalogue;
mod events;
mod http;
mod server;
mod sse;
mod tokens;
mod ws;
mod ws_turn;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::Notify;

pub use body::{Encoding, MAX_DECODED_BYTES};
pub use catalogue::{OVERFLOW_MARKER, OVERFLOW_MESSAGE};
pub use events::{
    backfilled, compaction_answer, compaction_item, completed, completed_id,
    connection_limit_error, output_items, previous_not_found, prewarm_answer, rate_limits_event,
    text_answer, text_answer_as, text_message, usage_body, usage_limit_error, with_usage,
    wrapped_error, wrapped_invalid,
};
pub use http::TURN_STATE;
pub use sse::Answer;
pub use tokens::{
    RefreshState, TokenAnswer, TokenHold, auth_json, auth_json_for, fake_jwt, now_secs,
};
pub use ws::{BETA, BETA_OLD, Handshake, Outcome, Received, WsAnswer, WsFrame, WsState};

/// A Codex CLI release newer than the proxy's built-in client version.
pub const NEXT_RELEASE: &str = "0.172.0";

/// The model the backend lists only to clients of [`NEXT_RELEASE`] or newer.
pub const NEXT_RELEASE_MODEL: &str = "gpt-5.9-preview";

/// The account every login of the mock belongs to.
pub const ACCOUNT_ID: &str = "acc-test-1";

/// Which endpoint a request came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST {base}/responses`.
    Responses,
    /// `POST {base}/responses/compact`.
    Compact,
    /// A `response.create` frame on socket `connection` (numbered from 1).
    WebSocket { connection: usize },
}

/// One request the backend received, refused or not.
#[derive(Debug, Clone)]
pub struct Seen {
    pub route: Route,
    /// The request's headers; on a WebSocket, those of its handshake.
    pub headers: HeaderMap,
    /// The decoded body, or the `response.create` frame as sent.
    pub body: Value,
    /// How the body was compressed on the wire, if it was.
    pub encoding: Option<Encoding>,
    /// The body's bytes as they came over HTTP, compressed or not, or the
    /// text of the frame on a WebSocket.
    pub raw: axum::body::Bytes,
    /// The whole input as the backend understood it: on a WebSocket, the
    /// history of `previous_response_id` followed by the new items.
    pub history: Vec<Value>,
    /// The `x-codex-turn-state` the client sent back (header on HTTP,
    /// `client_metadata` on a WebSocket).
    pub turn_state: Option<String>,
    /// The request's size as it arrived: the body as sent (compressed or
    /// not), or the text of the frame.
    pub bytes: usize,
}

impl Seen {
    /// Whether the request continued an earlier answer by
    /// `previous_response_id` (on a WebSocket: the socket's last one).
    pub fn chained(&self) -> bool {
        self.body
            .get("previous_response_id")
            .is_some_and(Value::is_string)
    }

    /// How many input items the request carried itself.
    pub fn items(&self) -> usize {
        self.body["input"].as_array().map_or(0, Vec::len)
    }
}

#[derive(Debug, Default)]
pub struct MockState {
    logins: Mutex<tokens::Logins>,
    answers: Mutex<VecDeque<Answer>>,
    /// Answers for the next model request by either route, HTTP or WebSocket.
    any_answers: Mutex<VecDeque<Vec<Value>>>,
    default_answer: Mutex<Option<Answer>>,
    token_answers: Mutex<VecDeque<TokenAnswer>>,
    pub seen: Mutex<Vec<Seen>>,
    /// `POST /responses` requests (not WebSocket turns: see `ws.creates`).
    pub responses_calls: AtomicUsize,
    pub compact_calls: AtomicUsize,
    pub refresh_calls: AtomicUsize,
    /// Refreshes that presented a refresh token already spent.
    pub refresh_reuses: AtomicUsize,
    pub models_calls: AtomicUsize,
    pub usage_calls: AtomicUsize,
    /// Connections accepted.
    pub connections: AtomicUsize,
    /// The HTTP version of every request (recorded over TLS only).
    pub versions: Mutex<Vec<axum::http::Version>>,
    /// Streams the client went away from before they finished.
    pub streams_cancelled: AtomicUsize,
    pub cancelled: Notify,
    /// The model list body, and the ETag it is served with (also sent as
    /// `x-models-etag` on every answer).
    pub models: Mutex<Value>,
    pub models_etag: Mutex<String>,
    /// The `client_version` of every model list request, oldest first.
    pub models_client_versions: Mutex<Vec<String>>,
    /// Answers failed (or scripted to fail) for a context past the model's window.
    pub overflows_answered: AtomicUsize,
    /// Refuse such a request with a 400 before the stream instead of a
    /// `response.failed` in it.
    pub overflow_as_status: AtomicBool,
    /// The usage endpoint's body.
    pub usage: Mutex<Value>,
    /// The rate-limit headers of every `/responses` answer and handshake.
    pub rate_limit_headers: Mutex<Vec<(String, String)>>,
    /// A `codex.rate_limits` event sent after the first event of every
    /// stream, and before the answer on a WebSocket.
    pub rate_limits_event: Mutex<Option<Value>>,
    /// Every turn-state token issued, oldest first.
    pub turn_states_issued: Mutex<Vec<String>>,
    /// Every compaction item issued, as `(id, encrypted_content)`.
    pub compactions_issued: Mutex<Vec<(String, String)>>,
    /// Compaction items accepted in later requests' input.
    pub compactions_accepted: AtomicUsize,
    /// When set, a compressed body is refused with this status, as a
    /// backend that reads only plain JSON does.
    pub refuse_encoded: Mutex<Option<axum::http::StatusCode>>,
    pub ws: WsState,
}

/// A running mock.
#[derive(Debug)]
pub struct MockBackend {
    pub addr: SocketAddr,
    pub state: Arc<MockState>,
    task: tokio::task::JoinHandle<()>,
    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` over TLS.
    base: String,
}

impl Drop for MockBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn new_state() -> Arc<MockState> {
    let state = Arc::new(MockState::default());
    *state.models.lock().unwrap() = json!({"models": [
        {"slug": "gpt-5", "display_name": "GPT-5", "visibility": "list", "supported_in_api": true, "priority": 1, "context_window": 272000},
        {"slug": "gpt-5-codex", "display_name": "GPT-5 Codex", "visibility": "list", "supported_in_api": true, "priority": 2, "context_window": 272000},
        {"slug": "internal-only", "visibility": "hide", "supported_in_api": true, "priority": 3},
        // Listed only to clients of the next release (PROTOCOL.md §6).
        {"slug": NEXT_RELEASE_MODEL, "display_name": "GPT-5.9 Preview", "visibility": "list", "supported_in_api": true, "priority": 4, "context_window": 400000, "minimal_client_version": NEXT_RELEASE},
    ]});
    *state.models_etag.lock().unwrap() = "\"models-v1\"".to_owned();
    let reset_at = now_secs() + 9_000;
    *state.usage.lock().unwrap() = usage_body(12, reset_at);
    *state.rate_limit_headers.lock().unwrap() = [
        ("x-codex-primary-used-percent", "12".to_owned()),
        ("x-codex-primary-window-minutes", "300".to_owned()),
        ("x-codex-primary-reset-at", reset_at.to_string()),
        ("x-codex-secondary-used-percent", "3".to_owned()),
        ("x-codex-secondary-window-minutes", "10080".to_owned()),
        (
            "x-codex-secondary-reset-at",
            (reset_at + 86_400).to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    state
}

/// The backend's answer to a refused request: `{"detail": message}`.
fn detail(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"detail": message}))).into_response()
}

impl MockState {
    /// The next answer scripted for either route.
    fn next_any_answer(&self) -> Option<Vec<Value>> {
        self.any_answers.lock().unwrap().pop_front()
    }

    /// The turn state of an answer: the one the client sent back when this
    /// backend issued it (the same turn), else a fresh one.
    fn turn_state(&self, sent: Option<&str>) -> String {
        let mut issued = self.turn_states_issued.lock().unwrap();
        if let Some(sent) = sent.filter(|s| issued.iter().any(|i| i == s)) {
            return sent.to_owned();
        }
        let token = format!("ts_{}_{:x}", issued.len() + 1, now_nanos());
        issued.push(token.clone());
        token
    }

    /// A compaction item for an input of `items` items, remembered so a
    /// later request may carry it.
    fn issue_compaction(&self, items: usize) -> Value {
        let mut issued = self.compactions_issued.lock().unwrap();
        let n = issued.len() + 1;
        let id = format!("cmp_mock_{n}");
        let secret = json!({"n": n, "items": items, "at": now_nanos().to_string()});
        let content = format!("enc_{}", URL_SAFE_NO_PAD.encode(secret.to_string()));
        issued.push((id.clone(), content.clone()));
        compaction_item(&id, &content)
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

impl MockBackend {
    /// Base URL to configure as `upstream_url`.
    pub fn upstream_url(&self) -> String {
        format!("{}/backend-api/codex", self.base)
    }

    /// The Responses WebSocket: `upstream_url` with `/responses`, `ws(s)://`.
    pub fn websocket_url(&self) -> String {
        let base = self.upstream_url();
        let base = base
            .strip_prefix("https://")
            .map(|rest| format!("wss://{rest}"))
            .unwrap_or_else(|| base.replacen("http://", "ws://", 1));
        format!("{base}/responses")
    }

    /// URL to configure as `token_url`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base)
    }

    /// The usage endpoint as on chatgpt.com, beside `/codex`.
    pub fn usage_url(&self) -> String {
        format!("{}/backend-api/wham/usage", self.base)
    }

    /// A fresh login the backend accepts, as the auth.json document Codex writes.
    pub fn login(&self, access_exp: i64) -> Value {
        let (access, refresh) = self.state.issue(access_exp);
        auth_json(&access, &refresh)
    }

    /// A fresh login of another account than [`ACCOUNT_ID`], which the
    /// backend accepts with that account's header.
    pub fn login_as(&self, account: &str, access_exp: i64) -> Value {
        let (access, refresh) = self.state.issue(access_exp);
        self.state
            .logins
            .lock()
            .unwrap()
            .other_accounts
            .insert(access.clone(), account.to_owned());
        auth_json_for(&access, &refresh, account)
    }

    /// Makes the backend refuse `access_token` with a 401 from now on.
    pub fn revoke(&self, access_token: &str) {
        let mut logins = self.state.logins.lock().unwrap();
        logins.valid_access.remove(access_token);
    }

    pub fn push_answer(&self, answer: Answer) {
        self.state.answers.lock().unwrap().push_back(answer);
    }

    /// Scripts the events of the answer to the next model request, whether
    /// it comes over HTTP or on a WebSocket (before either route's own script).
    pub fn push_any_answer(&self, events: Vec<Value>) {
        self.state.any_answers.lock().unwrap().push_back(events);
    }

    /// Makes the next socket to get a `response.create` forget its previous
    /// response, as the backend does when it loses a connection's state: a
    /// `previous_response_id` naming it is answered `previous_response_not_found`.
    pub fn forget_ws_responses(&self) {
        self.state.ws.forget.store(true, Ordering::SeqCst);
    }

    pub fn set_default_answer(&self, answer: Answer) {
        *self.state.default_answer.lock().unwrap() = Some(answer);
    }

    pub fn push_token_answer(&self, answer: TokenAnswer) {
        self.state.token_answers.lock().unwrap().push_back(answer);
    }

    /// Scripts the answer to the next generating `response.create` on any
    /// socket (prewarm and compaction are answered by the mock itself).
    pub fn push_ws_answer(&self, answer: WsAnswer) {
        self.state.ws.answers.lock().unwrap().push_back(answer);
    }

    pub fn set_default_ws_answer(&self, answer: WsAnswer) {
        *self.state.ws.default_answer.lock().unwrap() = Some(answer);
    }

    /// Answers every unscripted WebSocket turn with `text` in `pieces`
    /// deltas, under a response id of the turn's own (unlike a default
    /// answer, whose events, and so whose id, are fixed).
    pub fn set_ws_answer_text(&self, text: &str, pieces: usize) {
        *self.state.ws.default_text.lock().unwrap() = Some((text.to_owned(), pieces));
    }

    /// Answers every upgrade with `status` (404, 405, 426…) from now on, or
    /// accepts them again with `None`.
    pub fn refuse_websocket(&self, status: Option<u16>) {
        *self.state.ws.refuse.lock().unwrap() = status;
    }

    /// Stops (or resumes) the `response.metadata` frame that opens each turn.
    pub fn send_ws_metadata(&self, send: bool) {
        self.state.ws.skip_metadata.store(!send, Ordering::SeqCst);
    }

    /// Replaces the rate-limit headers of every answer.
    pub fn set_rate_limit_headers(&self, headers: &[(&str, &str)]) {
        *self.state.rate_limit_headers.lock().unwrap() = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    }

    /// Sends `event` (a `codex.rate_limits`) in every stream from now on.
    pub fn set_rate_limits_event(&self, event: Option<Value>) {
        *self.state.rate_limits_event.lock().unwrap() = event;
    }

    pub fn refresh_calls(&self) -> usize {
        self.state.refresh_calls.load(Ordering::SeqCst)
    }

    /// Streams the client went away from before they finished.
    pub fn streams_cancelled(&self) -> usize {
        self.state.streams_cancelled.load(Ordering::SeqCst)
    }

    /// Connections the backend accepted, from any client.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub fn responses_calls(&self) -> usize {
        self.state.responses_calls.load(Ordering::SeqCst)
    }

    pub fn compact_calls(&self) -> usize {
        self.state.compact_calls.load(Ordering::SeqCst)
    }

    pub fn usage_calls(&self) -> usize {
        self.state.usage_calls.load(Ordering::SeqCst)
    }

    pub fn last_seen(&self) -> Seen {
        self.state
            .seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request seen")
    }

    /// Every request received, HTTP and WebSocket, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Sockets upgraded, ever.
    pub fn ws_connections(&self) -> usize {
        self.state.ws.opened.load(Ordering::SeqCst)
    }

    /// Sockets open now.
    pub fn ws_open(&self) -> usize {
        self.state.ws.open.load(Ordering::SeqCst)
    }

    /// Sockets the client ended while a turn was in flight.
    pub fn ws_abandoned(&self) -> usize {
        self.state.ws.abandoned.load(Ordering::SeqCst)
    }

    /// Every upgrade request, accepted or refused, oldest first.
    pub fn ws_handshakes(&self) -> Vec<Handshake> {
        self.state.ws.handshakes.lock().unwrap().clone()
    }

    /// Every frame received on any socket (pings and closes included).
    pub fn ws_frames(&self) -> Vec<WsFrame> {
        self.state.ws.frames.lock().unwrap().clone()
    }

    /// Every turn state issued, oldest first.
    pub fn turn_states_issued(&self) -> Vec<String> {
        self.state.turn_states_issued.lock().unwrap().clone()
    }

    /// Compaction items the backend accepted in later requests.
    pub fn compactions_accepted(&self) -> usize {
        self.state.compactions_accepted.load(Ordering::SeqCst)
    }

    /// What this endpoint knows of `refresh_token`.
    pub fn refresh_state(&self, refresh_token: &str) -> RefreshState {
        let logins = self.state.logins.lock().unwrap();
        if logins.current_refresh.contains(refresh_token) {
            RefreshState::Live
        } else if logins.used_refresh.contains(refresh_token) {
            RefreshState::Used
        } else {
            RefreshState::Unknown
        }
    }

    /// Refreshes this endpoint refused because the token was already spent.
    pub fn refresh_reuses(&self) -> usize {
        self.state.refresh_reuses.load(Ordering::SeqCst)
    }

    /// Whether the endpoint has ever seen `refresh_token` used twice.
    pub fn refresh_token_reused(&self) -> bool {
        tokens::REUSED.load(Ordering::SeqCst) > 0
    }
}
