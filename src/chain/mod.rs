//! Incremental turns for HTTP clients: an SDK keeps no server state, so
//! each of its turns carries the whole conversation again. The proxy saw the
//! previous turn and the answer it relayed, so when a request is that turn
//! plus its answer plus new items ([`rule`]), it sends the backend only the
//! new items with `previous_response_id`, on a backend Responses WebSocket it
//! keeps for the conversation ([`pool`]), as the Codex CLI does on its own
//! socket (PROTOCOL.md §8). The answer comes back as the same
//! [`EventStream`] an HTTP call gives ([`turn`]), so the door streams or
//! collects it as any other; the client cannot tell but by the speed.
//!
//! Never a wrong answer: a turn the backend cannot continue
//! (`previous_response_not_found`), a socket that ends before the answer
//! began, a socket the backend ended (its 60-minute limit) or an upgrade it
//! refuses each get the turn sent again whole, on a new socket or over HTTP,
//! before anything reached the client. A second request of a conversation
//! while one is in flight goes whole over HTTP: turns do not share a chain.
//!
//! [`EventStream`]: crate::backend::events::EventStream

pub mod pool;
pub mod rule;
mod turn;
mod wire;

#[cfg(test)]
mod pool_tests;
#[cfg(test)]
mod rule_tests;

use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{Map, Value};
use tokio::time::Instant;

pub use self::pool::SocketStatus;
use self::pool::{Held, Pool};
use self::turn::Attempt;
use crate::backend::headers;
use crate::backend::socket::Opening;
use crate::backend::{Opened, Sent, Sockets, Upstream};
use crate::config::Config;
use crate::error::ApiError;
use crate::metrics::{Metrics, TurnMode};

/// After the backend refused the upgrade, requests go over HTTP for this
/// long before a socket is tried again.
const REFUSED_FOR: Duration = Duration::from_secs(300);

/// How many times one turn is sent on a socket before it goes over HTTP:
/// chained, then whole on the same socket (`previous_response_not_found`),
/// then whole on a new one (the socket ended).
const ATTEMPTS: usize = 3;

/// The conversation sockets and the switch.
#[derive(Debug)]
pub struct Chain {
    enabled: bool,
    pool: Arc<Pool>,
    sockets: Sockets,
    metrics: Option<Arc<Metrics>>,
    refused_until: Mutex<Option<Instant>>,
    idle_timeout: Duration,
    max_event_bytes: usize,
}

impl Chain {
    pub fn new(config: &Config, sockets: Sockets, metrics: Option<Arc<Metrics>>) -> Self {
        Chain {
            enabled: config.chains_turns(),
            pool: Pool::new(config.incremental_max_sockets, config.incremental_idle),
            sockets,
            metrics,
            refused_until: Mutex::default(),
            idle_timeout: config.idle_timeout,
            max_event_bytes: config.max_event_bytes,
        }
    }

    /// Whether HTTP turns may go on conversation sockets at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The open conversation sockets, for `/v1/status`.
    pub fn status(&self) -> Vec<SocketStatus> {
        self.pool.status()
    }

    /// Opens a turn's answer: on the conversation's socket when it may go
    /// there (`keepable`: no backend keeping of the answer is asked for: a
    /// Responses request's `store` is false, or the proxy keeps the answer;
    /// Chat Completions and Messages keep nothing), else over HTTP; counted
    /// by how it went.
    pub async fn open(
        &self,
        upstream: &Upstream,
        headers: &HeaderMap,
        body: &Map<String, Value>,
        keepable: bool,
    ) -> Result<Opened, ApiError> {
        let opened = match self.try_open(upstream, headers, body, keepable).await {
            Some(opened) => opened,
            None => upstream.stream(headers, body).await?,
        };
        if let Some(metrics) = &self.metrics {
            let mode = if opened.sent.incremental {
                TurnMode::Incremental
            } else {
                TurnMode::Whole
            };
            metrics.upstream_turn(mode, opened.sent.bytes);
        }
        Ok(opened)
    }

