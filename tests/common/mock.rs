//! A mock Codex backend and token endpoint, as strict as PROTOCOL.md: a real
//! HTTP server on 127.0.0.1:0. Shared by the tests, the benchmarks and the
//! system test's helper binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// The account every login of the mock belongs to.
pub const ACCOUNT_ID: &str = "acc-test-1";

/// What the backend does with the next `/responses` request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// An event stream: `(type, data)` pairs, with a pause before each event.
    Events { events: Vec<Value>, pace: Duration },
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

/// What the token endpoint does with the next refresh.
#[derive(Debug, Clone)]
pub enum TokenAnswer {
    /// Rotate the refresh token, as the real endpoint does.
    Rotate,
    Status {
        status: u16,
        body: String,
    },
    /// Never answer.
    Hang,
    /// Take the request, then wait for the test to release it before
    /// spending the refresh token and answering as `Rotate` does.
    Hold(Arc<TokenHold>),
}

/// A token request held back by [`TokenAnswer::Hold`].
#[derive(Debug, Default)]
pub struct TokenHold {
    arrived: AtomicBool,
    release: Notify,
    /// An answer to give instead of rotating.
    answer: Mutex<Option<(u16, String)>>,
}

impl TokenHold {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Whether the request has reached the endpoint.
    pub fn arrived(&self) -> bool {
        self.arrived.load(Ordering::SeqCst)
    }

    /// Lets the endpoint spend the refresh token and answer.
    pub fn release(&self) {
        self.release.notify_one();
    }

    /// Lets the endpoint answer `status` with `body`, spending nothing.
    pub fn release_with(&self, status: u16, body: String) {
        *self.answer.lock().unwrap() = Some((status, body));
        self.release.notify_one();
    }
}

/// What the token endpoint knows of a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshState {
    /// Issued and not spent: the next refresh with it works.
    Live,
    /// Spent by a refresh.
    Used,
    /// Never issued by this endpoint.
    Unknown,
}

/// One request the backend received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Debug, Default)]
struct Logins {
    valid_access: HashSet<String>,
    current_refresh: HashSet<String>,
    used_refresh: HashSet<String>,
    counter: u64,
}

#[derive(Debug, Default)]
pub struct MockState {
    logins: Mutex<Logins>,
    answers: Mutex<VecDeque<Answer>>,
    default_answer: Mutex<Option<Answer>>,
    token_answers: Mutex<VecDeque<TokenAnswer>>,
    pub seen: Mutex<Vec<Seen>>,
    pub responses_calls: AtomicUsize,
    pub refresh_calls: AtomicUsize,
    /// Refreshes that presented a refresh token already spent.
    pub refresh_reuses: AtomicUsize,
    pub models_calls: AtomicUsize,
    /// Connections accepted.
    pub connections: AtomicUsize,
    /// The HTTP version of every request (recorded over TLS only).
    pub versions: Mutex<Vec<axum::http::Version>>,
    /// Streams the client went away from before they finished.
    pub streams_cancelled: AtomicUsize,
    pub cancelled: Notify,
    /// The model list body, and whether it honours If-None-Match.
    pub models: Mutex<Value>,
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
        {"slug": "gpt-5", "display_name": "GPT-5", "visibility": "list", "supported_in_api": true, "priority": 1},
        {"slug": "gpt-5-codex", "display_name": "GPT-5 Codex", "visibility": "list", "supported_in_api": true, "priority": 2},
        {"slug": "internal-only", "visibility": "hide", "supported_in_api": true, "priority": 3},
    ]});
    state
}

impl MockBackend {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener).await
    }

    pub async fn start_on(listener: tokio::net::TcpListener) -> Self {
        let state = new_state();
        let addr = listener.local_addr().unwrap();
        let app = router(state.clone());
        let counter = state.clone();
        let listener = listener.tap_io(move |_| {
            counter.connections.fetch_add(1, Ordering::SeqCst);
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockBackend {
            addr,
            state,
            task,
            base: format!("http://{addr}"),
        }
    }

    /// The same backend over TLS at `https://localhost:PORT`, with a
    /// certificate from a CA of its own, whose PEM is returned (for `ca_file`).
    /// It offers HTTP/2 by ALPN if `http2`, else only HTTP/1.1.
    pub async fn start_tls(http2: bool) -> (Self, String) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "mock backend CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca_cert, &ca_key)
            .unwrap();
        let mut server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        server.alpn_protocols = if http2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = new_state();
        let versions = state.clone();
        let app = router(state.clone()).layer(axum::middleware::from_fn(
            move |request: Request, next: axum::middleware::Next| {
                versions.versions.lock().unwrap().push(request.version());
                next.run(request)
            },
        ));
        let counter = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                counter.connections.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        let mock = MockBackend {
            addr,
            state,
            task,
            base: format!("https://localhost:{}", addr.port()),
        };
        (mock, ca_cert.pem())
    }

    /// Base URL to configure as `upstream_url`.
    pub fn upstream_url(&self) -> String {
        format!("{}/backend-api/codex", self.base)
    }

    /// URL to configure as `token_url`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base)
    }

    /// A fresh login the backend accepts, as the auth.json document Codex writes.
    pub fn login(&self, access_exp: i64) -> Value {
        let (access, refresh) = self.state.issue(access_exp);
        auth_json(&access, &refresh)
    }

    /// Makes the backend refuse `access_token` with a 401 from now on.
    pub fn revoke(&self, access_token: &str) {
        self.state
            .logins
            .lock()
            .unwrap()
            .valid_access
            .remove(access_token);
    }

    pub fn push_answer(&self, answer: Answer) {
        self.state.answers.lock().unwrap().push_back(answer);
    }

    pub fn set_default_answer(&self, answer: Answer) {
        *self.state.default_answer.lock().unwrap() = Some(answer);
    }

    pub fn push_token_answer(&self, answer: TokenAnswer) {
        self.state.token_answers.lock().unwrap().push_back(answer);
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

    pub fn last_seen(&self) -> Seen {
        self.state
            .seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request seen")
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
        REUSED.load(Ordering::SeqCst) > 0
    }
}

