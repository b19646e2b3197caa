//! What a Responses request means to a backend that keeps nothing, settled
//! before it is forwarded: the model name resolved (aliases, effort
//! suffixes), a `previous_response_id` expanded into the earlier turns'
//! items ahead of the new input, reasoning content asked for when the
//! answer may be continued, and the [`Finish`] that makes and keeps the answer.

use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::http::AppState;
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

impl AppState {
    /// Rewrites `model` by the configured aliases and an effort suffix.
    pub(crate) fn resolve_model(&self, body: &mut Map<String, Value>) {
        let efforts = self.inner.models.efforts();
        aliases::apply(body, &self.inner.config.model_aliases, &efforts);
    }
}

/// Patches a client's Responses request and, where it continues or will be
/// kept, makes it complete and stateless. The answer of a request whose
/// `store` is true or absent is kept (the public API's default) when the
/// store is ready; a request that names a previous response needs the
/// store and fails with its reason when it is off or unavailable.
pub async fn prepare(state: &AppState, mut request: Map<String, Value>) -> Result<Turn, ApiError> {
    state.resolve_model(&mut request);
    // Read before patching: the backend is always sent `store: false`.
    let stores = continuity::client_stores(&request);
    let previous = take_previous(&mut request)?;
    let mut patched = patch::patch(request, &state.inner.rules)?;
    let store = &state.inner.store;
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
