//! The daemon's configuration: one struct, layered by figment.
//!
//! Lowest to highest: built-in defaults < TOML file < `CODEX_RESPONSES_PROXY_*`
//! environment < command-line flags. The key names are the public interface.

mod cli;
mod error;
pub mod hosts;
mod paths;
pub mod store;
pub mod upstream;
pub use self::error::{ConfigError, source_of};
use self::paths::{default_codex_home, default_config_file, expand_tilde};
mod values;
pub(crate) use self::values::duration;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

pub use self::cli::{Cli, Command, EnvClient, Flags, LogTarget};
use self::store::{self as store_options, StoreMode, StoreOptions};
use self::upstream::UpstreamCompression;
pub use self::values::{HttpUrl, ListenAddr, ValueError};
use self::values::{aliases, list, text};
use crate::dialect::messages::ModelMap;
use crate::models::aliases::ModelAliases;
use crate::models::client_version::ClientVersion;

/// Prefix of the environment variables that set configuration keys.
pub const ENV_PREFIX: &str = "CODEX_RESPONSES_PROXY_";

/// Instructions sent when the client sends none: the backend refuses a request
/// without them, and the Codex CLI sends none for models it has no metadata for.
pub const DEFAULT_INSTRUCTIONS: &str = "You are a helpful assistant.";

/// Body fields the Codex backend answers with a 400 (PROTOCOL.md §3).
pub const DEFAULT_STRIP_FIELDS: &[&str] = &[
    "max_output_tokens",
    "max_completion_tokens",
    "max_tokens",
    "temperature",
    "top_p",
];

