//! Which program sent a request, told from the headers it sends anyway, so
//! the tokens a client spends can be counted per client. The answer is one
//! of a closed set of families: a metric label must not take whatever a
//! client writes in its `User-Agent`.

use http::HeaderMap;
use serde::{Deserialize, Serialize};

/// A family of clients, as the metrics, the journal and the status page name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Client {
    /// The Codex CLI, its `exec` mode and the IDE extensions (`originator: codex_*`).
    CodexCli,
    /// Claude Code (`x-app: cli`, `User-Agent: claude-cli/…`).
    ClaudeCode,
    /// OpenAI's Stainless-generated SDKs (`OpenAI/Python`, `OpenAI/JS`).
    OpenaiSdk,
    /// Anthropic's Stainless-generated SDKs (`Anthropic/Python`, `Anthropic/JS`).
    AnthropicSdk,
    /// The Vercel AI SDK (`ai-sdk/…` or `ai-sdk-…` in its `User-Agent`).
    AiSdk,
    Other,
}

impl Client {
    /// Every family, in the order the status page lists them.
    pub const ALL: [Client; 6] = [
        Client::CodexCli,
        Client::ClaudeCode,
        Client::OpenaiSdk,
        Client::AnthropicSdk,
        Client::AiSdk,
        Client::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Client::CodexCli => "codex_cli",
            Client::ClaudeCode => "claude_code",
            Client::OpenaiSdk => "openai_sdk",
            Client::AnthropicSdk => "anthropic_sdk",
            Client::AiSdk => "ai_sdk",
            Client::Other => "other",
        }
    }

    /// The place of this family in [`Client::ALL`].
    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// The family of the client that sent `headers`. The most specific sign
    /// wins: Claude Code and the AI SDK are built on the Stainless SDKs and
    /// send their headers too.
    pub fn of(headers: &HeaderMap) -> Client {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let agent = header("user-agent");
        let starts = |prefix: &str| {
            agent
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        };
        if header("originator").starts_with("codex_") || starts("codex_") {
            return Client::CodexCli;
        }
        if header("x-app") == "cli" || starts("claude-cli/") {
            return Client::ClaudeCode;
        }
        // The AI SDK appends its own words to whatever agent it was given.
        if agent
            .split_ascii_whitespace()
            .any(|word| word.starts_with("ai-sdk/") || word.starts_with("ai-sdk-"))
        {
            return Client::AiSdk;
        }
        if starts("anthropic/") {
            return Client::AnthropicSdk;
        }
        if starts("openai/") {
            return Client::OpenaiSdk;
        }
        // A Stainless SDK behind a custom agent still says which language it is.
        if !header("x-stainless-lang").is_empty() {
            return if headers.contains_key("anthropic-version") {
                Client::AnthropicSdk
            } else {
                Client::OpenaiSdk
            };
        }
        Client::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(pairs: &[(&str, &str)]) -> Client {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        Client::of(&headers)
    }

    #[test]
    fn released_clients_are_told_apart_by_the_headers_they_send() {
        let codex = [
            ("originator", "codex_exec"),
            (
                "user-agent",
                "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm",
            ),
        ];
        assert_eq!(of(&codex), Client::CodexCli);
        assert_eq!(of(&[("originator", "codex_cli_rs")]), Client::CodexCli);
        let claude = [
            ("x-app", "cli"),
            ("user-agent", "claude-cli/2.1.328 (external, sdk-cli)"),
            ("x-stainless-lang", "js"),
            ("anthropic-version", "2023-06-01"),
        ];
        assert_eq!(of(&claude), Client::ClaudeCode);
        assert_eq!(
            of(&[("user-agent", "claude-cli/2.0.1 (external, cli)")]),
            Client::ClaudeCode
        );
        let openai_python = [
            ("user-agent", "OpenAI/Python 2.8.1"),
            ("x-stainless-lang", "python"),
        ];
        assert_eq!(of(&openai_python), Client::OpenaiSdk);
        assert_eq!(of(&[("user-agent", "OpenAI/JS 6.9.0")]), Client::OpenaiSdk);
        assert_eq!(
            of(&[("user-agent", "Anthropic/Python 0.75.0")]),
            Client::AnthropicSdk
        );
        assert_eq!(
            of(&[("user-agent", "Anthropic/JS 0.70.0")]),
            Client::AnthropicSdk
        );
    }

    #[test]
    fn the_ai_sdk_is_told_by_the_words_it_appends_in_either_spelling() {
        let v6 = "ai-sdk-openai/3.0.0 ai-sdk-provider-utils/4.0.0 node.js/v22.0.0";
        assert_eq!(of(&[("user-agent", v6)]), Client::AiSdk);
        let v5 = "ai-sdk/openai/2.0.30 ai-sdk/provider-utils/3.0.9 runtime/node.js/22";
        assert_eq!(of(&[("user-agent", v5)]), Client::AiSdk);
    }

    #[test]
    fn a_stainless_sdk_behind_another_agent_is_told_by_its_headers() {
        let anthropic = [
            ("user-agent", "my-app/1"),
            ("x-stainless-lang", "js"),
            ("anthropic-version", "2023-06-01"),
        ];
        assert_eq!(of(&anthropic), Client::AnthropicSdk);
        let openai = [("user-agent", "my-app/1"), ("x-stainless-lang", "python")];
        assert_eq!(of(&openai), Client::OpenaiSdk);
    }

    #[test]
    fn anything_else_is_other_whatever_it_claims() {
        assert_eq!(of(&[]), Client::Other);
        assert_eq!(of(&[("user-agent", "curl/8.5.0")]), Client::Other);
        assert_eq!(of(&[("originator", "not_codex")]), Client::Other);
        assert_eq!(
            Client::ALL.map(Client::as_str),
            [
                "codex_cli",
                "claude_code",
                "openai_sdk",
                "anthropic_sdk",
                "ai_sdk",
                "other"
            ]
        );
        assert!(Client::ALL.iter().enumerate().all(|(i, c)| c.index() == i));
    }
}
