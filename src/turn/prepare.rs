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
use crate::store::continuity;
use crate::turn::finish::{Finish, Keep};

/// A request ready to forward, and what to do with its answer.
#[derive(Debug)]
pub struct Turn {
    pub patched: Patched,
    pub finish: Finish,
}

impl Pipeline {
    /// Rewrites `model` by the configured aliases and an effort suffix.
    pub fn resolve_model(&self, body: &mut Map<String, Value>) {
        let efforts = self.models.efforts();
        aliases::apply(body, &self.config.model_aliases, &efforts);
    }

    /// What every door does to the Responses request it made: the model
    /// name resolved, then the backend's rules applied.
    pub fn patch(&self, mut body: Map<String, Value>) -> Result<Patched, ApiError> {
        self.resolve_model(&mut body);
        let patched = patch::patch(body, &self.rules)?;
        for change in &patched.changes {
            tracing::debug!(change = %change, "request patched");
        }
        Ok(patched)
    }
}

/// Patches a client's Responses request and, where it continues or will be
/// kept, makes it complete and stateless. The answer of a request whose
/// `store` is true or absent is kept (the public API's default) when the
/// store is ready; a request that names a previous response needs the
/// store and fails with its reason when it is off or unavailable.
pub async fn prepare(
    pipeline: &Pipeline,
    mut request: Map<String, Value>,
) -> Result<Turn, ApiError> {
    pipeline.resolve_model(&mut request);
    // Read before patching: the backend is always sent `store: false`.
    let stores = continuity::client_stores(&request);
    let previous = take_previous(&mut request)?;
    let mut patched = patch::patch(request, &pipeline.rules)?;
    let store = &pipeline.store;
    let keep = stores && store.is_ready();
    let strip_reasoning = keep && !continuity::request_encrypted_reasoning(&mut patched.body);
    if strip_reasoning {
        patched
            .changes
            .push("include: reasoning.encrypted_content (kept for a next turn)".into());
    }
    // `patch` leaves `input` a list.
    let input = match patched.body.get_mut("input") {
        Some(Value::Array(items)) => std::mem::take(items),
        _ => Vec::new(),
    };
    let own = keep.then(|| input.clone());
    let forwarded = match &previous {
        Some(id) => {
            let new = input.len();
            let items = store.expand(id, input).await.map_err(ApiError::from)?;
            patched.changes.push(format!(
                "input: {} items of earlier turns (previous_response_id) first",
                items.len() - new
            ));
            items
        }
        None => input,
    };
    patched.body.insert("input".into(), Value::Array(forwarded));
    let finish = Finish {
        previous_response_id: previous,
        strip_reasoning,
        keep: own.map(|input| Keep {
            store: store.clone(),
            input,
        }),
    };
    Ok(Turn { patched, finish })
}

/// Removes `previous_response_id` from the request: the backend, which
/// keeps nothing, would refuse it.
fn take_previous(request: &mut Map<String, Value>) -> Result<Option<String>, ApiError> {
    match request.shift_remove("previous_response_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id)),
        Some(_) => Err(
            ApiError::invalid_request("`previous_response_id` must be a string")
                .with_param("previous_response_id"),
        ),
    }
}