    /// The turn's answer from the conversation's socket, or `None` for HTTP:
    /// switched off, not keepable, a turn of the conversation in flight, the
    /// upgrade refused, or the socket failing before the answer began.
    pub async fn try_open(
        &self,
        upstream: &Upstream,
        headers: &HeaderMap,
        body: &Map<String, Value>,
        keepable: bool,
    ) -> Option<Opened> {
        if !self.enabled || !keepable || self.refused() {
            return None;
        }
        // Taken first: without a place, HTTP answers the 503, and the
        // conversation keeps its socket.
        let permit = upstream.permit().ok()?;
        let key = conversation_key(headers, body);
        let Some(mut lease) = self.pool.lease(&key) else {
            tracing::debug!("a turn of this conversation is in flight: this one goes over HTTP");
            return None;
        };
        let mut previous = lease
            .base
            .take()
            .and_then(|base| Some((base.continued_by(body)?, base.response_id)));
        for _ in 0..ATTEMPTS {
            let held = match lease.held.take() {
                Some(held) => held,
                None => {
                    // A new socket starts from nothing: the turn goes whole.
                    previous = None;
                    self.open_socket(headers, body).await?
                }
            };
            let chained = previous.as_ref().map(|(start, id)| (id.as_str(), *start));
            match turn::send(held, headers, body, chained).await {
                Attempt::Began(began) => {
                    let (idle, max) = (self.idle_timeout, self.max_event_bytes);
                    return Some(began.into_opened(lease, body, permit, idle, max));
                }
                Attempt::NotFound(held) => {
                    tracing::debug!(
                        "the backend lost the conversation's state; sending the turn whole"
                    );
                    lease.held = Some(held);
                    previous = None;
                }
                Attempt::Gone(why) => {
                    tracing::debug!(error = %why, "the conversation's socket ended; sending the turn whole on a new one");
                }
                Attempt::Failed(why) => {
                    tracing::debug!(error = %why, "the turn failed on the socket; sending it over HTTP");
                    return None;
                }
            }
        }
        None
    }

    async fn open_socket(&self, headers: &HeaderMap, body: &Map<String, Value>) -> Option<Held> {
        match self.sockets.open(headers, body).await {
            Ok(Opening::Open(socket)) => Some(Held::new(socket)),
            Ok(Opening::Refused(status)) => {
                tracing::info!(
                    status = status.as_u16(),
                    "the backend refused the WebSocket upgrade: HTTP clients' turns go whole over HTTP"
                );
                *self.refused_until.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Instant::now() + REFUSED_FOR);
                None
            }
            Err(e) => {
                tracing::debug!(error = %e.message, "no socket for the conversation; HTTP answers");
                None
            }
        }
    }

    fn refused(&self) -> bool {
        let until = *self.refused_until.lock().unwrap_or_else(|e| e.into_inner());
        until.is_some_and(|t| Instant::now() < t)
    }
}

/// What names a conversation: the client's `prompt_cache_key`, else its
/// session header, else (an SDK sends neither) its settings and first item,
/// which stay the same for the whole conversation. Two conversations that
/// share all three share a socket: the rule still sends each turn that does
/// not continue the last one whole, so they get right answers.
pub fn conversation_key(headers: &HeaderMap, body: &Map<String, Value>) -> String {
    if let Some(key) = body.get("prompt_cache_key").and_then(Value::as_str) {
        return format!("key:{key}");
    }
    if let Some(session) = headers::session(headers, body)
        && let Ok(session) = session.to_str()
    {
        return format!("session:{session}");
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for field in ["model", "instructions"] {
        body.get(field).map(Value::to_string).hash(&mut hasher);
    }
    let first = body
        .get("input")
        .and_then(Value::as_array)
        .and_then(|items| items.first());
    first.map(Value::to_string).hash(&mut hasher);
    format!("derived:{:016x}", hasher.finish())
}