static REUSED: AtomicUsize = AtomicUsize::new(0);

impl MockState {
    fn issue(&self, access_exp: i64) -> (String, String) {
        let mut logins = self.logins.lock().unwrap();
        logins.counter += 1;
        let n = logins.counter;
        let access = fake_jwt(
            &json!({"exp": access_exp, "n": n, "https://api.openai.com/auth": {"chatgpt_account_id": ACCOUNT_ID}}),
        );
        let refresh = format!("rt-{n}-{}", now_secs());
        logins.valid_access.insert(access.clone());
        logins.current_refresh.insert(refresh.clone());
        (access, refresh)
    }
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A JWT with `alg: none` and the literal signature `signature`.
pub fn fake_jwt(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.signature")
}

/// The auth.json Codex writes for a ChatGPT login.
pub fn auth_json(access: &str, refresh: &str) -> Value {
    json!({
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": fake_jwt(&json!({
                "email": "dev@example.com",
                "https://api.openai.com/auth": {"chatgpt_account_id": ACCOUNT_ID, "chatgpt_plan_type": "plus"}
            })),
            "access_token": access,
            "refresh_token": refresh,
            "account_id": ACCOUNT_ID
        },
        "last_refresh": "2026-11-01T10:00:00.123456Z"
    })
}

fn router(state: Arc<MockState>) -> Router {
    Router::new()
        .route("/backend-api/codex/responses", post(responses))
        .route("/backend-api/codex/models", get(models))
        .route("/oauth/token", post(token))
        .with_state(state)
}

fn detail(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"detail": message}))).into_response()
}

