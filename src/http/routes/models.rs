//! `GET /v1/models`: the backend's model list in OpenAI's list shape, or in
//! Anthropic's when the request carries `anthropic-version`.

use axum::Extension;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::dialect::messages::MessagesError;
use crate::http::AppState;
use crate::metrics::Dialect;

/// The list in the dialect the request's route was given (`anthropic-version`
/// asks for Anthropic's).
pub async fn list(
    State(state): State<AppState>,
    Extension(dialect): Extension<Dialect>,
) -> Response {
    let pipeline = state.pipeline();
    let entry = match pipeline.models.fetch(&pipeline.upstream).await {
        Ok(entry) => entry,
        Err(e) if dialect == Dialect::Messages => return MessagesError::from(e).into_response(),
        Err(e) => return e.into_response(),
    };
    if dialect == Dialect::Messages {
        return axum::Json(to_anthropic_list(&entry.raw)).into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], entry.body).into_response()
}

/// The listed models in Anthropic's shape: `{"data":[{type, id,
/// display_name, created_at}], has_more, first_id, last_id}`, one page. The
/// backend gives no dates, so `created_at` is the Unix epoch.
pub fn to_anthropic_list(upstream: &Value) -> Value {
    let models = upstream.get("models").and_then(Value::as_array);
    let data: Vec<Value> = models
        .into_iter()
        .flatten()
        .filter(|m| m.get("visibility").and_then(Value::as_str) == Some("list"))
        .filter(|m| m.get("supported_in_api").and_then(Value::as_bool) != Some(false))
        .filter_map(|m| {
            let slug = m.get("slug").and_then(Value::as_str)?;
            let name = m
                .get("display_name")
                .and_then(Value::as_str)
                .unwrap_or(slug);
            Some(json!({"type": "model", "id": slug, "display_name": name,
                        "created_at": "1970-01-01T00:00:00Z"}))
        })
        .collect();
    let id = |m: Option<&Value>| m.map_or(Value::Null, |m| m["id"].clone());
    json!({"first_id": id(data.first()), "last_id": id(data.last()),
           "has_more": false, "data": data})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_models_are_offered_in_anthropic_shape() {
        let upstream = json!({"models": [
            {"slug": "gpt-5", "display_name": "GPT-5", "visibility": "list"},
            {"slug": "hidden", "visibility": "hide"},
            {"slug": "gpt-5-codex", "visibility": "list"},
        ]});
        assert_eq!(
            to_anthropic_list(&upstream),
            json!({"data": [
                {"type": "model", "id": "gpt-5", "display_name": "GPT-5", "created_at": "1970-01-01T00:00:00Z"},
                {"type": "model", "id": "gpt-5-codex", "display_name": "gpt-5-codex", "created_at": "1970-01-01T00:00:00Z"},
            ], "has_more": false, "first_id": "gpt-5", "last_id": "gpt-5-codex"})
        );
        assert_eq!(
            to_anthropic_list(&json!({"models": []})),
            json!({"data": [], "has_more": false, "first_id": null, "last_id": null})
        );
    }
}
