//! The command line: flags that override configuration keys, and the
//! subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::{Deserialize, Serialize, Serializer};

use super::store::StoreMode;
use super::upstream::UpstreamCompression;
use super::values::aliases::NotAPair;

/// Command line of the daemon.
#[derive(Debug, Parser)]
#[command(name = "codex-responses-proxy", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub flags: Flags,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands; without one, the daemon runs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration, the login and the upstream, in plain words.
    Doctor,
    /// Ask the running daemon (same configuration) for its login, usage
    /// limits and activity; exits non-zero when the login is broken or a
    /// limit is reached.
    Status,
    /// Print the shell completion script for SHELL to standard output.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output.
    Man,
    /// Print shell lines that point a client at this daemon, for
    /// `eval "$(codex-responses-proxy env claude)"`.
    Env {
        /// The client: claude (Claude Code), openai (the OpenAI SDKs) or codex.
        #[arg(value_enum)]
        client: EnvClient,
    },
}

/// Flags that override configuration keys, plus the file to read.
#[derive(Debug, Default, Args, Serialize)]
pub struct Flags {
    /// Configuration file (TOML). Default: $XDG_CONFIG_HOME/codex-responses-proxy/config.toml
    #[arg(
        long,
        global = true,
        env = "CODEX_RESPONSES_PROXY_CONFIG",
        value_name = "PATH"
    )]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    #[serde(skip)]
    pub print_config: bool,
    /// Address to listen on: HOST:PORT or unix:/PATH (ignored under socket activation).
    #[arg(long, global = true, visible_alias = "addr", value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Folder holding the Codex CLI's auth.json.
    #[arg(long, global = true, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codex_home: Option<PathBuf>,
    /// Base URL of the Codex backend.
    #[arg(long, global = true, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_url: Option<String>,
    /// URL of the OAuth token endpoint used to refresh the login.
    #[arg(long, global = true, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, global = true, value_name = "LEVEL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    /// Where logs go: auto, journald or stderr.
    #[arg(long, global = true, value_name = "TARGET")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_target: Option<LogTarget>,
    /// Log patched request bodies (credentials redacted).
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub debug: bool,
    /// Exit after this long without requests when socket-activated (e.g. 15m; 0 disables).
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_exit: Option<String>,
    /// A Host name to answer besides localhost and loopback addresses (repeatable; `*` turns the check off).
    #[arg(long = "allowed-host", global = true, value_name = "HOST")]
    #[serde(rename = "allowed_hosts", skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    /// A web origin (scheme://host[:port]) whose pages may use the proxy, with CORS (repeatable).
    #[arg(long = "allowed-origin", global = true, value_name = "ORIGIN")]
    #[serde(rename = "allowed_origins", skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// Answer a login's requests locally with a 429 after its usage limit was reached (true/false).
    #[arg(long, value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_cooldown: Option<bool>,
    /// During a cooldown, let one request through this often (e.g. 5m; 0 never).
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_probe_every: Option<String>,
    /// Serve GET /metrics (OpenMetrics) on the main listener.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub metrics: bool,
    /// How request bodies go to the backend: zstd (whatever the client sent) or off.
    #[arg(long, value_name = "ENCODING")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_compression: Option<UpstreamCompression>,
    /// Where responses are kept for previous_response_id and retrieval: disk, memory or off.
    #[arg(long, global = true, value_name = "MODE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreMode>,
    /// Directory of the response store (default: $STATE_DIRECTORY, else $XDG_STATE_HOME/codex-responses-proxy).
    #[arg(long, global = true, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_dir: Option<PathBuf>,
    /// Stored JSON bytes kept at most; the least recently used responses go first.
    #[arg(long, value_name = "BYTES")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_max_bytes: Option<u64>,
    /// Drop a stored response unused for this long (e.g. 30d, 12h).
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_ttl: Option<String>,
    /// A model name to rewrite, as ALIAS=MODEL (repeatable).
    #[arg(long = "model-alias", value_name = "ALIAS=MODEL", value_parser = alias_pair)]
    #[serde(
        rename = "model_aliases",
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "as_table"
    )]
    pub model_aliases: Vec<(String, String)>,
    /// List `<model>-<effort>` variants in /v1/models.
    #[arg(long)]
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub list_effort_variants: bool,
    /// An Anthropic model name or glob and the backend model it maps to, as
    /// NAME=MODEL[:EFFORT] (repeatable; e.g. 'claude-opus-*=gpt-5.5:high').
    #[arg(long = "anthropic-model", global = true, value_name = "NAME=MODEL", value_parser = model_entry)]
    #[serde(
        rename = "anthropic_models",
        serialize_with = "as_table",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub anthropic_models: Vec<(String, String)>,
    /// Send an HTTP client's turn as only its new items on a socket kept for the conversation (true/false; default: on for the ChatGPT backend).
    #[arg(long, value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental_turns: Option<bool>,
    /// Conversation sockets kept open at most.
    #[arg(long, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental_max_sockets: Option<usize>,
    /// Close a conversation socket unused for this long (e.g. 5m).
    #[arg(long, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incremental_idle: Option<String>,
}

/// An `--anthropic-model` argument without its `=`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not NAME=MODEL[:EFFORT]")]
pub struct ModelEntryError(String);

/// `NAME=MODEL[:EFFORT]`; the value itself is checked with the other keys.
fn model_entry(arg: &str) -> Result<(String, String), ModelEntryError> {
    match arg.split_once('=') {
        Some((name, model)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), model.trim().to_owned()))
        }
        _ => Err(ModelEntryError(arg.to_owned())),
    }
}

fn alias_pair(text: &str) -> Result<(String, String), NotAPair> {
    match text.split_once('=') {
        Some((alias, model)) if !alias.trim().is_empty() && !model.trim().is_empty() => {
            Ok((alias.trim().to_owned(), model.trim().to_owned()))
        }
        _ => Err(NotAPair(text.to_owned())),
    }
}

/// Repeated `NAME=VALUE` flags as the table they set, so that they are
/// merged key by key over the file's.
fn as_table<S: Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

/// Where log records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogTarget {
    /// journald when stderr is connected to the journal, else stderr.
    Auto,
    /// Native journald records with structured fields.
    Journald,
    /// Readable text on stderr.
    Stderr,
}

/// The client to point at the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EnvClient {
    /// Claude Code (and the Anthropic SDKs): `ANTHROPIC_*`, `CLAUDE_CODE_*`.
    Claude,
    /// The OpenAI SDKs: `OPENAI_BASE_URL`, `OPENAI_API_KEY`.
    Openai,
    /// The Codex CLI: a `config.toml` provider block.
    Codex,
}
