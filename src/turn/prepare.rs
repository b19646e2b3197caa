//! What a Responses request means to a backend that keeps nothing, settled
//! before it is forwarded: the model name resolved (aliases, effort
//! suffixes), a `previous_response_id` expanded into the earlier turns'
//! items ahead of the new input, reasoning content asked for when the
//! answer may be continued, and the [`Finish`] that makes and keeps the answer.

use serde_json::{Map, Value};

use super::Pipeline;
use crate::error::ApiError;
use crate::models::aliases;
use crate::patch::{self, Patched};
use crate::turn::finish::{Finish, Keep};
use crate::wire::blocks::FrameSink;
use crate::wire::raw::RawRequest;
use crate::wire::rules::{self, RawPatched};

impl Pipeline {
    /// Rewrites `model` by the configured aliases and an effort suffix.
    pub fn resolve_model(&self, body: &mut Map<String, Value>) {
        let efforts = self.models.efforts();
        aliases::apply(body, &self.config.model_aliases, &efforts);
    }

    /// What the Chat Completions and Messages doors do to the Responses
    /// request they made: the model name resolved, then the backend's rules
    /// applied. (The Responses doors, HTTP and WebSocket, do the same to
    /// the request's bytes: [`prepare_raw`], [`Pipeline::patch_raw`].)
    pub fn patch(&self, mut body: Map<String, Value>) -> Result<Patched, ApiError> {
        self.resolve_model(&mut body);
        let patched = patch::patch(body, &self.rules)?;
        for change in &patched.changes {
            tracing::debug!(change = %change, "request patched");
        }
        Ok(patched)
    }

    /// What [`Pipeline::patch`] does, to a request held as raw bytes (a
    /// WebSocket's `response.create`): only the fields the rules name are
    /// read, and those they change rewritten.
    pub fn patch_raw(&self, request: &mut RawRequest) -> Result<RawPatched, ApiError> {
        let efforts = self.models.efforts();
        rules::resolve_model(request, &self.config.model_aliases, &efforts)?;
        let patched = rules::patch(request, &self.rules)?;
        for change in &patched.changes {
            tracing::debug!(change = %change, "request patched");
        }
        Ok(patched)
    }
}

/// A Responses request patched as raw bytes ([`crate::wire`]), ready to
/// forward, and what to do with its answer.
#[derive(Debug)]
pub struct RawTurn {
    pub request: RawRequest,
    pub patched: RawPatched,
    pub finish: Finish,
    /// Where the body's compression hands the kept input's frames to the
    /// store ([`crate::store::Store::name_sent_input`]): give it to the body that goes
    /// to the backend, or drop it.
    pub frames: Option<FrameSink>,
}

/// Patches a client's Responses request, kept as bytes ([`crate::wire`]),
/// and, where it continues or will be kept, makes it complete and
/// stateless, reading only the fields the rules name. The answer of a
/// request whose `store` is true or absent is kept (the public API's
/// default) when the store is ready; a request that names a previous
/// response needs the store and fails with its reason when it is off or
/// unavailable. The earlier turns' items are spliced ahead of the new
/// input's bytes; this turn's own input is kept as the bytes it came as.
pub async fn prepare_raw(
    pipeline: &Pipeline,
    mut request: RawRequest,
) -> Result<RawTurn, ApiError> {
    let efforts = pipeline.models.efforts();
    rules::resolve_model(&mut request, &pipeline.config.model_aliases, &efforts)?;
    // Read before patching: the backend is always sent `store: false`.
    let stores = rules::client_stores(&request);
    let previous = rules::take_previous(&mut request)?;
    let mut patched = rules::patch(&mut request, &pipeline.rules)?;
    let store = &pipeline.store;
    let keep = stores && store.is_ready();
    let strip_reasoning = keep && !rules::request_encrypted_reasoning(&mut request)?;
    if strip_reasoning {
        patched
            .changes
            .push("include: reasoning.encrypted_content (kept for a next turn)".into());
    }
    // This turn's own items, before earlier ones are spliced in.
    let own = keep.then(|| request.get_bytes("input")).flatten();
    if let Some(id) = &previous {
        let earlier = store.expand_raw(id).await.map_err(ApiError::from)?;
        rules::splice_input_raw(&mut request, &earlier.items);
        patched.changes.push(format!(
            "input: {} items of earlier turns (previous_response_id) first",
            earlier.count
        ));
    }
    // Without earlier turns spliced in, the input kept is the one sent.
    let (input, frames) = match own {
        Some(own) if previous.is_none() => {
            let (input, frames) = store.name_sent_input(own);
            (Some(input), frames)
        }
        Some(own) => (Some(store.name_input(own)), None),
        None => (None, None),
    };
    let finish = Finish {
        previous_response_id: previous,
        strip_reasoning,
        keep: input.map(|input| Keep {
            store: store.clone(),
            input,
        }),
    };
    Ok(RawTurn {
        request,
        patched,
        finish,
        frames,
    })
}
