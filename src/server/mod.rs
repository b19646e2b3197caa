//! The HTTP side: routes, the per-request bookkeeping every route shares
//! (request id, client key, summary log line, activity), and fallbacks.

mod body;
mod chat;
mod forward;
mod models;
mod responses;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use subtle::ConstantTimeEq;

use crate::auth::Auth;
use crate::boundary::Boundary;
use crate::config::Config;
use crate::error::ApiError;
use crate::patch::Rules;
use crate::upstream::Upstream;

pub use self::body::LoggedBody;

/// Everything a handler needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub config: Config,
    pub rules: Rules,
    pub auth: Auth,
    pub upstream: Upstream,
    pub models: models::Cache,
    pub limiter: Arc<tokio::sync::Semaphore>,
    pub activity: Arc<Activity>,
    pub client_key: Option<Vec<u8>>,
}

impl AppState {
    pub fn new(
        config: Config,
        auth: Auth,
        upstream: Upstream,
        client_key: Option<Vec<u8>>,
    ) -> Self {
        let rules = Rules {
            instructions: config.instructions.clone(),
            strip_fields: config.strip_fields.clone(),
        };
        AppState {
            inner: Arc::new(Inner {
                limiter: Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_requests)),
                models: models::Cache::default(),
                activity: Arc::new(Activity::default()),
                config,
                rules,
                auth,
                upstream,
                client_key,
            }),
        }
    }

    /// Requests in flight and the time of the last one, for idle exit.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.inner.activity
    }
}

/// Counts requests in flight, and when the last one ended.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    origin: Instant,
    /// Milliseconds after `origin` when a request last started or ended.
    last_ms: AtomicU64,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }
}

impl Activity {
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// How long nothing has been in flight and no connection was accepted;
    /// zero while a request is in flight.
    pub fn idle_for(&self) -> std::time::Duration {
        if self.in_flight() > 0 {
            return std::time::Duration::ZERO;
        }
        self.quiet_for()
    }

    /// Time since a request last started or ended, or a connection was accepted.
    pub fn quiet_for(&self) -> std::time::Duration {
        let last = std::time::Duration::from_millis(self.last_ms.load(Ordering::SeqCst));
        self.origin.elapsed().saturating_sub(last)
    }

    /// A connection was accepted: it counts as activity until its request starts.
    pub fn connection_accepted(&self) {
        self.touch();
    }

    fn touch(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::SeqCst);
    }

    fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.touch();
    }

    fn end(&self) {
        self.touch();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a handler tells the summary log line, through the response's extensions.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub model: Option<String>,
    pub stream: bool,
    pub upstream_id: Option<String>,
}

/// The router with every route.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/responses", post(responses::create))
        .route("/responses", post(responses::create))
        .route("/v1/chat/completions", post(chat::create))
        .route("/chat/completions", post(chat::create))
        .route("/v1/models", get(models::list))
        .route("/models", get(models::list))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), bookkeeping))
        // Outermost: a request a web page may not send is refused before the
        // client key is looked at and before anything is read.
        .layer(middleware::from_fn_with_state(
            Arc::new(Boundary::new(
                &state.inner.config.allowed_hosts,
                &state.inner.config.allowed_origins,
            )),
            crate::boundary::guard,
        ))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        Some("method_not_allowed"),
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Request id, client key check, activity, and one summary line when the
/// response body (a stream included) is finished or dropped.
async fn bookkeeping(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request = request.map(|b| axum::body::Body::new(body::Lingering::new(b)));
    // `std::process::id()` is a getpid system call each time: read it once.
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let id = format!(
        "req_{:x}_{}",
        PID.get_or_init(std::process::id),
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    );
    let path = request.uri().path().to_owned();
    let start = Instant::now();
    let mut response = if path != "/healthz"
        && let Some(key) = &state.inner.client_key
        && !presents_key(&request, key)
    {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("invalid_api_key"),
            "this proxy requires `Authorization: Bearer <key>` with the key from its api_key_file",
        )
        .into_response()
    } else {
        state.inner.activity.begin();
        let response = next.run(request).await;
        let guard = body::Finish {
            activity: Some(state.clone()),
            id: id.clone(),
            path,
            status: response.status(),
            start,
            summary: response
                .extensions()
                .get::<Summary>()
                .cloned()
                .unwrap_or_default(),
        };
        response.map(|b| axum::body::Body::new(LoggedBody::new(b, guard)))
    };
    if let Ok(v) = HeaderValue::try_from(id) {
        response.headers_mut().insert("x-proxy-request-id", v);
    }
    response
}

/// The client sent `Authorization: Bearer <key>`, compared in constant time.
fn presents_key(request: &Request, key: &[u8]) -> bool {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .is_some_and(|given| bool::from(given.trim_ascii().ct_eq(key)))
}