async fn responses(State(state): State<Arc<MockState>>, request: Request) -> Response {
    state.responses_calls.fetch_add(1, Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    state.seen.lock().unwrap().push(Seen {
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    if let Some(refusal) = check_auth(&state, &parts.headers) {
        return refusal;
    }
    if let Some(refusal) = check_body(&body) {
        return refusal;
    }
    let answer = state
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .or_else(|| state.default_answer.lock().unwrap().clone())
        .unwrap_or_else(|| Answer::Events {
            events: text_answer("Hello from the mock.", 4),
            pace: Duration::ZERO,
        });
    answer_with(state, answer)
}

fn check_auth(state: &MockState, headers: &HeaderMap) -> Option<Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !state.logins.lock().unwrap().valid_access.contains(bearer) {
        return Some(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": {"code": "token_expired", "message": "Provided authentication token is expired."}})),
            )
                .into_response(),
        );
    }
    if headers
        .get("chatgpt-account-id")
        .and_then(|v| v.to_str().ok())
        != Some(ACCOUNT_ID)
    {
        return Some(detail(StatusCode::FORBIDDEN, "Account mismatch"));
    }
    if headers.get("originator").and_then(|v| v.to_str().ok()) != Some("codex_cli_rs") {
        return Some(detail(StatusCode::FORBIDDEN, "Just a moment..."));
    }
    None
}

fn check_body(body: &Value) -> Option<Response> {
    let bad = |m: &str| Some(detail(StatusCode::BAD_REQUEST, m));
    if !body.is_object() {
        return bad("Invalid JSON");
    }
    if body.get("stream") != Some(&Value::Bool(true)) {
        return bad("Stream must be set to true");
    }
    if body.get("store") != Some(&Value::Bool(false)) {
        return bad("Store must be set to false");
    }
    if body
        .get("instructions")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return bad("Instructions are required");
    }
    if !body.get("input").is_some_and(Value::is_array) {
        return bad("Input must be a list");
    }
    for field in [
        "max_output_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
    ] {
        if body.get(field).is_some() {
            return bad(&format!("Unsupported parameter: {field}"));
        }
    }
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    if !["gpt-5", "gpt-5-codex", "gpt-5.1-codex"].contains(&model) {
        return bad(&format!(
            "The '{model}' model is not supported when using Codex with a ChatGPT account."
        ));
    }
    None
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

fn answer_with(state: Arc<MockState>, answer: Answer) -> Response {
    let sse = |body: Body| {
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header("x-request-id", "upstream-req-1")
            .header("x-codex-primary-used-percent", "12")
            .header("x-codex-primary-window-minutes", "300")
            .body(body)
            .unwrap()
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
        Answer::Events { events, pace } => {
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
            sse(Body::from_stream(stream))
        }
        Answer::Stall { events } => {
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
            sse(Body::from_stream(futures_util::StreamExt::chain(
                head, tail,
            )))
        }
        Answer::Vanish { events } => {
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
            sse(Body::from_stream(futures_util::StreamExt::chain(
                head, tail,
            )))
        }
    }
}

async fn models(State(state): State<Arc<MockState>>, headers: HeaderMap) -> Response {
    state.models_calls.fetch_add(1, Ordering::SeqCst);
    if let Some(refusal) = check_auth(&state, &headers) {
        return refusal;
    }
    const ETAG: &str = "\"models-v1\"";
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(ETAG)
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let body = state.models.lock().unwrap().clone();
    ([(header::ETAG, ETAG)], axum::Json(body)).into_response()
}

async fn token(State(state): State<Arc<MockState>>, body: Bytes) -> Response {
    state.refresh_calls.fetch_add(1, Ordering::SeqCst);
    let answer = state
        .token_answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(TokenAnswer::Rotate);
    match answer {
        TokenAnswer::Status { status, body } => {
            return (StatusCode::from_u16(status).unwrap(), body).into_response();
        }
        TokenAnswer::Hang => std::future::pending::<()>().await,
        TokenAnswer::Hold(hold) => {
            hold.arrived.store(true, Ordering::SeqCst);
            hold.release.notified().await;
            if let Some((status, body)) = hold.answer.lock().unwrap().take() {
                return (StatusCode::from_u16(status).unwrap(), body).into_response();
            }
        }
        TokenAnswer::Rotate => {}
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if request["client_id"] != "app_EMoamEEZ73f0CkXaXp7hrann"
        || request["grant_type"] != "refresh_token"
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"code": "invalid_request"}})),
        )
            .into_response();
    }
    let presented = request["refresh_token"].as_str().unwrap_or("").to_owned();
    {
        let mut logins = state.logins.lock().unwrap();
        if logins.used_refresh.contains(&presented) {
            REUSED.fetch_add(1, Ordering::SeqCst);
            state.refresh_reuses.fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": {"code": "refresh_token_reused", "message": "Your refresh token has already been used"}})),
            )
                .into_response();
        }
        if !logins.current_refresh.remove(&presented) {
            return (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": {"code": "refresh_token_invalidated", "message": "Unknown refresh token"}})),
            )
                .into_response();
        }
        logins.used_refresh.insert(presented);
    }
    let (access, refresh) = state.issue(now_secs() + 3600);
    axum::Json(json!({
        "id_token": fake_jwt(&json!({"email": "dev@example.com", "https://api.openai.com/auth": {"chatgpt_account_id": ACCOUNT_ID}})),
        "access_token": access,
        "refresh_token": refresh,
    }))
    .into_response()
}

/// A realistic text answer, as the backend streams it, with `output: []` in
/// `response.completed` (as the real backend often sends it).
pub fn text_answer(text: &str, pieces: usize) -> Vec<Value> {
    let id = "resp_mock_1";
    let response = |status: &str| json!({"id": id, "object": "response", "created_at": 1_763_900_000, "status": status, "model": "gpt-5", "output": []});
    let item_id = "msg_mock_1";
    let mut events = vec![
        json!({"type": "response.created", "sequence_number": 0, "response": response("in_progress")}),
        json!({"type": "response.in_progress", "sequence_number": 1, "response": response("in_progress")}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        json!({"type": "response.content_part.added", "item_id": item_id, "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
    ];
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(pieces.max(1)).max(1);
    for piece in chars.chunks(size) {
        let delta: String = piece.iter().collect();
        events.push(json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": 0, "content_index": 0, "delta": delta}));
    }
    let message = json!({"id": item_id, "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]});
    events.extend([
        json!({"type": "response.output_text.done", "item_id": item_id, "output_index": 0, "content_index": 0, "text": text}),
        json!({"type": "response.content_part.done", "item_id": item_id, "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": message}),
        json!({"type": "response.completed", "response": {
            "id": id, "object": "response", "created_at": 1_763_900_000, "status": "completed", "model": "gpt-5", "output": [],
            "usage": {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 17}
        }}),
    ]);
    events
}

/// The message item `text_answer` finishes with.
pub fn text_message(text: &str) -> Value {
    json!({"id": "msg_mock_1", "type": "message", "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]})
}
