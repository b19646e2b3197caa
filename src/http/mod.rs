//! The HTTP side: the listeners and the serve loop ([`serve`]), the routes
//! and their handlers (the Responses WebSocket and the status page among
//! them), and the per-request bookkeeping every route shares
//! ([`bookkeeping`]: request id, client key, the answer's dialect, the
//! summary record, activity). Handlers read a request, hand the turn to
//! [`crate::turn`],
//! and turn the answer back into HTTP.

mod activity;
mod body;
pub mod bookkeeping;
pub mod boundary;
mod page;
mod routes;
pub mod serve;
mod websocket;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, middleware};

use crate::accounting::{Ledger, TurnRecord};
use crate::backend::{Sockets, Upstream};
use crate::config::Config;
use crate::dialect::messages::MessagesError;
use crate::error::{ApiError, Code, ErrorKind};
use crate::metrics::{Dialect, Metrics};
use crate::store::Store;
use crate::turn::Pipeline;

pub use self::activity::Activity;
pub use self::bookkeeping::Summary;
use self::routes::{chat, compact, messages, models, responses, status, stored};
pub use self::serve::{Listener, serve};

/// Everything a handler needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// What every turn goes through, whichever door it came in by.
    pub pipeline: Pipeline,
    pub activity: Arc<Activity>,
    pub client_key: Option<Vec<u8>>,
    /// Who may send a request at all.
    pub boundary: Arc<boundary::Boundary>,
    /// Where the daemon listens, for `/v1/status`.
    pub serving: Mutex<Serving>,
    /// The last turns and the last hour's tokens per client, for `/v1/status`.
    pub ledger: Ledger,
}

/// The listeners, as the daemon was started on them.
#[derive(Debug, Clone, Default)]
pub struct Serving {
    pub listeners: Vec<String>,
    pub socket_activated: bool,
}

impl AppState {
    /// Opens the response store too: a store that cannot be opened is a
    /// warning, and the daemon serves on without state.
    pub fn new(
        config: Config,
        upstream: Upstream,
        sockets: Sockets,
        client_key: Option<Vec<u8>>,
        boundary: boundary::Boundary,
    ) -> Self {
        AppState {
            inner: Arc::new(Inner {
                activity: Arc::new(Activity::new(upstream.limits().changed().clone())),
                serving: Mutex::default(),
                pipeline: Pipeline::new(config, upstream, sockets),
                ledger: Ledger::default(),
                client_key,
                boundary: Arc::new(boundary),
            }),
        }
    }

    /// The response store.
    pub fn store(&self) -> &Store {
        &self.inner.pipeline.store
    }

    /// What every turn goes through.
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// Requests in flight and the time of the last one, for idle exit.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.inner.activity
    }

    /// The daemon's metrics, when `metrics = true`.
    pub fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.inner.pipeline.upstream.limits().metrics()
    }

    /// Records where the daemon listens (`socket_activated`: systemd passed the sockets).
    pub fn set_serving(&self, listeners: Vec<String>, socket_activated: bool) {
        *self.inner.serving.lock().unwrap_or_else(|e| e.into_inner()) = Serving {
            listeners,
            socket_activated,
        };
    }

    pub(crate) fn serving(&self) -> Serving {
        self.inner
            .serving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A model turn ended: counted in the metrics and kept for `/v1/status`.
    pub(crate) fn record_turn(&self, dialect: Dialect, turn: TurnRecord) {
        if let Some(metrics) = self.metrics() {
            metrics.turn(turn.client, dialect, turn.usage);
        }
        self.inner.ledger.record(turn);
    }

    /// The used share of the last answered login's own windows, now.
    pub(crate) fn used_percent(&self) -> [Option<f64>; 2] {
        let watch = self.inner.pipeline.upstream.limits();
        match watch.last_account() {
            Some(account) => watch
                .book()
                .codex_used_percent(&account, jiff::Timestamp::now()),
            None => [None, None],
        }
    }
}

