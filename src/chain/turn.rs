//! One turn on a conversation's socket: the request sent as a
//! `response.create` frame (whole, or only the new items after
//! `previous_response_id`), the backend's first frames read and held back
//! until the answer has begun (so that a turn the backend cannot continue,
//! or a socket that ends, is sent again before the client saw a byte), then
//! every frame passed on as the server-sent event HTTP would have carried,
//! into the same [`EventStream`] an HTTP call gives. When the answer ends,
//! the socket goes back to the conversation with what the next turn is
//! compared to.

use std::time::Duration;

use axum::http::HeaderMap;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::Sent;
use super::pool::{Held, Lease};
use super::rule::Pending;
use super::wire::{
    ChannelBody, CreateFrame, error_code, metadata_headers, push_event, turn_metadata,
};
use crate::backend::Opened;
use crate::backend::events::{EventStream, StreamError};
use crate::sse;

/// Frames between the socket and the client's stream: a few events of
/// slack, so a slow client slows the socket rather than filling memory.
const CHANNEL_FRAMES: usize = 32;

/// What became of sending a turn on a socket.
#[derive(Debug)]
pub(super) enum Attempt {
    /// The answer began: it can be handed on.
    Began(Box<Began>),
    /// The backend does not know the `previous_response_id` (it lost the
    /// socket's state): the socket is fine for the turn sent whole.
    NotFound(Held),
    /// The socket ended or broke before the answer began (its 60-minute
    /// limit among the reasons): a new socket may take the turn.
    Gone(String),
    /// The backend refused the turn, or did not answer in time: HTTP
    /// answers it, as it would have without the socket.
    Failed(String),
}

/// A turn whose answer began on its socket.
#[derive(Debug)]
pub(super) struct Began {
    held: Held,
    /// The events so far, as server-sent events.
    first: Vec<u8>,
    /// The headers HTTP would have answered with, from `response.metadata`.
    headers: HeaderMap,
    answer: Answer,
    /// The terminal event is among the first ones.
    ended: bool,
    sent: Sent,
}

/// Sends `body` (with `client`'s per-turn headers) on `held`'s socket, whole, or as its items from `start` on
/// after `previous` when `chained` is `Some((previous, start))`, and reads
/// until the answer begins.
pub(super) async fn send(
    mut held: Held,
    client: &HeaderMap,
    body: &Map<String, Value>,
    chained: Option<(&str, usize)>,
) -> Attempt {
    if let Err(e) = held.socket.check_limits() {
        return Attempt::Failed(e.message);
    }
    let frame = CreateFrame {
        body,
        chained,
        metadata: turn_metadata(client),
    };
    let text = match serde_json::to_string(&frame) {
        Ok(text) => text,
        Err(e) => return Attempt::Failed(e.to_string()),
    };
    let sent = Sent {
        incremental: chained.is_some(),
        bytes: text.len() as u64,
    };
    if let Err(e) = held.socket.send(text).await {
        return Attempt::Gone(e.to_string());
    }
    let mut first = Vec::new();
    let mut passed = HeaderMap::new();
    let mut answer = Answer::default();
    loop {
        let text = match held.socket.next(true).await {
            Ok(Some(text)) => text,
            Ok(None) => return Attempt::Gone(StreamError::ClosedEarly.to_string()),
            Err(e @ StreamError::Idle(_)) => return Attempt::Failed(e.to_string()),
            Err(e) => return Attempt::Gone(e.to_string()),
        };
        let text = text.as_str();
        let Some(kind) = sse::json_type(text) else {
            return Attempt::Failed("the backend sent a frame without a type".into());
        };
        match &*kind {
            "response.metadata" => metadata_headers(text, &mut passed),
            "response.created" | "response.in_progress" | "codex.rate_limits" => {
                answer.see(&kind, text);
                push_event(&mut first, &kind, text);
            }
            "error" => {
                return match error_code(text).as_deref() {
                    Some("previous_response_not_found") if chained.is_some() => {
                        Attempt::NotFound(held)
                    }
                    Some("websocket_connection_limit_reached") => {
                        Attempt::Gone("the backend ended the socket (its time limit)".into())
                    }
                    code => Attempt::Failed(format!(
                        "the backend answered the turn with an error ({})",
                        code.unwrap_or("no code")
                    )),
                };
            }
            _ => {
                answer.see(&kind, text);
                push_event(&mut first, &kind, text);
                let ended = sse::is_terminal(&kind);
                return Attempt::Began(Box::new(Began {
                    held,
                    first,
                    headers: passed,
                    answer,
                    ended,
                    sent,
                }));
            }
        }
    }
}

