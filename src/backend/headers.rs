//! Which headers cross the proxy: the client's conversation and turn
//! headers on the way to the backend (they feed its prompt cache, routing
//! and accounting), its identity when the client is the Codex CLI itself,
//! and the backend's limits, ids and turn state on the way back.
//!
//! The way there is a rule, not a list of this release's names: every
//! header of the client's own families (`x-codex-*`, `x-openai-*`) and W3C
//! trace context cross, so the next CLI feature that rides on a new header
//! works behind the proxy without a proxy release. One function,
//! [`class`], decides for HTTP calls and the WebSocket handshake alike.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::models::client_version::ClientVersion;

/// The client's own headers outside its families that the backend reads,
/// forwarded as sent.
const FORWARDED: [&str; 3] = ["thread-id", "conversation_id", "x-client-request-id"];

/// The client's header families (PROTOCOL.md §13): new features ride on new
/// names of these.
const FAMILIES: [&str; 2] = ["x-codex-", "x-openai-"];

/// W3C trace context, so a client's traces continue through the proxy.
const TRACE: [&str; 2] = ["traceparent", "tracestate"];

/// The client's credentials for the proxy (or a browser's), and the
/// login's account the proxy sets itself: never forwarded.
const CREDENTIALS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "cookie",
    "chatgpt-account-id",
];

/// Headers about one connection (RFC 9110 §7.6.1), never a request's.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
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

/// What becomes of one request header on its way to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The client's own (its families, trace context, conversation ids):
    /// forwarded as sent.
    Forwarded,
    /// A credential, or the login's account: never forwarded.
    Credential,
    /// About the client's connection only: never forwarded.
    HopByHop,
    /// `originator`, `version`, `User-Agent`: the Codex CLI's own, anyone
    /// else's replaced by ours ([`to_backend`]).
    Identity,
    /// `session-id`/`session_id`: derived, sent in both spellings.
    Session,
    /// Anything else (content negotiation, other APIs' headers): the proxy
    /// builds its own request.
    Dropped,
}

/// The one rule for request headers, on HTTP and on the WebSocket handshake.
pub fn class(name: &HeaderName) -> Class {
    let n = name.as_str();
    if CREDENTIALS.contains(&n) || n.ends_with("-api-key") || n.contains("authorization") {
        Class::Credential
    } else if HOP_BY_HOP.contains(&n) || n.starts_with("proxy-") {
        Class::HopByHop
    } else if IDENTITY.iter().any(|i| i == name) {
        Class::Identity
    } else if *name == SESSION_UNDERSCORE || *name == SESSION_HYPHEN {
        Class::Session
    } else if FORWARDED.contains(&n)
        || TRACE.contains(&n)
        || FAMILIES.iter().any(|f| n.starts_with(f))
    {
        Class::Forwarded
    } else {
        Class::Dropped
    }
}

/// The headers a request to the backend carries for this client: its
/// conversation id (both spellings), its own headers ([`Class::Forwarded`]),
/// and its identity when it is the Codex CLI (whose release `version` then
/// notes), else the release `version` presents.
pub fn to_backend(
    client: &HeaderMap,
    body: &Map<String, Value>,
    version: &ClientVersion,
) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in client {
        if class(name) == Class::Forwarded {
            out.append(name.clone(), value.clone());
        }
    }
    if let Some(session) = session(client, body) {
        // Older clients send the underscore form, newer ones the hyphen.
        out.insert(SESSION_UNDERSCORE, session.clone());
        out.insert(SESSION_HYPHEN, session);
    }
    let Some(release) = codex_cli_release(client) else {
        out.extend(crate::net::identity_headers(&version.current().version));
        return out;
    };
    note_release(client, &release, version);
    for name in &IDENTITY {
        if let Some(value) = client.get(name) {
            out.insert(name.clone(), value.clone());
        }
    }
    // Current releases send no `version`: ours would contradict theirs.
    if !out.contains_key(&IDENTITY[1]) {
        out.insert(IDENTITY[1].clone(), release);
    }
    out
}