/// A door's route: its `handle` behind [`door`].
macro_rules! turn {
    ($door:ident) => {
        |axum::extract::State(state): axum::extract::State<AppState>,
         headers: HeaderMap,
         body: Body| { door(state, headers, body, $door::handle) }
    };
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    let router = if state.inner.pipeline.config.metrics {
        Router::new().route("/metrics", get(status::metrics))
    } else {
        Router::new()
    };
    router
        .route(
            "/v1/responses",
            post(turn!(responses)).get(websocket::upgrade),
        )
        .route("/responses", post(turn!(responses)).get(websocket::upgrade))
        .route("/v1/responses/compact", post(turn!(compact)))
        .route("/responses/compact", post(turn!(compact)))
        .route(
            "/v1/responses/{id}",
            get(stored::retrieve).delete(stored::delete),
        )
        .route(
            "/responses/{id}",
            get(stored::retrieve).delete(stored::delete),
        )
        .route("/v1/responses/{id}/input_items", get(stored::input_items))
        .route("/responses/{id}/input_items", get(stored::input_items))
        .route("/v1/responses/{id}/cancel", post(stored::cancel))
        .route("/responses/{id}/cancel", post(stored::cancel))
        .route("/v1/chat/completions", post(turn!(chat)))
        .route("/chat/completions", post(turn!(chat)))
        .route("/v1/messages", post(turn!(messages)))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/models", get(models::list))
        .route("/models", get(models::list))
        .route("/v1/status", get(status::show))
        .route("/", get(page::show))
        .route("/status", get(page::show))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            bookkeeping::bookkeeping,
        ))
        // Outermost: a request a web page may not send is refused before the
        // client key is looked at and before anything is read.
        .layer(middleware::from_fn_with_state(
            state.inner.boundary.clone(),
            boundary::guard,
        ))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn not_found(dialect: Option<Extension<Dialect>>, request: Request) -> Response {
    respond(
        dialect,
        ApiError::own(
            StatusCode::NOT_FOUND,
            ErrorKind::InvalidRequest,
            Code::UnknownUrl,
            format!("no route for {} {}", request.method(), request.uri().path()),
        ),
    )
}

async fn method_not_allowed(dialect: Option<Extension<Dialect>>, request: Request) -> Response {
    respond(
        dialect,
        ApiError::own(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::InvalidRequest,
            Code::MethodNotAllowed,
            format!(
                "{} is not allowed on {}",
                request.method(),
                request.uri().path()
            ),
        ),
    )
}

/// The proxy's own error in the dialect [`bookkeeping`] decided for the
/// request's route: Anthropic's shape on its routes, OpenAI's elsewhere.
fn respond(dialect: Option<Extension<Dialect>>, error: ApiError) -> Response {
    match dialect {
        Some(Extension(Dialect::Messages)) => MessagesError::from(error).into_response(),
        _ => error.into_response(),
    }
}

/// `{"type":"error","error":{"type","message"}}` with its status and, for a
/// limit, `retry-after`.
impl IntoResponse for MessagesError {
    fn into_response(self) -> Response {
        crate::error::json_error(self.status, self.body(), self.retry_after)
    }
}

/// A door: `handle` answers the request and tells the turn's summary; the
/// answer, or the error in the door's own shape, carries that summary to
/// the request's record.
async fn door<E: IntoResponse>(
    state: AppState,
    headers: HeaderMap,
    body: Body,
    handle: impl AsyncFnOnce(&AppState, &HeaderMap, Body, &mut Summary) -> Result<Response, E>,
) -> Response {
    let mut summary = Summary::default();
    let result = handle(&state, &headers, body, &mut summary).await;
    with_summary(result, summary)
}

/// The handler's answer, carrying its summary for the log line.
fn with_summary<E: IntoResponse>(result: Result<Response, E>, summary: Summary) -> Response {
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(summary);
    response
}

/// A 200 event stream with the upstream's headers passed back.
fn event_stream(body: Body, passed: HeaderMap) -> Response {
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.extend(passed);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies in front of us must not buffer the stream either.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
