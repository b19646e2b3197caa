//! The Responses WebSocket on `GET /v1/responses` and `GET /responses`
//! (PROTOCOL.md §8), on the same listeners as HTTP and behind the same
//! client key and boundary. Each client socket is bridged to a socket of
//! its own on the backend, opened at its first request, so that the
//! backend's per-connection state (`previous_response_id`, prewarm) works
//! as it does for a client talking to the backend directly. A backend that
//! refuses the upgrade gets the socket's requests over HTTP instead
//! ([`crate::turn::over_http`]).

mod session;
mod violations;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::bookkeeping::RequestId;
use crate::backend::socket::READ_BUFFER_BYTES;
use crate::error::{ApiError, Code, ErrorKind};

/// `GET` on the Responses path: a WebSocket handshake, or a clear refusal.
pub async fn upgrade(
    State(state): State<AppState>,
    id: Option<Extension<RequestId>>,
    uri: Uri,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let path = uri.path().to_owned();
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(_) if !headers.contains_key(header::UPGRADE) => return not_an_upgrade(&path),
        Err(rejection) => {
            return ApiError::invalid_request(format!(
                "the WebSocket handshake is not valid: {}",
                rejection.body_text()
            ))
            .into_response();
        }
    };
    let id = id.map_or_else(|| "ws".to_owned(), |Extension(RequestId(id))| id);
    let max = state.inner.pipeline.config.max_body_bytes;
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "the WebSocket upgrade failed"))
        .on_upgrade(move |socket: WebSocket| {
            session::Session::new(state, headers, id, path).run(socket)
        })
}

/// A plain `GET` on a path that takes `POST` or a WebSocket.
fn not_an_upgrade(path: &str) -> Response {
    let mut response = ApiError::own(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::InvalidRequest,
        Code::MethodNotAllowed,
        format!(
            "GET is not allowed on {path} except as a WebSocket upgrade (the Responses \
             WebSocket); send a request with POST"
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}
