//! One client socket, start to end: its frames read while a turn plays, one
//! turn at a time; the backend's socket opened at the first request and
//! again after it closed; the backend's frames passed on in order, each
//! flushed; our own failures as wrapped `error` frames; one summary line
//! per turn; and the socket counted as activity while it is open.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use axum::http::HeaderMap;
use futures_util::SinkExt;
use serde_json::{Map, Value};
use tokio::sync::OwnedSemaphorePermit;

use super::fallback::HttpLink;
use super::frames::{self, ClientFrame};
use crate::error::ApiError;
use crate::http::{Activity, AppState};
use crate::proxy::relay::StreamError;
use crate::proxy::socket::{BackendSocket, Opening};
use crate::proxy::upstream::redacted;

/// How this client socket reaches the backend.
#[derive(Debug)]
enum Link {
    /// Nothing open: opened at the next request.
    Closed,
    Socket(BackendSocket),
    /// The backend refused the upgrade: HTTP for the rest of this socket.
    Http(HttpLink),
}

/// What the backend side produced.
#[derive(Debug)]
enum FromBackend {
    Frame(Utf8Bytes),
    /// The backend closed its socket.
    Closed,
    Failed(StreamError),
}

impl Link {
    async fn next(&mut self, in_turn: bool) -> FromBackend {
        match self {
            Link::Socket(socket) => match socket.next(in_turn).await {
                // The text was checked once already: this only rewraps it.
                Ok(Some(text)) => match Utf8Bytes::try_from(bytes::Bytes::from(text)) {
                    Ok(text) => FromBackend::Frame(text),
                    Err(e) => FromBackend::Failed(StreamError::Broken(e.to_string())),
                },
                Ok(None) => FromBackend::Closed,
                Err(e) => FromBackend::Failed(e),
            },
            Link::Http(http) if in_turn => match http.next().await {
                Some(Ok(text)) => FromBackend::Frame(text.into()),
                Some(Err(e)) => FromBackend::Failed(e),
                None => FromBackend::Failed(StreamError::ClosedEarly),
            },
            Link::Http(_) | Link::Closed => std::future::pending().await,
        }
    }
}

/// A request being answered.
#[derive(Debug)]
struct Turn {
    id: String,
    start: Instant,
    model: Option<String>,
    upstream_id: Option<String>,
    /// A place among the requests in flight, as an HTTP request holds one.
    _permit: Option<OwnedSemaphorePermit>,
}

/// Holds an open socket as one request in flight, for idle exit.
struct Open(Arc<Activity>);

impl Open {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.begin();
        Open(activity.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.end();
    }
}

#[derive(Debug)]
pub(super) struct Session {
    state: AppState,
    /// The client's handshake headers, read as an HTTP request's are.
    headers: HeaderMap,
    id: String,
    path: String,
    link: Link,
    turn: Option<Turn>,
    turns: u64,
}

impl Session {
    pub(super) fn new(state: AppState, headers: HeaderMap, id: String, path: String) -> Self {
        Session {
            state,
            headers,
            id,
            path,
            link: Link::Closed,
            turn: None,
            turns: 0,
        }
    }

    pub(super) async fn run(mut self, mut socket: WebSocket) {
        let _open = Open::new(self.state.activity());
        loop {
            let in_turn = self.turn.is_some();
            let flow = tokio::select! {
                message = socket.recv() => match message {
                    Some(Ok(message)) => self.from_client(message, &mut socket).await,
                    // The client vanished.
                    Some(Err(_)) | None => ControlFlow::Break(()),
                },
                from = self.link.next(in_turn) => self.from_backend(from, &mut socket).await,
            };
            if flow.is_break() {
                break;
            }
        }
        if let Some(turn) = self.turn.take() {
            self.log_turn(turn, 499, "the client left");
        }
        if let Link::Socket(backend) = std::mem::replace(&mut self.link, Link::Closed) {
            backend.close().await;
        }
        let _ = socket.close().await;
    }

