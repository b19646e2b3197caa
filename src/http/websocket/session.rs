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
use bytes::Bytes;
use futures_util::SinkExt;
use tokio::sync::OwnedSemaphorePermit;

use super::violations::{self, Violation};
use crate::accounting::{Client, Meter};
use crate::backend::Sent;
use crate::backend::events::StreamError;
use crate::backend::socket::{BackendSocket, Opening};
use crate::backend::upstream::redacted;
use crate::error::ApiError;
use crate::http::bookkeeping::Record;
use crate::http::{Activity, AppState, Summary};
use crate::metrics::Route;
use crate::turn::frames::{self, ClientFrame, Create};
use crate::turn::over_http::HttpLink;

/// How this client socket reaches the backend.
#[derive(Debug)]
enum Link {
    /// Nothing open: opened at the next request.
    Closed,
    Socket(Box<BackendSocket>),
    /// The backend refused the upgrade: HTTP for the rest of this socket.
    Http(Box<HttpLink>),
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
    /// The model, and the backend's request id once known.
    summary: Summary,
    /// A place among the requests in flight, as an HTTP request holds one.
    permit: Option<OwnedSemaphorePermit>,
    /// The request, kept until the backend's socket answers it: a socket
    /// that ends before it does gets the request again on a new one.
    unanswered: Option<Create>,
}

