//! One turn, whichever door it came in by (HTTP Responses, Chat
//! Completions, Messages, a WebSocket frame): [`prepare`] settles what the
//! request means to a backend that keeps nothing (model names, the rules,
//! `previous_response_id`), [`Pipeline::open`] sends it (and times its first event),
//! [`answer`] drives the events to the door's writer or collects them,
//! [`collect`] builds one Responses object from the events, and [`finish`]
//! makes the answer the client gets (and commits it to the store when
//! kept). A WebSocket turn's frames are read and shaped in [`frames`];
//! [`over_http`] serves a socket's turns over HTTP when the backend refuses
//! the upgrade. The doors (the `http` module) decode their dialect, hand the turn
//! here, encode the answer, and write one summary record per turn.

pub mod answer;
pub mod collect;
pub mod finish;
pub mod frames;
pub mod over_http;
pub mod prepare;

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::accounting::Meter;
use crate::backend::models::Cache;
use crate::backend::{Opened, Sockets, Upstream};
use crate::chain::Chain;
use crate::config::Config;
use crate::error::ApiError;
use crate::patch::Rules;
use crate::store::Store;
use crate::wire::Outgoing;
use crate::wire::raw::RawRequest;

/// What every turn goes through, built once from the configuration.
#[derive(Debug)]
pub struct Pipeline {
    pub config: Config,
    /// The backend's request rules, from the configuration.
    pub rules: Rules,
    pub upstream: Upstream,
    pub sockets: Sockets,
    /// The backend's model list: effort suffixes, the Anthropic map.
    pub models: Cache,
    /// Responses kept for `previous_response_id` and retrieval.
    pub store: Store,
    /// The backend sockets kept for HTTP clients' conversations.
    pub chain: Chain,
}

impl Pipeline {
    /// Opens the response store too: a store that cannot be opened is a
    /// warning, and the daemon serves on without state.
    pub fn new(config: Config, upstream: Upstream, sockets: Sockets) -> Self {
        Pipeline {
            rules: Rules {
                instructions: config.instructions.clone(),
                strip_fields: config.strip_fields.clone(),
            },
            models: Cache::new(config.models_cache_ttl, config.list_effort_variants),
            store: Store::open_or_warn(&config.store_options()),
            chain: Chain::new(
                &config,
                sockets.clone(),
                upstream.limits().metrics().cloned(),
            ),
            config,
            upstream,
            sockets,
        }
    }
}

impl Pipeline {
    /// Sends a prepared request to the backend: as only its new items on
    /// the conversation's socket when it continues the previous turn and
    /// may go there (`keepable`: see [`Chain::open`]), else whole; `meter`
    /// reads the turn's effort, first event and usage (its summary record
    /// and its time to first event, whichever way it went).
    pub async fn open(
        &self,
        client_headers: &HeaderMap,
        body: &Map<String, Value>,
        meter: &Meter,
        keepable: bool,
    ) -> Result<Opened, ApiError> {
        let mut opened = (self.chain)
            .open(&self.upstream, client_headers, body, keepable)
            .await?;
        opened.events.meter(meter.sent(body));
        Ok(opened)
    }

    /// [`Pipeline::open`] for a request patched as raw bytes, over HTTP:
    /// `body` is sent as it is, and only the fields the headers and the
    /// meter read are parsed. (A turn that may go on a conversation's
    /// socket goes through [`Pipeline::open`]: chaining compares its items.)
    pub async fn open_raw(
        &self,
        client_headers: &HeaderMap,
        request: &RawRequest,
        body: Outgoing,
        meter: &Meter,
    ) -> Result<Opened, ApiError> {
        let head = request.head(&["prompt_cache_key", "reasoning"]);
        let mut opened = self
            .upstream
            .stream_raw(client_headers, &head, body)
            .await?;
        opened.events.meter(meter.sent(&head));
        Ok(opened)
    }
}
