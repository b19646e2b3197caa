//! `POST /v1/messages` and `POST /v1/messages/count_tokens`: Anthropic's
//! Messages API, for Claude Code and the Anthropic SDKs. A request is
//! translated to a Responses request, sent the same way as `/v1/responses`,
//! and its answer translated back, streamed or whole; every error, the
//! proxy's own included, is answered in Anthropic's shape and statuses.

mod stream;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::backend::{Opened, events as relay};
use crate::dialect::messages::{
    self, Catalogue, ErrorType, MessagesError, StreamTranslator, Translated, translate_request,
};
use crate::error::ApiError;
use crate::http::{AppState, Summary, body, event_stream};
use crate::patch::{self, Patched};

/// The proxy's own refusal when it forwards as many requests as it may:
/// Anthropic clients back off and retry an overload.
const AT_CAPACITY: &str = "too_many_requests_in_flight";

pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let mut summary = Summary::default();
    let result = handle(&state, &headers, body, &mut summary).await;
    with_summary(result, summary)
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    summary: &mut Summary,
) -> Result<Response, MessagesError> {
    let inner = &state.inner;
    let request = body::read_json_object(headers, body, inner.config.max_body_bytes)
        .await
        .map_err(from_api)?;
    let (translated, patched) = translate(state, request).await?;
    summary.model = Some(translated.model.clone());
    summary.stream = translated.stream;
    let Opened {
        events,
        headers: passed,
        permit,
        upstream_id,
    } = inner
        .upstream
        .stream(headers, &patched.body)
        .await
        .map_err(from_api)?;
    summary.upstream_id = upstream_id;
    if translated.stream {
        let translator = StreamTranslator::new(translated.model, translated.tool_names);
        let body = Body::from_stream(stream::anthropic_events(
            events,
            translator,
            permit,
            stream::PING_AFTER,
        ));
        return Ok(event_stream(body, passed));
    }
    let collected = relay::collect(events).await;
    drop(permit);
    let message = messages::to_message(
        &collected.map_err(from_api)?.to_value(),
        &translated.model,
        &translated.tool_names,
    );
    let mut response = (StatusCode::OK, axum::Json(message)).into_response();
    response.headers_mut().extend(passed);
    Ok(response)
}

/// The Responses request for a Messages one: the model resolved (the
/// Anthropic map, then `model_aliases`) and the backend's rules applied.
async fn translate(
    state: &AppState,
    request: Map<String, Value>,
) -> Result<(Translated, Patched), MessagesError> {
    let inner = &state.inner;
    let catalogue = inner.models.catalogue(state).await;
    let mut translated = translate_request(
        Value::Object(request),
        &inner.config.anthropic_models,
        &catalogue,
    )?;
    for field in &translated.dropped {
        tracing::debug!(field = %field, "messages field dropped");
    }
    state.resolve_model(&mut translated.body);
    let body = std::mem::take(&mut translated.body);
    let patched = patch::patch(body, &inner.rules).map_err(from_api)?;
    let backend_model = patched.body.get("model").and_then(Value::as_str);
    tracing::debug!(
        model = %translated.model,
        backend_model = backend_model.unwrap_or("-"),
        "anthropic model resolved"
    );
    Ok((translated, patched))
}

/// `{"input_tokens": N}`, an estimate counted on a blocking thread (the
/// tokenizer is CPU work, and its first use loads its tables). The count does
/// not depend on the model, so the backend's catalogue is not fetched.
pub async fn count_tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut summary = Summary::default();
    let result = async {
        let limit = state.inner.config.max_body_bytes;
        let request = body::read_json_object(&headers, body, limit)
            .await
            .map_err(from_api)?;
        summary.model = request
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let counting = state.clone();
        let counted = tokio::task::spawn_blocking(move || {
            messages::count_tokens(
                Value::Object(request),
                &counting.inner.config.anthropic_models,
                &Catalogue::default(),
            )
        })
        .await
        .map_err(|e| MessagesError::new(ErrorType::Api, format!("counting failed: {e}")))??;
        Ok(axum::Json(counted).into_response())
    }
    .await;
    with_summary(result, summary)
}

/// Whether `path` is one of Anthropic's routes, answered in its error shape.
pub fn is_messages_path(path: &str) -> bool {
    path == "/v1/messages" || path.starts_with("/v1/messages/")
}

/// An error of the proxy or the backend in Anthropic's terms: a backend
/// overload, or the proxy at its limit of requests in flight, is a 529.
pub fn from_api(e: ApiError) -> MessagesError {
    let error = if e.code.as_deref() == Some(AT_CAPACITY) {
        MessagesError::new(ErrorType::Overloaded, e.message)
    } else {
        MessagesError::from_status(e.status, e.code.as_deref(), e.message)
    };
    error.with_retry_after(e.retry_after)
}

/// `{"type":"error","error":{"type","message"}}` with its status and, for a
/// limit, `retry-after`.
pub fn error_response(e: MessagesError) -> Response {
    let mut response = (e.status, axum::Json(e.body())).into_response();
    if let Some(secs) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn with_summary(result: Result<Response, MessagesError>, summary: Summary) -> Response {
    let mut response = result.unwrap_or_else(error_response);
    response.extensions_mut().insert(summary);
    response
}