impl Began {
    /// The answer as an HTTP call gives it; the rest of its frames are
    /// passed on by a task that then gives the socket back to `lease`.
    pub(super) fn into_opened(
        self,
        lease: Lease,
        body: &Map<String, Value>,
        permit: OwnedSemaphorePermit,
        idle_timeout: Duration,
        max_event_bytes: usize,
    ) -> Opened {
        let Began {
            held,
            first,
            headers,
            answer,
            ended,
            sent,
        } = self;
        let upstream_id = held.socket.upstream_id.clone();
        let pending = Pending::of(body);
        let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
        if ended {
            finish(held, lease, answer, pending);
        } else {
            tokio::spawn(pump(held, lease, tx, answer, pending));
        }
        let body = ChannelBody::new(Bytes::from(first), rx);
        Opened {
            events: EventStream::new(reqwest::Body::wrap(body), idle_timeout, max_event_bytes),
            headers,
            upstream_id,
            permit,
            sent,
        }
    }
}

/// Passes the answer's frames on until its terminal event, then gives the
/// socket back. A socket that breaks, or a client that goes away, ends the
/// conversation's socket (the lease is dropped, which closes it): the
/// stream then ends without a terminal event, which the door reports as
/// it reports a broken HTTP stream.
async fn pump(
    mut held: Held,
    lease: Lease,
    tx: mpsc::Sender<Bytes>,
    mut answer: Answer,
    pending: Pending,
) {
    loop {
        let Ok(Some(text)) = held.socket.next(true).await else {
            return;
        };
        let text = text.as_str();
        let Some(kind) = sse::json_type(text) else {
            return;
        };
        if kind == "response.metadata" {
            continue;
        }
        answer.see(&kind, text);
        let mut event = Vec::with_capacity(text.len() + kind.len() + 16);
        push_event(&mut event, &kind, text);
        if tx.send(Bytes::from(event)).await.is_err() {
            return;
        }
        if sse::is_terminal(&kind) {
            finish(held, lease, answer, pending);
            return;
        }
    }
}

/// The answer ended: the socket goes back, with a base for the next turn
/// when the answer completed (after a failed or incomplete one, whole).
fn finish(mut held: Held, lease: Lease, answer: Answer, pending: Pending) {
    held.turns += 1;
    let base = answer.completed.then(|| {
        held.socket.answered();
        let mut items = answer.items;
        items.sort_by_key(|(index, _)| *index);
        let output = items.into_iter().map(|(_, item)| item).collect();
        pending.answered(output, answer.response_id.unwrap_or_default())
    });
    lease.give_back(held, base.filter(|b| !b.response_id.is_empty()));
}

/// What the next turn needs of an answer: its output items and its id.
#[derive(Debug, Default)]
struct Answer {
    items: Vec<(u64, Value)>,
    response_id: Option<String>,
    completed: bool,
}

#[derive(Deserialize)]
struct ItemDone {
    output_index: u64,
    item: Value,
}

#[derive(Deserialize)]
struct WithResponse {
    response: ResponseId,
}

#[derive(Deserialize)]
struct ResponseId {
    id: String,
}

impl Answer {
    fn see(&mut self, kind: &str, text: &str) {
        match kind {
            "response.output_item.done" => {
                if let Ok(done) = serde_json::from_str::<ItemDone>(text) {
                    self.items.push((done.output_index, done.item));
                }
            }
            "response.created" | "response.completed" => {
                if let Ok(with) = serde_json::from_str::<WithResponse>(text) {
                    self.response_id = Some(with.response.id);
                }
                self.completed = kind == "response.completed";
            }
            _ => {}
        }
    }
}
