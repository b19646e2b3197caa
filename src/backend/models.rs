//! The backend's model list (`GET {base}/models`), cached for
//! `models_cache_ttl` and revalidated with its ETag: the OpenAI-shaped list
//! clients get (with `list_effort_variants`, each model's `<model>-<effort>`
//! names too), the effort suffixes model names may carry, and, as a
//! [`Catalogue`], the backend model for an Anthropic name.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, StatusCode, header};
use bytes::Bytes;
use serde_json::{Value, json};

use super::Upstream;
use crate::dialect::messages::Catalogue;
use crate::error::ApiError;
use crate::models::aliases::{self, Efforts};
use crate::net;

/// After a failed fetch, how long Messages requests go on with the last
/// catalogue (or none) before the backend is asked again.
const CATALOGUE_RETRY: Duration = Duration::from_secs(30);

/// The last list the backend gave.
#[derive(Debug)]
pub struct Cache {
    entry: Mutex<Option<Entry>>,
    failed: Mutex<Option<Instant>>,
    ttl: Duration,
    list_effort_variants: bool,
}

#[derive(Debug, Clone)]
pub struct Entry {
    fetched: Instant,
    /// The client version the list was fetched for: the backend lists
    /// models by it, so another version is another list.
    client_version: String,
    etag: Option<HeaderValue>,
    /// The OpenAI-shaped list.
    pub body: Bytes,
    /// The backend's own answer, for the other shapes.
    pub raw: Arc<Value>,
    catalogue: Arc<Catalogue>,
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

impl Cache {
    /// Fetched for this client version within `models_cache_ttl`: a newer
    /// version (from `version.json` or a CLI client) refreshes the list.
    fn is_fresh(&self, entry: &Entry, version: &str) -> bool {
        entry.client_version == version && entry.fetched.elapsed() < self.ttl
    }

    /// An empty cache whose lists are fresh for `ttl`.
    pub fn new(ttl: Duration, list_effort_variants: bool) -> Self {
        Cache {
            entry: Mutex::default(),
            failed: Mutex::default(),
            ttl,
            list_effort_variants,
        }
    }
}

impl Cache {
    /// The backend's catalogue, for the Anthropic model map: the cached one,
    /// fetched when stale. A backend that cannot list its models does not
    /// stop a request: the last catalogue known (or an empty one) is used,
    /// and the backend is asked again after [`CATALOGUE_RETRY`]; a missing
    /// or refused login is not waited out, so the first request after a
    /// `codex login` maps its names again.
    pub async fn catalogue(&self, upstream: &Upstream) -> Arc<Catalogue> {
        let cached = self.entry.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let failed = *self.failed.lock().unwrap_or_else(|e| e.into_inner());
        let version = upstream.version.current().version;
        let fresh = cached.as_ref().is_some_and(|e| self.is_fresh(e, &version));
        let backing_off = failed.is_some_and(|at| at.elapsed() < CATALOGUE_RETRY);
        if fresh || backing_off {
            return cached.map(|e| e.catalogue).unwrap_or_default();
        }
        match self.fetch(upstream).await {
            Ok(entry) => entry.catalogue,
            Err(e) => {
                tracing::warn!(error = %e, "the model list for the Anthropic model map is unavailable");
                if e.status != StatusCode::UNAUTHORIZED {
                    *self.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                }
                cached.map(|e| e.catalogue).unwrap_or_default()
            }
        }
    }
}

impl Cache {
    /// The list: the cached one while fresh, else fetched (revalidated
    /// with its ETag).
    pub async fn fetch(&self, upstream: &Upstream) -> Result<Entry, ApiError> {
        let version = upstream.version.current().version;
        let cached = self
            .entry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|e| e.client_version == version);
        if let Some(entry) = &cached
            && self.is_fresh(entry, &version)
        {
            return Ok(entry.clone());
        }
        let etag = cached.as_ref().and_then(|e| e.etag.as_ref());
        // The list is asked for the version in use, read again there: should it
        // have moved on since, the next use sees the mismatch and asks again.
        let response = upstream.models(etag).await?;
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
                    ApiError::bad_gateway(format!(
                        "the model list broke off: {}",
                        net::describe(&e)
                    ))
                })?;
                let value: Value = serde_json::from_slice(&raw).map_err(|_| {
                    ApiError::bad_gateway("the Codex backend sent a model list that is not JSON")
                })?;
                let mut list = to_openai_list(&value).ok_or_else(|| {
                    ApiError::bad_gateway("the Codex backend sent a model list without `models`")
                })?;
                if self.list_effort_variants {
                    list = aliases::with_effort_variants(&list, &value);
                }
                Entry {
                    fetched: Instant::now(),
                    client_version: version,
                    etag,
                    body: Bytes::from(list.to_string()),
                    catalogue: Arc::new(Catalogue::from_backend(&value)),
                    efforts: Arc::new(Efforts::from_catalogue(&value)),
                    raw: Arc::new(value),
                }
            }
        };
        *self.entry.lock().unwrap_or_else(|e| e.into_inner()) = Some(entry.clone());
        *self.failed.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(entry)
    }
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
