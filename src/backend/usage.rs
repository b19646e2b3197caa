//! The backend's usage endpoint (PROTOCOL.md §11), the one place that says
//! where a login stands without spending anything: where it lives for a
//! given base URL, and its answer read into [`Limits`] or a reason in plain
//! words. `/v1/status` asks it (cached, never on a model request's path) and
//! so does `doctor`.

use std::time::Duration;

use jiff::Timestamp;

use crate::limits::Limits;

/// The endpoint answers from a cache on the backend's side; one that has
/// not answered by then is stuck, and whoever asked is waiting on it.
pub const USAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The path segment that marks a ChatGPT-style base (PROTOCOL.md §13): the
/// Codex CLI decides by it, not by the host, so a gateway or a test backend
/// serving `/backend-api/codex` gets the same paths as chatgpt.com.
const BACKEND_API: &str = "/backend-api";

/// Why the usage endpoint told us nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error("the usage endpoint could not be reached: {0}")]
    Unreachable(String),
    #[error("the usage endpoint refused the login (HTTP {0}): run `codex login` again")]
    Refused(u16),
    #[error("the usage endpoint failed with HTTP {0}")]
    Status(u16),
    #[error(
        "the usage endpoint answered with something other than usage (a login or \
         challenge page?)"
    )]
    NotUsage,
}

/// The usage endpoint for the backend at `base`, by the Codex CLI's rule: a
/// base whose path holds `/backend-api` uses `…/backend-api/wham/usage` (the
/// path up to and including `/backend-api`, beside `/codex`); any other base
/// uses `{base}/api/codex/usage`.
pub fn url(base: &reqwest::Url) -> reqwest::Url {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    let path = base.path().trim_end_matches('/');
    let chatgpt = path
        .match_indices(BACKEND_API)
        .map(|(at, _)| at + BACKEND_API.len())
        .find(|&end| matches!(path.as_bytes().get(end), None | Some(b'/')));
    match chatgpt {
        Some(end) => url.set_path(&format!("{}/wham/usage", &path[..end])),
        None => url.set_path(&format!("{path}/api/codex/usage")),
    }
    url
}

/// Reads an answer of the usage endpoint seen at `now`.
pub fn read(status: u16, body: &[u8], now: Timestamp) -> Result<Limits, UsageError> {
    match status {
        200..=299 => Limits::from_usage(body, now).map_err(|_| UsageError::NotUsage),
        401 | 403 => Err(UsageError::Refused(status)),
        _ => Err(UsageError::Status(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_for(base: &str) -> String {
        url(&reqwest::Url::parse(base).unwrap()).to_string()
    }

    #[test]
    fn the_usage_endpoint_follows_the_backend_api_path_not_the_host() {
        assert_eq!(
            url_for("https://chatgpt.com/backend-api/codex"),
            "https://chatgpt.com/backend-api/wham/usage"
        );
        assert_eq!(
            url_for("https://chatgpt.com/backend-api/codex/"),
            "https://chatgpt.com/backend-api/wham/usage"
        );
        // A gateway or test backend serving the ChatGPT paths elsewhere.
        assert_eq!(
            url_for("http://127.0.0.1:9/backend-api/codex"),
            "http://127.0.0.1:9/backend-api/wham/usage"
        );
        assert_eq!(
            url_for("https://gw.example/team/backend-api/codex"),
            "https://gw.example/team/backend-api/wham/usage"
        );
        // A plain base, and a segment that only begins like the marker.
        assert_eq!(
            url_for("https://gateway.example/v1"),
            "https://gateway.example/v1/api/codex/usage"
        );
        assert_eq!(
            url_for("https://gateway.example/backend-apis/codex"),
            "https://gateway.example/backend-apis/codex/api/codex/usage"
        );
        assert_eq!(
            url_for("https://gateway.example"),
            "https://gateway.example/api/codex/usage"
        );
    }

    #[test]
    fn answers_are_limits_or_a_reason_in_plain_words() {
        let now = Timestamp::from_second(1_760_000_000).unwrap();
        let body = br#"{"plan_type":"plus","rate_limit":{"primary_window":{"used_percent":12,"limit_window_seconds":18000,"reset_at":1760003600}}}"#;
        let limits = read(200, body, now).unwrap();
        assert_eq!(limits.plan.as_deref(), Some("plus"));
        assert_eq!(
            limits
                .codex()
                .and_then(|f| f.primary)
                .map(|w| w.used_percent),
            Some(12.0)
        );
        assert_eq!(
            read(200, b"<html>Just a moment...</html>", now),
            Err(UsageError::NotUsage)
        );
        assert_eq!(read(403, b"", now), Err(UsageError::Refused(403)));
        assert_eq!(read(502, b"", now), Err(UsageError::Status(502)));
    }
}