/// Why a request did not go out.
#[derive(Debug)]
enum NotSent {
    /// The backend's socket had closed; a new one may take the request.
    Gone(StreamError),
    Refused(ApiError),
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
                    Some(Ok(message)) => self.on_client(message, &mut socket).await,
                    Some(Err(e)) => match Violation::of(&e) {
                        Some(violation) => violations::close(&mut socket, &violation).await,
                        // The client vanished.
                        None => ControlFlow::Break(()),
                    },
                    None => ControlFlow::Break(()),
                },
                from = self.link.next(in_turn) => self.on_backend(from, &mut socket).await,
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

    async fn on_client(&mut self, message: Message, socket: &mut WebSocket) -> ControlFlow<()> {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => return violations::close(socket, &Violation::Binary).await,
            Message::Close(_) => return ControlFlow::Break(()),
            // Pings are answered by the WebSocket layer.
            Message::Ping(_) | Message::Pong(_) => return ControlFlow::Continue(()),
        };
        let start = Instant::now();
        let pipeline = self.state.pipeline();
        let text = Bytes::from(text);
        match frames::read(text.clone(), |frame| pipeline.patch_raw(frame).map(drop)) {
            ClientFrame::Create(create) if self.turn.is_none() => {
                self.start(create, start, socket).await
            }
            ClientFrame::Create(_) => send(socket, frames::wrapped(&frames::in_progress())).await,
            ClientFrame::Refused(e) => send(socket, frames::wrapped(&e)).await,
            ClientFrame::Legacy | ClientFrame::Unknown(_)
                if matches!(self.link, Link::Socket(_)) =>
            {
                self.forward(text, socket).await
            }
            ClientFrame::Legacy => ControlFlow::Continue(()),
            ClientFrame::Unknown(kind) => {
                send(socket, frames::wrapped(&frames::unsupported(&kind))).await
            }
        }
    }

    /// Passes a frame that is not a request to the backend's socket.
    async fn forward(&mut self, text: Bytes, socket: &mut WebSocket) -> ControlFlow<()> {
        if let Link::Socket(backend) = &mut self.link
            && let Err(e) = backend.send_bytes(text).await
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
    async fn start(
        &mut self,
        create: Create,
        start: Instant,
        socket: &mut WebSocket,
    ) -> ControlFlow<()> {
        self.turns += 1;
        let mut turn = Turn {
            id: format!("{}.{}", self.id, self.turns),
            start,
            summary: Summary {
                model: create.model.clone(),
                stream: true,
                upstream_id: None,
                sent: None,
                meter: Meter::default().sent(&create.head),
            },
            permit: None,
            unanswered: None,
        };
        if self.state.inner.pipeline.config.debug
            && let Ok(body) = create.parsed()
        {
            tracing::debug!(body = %redacted(&body), "forwarding a WebSocket request");
        }
        let mut sent = self.send_request(&create, &mut turn).await;
        if let Err(NotSent::Gone(e)) = &sent {
            // The backend's socket closed since the last turn: a new one.
            tracing::debug!(error = %e, "the backend's socket had closed; opening another");
            sent = self.send_request(&create, &mut turn).await;
        } else if matches!(self.link, Link::Socket(_)) {
            turn.unanswered = Some(create);
        }
        self.sent(turn, sent, socket).await
    }

    /// The turn goes on if its request went out; else the client hears why.
    async fn sent(
        &mut self,
        turn: Turn,
        sent: Result<(), NotSent>,
        socket: &mut WebSocket,
    ) -> ControlFlow<()> {
        let e = match sent {
            Ok(()) => {
                self.turn = Some(turn);
                return ControlFlow::Continue(());
            }
            Err(NotSent::Gone(e)) => e.to_api_error(),
            Err(NotSent::Refused(e)) => e,
        };
        self.log_turn(turn, e.status.as_u16(), "refused");
        send(socket, frames::wrapped(&e)).await
    }

    /// Sends the request on the backend's socket (opened first if none is),
    /// or over HTTP when the backend refused the upgrade.
    async fn send_request(&mut self, create: &Create, turn: &mut Turn) -> Result<(), NotSent> {
        let inner = &self.state.inner;
        if matches!(self.link, Link::Closed) {
            let opening = inner
                .pipeline
                .sockets
                .open(&self.headers, &create.head)
                .await;
            self.link = match opening.map_err(NotSent::Refused)? {
                Opening::Open(backend) => Link::Socket(backend),
                Opening::Refused(status) => {
                    tracing::info!(
                        request_id = %turn.id,
                        status = status.as_u16(),
                        "serving this WebSocket over HTTP: the backend refused the upgrade"
                    );
                    Link::Http(Box::default())
                }
            };
        }
        match &mut self.link {
            Link::Socket(backend) => {
                backend.check_limits().map_err(NotSent::Refused)?;
                if turn.permit.is_none() {
                    turn.permit = Some(inner.pipeline.upstream.permit().map_err(NotSent::Refused)?);
                }
                turn.summary.upstream_id = backend.upstream_id.clone();
                turn.summary.sent = Some(Sent {
                    incremental: create.incremental,
                    bytes: create.text.len() as u64,
                });
                let sent = backend.send_bytes(create.text.clone()).await;
                if sent.is_err() {
                    self.link = Link::Closed;
                }
                sent.map_err(NotSent::Gone)
            }
            Link::Http(http) => {
                let started = http
                    .start(&inner.pipeline.upstream, &self.headers, create)
                    .await;
                turn.summary.upstream_id = started.map_err(NotSent::Refused)?;
                Ok(())
            }
            Link::Closed => Err(NotSent::Gone(StreamError::ClosedEarly)),
        }
    }

    async fn on_backend(&mut self, from: FromBackend, socket: &mut WebSocket) -> ControlFlow<()> {
        let e = match from {
            FromBackend::Frame(text) => {
                if let Some(turn) = &mut self.turn {
                    turn.unanswered = None;
                    turn.summary.meter.frame(text.as_str());
                }
                if let Some(status) = frames::turn_end(text.as_str())
                    && let Some(turn) = self.turn.take()
                {
                    if let (200, Link::Socket(backend)) = (status, &self.link) {
                        backend.answered();
                    }
                    self.log_turn(turn, status, "answered");
                }
                return socket_send(socket, Message::Text(text)).await;
            }
            FromBackend::Closed => StreamError::ClosedEarly,
            FromBackend::Failed(e) => e,
        };
        match std::mem::replace(&mut self.link, Link::Closed) {
            Link::Socket(backend) => {
                tokio::spawn(backend.close());
            }
            // Only this answer failed: the socket stays on HTTP.
            http @ Link::Http(_) => self.link = http,
            Link::Closed => {}
        }
        let Some(mut turn) = self.turn.take() else {
            // Between turns: the next request opens a new socket.
            tracing::debug!(error = %e, "the backend's socket ended between turns");
            return ControlFlow::Continue(());
        };
        // Gone before a word of the answer, as a socket closed since the
        // last turn can be: the request goes once more, on a new socket.
        if let Some(create) = turn.unanswered.take()
            && !matches!(e, StreamError::Idle(_))
        {
            tracing::debug!(error = %e, "the backend's socket ended before answering; opening another");
            let sent = self.send_request(&create, &mut turn).await;
            return self.sent(turn, sent, socket).await;
        }
        tracing::warn!(error = %e, "the answer from the backend ended abnormally");
        self.turn = Some(turn);
        self.fail_turn(&e.to_api_error(), socket).await
    }

    /// Ends the turn in flight with our own wrapped error.
    async fn fail_turn(&mut self, e: &ApiError, socket: &mut WebSocket) -> ControlFlow<()> {
        if let Some(turn) = self.turn.take() {
            self.log_turn(turn, e.status.as_u16(), "failed");
        }
        send(socket, frames::wrapped(e)).await
    }

    /// The turn's summary record and metrics, as an HTTP request's.
    fn log_turn(&self, turn: Turn, status: u16, end: &str) {
        Record {
            id: &turn.id,
            path: &self.path,
            route: Route::ResponsesWebSocket,
            transport: "websocket",
            client: Client::of(&self.headers),
            summary: &turn.summary,
            status,
            start: turn.start,
            end: Some(end),
        }
        .write(&self.state);
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