    async fn from_client(&mut self, message: Message, socket: &mut WebSocket) -> ControlFlow<()> {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                let e = ApiError::invalid_request("Binary frames are not supported");
                return send(socket, frames::wrapped(&e)).await;
            }
            Message::Close(_) => return ControlFlow::Break(()),
            // Pings are answered by the WebSocket layer.
            Message::Ping(_) | Message::Pong(_) => return ControlFlow::Continue(()),
        };
        match frames::read(text.as_str(), &self.state.inner.rules) {
            ClientFrame::Create(body) if self.turn.is_none() => self.start(body, socket).await,
            ClientFrame::Create(_) => send(socket, frames::wrapped(&frames::in_progress())).await,
            ClientFrame::Refused(e) => send(socket, frames::wrapped(&e)).await,
            ClientFrame::Legacy | ClientFrame::Unknown(_)
                if matches!(self.link, Link::Socket(_)) =>
            {
                self.forward(text.as_str().to_owned(), socket).await
            }
            ClientFrame::Legacy => ControlFlow::Continue(()),
            ClientFrame::Unknown(kind) => {
                send(socket, frames::wrapped(&frames::unsupported(&kind))).await
            }
        }
    }

    /// Passes a frame that is not a request to the backend's socket.
    async fn forward(&mut self, text: String, socket: &mut WebSocket) -> ControlFlow<()> {
        if let Link::Socket(backend) = &mut self.link
            && let Err(e) = backend.send(text).await
        {
            tracing::debug!(error = %e, "the backend's socket broke between turns");
            self.link = Link::Closed;
            if self.turn.is_some() {
                return self.fail_turn(&e.to_api_error(), socket).await;
            }
        }
        ControlFlow::Continue(())
    }

    /// Starts a turn for a patched `response.create`.
    async fn start(&mut self, body: Map<String, Value>, socket: &mut WebSocket) -> ControlFlow<()> {
        self.turns += 1;
        let model = body.get("model").and_then(Value::as_str).map(str::to_owned);
        let mut turn = Turn {
            id: format!("{}.{}", self.id, self.turns),
            start: Instant::now(),
            model,
            upstream_id: None,
            _permit: None,
        };
        if self.state.inner.config.debug {
            tracing::debug!(body = %redacted(&body), "forwarding a WebSocket request");
        }
        match self.begin(body, &mut turn).await {
            Ok(()) => {
                self.turn = Some(turn);
                ControlFlow::Continue(())
            }
            Err(e) => {
                self.log_turn(turn, e.status.as_u16(), "refused");
                send(socket, frames::wrapped(&e)).await
            }
        }
    }

    /// Sends the request on its way: on the backend's socket (opened if
    /// need be, and once more if it turns out to have closed), or over HTTP.
    async fn begin(&mut self, body: Map<String, Value>, turn: &mut Turn) -> Result<(), ApiError> {
        let inner = &self.state.inner;
        for attempt in 0..2 {
            if matches!(self.link, Link::Closed) {
                self.link = match inner.sockets.open(&self.headers, &body).await? {
                    Opening::Open(backend) => Link::Socket(backend),
                    Opening::Refused(status) => {
                        tracing::info!(
                            request_id = %turn.id,
                            status = status.as_u16(),
                            "serving this WebSocket over HTTP: the backend refused the upgrade"
                        );
                        Link::Http(HttpLink::default())
                    }
                };
            }
            match &mut self.link {
                Link::Socket(backend) => {
                    turn._permit = Some(inner.upstream.permit()?);
                    turn.upstream_id = backend.upstream_id.clone();
                    let text = serde_json::to_string(&body).map_err(|e| {
                        ApiError::invalid_request(format!("the request could not be encoded: {e}"))
                    })?;
                    match backend.send(text).await {
                        Ok(()) => return Ok(()),
                        // Closed since the last turn: a new socket, once.
                        Err(_) if attempt == 0 => self.link = Link::Closed,
                        Err(e) => return Err(e.to_api_error()),
                    }
                }
                Link::Http(http) => {
                    turn.upstream_id = http.start(&inner.upstream, &self.headers, body).await?;
                    return Ok(());
                }
                Link::Closed => {}
            }
        }
        Err(StreamError::ClosedEarly.to_api_error())
    }

    async fn from_backend(&mut self, from: FromBackend, socket: &mut WebSocket) -> ControlFlow<()> {
        match from {
            FromBackend::Frame(text) => {
                if let Some(status) = frames::turn_end(text.as_str())
                    && let Some(turn) = self.turn.take()
                {
                    self.log_turn(turn, status, "answered");
                }
                socket_send(socket, Message::Text(text)).await
            }
            FromBackend::Closed => {
                // Between turns, the next request opens a new socket.
                self.link = Link::Closed;
                if self.turn.is_none() {
                    return ControlFlow::Continue(());
                }
                let e = StreamError::ClosedEarly;
                tracing::warn!(error = %e, "the backend's socket closed mid-turn");
                self.fail_turn(&e.to_api_error(), socket).await
            }
            FromBackend::Failed(e) => {
                match std::mem::replace(&mut self.link, Link::Closed) {
                    Link::Socket(backend) => {
                        tokio::spawn(backend.close());
                    }
                    // Only this answer failed: the socket stays on HTTP.
                    http @ Link::Http(_) => self.link = http,
                    Link::Closed => {}
                }
                if self.turn.is_none() {
                    tracing::debug!(error = %e, "the backend's socket broke between turns");
                    return ControlFlow::Continue(());
                }
                tracing::warn!(error = %e, "the answer from the backend ended abnormally");
                self.fail_turn(&e.to_api_error(), socket).await
            }
        }
    }

    /// Ends the turn in flight with our own wrapped error.
    async fn fail_turn(&mut self, e: &ApiError, socket: &mut WebSocket) -> ControlFlow<()> {
        if let Some(turn) = self.turn.take() {
            self.log_turn(turn, e.status.as_u16(), "failed");
        }
        send(socket, frames::wrapped(e)).await
    }

    /// The summary line of a turn, as an HTTP request's.
    fn log_turn(&self, turn: Turn, status: u16, end: &str) {
        let ms = turn.start.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            request_id = %turn.id,
            path = %self.path,
            model = turn.model.as_deref().unwrap_or("-"),
            stream = true,
            status,
            duration_ms = (ms * 1000.0).round() / 1000.0,
            upstream_request_id = turn.upstream_id.as_deref().unwrap_or("-"),
            transport = "websocket",
            end,
            "request finished"
        );
    }
}

/// Sends one text frame to the client; a client that is gone ends the session.
async fn send(socket: &mut WebSocket, text: String) -> ControlFlow<()> {
    socket_send(socket, Message::Text(text.into())).await
}

async fn socket_send(socket: &mut WebSocket, message: Message) -> ControlFlow<()> {
    match socket.send(message).await {
        Ok(()) => ControlFlow::Continue(()),
        Err(_) => ControlFlow::Break(()),
    }
}
