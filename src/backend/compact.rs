//! The legacy compaction endpoint, `POST {base}/responses/compact`
//! (PROTOCOL.md §9): one JSON answer rather than an event stream. Older
//! Codex CLIs call it, and treat a 404 there as fatal; the current one
//! compacts through `/responses` instead, which needs nothing of its own.

use std::time::Duration;

use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value};

use super::upstream::{Upstream, encode_failed, redacted};
use crate::backend::headers;
use crate::error::ApiError;
use crate::wire::Outgoing;

/// The backend sends nothing while it summarizes a long history, so no
/// idle timeout can apply; this bounds a call that never ends.
const COMPACT_TIMEOUT: Duration = Duration::from_secs(600);

/// The backend's answer to a compaction.
#[derive(Debug)]
pub struct Compacted {
    /// The JSON answer (`{"output": [...]}`) as the backend sent it.
    pub body: Bytes,
    /// Headers to hand back to the client (rate limits, request ids).
    pub headers: HeaderMap,
    pub upstream_id: Option<String>,
}

impl Upstream {
    /// `POST {base}/responses/compact` with a patched body (no `stream` or
    /// `store`: the endpoint refuses them), with the same credentials,
    /// headers, 401 retry and error mapping as [`Upstream::stream`].
    pub async fn compact(
        &self,
        client_headers: &HeaderMap,
        body: &Map<String, Value>,
    ) -> Result<Compacted, ApiError> {
        if self.debug {
            tracing::debug!(body = %redacted(body), "forwarding a compaction");
        }
        let _permit = self.permit()?;
        let mut url = self.responses_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.push("compact");
        }
        let forwarded = headers::to_backend(client_headers, body, &self.version);
        let json = serde_json::to_vec(body).map_err(|e| encode_failed(&e))?;
        let encoded = self.encode(Outgoing::json(json))?;
        let response = self
            .post(&url, &encoded, |request| {
                request
                    .timeout(COMPACT_TIMEOUT)
                    .headers(forwarded.clone())
                    .header(header::ACCEPT, "application/json")
            })
            .await?;
        check_json(&response)?;
        let mut passed = HeaderMap::new();
        headers::pass_back(response.headers(), &mut passed);
        let upstream_id = headers::request_id(response.headers()).map(str::to_owned);
        let body = read_capped(response, self.max_event_bytes).await?;
        Ok(Compacted {
            body,
            headers: passed,
            upstream_id,
        })
    }
}

/// A success that is not JSON is a backend we do not understand.
fn check_json(response: &reqwest::Response) -> Result<(), ApiError> {
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if content_type.is_some_and(|ct| ct.trim_start().starts_with("application/json")) {
        return Ok(());
    }
    Err(ApiError::bad_gateway(format!(
        "the Codex backend answered a compaction {} with {} instead of JSON",
        response.status().as_u16(),
        content_type.unwrap_or("no content type")
    )))
}

/// The answer's body, of at most `limit` bytes (one answer holds no more
/// than one event of a stream may: `max_event_bytes`).
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() > limit => {
                return Err(ApiError::bad_gateway(format!(
                    "the Codex backend's compaction is larger than max_event_bytes ({limit} bytes)"
                )));
            }
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Ok(body.freeze()),
            Err(e) => {
                return Err(ApiError::bad_gateway(format!(
                    "the Codex backend's compaction could not be read: {}",
                    crate::net::describe(&e)
                )));
            }
        }
    }
}