/// The lowest Codex CLI version the proxy presents itself as; the backend
/// lists models by it ([`crate::models::client_version`] may choose newer).
pub const DEFAULT_CLIENT_VERSION: &str = "0.171.0";

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `HOST:PORT` or `unix:/PATH`; ignored when systemd passes sockets.
    #[serde(with = "text")]
    pub listen: ListenAddr,
    /// Folder of the Codex CLI's `auth.json`.
    pub codex_home: PathBuf,
    /// Instructions used when a request has none.
    pub instructions: String,
    /// Base URL of the Codex backend; `/responses` and `/models` are appended.
    #[serde(with = "text")]
    pub upstream_url: HttpUrl,
    /// OAuth token endpoint for refreshing the login.
    #[serde(with = "text")]
    pub token_url: HttpUrl,
    /// Log filter (tracing `EnvFilter` syntax).
    pub log_level: String,
    /// Where log records go.
    pub log_target: LogTarget,
    /// Log patched request bodies, credentials redacted.
    pub debug: bool,
    /// Time allowed to open a connection to the upstream or the token endpoint.
    #[serde(with = "duration")]
    pub connect_timeout: Duration,
    /// Longest silence allowed between two upstream events (no total timeout).
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// Time a client has to send its request headers.
    #[serde(with = "duration")]
    pub header_read_timeout: Duration,
    /// On SIGTERM, how long in-flight requests may take to finish.
    #[serde(with = "duration")]
    pub shutdown_grace: Duration,
    /// Exit after this long without a request when socket-activated; zero disables.
    #[serde(with = "duration")]
    pub idle_exit: Duration,
    /// Largest request body accepted from a client.
    pub max_body_bytes: usize,
    /// Largest single event accepted from the upstream.
    pub max_event_bytes: usize,
    /// Requests forwarded at once; past it clients get a 503 with `Retry-After`.
    pub max_concurrent_requests: usize,
    /// Threads serving connections; 0 means one per CPU the daemon may use, at most 8.
    pub worker_threads: usize,
    /// Body fields removed before forwarding.
    pub strip_fields: Vec<String>,
    /// How long the upstream model list is reused before it is revalidated.
    #[serde(with = "duration")]
    pub models_cache_ttl: Duration,
    /// Codex CLI version presented to the backend; unset: follow the CLI.
    pub client_version: Option<String>,
    /// File holding the key clients must send as `Authorization: Bearer <key>`.
    pub api_key_file: Option<PathBuf>,
    /// PEM certificates trusted for the backend and the token endpoint besides
    /// the built-in web roots (a TLS-inspecting proxy, a private backend).
    pub ca_file: Option<PathBuf>,
    /// Allow a non-loopback `listen` without `api_key_file`.
    pub allow_remote_without_key: bool,
    /// `Host` names answered besides localhost and loopback addresses (a
    /// reverse proxy, a LAN name); `*` turns the check off.
    #[serde(deserialize_with = "list::deserialize")]
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) of the web pages that may use the
    /// daemon, with CORS; empty: none may.
    #[serde(deserialize_with = "list::deserialize")]
    pub allowed_origins: Vec<String>,
    /// After the backend refuses a login with a reached usage limit, answer
    /// that login's requests with the same 429 locally until the reset.
    pub limit_cooldown: bool,
    /// During a cooldown, let one request through this often to ask the
    /// backend again (a limit lifted early); zero never asks before the reset.
    #[serde(with = "duration")]
    pub limit_probe_every: Duration,
    /// Serve `GET /metrics` (OpenMetrics) on the main listener.
    pub metrics: bool,
    /// Request bodies to the backend as zstd whatever the client sent
    /// (`zstd`), or as JSON (`off`); a backend refusing zstd turns it off.
    pub upstream_compression: UpstreamCompression,
    /// Where responses are kept for `previous_response_id` and retrieval:
    /// `disk`, `memory` or `off`.
    pub store: StoreMode,
    /// The store's directory; unset: `$STATE_DIRECTORY`, else
    /// `$XDG_STATE_HOME/codex-responses-proxy`, else under `~/.local/state`.
    pub store_dir: Option<PathBuf>,
    /// Stored JSON kept at most; the least recently used responses go first.
    pub store_max_bytes: u64,
    /// A stored response neither written nor continued for this long is dropped.
    #[serde(with = "duration")]
    pub store_ttl: Duration,
    /// Model names rewritten before forwarding (`gpt-5` → `gpt-5.5`).
    #[serde(deserialize_with = "aliases::deserialize")]
    pub model_aliases: ModelAliases,
    /// `/v1/models` also lists `<model>-<effort>` for every reasoning effort.
    pub list_effort_variants: bool,
    /// Anthropic model names (or globs with `*`) → backend `model` or
    /// `model:effort`, for `/v1/messages`; a Claude name it does not match
    /// gets a model picked from the backend's list.
    pub anthropic_models: ModelMap,
    /// Send an HTTP client's turn as only its new items on a backend socket
    /// kept for the conversation; unset: on for the ChatGPT backend only.
    pub incremental_turns: Option<bool>,
    /// Conversation sockets kept open at most; the least recently used go first.
    pub incremental_max_sockets: usize,
    /// A conversation socket unused for this long is closed.
    #[serde(with = "duration")]
    pub incremental_idle: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], 8787))),
            codex_home: default_codex_home(),
            instructions: DEFAULT_INSTRUCTIONS.into(),
            upstream_url: HttpUrl::from_static("https://chatgpt.com/backend-api/codex"),
            token_url: HttpUrl::from_static("https://auth.openai.com/oauth/token"),
            log_level: "info".into(),
            log_target: LogTarget::Auto,
            debug: false,
            connect_timeout: Duration::from_secs(10),
            // The official client gives up after 300 s without a byte; reasoning
            // models can think that long before their first event.
            idle_timeout: Duration::from_secs(300),
            header_read_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            idle_exit: Duration::ZERO,
            max_body_bytes: 32 * 1024 * 1024,
            max_event_bytes: 32 * 1024 * 1024,
            max_concurrent_requests: 1024,
            worker_threads: 0,
            strip_fields: DEFAULT_STRIP_FIELDS.iter().map(|s| s.to_string()).collect(),
            models_cache_ttl: Duration::from_secs(300),
            client_version: None,
            api_key_file: None,
            ca_file: None,
            allow_remote_without_key: false,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            limit_cooldown: true,
            limit_probe_every: crate::limits::DEFAULT_PROBE_EVERY,
            metrics: false,
            upstream_compression: UpstreamCompression::Zstd,
            store: StoreMode::Disk,
            store_dir: None,
            store_max_bytes: store_options::DEFAULT_MAX_BYTES,
            store_ttl: store_options::DEFAULT_TTL,
            model_aliases: ModelAliases::new(),
            list_effort_variants: false,
            anthropic_models: ModelMap::default(),
            incremental_turns: None,
            incremental_max_sockets: 32,
            // The backend ends a socket after 60 minutes anyway.
            incremental_idle: Duration::from_secs(300),
        }
    }
}

/// `worker_threads = 0` takes one thread per CPU up to this: more only adds
/// idle threads for a daemon whose requests wait on a remote backend.
const MAX_AUTO_WORKERS: usize = 8;

/// `$CODEX_HOME`, else `~/.codex`.
/// The layered configuration before extraction, kept so `doctor` can say
/// where each value came from.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub figment: Figment,
    pub file: Option<PathBuf>,
}

