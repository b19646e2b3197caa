//! The daemon's configuration: one struct, layered by figment.
//!
//! Lowest to highest: built-in defaults < TOML file < `CODEX_RESPONSES_PROXY_*`
//! environment < command-line flags. The key names are the public interface.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

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

/// The Codex CLI version the proxy presents itself as (`version` header,
/// `User-Agent`, and the models list's `client_version`). The backend decides
/// which models a client may see from it.
pub const DEFAULT_CLIENT_VERSION: &str = "0.63.0";

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
    #[arg(long, visible_alias = "addr", value_name = "ADDR")]
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

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `HOST:PORT` or `unix:/PATH`; ignored when systemd passes sockets.
    pub listen: String,
    /// Folder of the Codex CLI's `auth.json`.
    pub codex_home: PathBuf,
    /// Instructions used when a request has none.
    pub instructions: String,
    /// Base URL of the Codex backend; `/responses` and `/models` are appended.
    pub upstream_url: String,
    /// OAuth token endpoint for refreshing the login.
    pub token_url: String,
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
    /// Codex CLI version presented to the backend.
    pub client_version: String,
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8787".into(),
            codex_home: default_codex_home(),
            instructions: DEFAULT_INSTRUCTIONS.into(),
            upstream_url: "https://chatgpt.com/backend-api/codex".into(),
            token_url: "https://auth.openai.com/oauth/token".into(),
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
            client_version: DEFAULT_CLIENT_VERSION.into(),
            api_key_file: None,
            ca_file: None,
            allow_remote_without_key: false,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
}

/// `worker_threads = 0` takes one thread per CPU up to this: more only adds
/// idle threads for a daemon whose requests wait on a remote backend.
const MAX_AUTO_WORKERS: usize = 8;

