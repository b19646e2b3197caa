//! The shell lines of `codex-responses-proxy env <client>`, from what the
//! daemon's configuration and the backend's model list say (pure). Every
//! value is single-quoted, so `eval "$(codex-responses-proxy env claude)"`
//! sets exactly what is printed; everything that is not an assignment is a
//! `#` comment.

use std::fmt::Write as _;
use std::path::PathBuf;

pub use crate::config::EnvClient as Client;

/// Where clients reach the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `http://HOST:PORT`, without a path.
    Http(String),
    /// A Unix socket, which these clients cannot use.
    Unix(PathBuf),
}

/// The key clients must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// None: any placeholder does.
    Unset,
    /// The contents of `api_key_file`.
    File(PathBuf),
}

/// A Claude name, the backend model it maps to, and that model's window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub claude: &'static str,
    pub model: String,
    pub window: Option<u64>,
}

impl Mapped {
    /// `claude-opus-* → gpt-5.5 (400000 tokens)`.
    pub fn describe(&self) -> String {
        let window = self
            .window
            .map_or_else(|| "window unknown".to_owned(), |w| format!("{w} tokens"));
        format!("{} → {} ({window})", self.claude, self.model)
    }
}

/// What the lines are made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    pub base: Base,
    pub key: Key,
    /// The Claude names' models, or why the model list could not be read.
    pub models: Result<Vec<Mapped>, String>,
}

/// The variable the Codex CLI's provider reads the key from.
const CODEX_KEY_VAR: &str = "CODEX_PROXY_API_KEY";

/// `value` quoted for a POSIX shell.
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `$(cat 'path')`, inside double quotes, so the key stays in the file
/// until the lines are evaluated.
fn from_file(path: &std::path::Path) -> String {
    format!("\"$(cat {})\"", quoted(&path.to_string_lossy()))
}

/// The window Claude Code should assume: the smallest of the models its
/// main conversation uses (opus, sonnet); the background model (haiku) only
/// answers short requests.
pub fn max_context(models: &[Mapped]) -> Option<u64> {
    models
        .iter()
        .filter(|m| !m.claude.contains("haiku"))
        .filter_map(|m| m.window)
        .min()
}

/// The lines for `client`.
pub fn render(client: Client, setup: &Setup) -> String {
    let mut out = String::new();
    let base = match &setup.base {
        Base::Http(base) => base,
        Base::Unix(path) => {
            let _ = writeln!(
                out,
                "# codex-responses-proxy listens on a Unix socket ({}), which this client \
                 cannot use:\n# set `listen` to a loopback HOST:PORT (or add a TCP socket \
                 unit) and run this again.",
                path.display()
            );
            return out;
        }
    };
    let key = match &setup.key {
        Key::Unset => quoted("unused"),
        Key::File(path) => from_file(path),
    };
    match client {
        Client::Claude => claude(&mut out, base, &key, &setup.models),
        Client::Openai => {
            let _ = writeln!(out, "# OpenAI SDKs → codex-responses-proxy");
            let _ = writeln!(
                out,
                "export OPENAI_BASE_URL={}",
                quoted(&format!("{base}/v1"))
            );
            let _ = writeln!(out, "export OPENAI_API_KEY={key}");
        }
        Client::Codex => codex(&mut out, base, &setup.key),
    }
    out
}

fn claude(out: &mut String, base: &str, key: &str, models: &Result<Vec<Mapped>, String>) {
    let _ = writeln!(out, "# Claude Code → codex-responses-proxy");
    let _ = writeln!(out, "export ANTHROPIC_BASE_URL={}", quoted(base));
    let _ = writeln!(out, "export ANTHROPIC_API_KEY={key}");
    let models = match models {
        Ok(models) => models,
        Err(why) => {
            let _ = writeln!(
                out,
                "# The backend's model list could not be read ({}), so the context window\n\
                 # is not set: Claude Code will assume 1M tokens and compact too late.\n\
                 # Run this again once `codex-responses-proxy doctor` passes.",
                why.replace('\n', " ")
            );
            return;
        }
    };
    for m in models {
        let _ = writeln!(out, "# {}", m.describe());
    }
    match max_context(models) {
        Some(window) => {
            let _ = writeln!(out, "export CLAUDE_CODE_MAX_CONTEXT_TOKENS={window}");
            let _ = writeln!(out, "export CLAUDE_CODE_AUTO_COMPACT_WINDOW={window}");
        }
        None => {
            let _ = writeln!(
                out,
                "# The backend's list gives no context window for these models: \
                 CLAUDE_CODE_MAX_CONTEXT_TOKENS is not set."
            );
        }
    }
}

