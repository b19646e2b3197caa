//! `codex-responses-proxy env <client>`: the shell lines that point Claude
//! Code, the OpenAI SDKs or the Codex CLI at this daemon, for
//! `eval "$(codex-responses-proxy env claude)"`. For Claude Code they carry
//! the context window of the models its Claude names map to, read from the
//! backend's model list with the login in `auth.json` (as `doctor` reads
//! the usage endpoint: nothing is spent, the token is not refreshed), since
//! Claude Code assumes 1M tokens for a model it does not know.
//!
//! - `render`: the lines, from the configuration and the list (pure).

mod render;

pub use self::render::{Base, Client, Key, Mapped, Setup, max_context, render};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::auth::file;
use crate::config::{Config, Flags, ListenAddr};
use crate::dialect::messages::{Catalogue, resolve};
use crate::models::aliases::{self, Efforts};
use crate::net;

/// The Claude names Claude Code asks for, one per family, and how they are shown.
const CLAUDE_NAMES: [(&str, &str); 3] = [
    ("claude-opus-*", "claude-opus-5-5"),
    ("claude-sonnet-*", "claude-sonnet-5-5"),
    ("claude-haiku-*", "claude-haiku-5-5"),
];

/// The model list is small; a backend that has not answered by then is stuck.
const LIST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the model list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("no usable login: {0}")]
    Login(String),
    #[error("the backend could not be reached: {0}")]
    Unreachable(String),
    #[error("the backend answered HTTP {0}")]
    Status(u16),
    #[error("the backend's answer is not a model list")]
    NotAList,
}

/// Prints the lines for `client`; fails only when the configuration cannot be read.
pub fn run(flags: &Flags, client: Client) -> ExitCode {
    let config = match Config::load(flags) {
        Ok(loaded) => loaded.config,
        Err(e) => {
            eprintln!("codex-responses-proxy: {e}");
            return ExitCode::FAILURE;
        }
    };
    let models = match client {
        Client::Claude => mapped(&config).map_err(|e| e.to_string()),
        Client::Openai | Client::Codex => Ok(Vec::new()),
    };
    print!("{}", render(client, &setup(&config, models)));
    ExitCode::SUCCESS
}

/// What the lines are made from, for this configuration.
pub fn setup(config: &Config, models: Result<Vec<Mapped>, String>) -> Setup {
    Setup {
        base: base(&config.listen),
        key: config.api_key_file.clone().map_or(Key::Unset, Key::File),
        models,
    }
}

/// `http://HOST:PORT` for a listener; a wildcard address is reached on loopback.
fn base(listen: &ListenAddr) -> Base {
    match listen {
        ListenAddr::Unix(path) => Base::Unix(path.clone()),
        ListenAddr::Tcp(addr) => {
            let ip = match addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            Base::Http(format!("http://{}", SocketAddr::new(ip, addr.port())))
        }
    }
}

/// The backend models Claude Code's names map to (`anthropic_models`, then
/// `model_aliases`, as a request is resolved), with their windows.
pub fn mapped(config: &Config) -> Result<Vec<Mapped>, ListError> {
    let list = model_list(config)?;
    let catalogue = Catalogue::from_backend(&list);
    let efforts = Efforts::from_catalogue(&list);
    Ok(CLAUDE_NAMES
        .iter()
        .map(|(shown, name)| {
            let mapped = resolve(name, &config.anthropic_models, &catalogue).model;
            let (model, _) = aliases::resolve(&mapped, &config.model_aliases, &efforts);
            Mapped {
                claude: shown,
                window: catalogue.context_window(&model),
                model,
            }
        })
        .collect())
}

/// One `GET {upstream_url}/models?client_version=…` with the login's access token.
fn model_list(config: &Config) -> Result<Value, ListError> {
    let (auth, _) = file::load(&config.codex_home.join(file::AUTH_FILE))
        .map_err(|e| ListError::Login(e.to_string()))?;
    let version = config.version_presented().current().version;
    let unreachable = |e: &dyn std::fmt::Display| ListError::Unreachable(e.to_string());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| unreachable(&e))?;
    let client = net::client(net::Identity {
        client_version: &version,
        connect_timeout: config.connect_timeout,
        ca_file: config.ca_file.as_deref(),
    })
    .map_err(|e| unreachable(&e))?;
    let mut url = reqwest::Url::parse(&format!(
        "{}/models",
        config.upstream_url.as_str().trim_end_matches('/')
    ))
    .map_err(|e| unreachable(&e))?;
    url.query_pairs_mut()
        .append_pair("client_version", &version);
    runtime.block_on(async {
        let mut request = client
            .get(url)
            .bearer_auth(&auth.tokens.access_token)
            .timeout(LIST_TIMEOUT);
        if let Some(account) = &auth.tokens.account_id {
            request = request.header("chatgpt-account-id", account);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ListError::Unreachable(net::describe(&e)))?;
        if !response.status().is_success() {
            return Err(ListError::Status(response.status().as_u16()));
        }
        let list: Value = response.json().await.map_err(|_| ListError::NotAList)?;
        if list.get("models").and_then(Value::as_array).is_none() {
            return Err(ListError::NotAList);
        }
        Ok(list)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listener_is_reached_on_loopback_and_a_unix_one_is_named() {
        let base_of = |s: &str| base(&ListenAddr::parse(s).unwrap());
        assert_eq!(
            base_of("0.0.0.0:8787"),
            Base::Http("http://127.0.0.1:8787".into())
        );
        assert_eq!(base_of("[::]:9000"), Base::Http("http://[::1]:9000".into()));
        assert_eq!(
            base_of("127.0.0.2:8080"),
            Base::Http("http://127.0.0.2:8080".into())
        );
        assert_eq!(
            base_of("unix:/run/proxy.sock"),
            Base::Unix("/run/proxy.sock".into())
        );
    }
}
