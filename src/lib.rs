//! codex-responses-proxy: the OpenAI Responses API on localhost, served by the
//! ChatGPT Codex backend with the Codex CLI's login.
//!
//! # Layout
//! A request's path reads top to bottom:
//! - [`server`]: the HTTP routes, limits, the summary log line, and the
//!   mapping of errors to responses.
//! - [`chat`]: translates Chat Completions requests and answers to and from Responses.
//! - [`dialect`]: the same for Anthropic's Messages API ([`dialect::messages`]).
//! - [`patch`]: rewrites a client's Responses request into what the backend accepts.
//! - [`auth`]: the login in `auth.json`: reading, refreshing, writing back.
//! - [`upstream`]: the client for the Codex backend: headers, sending, status mapping.
//! - [`relay`]: one live answer: idle timeout, passthrough or collection.
//! - [`sse`]: splitting the event stream into events (pure).
//! - [`collect`]: one Responses object from the events, for `stream: false` (pure).
//! - [`error`]: the OpenAI-shaped error every client sees.
//!
//! Around it: [`config`] (layered settings), [`serve`] (the accept loop
//! with graceful shutdown), [`systemd`] (passed sockets, sd-notify, watchdog,
//! idle exit), [`logging`] (journald or stderr) and [`doctor`] (the
//! `doctor` subcommand's checks).

pub mod auth;
pub mod chat;
pub mod collect;
pub mod config;
pub mod dialect;
pub mod doctor;
pub mod error;
pub mod logging;
pub mod patch;
pub mod relay;
pub mod serve;
pub mod server;
pub mod sse;
pub mod systemd;
pub mod upstream;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::auth::Auth;
use crate::auth::refresh::Refresher;
use crate::config::Config;
use crate::serve::{Listener, ServeOptions, Workers};
use crate::server::AppState;
use crate::upstream::{Trust, Upstream};

/// The daemon, built from its configuration and ready to serve.
#[derive(Debug, Clone)]
pub struct Daemon {
    state: AppState,
    workers: Arc<Workers>,
}

impl Daemon {
    /// Builds the HTTP client, the token source and the routes. Nothing is
    /// read from the network; the login is read on the first request.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let trust = Trust::load(config.ca_file.as_deref()).map_err(anyhow::Error::msg)?;
        let client = Upstream::http_client(&config, &trust).context("building the HTTP client")?;
        let auth = Auth::new(
            &config.codex_home,
            Refresher::new(client.clone(), config.token_url.clone())
                .with_timeout(config.idle_timeout),
        );
        let upstream = Upstream::new(&config, client, &trust).map_err(anyhow::Error::msg)?;
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
        Ok(Daemon {
            state: AppState::new(config, auth, upstream, client_key),
            workers: Arc::default(),
        })
    }

    /// The shared state: the login and the activity counters.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The worker threads, once serving.
    pub fn workers(&self) -> &Workers {
        &self.workers
    }

    /// The token source.
    pub fn auth(&self) -> &Auth {
        &self.state.inner.auth
    }

    /// Serves on `listeners` until `shutdown` resolves, then drains.
    pub async fn serve(self, listeners: Vec<Listener>, shutdown: impl Future<Output = ()>) {
        let config = &self.state.inner.config;
        let options = ServeOptions {
            header_read_timeout: config.header_read_timeout,
            shutdown_grace: config.shutdown_grace,
            workers: config.workers(),
            // Below the timeouts armed on every request, down to a second.
            housekeeping: config
                .header_read_timeout
                .min(config.idle_timeout)
                .saturating_sub(Duration::from_secs(1))
                .max(Duration::from_secs(1)),
        };
        let router = server::router(self.state.clone());
        let activity = self.state.activity().clone();
        let workers = self.workers.clone();
        serve::serve(listeners, router, activity, workers, options, shutdown).await;
    }
}
