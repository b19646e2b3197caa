//! What every request goes through: a request id, the client key, the
//! activity counters idle exit and `STATUS=` read, and when the answer (a
//! stream included) is finished or dropped, one summary log line (with the
//! login's usage windows) and the request metrics.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use subtle::ConstantTimeEq;

use super::AppState;
use super::body::Lingering;
use crate::accounting::{Client, Meter, Turn, TurnRecord};
use crate::error::{ApiError, Code, ErrorKind};
use crate::metrics::{Dialect, InFlight, Route};

/// What a handler tells the summary log line, through the response's extensions.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub model: Option<String>,
    pub stream: bool,
    pub upstream_id: Option<String>,
    pub sent: Option<crate::backend::Sent>,
    /// The turn's first event and usage, read from its event stream.
    pub meter: Meter,
}

/// The id of a request, as its summary line and `x-proxy-request-id` give it.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Request id, client key check, activity, and one summary line when the
/// response body (a stream included) is finished or dropped.
pub async fn bookkeeping(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut request = request.map(|b| Body::new(Lingering::new(b)));
    // `std::process::id()` is a getpid system call each time: read it once.
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let id = format!(
        "req_{:x}_{}",
        PID.get_or_init(std::process::id),
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    );
    // A WebSocket names its turns after its handshake's id.
    request.extensions_mut().insert(RequestId(id.clone()));
    let path = request.uri().path().to_owned();
    let route = route_of(request.method(), &path);
    let dialect = dialect_of(route, &path, request.headers());
    request.extensions_mut().insert(dialect);
    let client = Client::of(request.headers());
    let start = Instant::now();
    // The page holds no data: its script asks for the key `/v1/status` wants.
    let public = matches!(route, Route::Health | Route::Page);
    let mut response = if !public
        && let Some(key) = &state.inner.client_key
        && !presents_key(&request, key)
    {
        super::respond(
            Some(Extension(dialect)),
            ApiError::own(
                StatusCode::UNAUTHORIZED,
                ErrorKind::InvalidRequest,
                Code::InvalidApiKey,
                "this proxy requires `Authorization: Bearer <key>` or `x-api-key: <key>` with \
                 the key from its api_key_file",
            ),
        )
    } else {
        state.inner.activity.begin();
        let in_flight = state.metrics().map(|m| m.request_started());
        let response = next.run(request).await;
        let summary = response
            .extensions()
            .get::<Summary>()
            .cloned()
            .unwrap_or_default();
        let streaming = summary.stream && response.status().is_success();
        if streaming {
            state.inner.activity.streams.fetch_add(1, Ordering::SeqCst);
        }
        let guard = Finish {
            activity: Some(state.clone()),
            id: id.clone(),
            path,
            route,
            client,
            status: response.status(),
            start,
            summary,
            streaming,
            _in_flight: in_flight,
        };
        response.map(|b| Body::new(LoggedBody::new(b, guard)))
    };
    if let Ok(v) = HeaderValue::try_from(id) {
        response.headers_mut().insert("x-proxy-request-id", v);
    }
    response
}

/// The client sent `Authorization: Bearer <key>` (OpenAI's clients) or
/// `x-api-key: <key>` (Anthropic's), compared in constant time.
fn presents_key(request: &Request, key: &[u8]) -> bool {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    let api_key = headers.get("x-api-key").map(HeaderValue::as_bytes);
    [bearer, api_key]
        .into_iter()
        .flatten()
        .any(|given| bool::from(given.trim_ascii().ct_eq(key)))
}

/// The route a request took, for its metrics.
fn route_of(method: &Method, path: &str) -> Route {
    match path {
        "/v1/responses" | "/responses" if method == Method::GET => Route::ResponsesWebSocket,
        "/v1/responses" | "/responses" => Route::Responses,
        "/v1/responses/compact" | "/responses/compact" => Route::Compact,
        "/v1/chat/completions" | "/chat/completions" => Route::ChatCompletions,
        "/v1/messages" | "/messages" => Route::Messages,
        "/v1/messages/count_tokens" | "/messages/count_tokens" => Route::CountTokens,
        "/v1/models" | "/models" => Route::Models,
        "/v1/status" => Route::Status,
        "/metrics" => Route::Metrics,
        "/healthz" => Route::Health,
        "/" | "/status" => Route::Page,
        _ => Route::Other,
    }
}

/// The dialect a request's answer and errors are in, decided once for its
/// route: Anthropic's on its routes (an unknown one under `/v1/messages/`
/// included) and on the model list when the client says `anthropic-version`.
fn dialect_of(route: Route, path: &str, headers: &HeaderMap) -> Dialect {
    match route {
        Route::Models if headers.contains_key("anthropic-version") => Dialect::Messages,
        Route::Other if path.starts_with("/v1/messages/") => Dialect::Messages,
        route => route.dialect(),
    }
}

