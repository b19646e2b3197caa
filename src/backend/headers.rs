//! Which headers cross the proxy: the client's conversation and turn
//! headers on the way to the backend (they feed its prompt cache, routing
//! and accounting), its identity when the client is the Codex CLI itself,
//! and the backend's limits, ids and turn state on the way back.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

/// The client's own headers the backend reads, forwarded as sent.
const FORWARDED: [HeaderName; 9] = [
    HeaderName::from_static("thread-id"),
    HeaderName::from_static("conversation_id"),
    HeaderName::from_static("x-client-request-id"),
    HeaderName::from_static("x-codex-window-id"),
    HeaderName::from_static("x-codex-turn-metadata"),
    HeaderName::from_static("x-codex-turn-state"),
    HeaderName::from_static("x-openai-subagent"),
    HeaderName::from_static("x-codex-parent-thread-id"),
    HeaderName::from_static("x-codex-beta-features"),
];

/// What the Codex CLI says it is; forwarded instead of ours when the client
/// is the Codex CLI, so the backend sees the release that really asks.
const IDENTITY: [HeaderName; 3] = [
    HeaderName::from_static("originator"),
    HeaderName::from_static("version"),
    HeaderName::from_static("user-agent"),
];

const SESSION_UNDERSCORE: HeaderName = HeaderName::from_static("session_id");
const SESSION_HYPHEN: HeaderName = HeaderName::from_static("session-id");

/// Backend answer headers handed back besides the `x-codex-*` family.
const PASSED_BACK: &[&str] = &[
    "x-request-id",
    "x-oai-request-id",
    "x-models-etag",
    "openai-model",
    "x-reasoning-included",
];

/// The headers a request to the backend carries for this client: its
/// conversation id (both spellings), its turn headers, and its identity
/// when it is the Codex CLI.
pub fn to_backend(client: &HeaderMap, body: &Map<String, Value>) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in &FORWARDED {
        for value in client.get_all(name) {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(session) = session(client, body) {
        // Older clients send the underscore form, newer ones the hyphen.
        out.insert(SESSION_UNDERSCORE, session.clone());
        out.insert(SESSION_HYPHEN, session);
    }
    if let Some(release) = codex_cli_release(client) {
        for name in &IDENTITY {
            if let Some(value) = client.get(name) {
                out.insert(name.clone(), value.clone());
            }
        }
        // Current releases send no `version`: ours would contradict theirs.
        if !out.contains_key(&IDENTITY[1]) {
            out.insert(IDENTITY[1].clone(), release);
        }
    }
    out
}

/// The release of a client that is the Codex CLI, which names itself in
/// `originator` (`codex_cli_rs`, `codex_exec`, …) and gives its release as
/// `version` (older releases) or in its `User-Agent`
/// (`codex_exec/0.169.0 (…)`, every release).
fn codex_cli_release(client: &HeaderMap) -> Option<HeaderValue> {
    let originator = client.get("originator")?.as_bytes();
    if !originator.starts_with(b"codex_") {
        return None;
    }
    if let Some(version) = client.get("version") {
        return Some(version.clone());
    }
    let agent = client.get("user-agent")?.as_bytes();
    let release = agent
        .strip_prefix(originator)?
        .strip_prefix(b"/")?
        .split(|b| *b == b' ')
        .next()
        .filter(|r| !r.is_empty())?;
    HeaderValue::from_bytes(release).ok()
}

/// The conversation id the backend keys its prompt cache on: the client's
/// `session_id`/`session-id` header, else the body's `prompt_cache_key`.
pub fn session(headers: &HeaderMap, body: &Map<String, Value>) -> Option<HeaderValue> {
    headers
        .get(SESSION_UNDERSCORE)
        .or_else(|| headers.get(SESSION_HYPHEN))
        .cloned()
        .or_else(|| {
            let key = body.get("prompt_cache_key")?.as_str()?;
            HeaderValue::try_from(key).ok()
        })
}

/// Backend answer headers handed back to the client: rate limits, turn
/// state, request ids, the model and catalogue version.
pub fn is_passed_back(name: &HeaderName) -> bool {
    let n = name.as_str();
    n.starts_with("x-codex-") || PASSED_BACK.contains(&n)
}

/// Copies the headers a client may want into `out`.
pub fn pass_back(from: &HeaderMap, out: &mut HeaderMap) {
    for (name, value) in from {
        if is_passed_back(name) {
            out.append(name.clone(), value.clone());
        }
    }
}

/// The backend's request id, for logs.
pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-request-id")
        .or_else(|| headers.get("x-oai-request-id"))
        .and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_prefers_the_client_header_then_the_prompt_cache_key() {
        let body = json!({"prompt_cache_key": "pck"});
        let body = body.as_object().unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(session(&headers, body).unwrap(), "pck");
        headers.insert("session-id", HeaderValue::from_static("hyphen"));
        assert_eq!(session(&headers, body).unwrap(), "hyphen");
        headers.insert("session_id", HeaderValue::from_static("underscore"));
        assert_eq!(session(&headers, body).unwrap(), "underscore");
        assert!(session(&HeaderMap::new(), &Map::new()).is_none());
    }

    #[test]
    fn the_codex_cli_keeps_its_turn_headers_and_identity_and_others_get_ours() {
        let mut cli = HeaderMap::new();
        for (k, v) in [
            ("originator", "codex_exec"),
            ("version", "0.171.0"),
            ("user-agent", "codex_exec/0.171.0 (Debian 12; x86_64)"),
            ("thread-id", "t1"),
            ("x-codex-turn-state", "ts1"),
            ("x-codex-window-id", "t1:0"),
            ("authorization", "Bearer client-key"),
        ] {
            cli.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let out = to_backend(&cli, &Map::new());
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(
            names,
            [
                "thread-id",
                "x-codex-window-id",
                "x-codex-turn-state",
                "originator",
                "version",
                "user-agent"
            ]
        );
        let mut sdk = cli.clone();
        sdk.insert("originator", HeaderValue::from_static("openai-python"));
        let out = to_backend(&sdk, &Map::new());
        assert!(!out.contains_key("version") && !out.contains_key("user-agent"));
        assert!(!out.contains_key("authorization"));
    }

    #[test]
    fn a_codex_cli_without_a_version_header_is_known_by_its_user_agent() {
        let identity = |originator: &'static str, agent: &'static str| {
            let mut client = HeaderMap::new();
            client.insert("originator", HeaderValue::from_static(originator));
            client.insert("user-agent", HeaderValue::from_static(agent));
            let out = to_backend(&client, &Map::new());
            IDENTITY.map(|n| out.get(&n).map(|v| v.to_str().unwrap().to_owned()))
        };
        let agent = "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm (codex_exec; 0.169.0)";
        assert_eq!(
            identity("codex_exec", agent),
            [
                Some("codex_exec".into()),
                Some("0.169.0".into()),
                Some(agent.into())
            ]
        );
        // Not the CLI: an SDK, or an originator its User-Agent does not bear out.
        assert_eq!(
            identity("openai-python", "OpenAI/Python 2.8.0"),
            [None, None, None]
        );
        assert_eq!(identity("codex_exec", "curl/8.5.0"), [None, None, None]);
        assert_eq!(
            identity("codex_exec", "codex_exec/ (x)"),
            [None, None, None]
        );
    }
}
