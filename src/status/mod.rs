//! Where the running daemon stands, in one shape: what `GET /v1/status`
//! answers and what `codex-responses-proxy status` reads back and says in
//! plain words ([`render`]). One type on both sides, so the two cannot drift.
//!
//! - `render`: the report as lines for people, and whether it is a problem.
//! - `command`: the `status` subcommand, asking the daemon of the same
//!   configuration over TCP or its Unix socket.

mod command;
mod render;

pub use self::command::run;
pub use self::render::{Verdict, render};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::accounting::{ClientUsage, TurnRecord};
use crate::limits::{CooldownView, Limits};
use crate::models::client_version::Chosen;

/// Everything `GET /v1/status` tells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The daemon's version.
    pub version: String,
    /// Where it listens (`127.0.0.1:8787`, `unix:/run/…`).
    pub listeners: Vec<String>,
    pub activation: Activation,
    pub started_at: Timestamp,
    pub uptime_seconds: u64,
    pub in_flight: InFlight,
    pub login: Login,
    /// The login's windows as last seen, reset times absolute.
    pub limits: Option<Limits>,
    /// Requests of the login answered locally until the reset.
    pub cooldown: Option<CooldownView>,
    pub usage_endpoint: UsageEndpoint,
    /// Seconds since the model list was fetched; `None` before the first.
    pub models_cache_age_seconds: Option<u64>,
    /// The backend sockets kept for HTTP clients' conversations
    /// (`incremental_turns`), most recently used first.
    #[serde(default)]
    pub conversation_sockets: Vec<crate::chain::SocketStatus>,
    /// The last turns, newest first: counts and names, never a prompt or an answer.
    #[serde(default)]
    pub recent_turns: Vec<TurnRecord>,
    /// What each client family spent in the last hour (families without a turn left out).
    #[serde(default)]
    pub usage_last_hour: Vec<ClientUsage>,
    /// The Codex CLI version presented to the backend and where it came
    /// from; absent from daemons that predate it.
    #[serde(default)]
    pub client_version: Option<Chosen>,
}

/// Who opened the listening sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// systemd passed them (socket activation).
    Socket,
    /// The daemon bound `listen` itself.
    Own,
}

/// Requests being answered right now (this status request not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub requests: usize,
    /// Streamed answers among them.
    pub streams: usize,
}

/// The login in `auth.json`, as the daemon uses it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Login {
    /// Requests can be sent with it (it may still need a refresh).
    pub usable: bool,
    /// Why it is not usable, in plain words.
    pub error: Option<String>,
    pub account_id: Option<String>,
    pub email: Option<String>,
    /// From the login's `id_token` claims.
    pub plan: Option<String>,
    pub token_expires_at: Option<Timestamp>,
    /// When the login was last refreshed, by this daemon or another program.
    pub last_refresh: Option<Timestamp>,
    /// This daemon's last refresh, when it failed.
    pub last_refresh_error: Option<RefreshError>,
}

/// A failed refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshError {
    pub at: Timestamp,
    /// In plain words, with what to do.
    pub message: String,
    /// The login is dead until `codex login`.
    pub permanent: bool,
}

/// The backend's usage endpoint, asked at most once a minute for status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UsageEndpoint {
    /// When it last answered with the login's usage.
    pub fetched_at: Option<Timestamp>,
    /// Why the last call told nothing, in plain words.
    pub error: Option<String>,
}