/// Written once, when the response body ends or is dropped.
#[derive(Debug)]
struct Finish {
    activity: Option<AppState>,
    id: String,
    path: String,
    route: Route,
    client: Client,
    status: StatusCode,
    start: Instant,
    summary: Summary,
    /// Counted in `Activity::streams`.
    streaming: bool,
    /// Counts the request in the in-flight gauge until dropped.
    _in_flight: Option<InFlight>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let Some(state) = self.activity.take() else {
            return;
        };
        Record {
            id: &self.id,
            path: &self.path,
            route: self.route,
            transport: "http",
            client: self.client,
            summary: &self.summary,
            status: self.status.as_u16(),
            start: self.start,
            end: Some(if self.status.as_u16() < 400 {
                "answered"
            } else {
                "refused"
            }),
        }
        .write(&state);
        if self.streaming {
            state.inner.activity.streams.fetch_sub(1, Ordering::SeqCst);
        }
        state.inner.activity.end();
    }
}

/// The summary of one request, or of one turn on a WebSocket: one log
/// record with the same fields whichever door the turn came in by (the
/// login's usage windows included), and the request metrics.
#[derive(Debug)]
pub struct Record<'a> {
    pub id: &'a str,
    pub path: &'a str,
    pub route: Route,
    /// `http`, or `websocket` for a turn on a socket.
    pub transport: &'static str,
    /// The client family, from the request's (or the handshake's) headers.
    pub client: Client,
    pub summary: &'a Summary,
    pub status: u16,
    /// When the request (or the socket's turn) arrived.
    pub start: Instant,
    /// How a WebSocket turn ended (`answered`, `failed`, …).
    pub end: Option<&'a str>,
}

impl Record<'_> {
    pub fn write(&self, state: &AppState) {
        let elapsed = self.start.elapsed();
        let ms = elapsed.as_secs_f64() * 1000.0;
        // The login's own windows as they stand now, `34` or `12.5` (the
        // journal writes a float field as `34.0`); left out when unknown.
        let [primary, secondary] = state.used_percent();
        // A model turn's record: a request at a door, or a turn on a socket.
        let is_turn = matches!(
            self.route,
            Route::Responses | Route::ChatCompletions | Route::Messages
        ) || self.transport == "websocket";
        let door = Turn {
            door: self.route.as_str(),
            client: self.client,
            model: self.summary.model.as_deref(),
            stream: self.summary.stream,
            status: self.status,
        };
        let turn = is_turn.then(|| TurnRecord::new(door, self.start, &self.summary.meter));
        let [input, cached_input, output, reasoning] =
            turn.as_ref().map_or([None; 4], TurnRecord::token_counts);
        tracing::info!(
            request_id = %self.id,
            path = %self.path,
            model = self.summary.model.as_deref().unwrap_or("-"),
            stream = self.summary.stream,
            status = self.status,
            duration_ms = (ms * 1000.0).round() / 1000.0,
            upstream_request_id = self.summary.upstream_id.as_deref().unwrap_or("-"),
            incremental = self.summary.sent.map(|s| s.incremental),
            upstream_bytes = self.summary.sent.map(|s| s.bytes),
            limit_primary_pct = primary.map(tracing::field::display),
            limit_secondary_pct = secondary.map(tracing::field::display),
            transport = self.transport,
            end = self.end.map(tracing::field::display),
            client = self.client.as_str(),
            effort = turn.as_ref().and_then(|t| t.effort.as_deref()),
            first_event_ms = turn.as_ref().and_then(|t| t.first_event_ms),
            input_tokens = input,
            cached_input_tokens = cached_input,
            output_tokens = output,
            reasoning_tokens = reasoning,
            "request finished"
        );
        if let Some(turn) = turn {
            // Every door's time to first event, from the turn's own meter.
            if let (Some(metrics), Some(ms)) = (state.metrics(), turn.first_event_ms) {
                metrics.first_event(self.route.dialect(), Duration::from_millis(ms));
            }
            state.record_turn(self.route.dialect(), turn);
        }
        // A handshake's 101 is no turn: the socket's turns are counted.
        if let Some(metrics) = state.metrics()
            && self.status != StatusCode::SWITCHING_PROTOCOLS.as_u16()
        {
            metrics.request_finished(
                self.route,
                self.route.dialect(),
                self.status,
                self.summary.stream,
                elapsed,
            );
        }
    }
}

/// A response body carrying its `Finish` until the last byte is sent.
#[derive(Debug)]
struct LoggedBody {
    inner: Body,
    finish: Option<Finish>,
}

impl LoggedBody {
    fn new(inner: Body, finish: Finish) -> Self {
        LoggedBody {
            inner,
            finish: Some(finish),
        }
    }
}

impl http_body::Body for LoggedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.finish.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