/// `$CODEX_HOME`, else `~/.codex`.
fn default_codex_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    home_dir().unwrap_or_default().join(".codex")
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$XDG_CONFIG_HOME/codex-responses-proxy/config.toml`, else under `~/.config`.
fn default_config_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".config")))?;
    Some(base.join("codex-responses-proxy").join("config.toml"))
}

/// A configuration that cannot be used; the message names the key and its source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Figment(Box<figment::Error>),
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid value for `{key}` (from {origin}): {reason}")]
    Invalid {
        key: &'static str,
        origin: String,
        reason: String,
    },
}

impl From<figment::Error> for ConfigError {
    fn from(e: figment::Error) -> Self {
        ConfigError::Figment(Box::new(e))
    }
}

/// Where the daemon listens when systemd passes no socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl ListenAddr {
    /// Parses `HOST:PORT` (an IP address or `localhost`) or `unix:/PATH`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            let path = Path::new(path);
            if !path.is_absolute() {
                return Err(format!("unix socket path must be absolute, got {s:?}"));
            }
            return Ok(ListenAddr::Unix(path.to_path_buf()));
        }
        if let Some(port) = s.strip_prefix("localhost:") {
            let port: u16 = port.parse().map_err(|_| format!("bad port in {s:?}"))?;
            return Ok(ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], port))));
        }
        s.parse::<SocketAddr>()
            .map(ListenAddr::Tcp)
            .map_err(|_| format!("expected HOST:PORT or unix:/PATH, got {s:?}"))
    }

    /// Only this machine can reach it.
    pub fn is_local(&self) -> bool {
        match self {
            ListenAddr::Tcp(addr) => addr.ip().is_loopback(),
            ListenAddr::Unix(_) => true,
        }
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

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
        config.validate(&figment)?;
        Ok(Loaded {
            config,
            figment,
            file,
        })
    }

    /// Checks what serde cannot: addresses, URLs, filters, non-zero limits.
    fn validate(&self, figment: &Figment) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            key,
            origin: source_of(figment, key),
            reason,
        };
        let listen = ListenAddr::parse(&self.listen).map_err(|r| invalid("listen", r))?;
        if !listen.is_local() && self.api_key_file.is_none() && !self.allow_remote_without_key {
            return Err(invalid(
                "listen",
                format!(
                    "{listen} is reachable from other machines; set `api_key_file` so clients \
                     must authenticate, or `allow_remote_without_key = true` to accept the risk"
                ),
            ));
        }
        for (key, url) in [
            ("upstream_url", &self.upstream_url),
            ("token_url", &self.token_url),
        ] {
            let ok = reqwest::Url::parse(url)
                .map(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                .unwrap_or(false);
            if !ok {
                return Err(invalid(
                    key,
                    format!("expected an http(s) URL, got {url:?}"),
                ));
            }
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| invalid("log_level", e.to_string()))?;
        for (key, value) in [
            ("max_body_bytes", self.max_body_bytes),
            ("max_event_bytes", self.max_event_bytes),
            ("max_concurrent_requests", self.max_concurrent_requests),
        ] {
            if value == 0 {
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
        ] {
            if value.is_zero() {
                return Err(invalid(key, "must be greater than zero".into()));
            }
        }
        if self.instructions.trim().is_empty() {
            return Err(invalid("instructions", "must not be empty".into()));
        }
        crate::boundary::validate(&self.allowed_hosts, &self.allowed_origins)
            .map_err(|e| invalid(e.key(), e.to_string()))?;
        Ok(())
    }

    /// The listen address, already validated by [`Config::load`].
    pub fn listen_addr(&self) -> Result<ListenAddr, String> {
        ListenAddr::parse(&self.listen)
    }

    /// The configuration as TOML, for `--print-config`.
    /// How many worker threads serve connections.
    pub fn workers(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_AUTO_WORKERS),
            n => n,
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Where `key` got its value: "default", "TOML file /path", "environment variable(s)", ….
pub fn source_of(figment: &Figment, key: &str) -> String {
    match figment.find_metadata(key) {
        // Serialized providers are named after their type: say what they are.
        Some(meta) => match &meta.source {
            Some(figment::Source::Code(_)) if meta.name.ends_with("Flags") => {
                "command-line flag".into()
            }
            Some(figment::Source::Code(_)) => "default".into(),
            Some(src) => format!("{} {src}", meta.name),
            None => meta.name.to_string(),
        },
        None => "default".into(),
    }
}

fn expand_tilde(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}

/// Lists of strings: a TOML array, or from the environment either figment's
/// array syntax (`[a, "b"]`) or one string of comma-separated entries.
mod list {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Text(String),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::List(list) => list,
            Raw::Text(text) => text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// Durations as humantime strings ("30s", "15m"); a bare number is seconds.
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.is_zero() {
            return s.serialize_str("0s");
        }
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Seconds(n) => Ok(Duration::from_secs(n)),
            Raw::Text(t) => humantime::parse_duration(t.trim()).map_err(|e| {
                serde::de::Error::custom(format!(
                    "{e} (expected a duration such as \"30s\" or \"15m\")"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_accepts_ip_localhost_and_unix_paths() {
        assert_eq!(
            ListenAddr::parse("127.0.0.1:8787").unwrap(),
            ListenAddr::Tcp("127.0.0.1:8787".parse().unwrap())
        );
        assert_eq!(
            ListenAddr::parse("localhost:9").unwrap(),
            ListenAddr::Tcp("127.0.0.1:9".parse().unwrap())
        );
        assert_eq!(
            ListenAddr::parse("unix:/run/x.sock").unwrap(),
            ListenAddr::Unix("/run/x.sock".into())
        );
        assert!(ListenAddr::parse("unix:relative.sock").is_err());
        assert!(ListenAddr::parse("nonsense").is_err());
        assert!(!ListenAddr::parse("0.0.0.0:1").unwrap().is_local());
        assert!(ListenAddr::parse("[::1]:1").unwrap().is_local());
    }

    #[test]
    fn durations_read_text_or_seconds() {
        let c: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(
                "idle_exit = \"15m\"\nidle_timeout = 7\nshutdown_grace = \"0\"",
            ))
            .extract()
            .unwrap();
        assert_eq!(c.idle_exit, Duration::from_secs(900));
        assert_eq!(c.idle_timeout, Duration::from_secs(7));
        assert_eq!(c.shutdown_grace, Duration::ZERO);
    }

    #[test]
    fn unknown_key_is_refused_with_its_name() {
        let err = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string("listne = \"127.0.0.1:1\""))
            .extract::<Config>()
            .unwrap_err();
        assert!(err.to_string().contains("listne"), "{err}");
    }

    #[test]
    fn non_loopback_listen_needs_a_key_or_an_explicit_opt_in() {
        let figment = Figment::new();
        let mut c = Config {
            listen: "0.0.0.0:8787".into(),
            ..Config::default()
        };
        let err = c.validate(&figment).unwrap_err().to_string();
        assert!(
            err.contains("`listen`") && err.contains("api_key_file"),
            "{err}"
        );
        c.allow_remote_without_key = true;
        c.validate(&figment).unwrap();
    }

    #[test]
    fn worker_threads_default_to_the_cpus_and_an_absurd_count_is_refused() {
        let figment = Figment::new();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(Config::default().workers(), cpus.min(MAX_AUTO_WORKERS));
        let mut c = Config {
            worker_threads: 3,
            ..Config::default()
        };
        assert_eq!(c.workers(), 3);
        c.validate(&figment).unwrap();
        c.worker_threads = 5000;
        let err = c.validate(&figment).unwrap_err().to_string();
        assert!(err.contains("worker_threads"), "{err}");
    }

    #[test]
    fn allowed_lists_read_an_array_or_figments_array_syntax_or_commas() {
        let with = |provider: Serialized<figment::value::Value>| {
            Figment::from(Serialized::defaults(Config::default()))
                .merge(provider)
                .extract::<Config>()
                .unwrap()
        };
        // What `Env` does with a variable's text: parse it as a figment value.
        let env = |key: &str, text: &str| {
            Serialized::default(key, text.parse::<figment::value::Value>().unwrap())
        };
        let origins = |c: Config| c.allowed_origins;
        let expected = ["http://localhost:3000", "chrome-extension://abc"];
        assert_eq!(
            origins(with(env(
                "allowed_origins",
                r#"["http://localhost:3000", "chrome-extension://abc"]"#
            ))),
            expected
        );
        assert_eq!(
            origins(with(env(
                "allowed_origins",
                "[http://localhost:3000, chrome-extension://abc]"
            ))),
            expected
        );
        assert_eq!(
            origins(with(env(
                "allowed_origins",
                "http://localhost:3000, chrome-extension://abc"
            ))),
            expected
        );
        assert_eq!(with(env("allowed_hosts", "*")).allowed_hosts, ["*"]);
        assert_eq!(
            with(env("allowed_hosts", r#"["[fd00::1]", "proxy.lan:8443"]"#)).allowed_hosts,
            ["[fd00::1]", "proxy.lan:8443"]
        );
        let c: Config = toml::from_str("allowed_hosts = [\"proxy.lan\"]").unwrap();
        assert_eq!(c.allowed_hosts, ["proxy.lan"]);
        assert!(c.allowed_origins.is_empty());
    }

    #[test]
    fn a_wildcard_origin_or_a_url_as_host_is_refused_with_its_key() {
        let figment = Figment::new();
        let c = Config {
            allowed_origins: vec!["*".into()],
            ..Config::default()
        };
        let err = c.validate(&figment).unwrap_err().to_string();
        assert!(err.contains("`allowed_origins`"), "{err}");
        let c = Config {
            allowed_hosts: vec!["http://proxy.lan".into()],
            ..Config::default()
        };
        let err = c.validate(&figment).unwrap_err().to_string();
        assert!(err.contains("`allowed_hosts`"), "{err}");
    }

    #[test]
    fn print_config_round_trips() {
        let c = Config {
            allowed_hosts: vec!["proxy.lan".into(), "*".into()],
            allowed_origins: vec!["http://localhost:3000".into()],
            ..Config::default()
        };
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }
}
