//! `POST /v1/messages` and `POST /v1/messages/count_tokens`: Anthropic's
//! Messages API, for Claude Code and the Anthropic SDKs. A request is
//! translated to a Responses request, sent the same way as `/v1/responses`,
//! and its answer translated back, streamed or whole; every error, the
//! proxy's own included, is answered in Anthropic's shape and statuses.

mod overflow;
mod stream;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Map, Value};

use crate::dialect::messages::{
    self, Catalogue, ErrorType, MessagesError, StreamTranslator, Translated, translate_request,
};
use crate::http::{AppState, Summary, body, event_stream, with_summary};
use crate::patch::Patched;
use crate::turn::Pipeline;
use crate::turn::answer;

use self::overflow::Overflow;
use self::stream::AnthropicEvents;

pub async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    summary: &mut Summary,
) -> Result<Response, MessagesError> {
    let pipeline = state.pipeline();
    let request = body::read_json_object(headers, body, pipeline.config.max_body_bytes)
        .await
        .map_err(MessagesError::from)?;
    let (translated, patched, catalogue) = translate(pipeline, request).await?;
    summary.model = Some(translated.model.clone());
    summary.stream = translated.stream;
    let body = Arc::new(patched.body);
    let overflow = Overflow::new(&catalogue, &body);
    // The Messages API keeps nothing: every request may be chained.
    let opened = pipeline.open(headers, &body, &summary.meter, true).await;
    let mut opened = match opened {
        Ok(opened) => opened,
        Err(e) => return Err(overflow.error_for(e, MessagesError::from).await),
    };
    summary.upstream_id = opened.upstream_id.take();
    summary.sent = Some(opened.sent);
    if translated.stream {
        let mut translator = StreamTranslator::new(translated.model, translated.tool_names);
        let first = stream::opening(&mut opened.events, &mut translator, &overflow).await?;
        let writer = AnthropicEvents::new(translator, stream::PING_AFTER, overflow);
        let rest = answer::stream(opened.events, writer, opened.permit);
        let body = futures_util::stream::once(async { Ok(Bytes::from(first)) }).chain(rest);
        return Ok(event_stream(Body::from_stream(body), opened.headers));
    }
    let collected = match answer::collect(opened.events).await {
        Ok(collected) => collected,
        Err(e) => return Err(overflow.error_for(e, MessagesError::from).await),
    };
    drop(opened.permit);
    let message = messages::to_message(
        &collected.to_value(),
        &translated.model,
        &translated.tool_names,
    );
    let mut response = (StatusCode::OK, axum::Json(message)).into_response();
    response.headers_mut().extend(opened.headers);
    Ok(response)
}

/// The Responses request for a Messages one: the model resolved (the
/// Anthropic map, then `model_aliases`) and the backend's rules applied.
async fn translate(
    pipeline: &Pipeline,
    request: Map<String, Value>,
) -> Result<(Translated, Patched, Arc<Catalogue>), MessagesError> {
    let catalogue = pipeline.models.catalogue(&pipeline.upstream).await;
    let mut translated = translate_request(
        Value::Object(request),
        &pipeline.config.anthropic_models,
        &catalogue,
    )?;
    for field in &translated.dropped {
        tracing::debug!(field = %field, "messages field dropped");
    }
    let body = std::mem::take(&mut translated.body);
    let patched = pipeline.patch(body).map_err(MessagesError::from)?;
    let backend_model = patched.body.get("model").and_then(Value::as_str);
    tracing::debug!(
        model = %translated.model,
        backend_model = backend_model.unwrap_or("-"),
        "anthropic model resolved"
    );
    Ok((translated, patched, catalogue))
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
        let limit = state.pipeline().config.max_body_bytes;
        let request = body::read_json_object(&headers, body, limit)
            .await
            .map_err(MessagesError::from)?;
        summary.model = request
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let counting = state.clone();
        let counted = tokio::task::spawn_blocking(move || {
            messages::count_tokens(
                Value::Object(request),
                &counting.pipeline().config.anthropic_models,
                &Catalogue::default(),
            )
        })
        .await
        .map_err(|e| MessagesError::new(ErrorType::Api, format!("counting failed: {e}")))??;
        Ok(axum::Json(counted).into_response())
    }
    .await;
    with_summary::<MessagesError>(result, summary)
}