/// Tells `version` the `release` of a client that is the Codex CLI, so
/// other clients are presented as at least that new.
fn note_release(client: &HeaderMap, release: &HeaderValue, version: &ClientVersion) {
    let originator = client.get(&IDENTITY[0]).and_then(|v| v.to_str().ok());
    if let (Some(originator), Ok(release)) = (originator, release.to_str()) {
        version.saw(originator, release);
    }
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
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// The built-in version: no `version.json` where it looks.
    pub(crate) fn builtin() -> ClientVersion {
        ClientVersion::new(None, "0.171.0", std::path::Path::new("/nonexistent"))
    }

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
        let out = to_backend(&cli, &Map::new(), &builtin());
        let mut names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "originator",
                "thread-id",
                "user-agent",
                "version",
                "x-codex-turn-state",
                "x-codex-window-id",
            ]
        );
        let mut sdk = cli.clone();
        sdk.insert("originator", HeaderValue::from_static("openai-python"));
        let out = to_backend(&sdk, &Map::new(), &builtin());
        assert_eq!(out["version"], "0.171.0");
        let agent = out["user-agent"].to_str().unwrap();
        assert!(agent.starts_with("codex_cli_rs/0.171.0 ("), "{agent}");
        assert!(!out.contains_key("originator") && !out.contains_key("authorization"));
    }

    #[test]
    fn a_codex_cli_without_a_version_header_is_known_by_its_user_agent() {
        let identity = |originator: &'static str, agent: &'static str| {
            let mut client = HeaderMap::new();
            client.insert("originator", HeaderValue::from_static(originator));
            client.insert("user-agent", HeaderValue::from_static(agent));
            let out = to_backend(&client, &Map::new(), &builtin());
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
        // Not the CLI: an SDK, or an originator its User-Agent does not bear
        // out, is presented as the proxy (its originator is the client's default).
        let ours = Some(crate::net::user_agent("0.171.0"));
        for (originator, agent) in [
            ("openai-python", "OpenAI/Python 2.8.0"),
            ("codex_exec", "curl/8.5.0"),
            ("codex_exec", "codex_exec/ (x)"),
        ] {
            assert_eq!(
                identity(originator, agent),
                [None, Some("0.171.0".into()), ours.clone()],
                "{originator} {agent}"
            );
        }
    }

    #[test]
    fn each_class_of_request_header_is_named_by_one_rule() {
        let cases = [
            ("x-codex-window-id", Class::Forwarded),
            ("x-codex-feature-of-next-week", Class::Forwarded),
            ("x-openai-internal-codex-responses-lite", Class::Forwarded),
            ("traceparent", Class::Forwarded),
            ("tracestate", Class::Forwarded),
            ("thread-id", Class::Forwarded),
            ("conversation_id", Class::Forwarded),
            ("x-client-request-id", Class::Forwarded),
            ("authorization", Class::Credential),
            ("proxy-authorization", Class::Credential),
            ("x-api-key", Class::Credential),
            ("x-openai-api-key", Class::Credential),
            ("x-codex-authorization", Class::Credential),
            ("cookie", Class::Credential),
            ("chatgpt-account-id", Class::Credential),
            ("connection", Class::HopByHop),
            ("upgrade", Class::HopByHop),
            ("transfer-encoding", Class::HopByHop),
            ("te", Class::HopByHop),
            ("proxy-connection", Class::HopByHop),
            ("originator", Class::Identity),
            ("version", Class::Identity),
            ("user-agent", Class::Identity),
            ("session-id", Class::Session),
            ("session_id", Class::Session),
            ("accept-language", Class::Dropped),
            ("anthropic-version", Class::Dropped),
            ("x-stainless-lang", Class::Dropped),
            ("host", Class::Dropped),
        ];
        for (name, expected) in cases {
            assert_eq!(class(&HeaderName::from_static(name)), expected, "{name}");
        }
    }

    #[test]
    fn unknown_family_headers_and_trace_context_cross_but_credentials_do_not() {
        let mut client = HeaderMap::new();
        for (k, v) in [
            ("x-codex-new-thing", "1"),
            ("x-openai-subagent", "review"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", "vendor=1"),
            ("cookie", "session=browser"),
            ("x-api-key", "client-key"),
            ("chatgpt-account-id", "someone-else"),
            ("connection", "keep-alive"),
            ("accept-language", "fr"),
        ] {
            client.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        let out = to_backend(&client, &Map::new(), &builtin());
        let mut names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "traceparent",
                "tracestate",
                "user-agent",
                "version",
                "x-codex-new-thing",
                "x-openai-subagent"
            ]
        );
        assert_eq!(out["x-codex-new-thing"], "1");
    }

    #[test]
    fn a_codex_cli_release_is_noted_and_moves_what_other_clients_are_presented_as() {
        let version = builtin();
        let mut cli = HeaderMap::new();
        cli.insert("originator", HeaderValue::from_static("codex_exec"));
        cli.insert(
            "user-agent",
            HeaderValue::from_static("codex_exec/0.172.1 (Debian 12.0.0; x86_64)"),
        );
        to_backend(&cli, &Map::new(), &version);
        let out = to_backend(&HeaderMap::new(), &Map::new(), &version);
        assert_eq!(out["version"], "0.172.1");
        assert_eq!(
            version.current().source,
            crate::models::client_version::Source::Seen("codex_exec".into())
        );
    }
}
