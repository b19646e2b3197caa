//! What every call to the backend shares, over HTTP and for the WebSocket
//! handshake alike: its address under the configured base, and the login's
//! credentials with the one retry after a 401 (reload the login, refreshing
//! it if no other process has, and send once more). Written once, so the
//! two transports cannot drift apart.

use std::future::Future;
use std::sync::Arc;

use axum::http::{HeaderName, StatusCode, header};

use crate::auth::refresh::RefreshError;
use crate::auth::{Auth, AuthError, Credentials};
use crate::config::Config;
use crate::error::{ApiError, Code, ErrorKind};

/// Where the login's ChatGPT account goes.
pub const ACCOUNT_HEADER: HeaderName = HeaderName::from_static("chatgpt-account-id");

/// `{upstream_url}{path}` (`path` starts with `/` and may carry a query).
pub fn url(config: &Config, path: &str) -> reqwest::Url {
    let base = config.upstream_url.as_str().trim_end_matches('/');
    reqwest::Url::parse(&format!("{base}{path}"))
        .unwrap_or_else(|_| config.upstream_url.url().clone())
}

/// `request` with the login's `Authorization` and account headers.
pub fn authorized(
    request: reqwest::RequestBuilder,
    credentials: &Credentials,
) -> reqwest::RequestBuilder {
    let request = request.header(header::AUTHORIZATION, credentials.authorization.clone());
    match &credentials.account_header {
        Some(account) => request.header(ACCOUNT_HEADER, account.clone()),
        None => request,
    }
}

/// An answer whose status says whether the login was refused.
pub trait Answer {
    fn status(&self) -> StatusCode;
}

impl Answer for reqwest::Response {
    fn status(&self) -> StatusCode {
        reqwest::Response::status(self)
    }
}

/// Sends with `credentials`, the login's as this request took them, and
/// after a 401 once more with a reloaded or refreshed login; the answer and
/// the credentials it was given for.
pub async fn with_credentials<A, F, Fut>(
    auth: &Auth,
    what: &str,
    credentials: Arc<Credentials>,
    send: F,
) -> Result<(A, Arc<Credentials>), ApiError>
where
    A: Answer,
    F: Fn(Arc<Credentials>) -> Fut,
    Fut: Future<Output = Result<A, ApiError>>,
{
    let answer = send(credentials.clone()).await?;
    if answer.status() != StatusCode::UNAUTHORIZED {
        return Ok((answer, credentials));
    }
    tracing::info!(
        call = what,
        "the backend refused the access token; reloading the login"
    );
    let credentials = auth
        .after_unauthorized(&credentials)
        .await
        .map_err(auth_error)?;
    let answer = send(credentials.clone()).await?;
    Ok((answer, credentials))
}

/// Maps a missing or dead login to the client's error.
pub fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Login(e) => ApiError::own(
            StatusCode::UNAUTHORIZED,
            ErrorKind::Authentication,
            Code::CodexLoginRequired,
            e.to_string(),
        ),
        AuthError::Refresh(e @ RefreshError::Permanent { .. }) => ApiError::own(
            StatusCode::UNAUTHORIZED,
            ErrorKind::Authentication,
            Code::CodexLoginExpired,
            e.to_string(),
        ),
        AuthError::Refresh(ref r @ RefreshError::Transient { unavailable, .. }) => {
            let status = if unavailable {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::BAD_GATEWAY
            };
            ApiError::own(
                status,
                ErrorKind::Upstream,
                Code::TokenRefreshFailed,
                r.to_string(),
            )
        }
    }
}
