//! `GET /v1/models`: the backend's model list in OpenAI's list shape, kept
//! for `models_cache_ttl` and revalidated with its ETag; with
//! `list_effort_variants`, each model's `<model>-<effort>` names too. The
//! catalogue also tells which effort suffixes the model names may carry.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::AppState;
use crate::error::ApiError;
use crate::models::aliases::{self, Efforts};
use crate::net;

/// The last list the backend gave.
#[derive(Debug, Default)]
pub struct Cache {
    entry: Mutex<Option<Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    fetched: Instant,
    etag: Option<HeaderValue>,
    body: Bytes,
    /// The effort suffixes and model names of the catalogue behind `body`.
    efforts: Arc<Efforts>,
}

static BUILTIN_EFFORTS: LazyLock<Arc<Efforts>> = LazyLock::new(Arc::default);

impl Cache {
    /// The effort suffixes model names may carry: the built-in ones until
    /// the catalogue has been fetched (it is not fetched for this: a request
    /// does not wait for a model list), then also the catalogue's.
    pub fn efforts(&self) -> Arc<Efforts> {
        let entry = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        match entry.as_ref() {
            Some(entry) => entry.efforts.clone(),
            None => BUILTIN_EFFORTS.clone(),
        }
    }
}

impl Cache {
    /// How long ago the list was fetched or revalidated; `None` before the first.
    pub fn age(&self) -> Option<std::time::Duration> {
        self.entry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|e| e.fetched.elapsed())
    }
}

pub async fn list(State(state): State<AppState>) -> Response {
    match fetch(&state).await {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn fetch(state: &AppState) -> Result<Bytes, ApiError> {
    let inner = &state.inner;
    let cached = inner
        .models
        .entry
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(entry) = &cached
        && entry.fetched.elapsed() < inner.config.models_cache_ttl
    {
        return Ok(entry.body.clone());
    }
    let etag = cached.as_ref().and_then(|e| e.etag.as_ref());
    let response = inner.upstream.models(etag).await?;
    let entry = match (response.status(), cached) {
        (StatusCode::NOT_MODIFIED, Some(mut entry)) => {
            entry.fetched = Instant::now();
            entry
        }
        (StatusCode::NOT_MODIFIED, None) => {
            return Err(ApiError::bad_gateway(
                "the Codex backend answered 304 to a model list request without an ETag",
            ));
        }
        _ => {
            let etag = response.headers().get(header::ETAG).cloned();
            let raw = response.bytes().await.map_err(|e| {
                ApiError::bad_gateway(format!("the model list broke off: {}", net::describe(&e)))
            })?;
            let value: Value = serde_json::from_slice(&raw).map_err(|_| {
                ApiError::bad_gateway("the Codex backend sent a model list that is not JSON")
            })?;
            let mut list = to_openai_list(&value).ok_or_else(|| {
                ApiError::bad_gateway("the Codex backend sent a model list without `models`")
            })?;
            if inner.config.list_effort_variants {
                list = aliases::with_effort_variants(&list, &value);
            }
            Entry {
                fetched: Instant::now(),
                etag,
                body: Bytes::from(list.to_string()),
                efforts: Arc::new(Efforts::from_catalogue(&value)),
            }
        }
    };
    let body = entry.body.clone();
    *inner.models.entry.lock().unwrap_or_else(|e| e.into_inner()) = Some(entry);
    Ok(body)
}

/// `{"models":[{slug, visibility, supported_in_api, …}]}` to OpenAI's
/// `{"object":"list","data":[{id, object, created, owned_by}]}`, keeping the
/// models a client may pick (`visibility == "list"`, not marked unsupported).
pub fn to_openai_list(upstream: &Value) -> Option<Value> {
    let models = upstream.get("models")?.as_array()?;
    let data: Vec<Value> = models
        .iter()
        .filter(|m| m.get("visibility").and_then(Value::as_str) == Some("list"))
        .filter(|m| m.get("supported_in_api").and_then(Value::as_bool) != Some(false))
        .filter_map(|m| m.get("slug").and_then(Value::as_str))
        .map(|slug| json!({"id": slug, "object": "model", "created": 0, "owned_by": "openai"}))
        .collect();
    Some(json!({"object": "list", "data": data}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_models_are_offered_in_openai_shape() {
        let upstream = json!({"models": [
            {"slug": "gpt-5", "visibility": "list", "supported_in_api": true},
            {"slug": "hidden", "visibility": "hide", "supported_in_api": true},
            {"slug": "no-api", "visibility": "list", "supported_in_api": false},
            {"slug": "gpt-5-codex", "visibility": "list"},
        ]});
        assert_eq!(
            to_openai_list(&upstream).unwrap(),
            json!({"object": "list", "data": [
                {"id": "gpt-5", "object": "model", "created": 0, "owned_by": "openai"},
                {"id": "gpt-5-codex", "object": "model", "created": 0, "owned_by": "openai"},
            ]})
        );
        assert_eq!(to_openai_list(&json!({"detail": "x"})), None);
    }
}
