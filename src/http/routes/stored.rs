//! Stored responses as the public API serves them: `GET /v1/responses/{id}`,
//! `GET /v1/responses/{id}/input_items`, `DELETE /v1/responses/{id}`, and
//! `POST /v1/responses/{id}/cancel`, refused (nothing runs in the background).
//! Reasoning content is left out unless `include` asks for it, as on the
//! request that made the response.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{ApiError, ErrorKind};
use crate::http::AppState;
use crate::store::continuity::{ENCRYPTED_REASONING, strip_encrypted_reasoning};
use crate::store::{ListQuery, Order};

/// The query string as pairs; a repeated key (`include[]`) stays repeated.
type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

pub async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Pairs,
) -> Response {
    match stored_response(&state, &id, query).await {
        Ok(response) => Json(response).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn stored_response(state: &AppState, id: &str, query: Pairs) -> Result<Value, ApiError> {
    let params = Params::read(query)?;
    if params.stream {
        return Err(ApiError::invalid_request(
            "`stream=true` is not supported when retrieving a stored response: \
             retrieve it without `stream` to get the whole object",
        )
        .with_param("stream"));
    }
    let stored = state
        .inner
        .pipeline
        .store
        .get(id)
        .await
        .map_err(ApiError::from)?;
    let mut response = stored.ok_or_else(|| not_found(id))?.response;
    if !params.list.encrypted_reasoning {
        strip_encrypted_reasoning(&mut response);
    }
    Ok(response)
}

pub async fn input_items(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Pairs,
) -> Response {
    let page = match Params::read(query) {
        Ok(params) => {
            state
                .inner
                .pipeline
                .store
                .input_items(&id, params.list)
                .await
        }
        Err(e) => return e.into_response(),
    };
    match page {
        Ok(Some(page)) => Json(page.to_json()).into_response(),
        Ok(None) => not_found(&id).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.inner.pipeline.store.delete(&id).await {
        Ok(true) => Json(json!({"id": id, "object": "response", "deleted": true})).into_response(),
        Ok(false) => not_found(&id).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

pub async fn cancel(Path(id): Path<String>) -> ApiError {
    ApiError::invalid_request(format!(
        "Response '{id}' cannot be cancelled: only background responses can be, and this \
         proxy runs none in the background (send `background: false`, the default)"
    ))
}

/// The public API's answer for an id it does not hold.
fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorKind::InvalidRequest,
        None,
        format!("Response with id '{id}' not found."),
    )
}

/// The query parameters the retrieval routes take.
#[derive(Debug, Default)]
struct Params {
    list: ListQuery,
    stream: bool,
}

impl Params {
    fn read(query: Pairs) -> Result<Params, ApiError> {
        let Query(pairs) = query.map_err(|e| ApiError::invalid_request(e.body_text()))?;
        let mut params = Params::default();
        for (key, value) in pairs {
            match key.as_str() {
                "include" | "include[]" => {
                    params.list.encrypted_reasoning |= value == ENCRYPTED_REASONING;
                }
                "limit" => {
                    params.list.limit = value.parse().map_err(|_| {
                        ApiError::invalid_request(format!(
                            "`limit` must be an integer from 1 to 100, not {value:?}"
                        ))
                        .with_param("limit")
                    })?;
                }
                "order" => {
                    params.list.order = match value.as_str() {
                        "asc" => Order::Asc,
                        "desc" => Order::Desc,
                        _ => {
                            return Err(ApiError::invalid_request(format!(
                                "`order` must be `asc` or `desc`, not {value:?}"
                            ))
                            .with_param("order"));
                        }
                    }
                }
                "after" => params.list.after = Some(value),
                "before" => params.list.before = Some(value),
                "stream" => params.stream = value == "true",
                // Other parameters of the public API (starting_after and
                // the like) change nothing here.
                _ => {}
            }
        }
        Ok(params)
    }
}
