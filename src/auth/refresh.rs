//! The OAuth token endpoint: exchanging a refresh token for new tokens.
//!
//! Refresh tokens are single use, so a refresh is never retried here: a retry
//! after the server already rotated the token would burn the login.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::file::NewTokens;
use crate::metrics::{Metrics, RefreshOutcome};

/// The Codex CLI's OAuth client id: refresh tokens are bound to it.
pub const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

/// A token endpoint that has not answered by then will not; the request that
/// waits on it should fail rather than hang.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a refresh failed, typed by what the caller does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// The login is gone for good: the user must run `codex login`.
    #[error("the Codex login can no longer be refreshed ({reason}): run `codex login` again")]
    Permanent { reason: String },
    /// The endpoint failed this time; a later request may succeed.
    #[error("refreshing the Codex login failed: {reason}")]
    Transient {
        reason: String,
        /// The endpoint answered with a server error (rather than not answering).
        unavailable: bool,
    },
}

/// Codes of the token endpoint that mean the refresh token is dead.
const PERMANENT_CODES: &[&str] = &[
    "refresh_token_expired",
    "refresh_token_reused",
    "refresh_token_invalidated",
];

/// Client of the token endpoint.
#[derive(Debug, Clone)]
pub struct Refresher {
    client: reqwest::Client,
    url: String,
    timeout: Duration,
    /// Counts each exchange by outcome, when metrics are on.
    metrics: Option<Arc<Metrics>>,
}

impl Refresher {
    pub fn new(client: reqwest::Client, url: String) -> Self {
        Refresher {
            client,
            url,
            timeout: REFRESH_TIMEOUT,
            metrics: None,
        }
    }

    /// Counts every exchange in `metrics` by its outcome.
    pub fn with_metrics(mut self, metrics: Option<Arc<Metrics>>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Gives up on the token endpoint after `timeout`, but never later than
    /// `REFRESH_TIMEOUT`: a request waiting on a refresh should not outwait
    /// the idle timeout it would get from the backend itself.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.min(REFRESH_TIMEOUT);
        self
    }

    /// Exchanges `refresh_token` for new tokens, once.
    pub async fn refresh(&self, refresh_token: &str) -> Result<NewTokens, RefreshError> {
        let result = self.exchange(refresh_token).await;
        if let Some(metrics) = &self.metrics {
            metrics.refresh(match &result {
                Ok(_) => RefreshOutcome::Refreshed,
                Err(RefreshError::Transient { .. }) => RefreshOutcome::Transient,
                Err(RefreshError::Permanent { .. }) => RefreshOutcome::Permanent,
            });
        }
        result
    }

    async fn exchange(&self, refresh_token: &str) -> Result<NewTokens, RefreshError> {
        let body = json!({
            "client_id": CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "scope": "openid profile email",
        });
        let response = self
            .client
            .post(&self.url)
            .json(&body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| RefreshError::Transient {
                reason: format!(
                    "the token endpoint {} could not be reached: {}",
                    self.url,
                    crate::net::describe(&e)
                ),
                unavailable: false,
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| RefreshError::Transient {
                reason: format!(
                    "the token endpoint's answer broke off: {}",
                    crate::net::describe(&e)
                ),
                unavailable: false,
            })?;
        classify(status.as_u16(), &bytes)
    }
}

/// Reads the token endpoint's answer.
pub fn classify(status: u16, body: &[u8]) -> Result<NewTokens, RefreshError> {
    let value: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        #[derive(Deserialize)]
        struct Reply {
            id_token: Option<String>,
            access_token: Option<String>,
            refresh_token: Option<String>,
        }
        return match value.and_then(|v| serde_json::from_value::<Reply>(v).ok()) {
            Some(r) if r.access_token.as_deref().is_some_and(|t| !t.is_empty()) => Ok(NewTokens {
                id_token: r.id_token.filter(|t| !t.is_empty()),
                access_token: r.access_token,
                refresh_token: r.refresh_token.filter(|t| !t.is_empty()),
            }),
            _ => Err(RefreshError::Transient {
                reason: format!("the token endpoint answered {status} without an access token"),
                unavailable: false,
            }),
        };
    }
    let code = value.as_ref().and_then(error_code);
    let message = value
        .as_ref()
        .and_then(|v| {
            v.pointer("/error/message")
                .or_else(|| v.get("error_description"))
                .or_else(|| v.get("message"))
        })
        .and_then(Value::as_str);
    let reason = match (&code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.clone(),
        (None, Some(m)) => format!("HTTP {status}: {m}"),
        (None, None) => format!("HTTP {status}"),
    };
    if status == 401
        || code
            .as_deref()
            .is_some_and(|c| PERMANENT_CODES.contains(&c))
    {
        Err(RefreshError::Permanent { reason })
    } else {
        Err(RefreshError::Transient {
            reason: format!("the token endpoint answered {reason}"),
            unavailable: status >= 500 || status == 429,
        })
    }
}

/// `error.code`, or `error` when it is a string, or the top-level `code`.
fn error_code(v: &Value) -> Option<String> {
    let code = match v.get("error") {
        Some(Value::Object(e)) => e.get("code"),
        Some(s @ Value::String(_)) => Some(s),
        _ => None,
    }
    .or_else(|| v.get("code"))?;
    code.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_answer_yields_the_tokens_it_has() {
        assert_eq!(
            classify(200, br#"{"access_token":"a","refresh_token":"r"}"#),
            Ok(NewTokens {
                id_token: None,
                access_token: Some("a".into()),
                refresh_token: Some("r".into()),
            })
        );
    }

    #[test]
    fn dead_refresh_tokens_are_permanent_wherever_the_code_is() {
        for body in [
            &br#"{"error":{"code":"refresh_token_reused","message":"m"}}"#[..],
            br#"{"error":"refresh_token_expired"}"#,
            br#"{"code":"refresh_token_invalidated"}"#,
        ] {
            assert!(matches!(
                classify(400, body),
                Err(RefreshError::Permanent { .. })
            ));
        }
        assert!(matches!(
            classify(401, b"nope"),
            Err(RefreshError::Permanent { .. })
        ));
    }

    #[test]
    fn server_errors_and_garbage_are_transient() {
        assert!(matches!(
            classify(500, b"<html>"),
            Err(RefreshError::Transient {
                unavailable: true,
                ..
            })
        ));
        assert!(matches!(
            classify(200, b"<html>"),
            Err(RefreshError::Transient {
                unavailable: false,
                ..
            })
        ));
        assert!(matches!(
            classify(400, br#"{"error":{"code":"invalid_request"}}"#),
            Err(RefreshError::Transient {
                unavailable: false,
                ..
            })
        ));
    }
}