fn codex(out: &mut String, base: &str, key: &Key) {
    let _ = writeln!(
        out,
        "# Codex CLI → codex-responses-proxy. Add to ~/.codex/config.toml (the provider\n\
         # is named \"OpenAI\" so that the CLI compacts long sessions remotely):\n\
         #\n\
         # model_provider = \"codex-proxy\"\n\
         #\n\
         # [model_providers.codex-proxy]\n\
         # name = \"OpenAI\"\n\
         # base_url = \"{base}/v1\"\n\
         # wire_api = \"responses\"\n\
         # supports_websockets = true"
    );
    if let Key::File(path) = key {
        let _ = writeln!(out, "# env_key = \"{CODEX_KEY_VAR}\"");
        let _ = writeln!(out, "export {CODEX_KEY_VAR}={}", from_file(path));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(models: Result<Vec<Mapped>, String>) -> Setup {
        Setup {
            base: Base::Http("http://127.0.0.1:8787".into()),
            key: Key::Unset,
            models,
        }
    }

    fn mapped(claude: &'static str, model: &str, window: Option<u64>) -> Mapped {
        Mapped {
            claude,
            model: model.into(),
            window,
        }
    }

    #[test]
    fn claude_gets_the_base_a_placeholder_key_and_the_main_models_window() {
        let models = vec![
            mapped("claude-opus-*", "gpt-5.5", Some(400_000)),
            mapped("claude-sonnet-*", "gpt-5.5", Some(400_000)),
            mapped("claude-haiku-*", "gpt-5.4-mini", Some(128_000)),
        ];
        assert_eq!(
            render(Client::Claude, &setup(Ok(models))),
            "# Claude Code → codex-responses-proxy\n\
             export ANTHROPIC_BASE_URL='http://127.0.0.1:8787'\n\
             export ANTHROPIC_API_KEY='unused'\n\
             # claude-opus-* → gpt-5.5 (400000 tokens)\n\
             # claude-sonnet-* → gpt-5.5 (400000 tokens)\n\
             # claude-haiku-* → gpt-5.4-mini (128000 tokens)\n\
             export CLAUDE_CODE_MAX_CONTEXT_TOKENS=400000\n\
             export CLAUDE_CODE_AUTO_COMPACT_WINDOW=400000\n"
        );
    }

    #[test]
    fn an_unreadable_model_list_is_said_in_a_comment_and_sets_no_window() {
        let text = render(Client::Claude, &setup(Err("no login".into())));
        assert!(text.contains("# The backend's model list could not be read (no login)"));
        assert!(!text.contains("CLAUDE_CODE_MAX_CONTEXT_TOKENS="));
        assert!(
            text.lines()
                .all(|l| l.starts_with('#') || l.starts_with("export "))
        );
    }

    #[test]
    fn a_key_file_is_read_when_the_lines_are_evaluated_and_quotes_survive() {
        let mut s = setup(Ok(Vec::new()));
        s.key = Key::File("/run/it's/key".into());
        assert_eq!(
            render(Client::Openai, &s),
            "# OpenAI SDKs → codex-responses-proxy\n\
             export OPENAI_BASE_URL='http://127.0.0.1:8787/v1'\n\
             export OPENAI_API_KEY=\"$(cat '/run/it'\\''s/key')\"\n"
        );
        let codex = render(Client::Codex, &s);
        assert!(codex.contains("# name = \"OpenAI\"\n"), "{codex}");
        assert!(codex.contains("# supports_websockets = true\n"), "{codex}");
        assert!(codex.contains("# wire_api = \"responses\"\n"), "{codex}");
        assert!(
            codex.contains("# base_url = \"http://127.0.0.1:8787/v1\"\n"),
            "{codex}"
        );
        assert!(
            codex.contains("export CODEX_PROXY_API_KEY=\"$(cat "),
            "{codex}"
        );
    }

    #[test]
    fn a_unix_socket_listener_is_said_and_nothing_is_exported() {
        let mut s = setup(Ok(Vec::new()));
        s.base = Base::Unix("/run/user/1000/codex.sock".into());
        for client in [Client::Claude, Client::Openai, Client::Codex] {
            let text = render(client, &s);
            assert!(text.contains("Unix socket (/run/user/1000/codex.sock)"));
            assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
        }
    }
}