impl Config {
    /// Builds the configuration from defaults, the file, the environment and `flags`.
    pub fn load(flags: &Flags) -> Result<Loaded, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = match &flags.config {
            Some(path) if !path.is_file() => return Err(ConfigError::MissingFile(path.clone())),
            Some(path) => Some(path.clone()),
            None => default_config_file().filter(|p| p.is_file()),
        };
        if let Some(path) = &file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment
            .merge(Env::prefixed(ENV_PREFIX).ignore(&["CONFIG"]))
            .merge(Serialized::defaults(flags));
        let mut config: Config = figment.extract()?;
        config.codex_home = expand_tilde(&config.codex_home);
        if let Some(p) = &config.ca_file {
            config.ca_file = Some(expand_tilde(p));
        }
        if let Some(p) = &config.api_key_file {
            config.api_key_file = Some(expand_tilde(p));
        }
        if let Some(p) = &config.store_dir {
            config.store_dir = Some(expand_tilde(p));
        }
        config.validate(&figment)?;
        Ok(Loaded {
            config,
            figment,
            file,
        })
    }

    /// Checks what serde cannot: addresses, URLs, filters, non-zero limits.
    fn validate(&self, figment: &Figment) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: key.to_owned(),
            origin: source_of(figment, key),
            reason,
        };
        let listen = &self.listen;
        if !listen.is_local() && self.api_key_file.is_none() && !self.allow_remote_without_key {
            return Err(invalid(
                "listen",
                format!(
                    "{listen} is reachable from other machines; set `api_key_file` so clients \
                     must authenticate, or `allow_remote_without_key = true` to accept the risk"
                ),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| invalid("log_level", e.to_string()))?;
        for (key, zero) in [
            ("max_body_bytes", self.max_body_bytes == 0),
            ("max_event_bytes", self.max_event_bytes == 0),
            ("max_concurrent_requests", self.max_concurrent_requests == 0),
            ("store_max_bytes", self.store_max_bytes == 0),
            ("incremental_max_sockets", self.incremental_max_sockets == 0),
        ] {
            if zero {
                return Err(invalid(key, "must be greater than zero".into()));
            }
        }
        if self.worker_threads > 1024 {
            return Err(invalid(
                "worker_threads",
                format!(
                    "{} threads is more than any machine needs (0 means one per CPU)",
                    self.worker_threads
                ),
            ));
        }
        for (key, value) in [
            ("connect_timeout", self.connect_timeout),
            ("idle_timeout", self.idle_timeout),
            ("header_read_timeout", self.header_read_timeout),
            ("store_ttl", self.store_ttl),
            ("incremental_idle", self.incremental_idle),
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be greater than zero".into()));
            }
        }
        if self.instructions.trim().is_empty() {
            return Err(invalid("instructions", "must not be empty".into()));
        }
        self.names().map_err(|e| invalid(e.key(), e.to_string()))?;
        Ok(())
    }

    /// `allowed_hosts` and `allowed_origins`, parsed (loading refuses a
    /// configuration whose entries do not parse).
    pub fn names(&self) -> Result<hosts::Names, hosts::EntryError> {
        hosts::parse(&self.allowed_hosts, &self.allowed_origins)
    }

    /// The Codex CLI version the daemon presents: `client_version` when set,
    /// else following the CLI in `codex_home`.
    pub fn version_presented(&self) -> ClientVersion {
        ClientVersion::new(
            self.client_version.as_deref(),
            DEFAULT_CLIENT_VERSION,
            &self.codex_home,
        )
    }

    /// How many worker threads serve connections.
    pub fn workers(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_AUTO_WORKERS),
            n => n,
        }
    }

    /// How the limits book answers for a login whose limit was reached.
    pub fn cooldown_policy(&self) -> crate::limits::CooldownPolicy {
        crate::limits::CooldownPolicy {
            enabled: self.limit_cooldown,
            probe_every: Some(self.limit_probe_every).filter(|d| !d.is_zero()),
        }
    }

    /// Whether HTTP clients' turns are chained (`incremental_turns`): when
    /// unset, only against the ChatGPT backend, whose sockets keep state; a
    /// self-hosted backend may not serve the socket at all.
    pub fn chains_turns(&self) -> bool {
        self.incremental_turns
            .unwrap_or_else(|| self.upstream_url.url().host_str() == Some("chatgpt.com"))
    }

    /// The response store's settings.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            mode: self.store,
            dir: self.store_dir.clone(),
            max_bytes: self.store_max_bytes,
            ttl: self.store_ttl,
        }
    }

    /// The configuration as TOML, for `--print-config`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
