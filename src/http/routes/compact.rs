//! `POST /v1/responses/compact`: the legacy compaction endpoint older Codex
//! CLIs call (PROTOCOL.md §9), patched for that endpoint, forwarded, and
//! its JSON answer handed back as it is.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::backend::Compacted;
use crate::error::ApiError;
use crate::http::{AppState, Summary, body};
use crate::patch;

pub async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    summary: &mut Summary,
) -> Result<Response, ApiError> {
    let request =
        body::read_json_object(headers, body, state.inner.pipeline.config.max_body_bytes).await?;
    let patched = patch::patch_compact(request, &state.inner.pipeline.rules)?;
    summary.model = patched
        .body
        .get("model")
        .and_then(|m| m.as_str())
        .map(str::to_owned);
    for change in &patched.changes {
        tracing::debug!(change = %change, "compaction patched");
    }
    let Compacted {
        body,
        headers: passed,
        upstream_id,
    } = state
        .inner
        .pipeline
        .upstream
        .compact(headers, &patched.body)
        .await?;
    summary.upstream_id = upstream_id;
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.extend(passed);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
