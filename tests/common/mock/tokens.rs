//! The mock's logins: the access tokens it accepts, the single-use refresh
//! tokens of its token endpoint (PROTOCOL.md §1-§2), and the header checks
//! every authenticated endpoint shares (HTTP and the WebSocket handshake).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::{ACCOUNT_ID, MockState, detail};

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

#[derive(Debug, Default)]
pub(super) struct Logins {
    pub(super) valid_access: HashSet<String>,
    pub(super) current_refresh: HashSet<String>,
    pub(super) used_refresh: HashSet<String>,
    counter: u64,
}

/// Refresh tokens presented twice, by any mock of this process.
pub(super) static REUSED: AtomicUsize = AtomicUsize::new(0);

impl MockState {
    pub(super) fn issue(&self, access_exp: i64) -> (String, String) {
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

/// The refusal of a request whose login or client headers the backend
/// would not accept, or `None`.
pub(super) fn check_auth(state: &MockState, headers: &HeaderMap) -> Option<Response> {
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
    // The edge lets any Codex originator through: `codex_cli_rs`, `codex_exec`, …
    if !headers
        .get("originator")
        .is_some_and(|v| v.as_bytes().starts_with(b"codex_"))
    {
        return Some(detail(StatusCode::FORBIDDEN, "Just a moment..."));
    }
    None
}

pub(super) async fn token(State(state): State<Arc<MockState>>, body: Bytes) -> Response {
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
