//! codex-responses-proxy: the OpenAI Responses API on localhost, served by the
//! ChatGPT Codex backend with the Codex CLI's login.
//!
//! # Layout
//! A turn reads top to bottom: [`http`] (the doors) → [`turn`] → [`backend`]
//! → [`auth`], and its answer comes back through the same driver.
//! - [`http`]: listeners and the serve loop; the boundary (who may send a
//!   request at all: `Host` and `Origin` checks, CORS); the bookkeeping every
//!   request shares (request id, client key, the answer's dialect decided once
//!   per route, the summary record); the doors in `http/routes/` and the
//!   Responses WebSocket in `http/websocket/`: each decodes its dialect, hands
//!   the turn to the pipeline and encodes the answer.
//! - [`turn`]: one pipeline for every door: prepare (aliases, effort
//!   suffixes, the rules, `previous_response_id`), open, drive the events
//!   through the door's writer or collect them, finish (store commit).
//! - [`backend`]: everything that speaks to the Codex backend: the calls and
//!   their credentials with the one 401 retry, the event stream, the
//!   backend's WebSocket, its model list, usage endpoint and refusals, and
//!   the watch over what answers say about usage limits.
//! - [`chain`]: incremental turns for HTTP clients, under the pipeline's
//!   open: a backend socket per conversation, and only a turn's new items
//!   sent on it when the rest is the previous turn and its answer.
//! - [`auth`]: the login in `auth.json`: reading, refreshing, writing back.
//!
//! Pure or self-contained rooms beside them: [`dialect`] (Chat Completions
//! and Anthropic Messages translators with their stream grammars), [`patch`]
//! (the backend's request rules, on a parsed request: the Chat and Messages
//! doors'), [`models`] (aliases and effort suffixes),
//! [`sse`] (event splitting), [`compression`] (request bodies), [`wire`]
//! (the Responses request, HTTP body or WebSocket frame, patched as raw
//! bytes, the body compressed for the
//! backend and that compression turned off by a refusal), [`store`]
//! (kept responses in SQLite), [`limits`] (usage windows per login, the
//! cooldown, their plain words), [`metrics`] (the Prometheus registry),
//! [`error`] (the error every client sees, the proxy's own codes), [`net`]
//! (the one HTTP client). Around them: [`config`] (layered settings, parsed
//! once; it imports nothing above it), [`systemd`] (passed sockets,
//! sd-notify `STATUS=`, watchdog, idle exit), [`logging`], [`doctor`] (the
//! `doctor` subcommand), [`manual`] (the man page and shell completions), [`client_env`] (the
//! `env` subcommand: shell lines that point a client at the daemon) and [`status`] (the `/v1/status` report and the
//! `status` subcommand). No top-level module imports one that imports it.

pub mod accounting;
pub mod auth;
pub mod backend;
pub mod chain;
pub mod client_env;
pub mod compression;
pub mod config;
pub mod dialect;
pub mod doctor;
pub mod error;
pub mod http;
pub mod limits;
pub mod logging;
pub mod manual;
pub mod metrics;
pub mod models;
pub mod net;
pub mod patch;
pub mod sse;
pub mod status;
pub mod store;
pub mod systemd;
pub mod turn;
pub mod wire;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;

use crate::auth::Auth;
use crate::auth::refresh::Refresher;
use crate::backend::watch::LimitsWatch;
use crate::backend::{Sockets, Upstream};
use crate::config::Config;
use crate::http::boundary::Boundary;
use crate::http::serve::ServeOptions;
use crate::http::{AppState, Listener};
use crate::metrics::Metrics;

/// The daemon, built from its configuration and ready to serve.
#[derive(Debug, Clone)]
pub struct Daemon {
    state: AppState,
}

impl Daemon {
    /// Builds the HTTP client, the token source and the routes. Nothing is
    /// read from the network; the login is read on the first request.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let version = config.version_presented();
        let presented = version.current();
        tracing::info!(
            client_version = %presented.version,
            source = %presented.source,
            "presenting the Codex CLI version"
        );
        let identity = net::Identity {
            client_version: &presented.version,
            connect_timeout: config.connect_timeout,
            ca_file: config.ca_file.as_deref(),
        };
        let client = net::client(identity)?;
        let upgrade_client = net::upgrade_client(identity)?;
        let metrics = config.metrics.then(|| Arc::new(Metrics::new()));
        let auth = Auth::new(
            &config.codex_home,
            Refresher::new(client.clone(), config.token_url.to_string())
                .with_timeout(config.idle_timeout)
                .with_metrics(metrics.clone()),
        );
        let limits = LimitsWatch::new(config.cooldown_policy(), metrics);
        let sockets = Sockets::new(&config, upgrade_client, auth.clone(), version.clone())
            .with_limits(limits.clone());
        let upstream = Upstream::new(&config, client, auth, version).with_limits(limits);
        let client_key = match &config.api_key_file {
            Some(path) => {
                let key = std::fs::read_to_string(path)
                    .with_context(|| format!("reading api_key_file {}", path.display()))?;
                let key = key.trim().as_bytes().to_vec();
                anyhow::ensure!(!key.is_empty(), "api_key_file {} is empty", path.display());
                Some(key)
            }
            None => None,
        };
        let boundary = Boundary::new(&config.names()?);
        Ok(Daemon {
            state: AppState::new(config, upstream, sockets, client_key, boundary),
        })
    }

    /// The shared state: the login and the activity counters.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The token source.
    pub fn auth(&self) -> &Auth {
        self.state.inner.pipeline.upstream.auth()
    }

    /// The usage limits of the logins the daemon calls with.
    pub fn limits(&self) -> &LimitsWatch {
        self.state.inner.pipeline.upstream.limits()
    }

    /// Serves on `listeners` until `shutdown` resolves, then drains. The
    /// response store is swept on a timer while it serves.
    pub async fn serve(self, listeners: Vec<Listener>, shutdown: impl Future<Output = ()>) {
        let config = &self.state.inner.pipeline.config;
        let socket_activated = self.state.serving().socket_activated;
        self.state.set_serving(
            listeners.iter().map(Listener::describe).collect(),
            socket_activated,
        );
        let options = ServeOptions {
            header_read_timeout: config.header_read_timeout,
            shutdown_grace: config.shutdown_grace,
            activity: self.state.activity().clone(),
        };
        let sweeper = tokio::spawn(self.state.store().clone().sweep_every(store::SWEEP_PERIOD));
        http::serve(
            listeners,
            http::router(self.state.clone()),
            options,
            shutdown,
        )
        .await;
        sweeper.abort();
    }
}
