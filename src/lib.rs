//! codex-responses-proxy: the OpenAI Responses API on localhost, served by the
//! ChatGPT Codex backend with the Codex CLI's login.
//!
//! # Layout
//! A request reads top to bottom: http → dialect → patch → proxy → dialect → http.
//! - [`http`]: listeners and the serve loop; the boundary (who may send a
//!   request at all: `Host` and `Origin` checks, CORS); the routes and their
//!   handlers; the bookkeeping every request shares (request id, client key,
//!   summary line).
//! - [`dialect`]: translators between Responses and the other APIs clients
//!   speak (Chat Completions, Anthropic Messages), each with its stream grammar (pure).
//! - [`patch`]: rewrites a client's Responses request into what the backend accepts (pure).
//! - [`proxy`]: one call to the Codex backend end to end (credentials, the 401
//!   retry, status mapping), the live event stream, and collection; the
//!   backend's own Responses WebSocket.
//! - [`auth`]: the login in `auth.json`: reading, refreshing, writing back.
//! - [`net`]: the one HTTP client (and its HTTP/1.1-only twin for WebSocket
//!   handshakes): TLS trust, proxy, default headers, failure kinds.
//! - [`sse`]: splitting the event stream into events (pure).
//! - [`compression`]: zstd and gzip request bodies, decoded under a cap, and
//!   the zstd body forwarded for a client that compressed its own (pure).
//! - [`error`]: the OpenAI-shaped error every client sees.
//! - [`store`]: stored responses, `previous_response_id` expansion, and the
//!   reasoning kept between turns (the backend keeps no state).
//! - [`models`]: model aliases and reasoning-effort suffixes (pure).
//!
//! Around it: [`config`] (layered settings), [`systemd`] (passed sockets,
//! sd-notify, watchdog, idle exit), [`logging`] (journald or stderr),
//! [`doctor`] (the `doctor` subcommand's checks), [`limits`] (usage windows
//! per login, the cooldown after a reached limit, their plain words; pure),
//! [`metrics`] (the Prometheus registry) and [`status`] (the `/v1/status`
//! report and the `status` subcommand that reads it). Nothing below `http` knows
//! about axum's routing; nothing above `proxy` knows about reqwest.

pub mod auth;
pub mod backend;
pub mod compression;
pub mod config;
pub mod dialect;
pub mod doctor;
pub mod error;
pub mod http;
pub mod limits;
pub mod logging;
pub mod metrics;
pub mod models;
pub mod net;
pub mod patch;
pub mod sse;
pub mod status;
pub mod store;
pub mod systemd;
pub mod turn;

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
        let identity = net::Identity {
            client_version: &config.client_version,
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
        let sockets =
            Sockets::new(&config, upgrade_client, auth.clone()).with_limits(limits.clone());
        let upstream = Upstream::new(&config, client, auth).with_limits(limits);
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
