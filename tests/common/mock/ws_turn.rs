//! What one socket of the mock remembers and how it answers a frame
//! (PROTOCOL.md §8): `response.create` checked by the HTTP body rules,
//! `previous_response_id` resolved against the previous response of this
//! socket only, prewarm, compaction, and the scripted [`WsAnswer`]s.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::Message;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::body::{self, check_responses_body};
use super::events::{self, wrapped_error, wrapped_invalid};
use super::http::TURN_STATE;
use super::ws::{Received, WsAnswer, WsFrame};
use super::{MockState, Route, Seen};

/// What the socket loop does next.
pub(super) enum Reply {
    Nothing,
    /// Send this frame now; no turn starts.
    Frame(Value),
    Turn(Turn),
}

pub(super) enum Step {
    Send(Value),
    Close { code: u16, reason: &'static str },
    Vanish,
}

/// The frames of one answer still to go, each after its pause.
pub(super) struct Turn {
    steps: VecDeque<(Duration, Step)>,
    next_at: Instant,
    /// The answer ends without a terminal event: the turn stays in flight.
    stall: bool,
}

impl Turn {
    fn new(steps: Vec<(Duration, Step)>, stall: bool) -> Self {
        let mut turn = Turn {
            steps: steps.into(),
            next_at: Instant::now(),
            stall,
        };
        turn.next_at += turn
            .steps
            .front()
            .map_or(Duration::ZERO, |(pause, _)| *pause);
        turn
    }

    pub(super) fn due(&self) -> Option<Instant> {
        (!self.steps.is_empty()).then_some(self.next_at)
    }

    pub(super) fn next_step(&mut self) -> Option<Step> {
        let (_, step) = self.steps.pop_front()?;
        let pause = self
            .steps
            .front()
            .map_or(Duration::ZERO, |(pause, _)| *pause);
        self.next_at = Instant::now() + pause;
        Some(step)
    }

    pub(super) fn finished(&self) -> bool {
        self.steps.is_empty() && !self.stall
    }
}

/// The response a later `previous_response_id` may name, with the whole
/// conversation up to and including its output.
struct Previous {
    id: String,
    history: Vec<Value>,
}

pub(super) struct Connection {
    state: Arc<MockState>,
    id: usize,
    headers: HeaderMap,
    previous: Option<Previous>,
    responses: usize,
}

impl Connection {
    pub(super) fn new(state: Arc<MockState>, id: usize, headers: HeaderMap) -> Self {
        Connection {
            state,
            id,
            headers,
            previous: None,
            responses: 0,
        }
    }

    /// Records `message` and says what to do about it: `None` when the
    /// client closes; `busy` while a turn is in flight.
    pub(super) fn reply(&mut self, message: Message, busy: bool) -> Option<Reply> {
        self.record(&message);
        Some(match message {
            Message::Text(text) => self.handle(text.as_str(), busy),
            Message::Binary(_) => {
                Reply::Frame(wrapped_invalid(None, "Binary frames are not supported"))
            }
            Message::Close(_) => return None,
            // Pings are answered by the WebSocket layer itself.
            Message::Ping(_) | Message::Pong(_) => Reply::Nothing,
        })
    }

    fn record(&self, message: &Message) {
        let message = match message {
            Message::Text(text) => match serde_json::from_str(text.as_str()) {
                Ok(value) => Received::Json(value),
                Err(_) => Received::Text(text.as_str().to_owned()),
            },
            Message::Binary(data) => Received::Binary(data.to_vec()),
            Message::Ping(data) => Received::Ping(data.to_vec()),
            Message::Pong(data) => Received::Pong(data.to_vec()),
            Message::Close(frame) => Received::Close(frame.as_ref().map(|f| f.code)),
        };
        let frame = WsFrame {
            connection: self.id,
            message,
        };
        self.state.ws.frames.lock().unwrap().push(frame);
    }

    fn handle(&mut self, text: &str, busy: bool) -> Reply {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            return Reply::Frame(wrapped_invalid(None, "Invalid JSON"));
        };
        match frame["type"].as_str() {
            Some("response.create") => self.create(frame, busy, text),
            // Frames of older clients: tolerated, recorded, unanswered.
            Some("response.append" | "response.processed") => Reply::Nothing,
            other => Reply::Frame(wrapped_invalid(
                None,
                &format!("Unsupported message type: {}", other.unwrap_or("none")),
            )),
        }
    }

    fn create(&mut self, frame: Value, busy: bool, text: &str) -> Reply {
        self.state.ws.creates.fetch_add(1, Ordering::SeqCst);
        if self.state.ws.forget.swap(false, Ordering::SeqCst) {
            self.previous = None;
        }
        let input = frame["input"].as_array().cloned().unwrap_or_default();
        let history = match frame["previous_response_id"].as_str() {
            None => Ok(input.clone()),
            Some(id) => match &self.previous {
                Some(previous) if previous.id == id => {
                    Ok([previous.history.clone(), input.clone()].concat())
                }
                _ => Err(events::previous_not_found(id)),
            },
        };
        let sent = frame["client_metadata"][TURN_STATE]
            .as_str()
            .map(str::to_owned);
        self.state.seen.lock().unwrap().push(Seen {
            route: Route::WebSocket {
                connection: self.id,
            },
            headers: self.headers.clone(),
            body: frame.clone(),
            encoding: None,
            raw: axum::body::Bytes::copy_from_slice(text.as_bytes()),
            history: history.clone().unwrap_or_else(|_| input.clone()),
            turn_state: sent.clone(),
            bytes: text.len(),
        });
        if busy {
            self.state.ws.overlapping.fetch_add(1, Ordering::SeqCst);
            return Reply::Frame(wrapped_invalid(
                Some("response_in_progress"),
                "A response is already in progress on this connection.",
            ));
        }
        // Whatever follows, this request replaces the state of the last one.
        self.previous = None;
        let refusal = check_responses_body(&frame).or_else(|| {
            history
                .as_ref()
                .ok()
                .and_then(|h| self.state.check_compactions(h))
        });
        if let Some(refusal) = refusal {
            let error = json!({"type": "invalid_request_error", "message": refusal.message});
            return Reply::Frame(wrapped_error(refusal.status.as_u16(), error));
        }
        let history = match history {
            Ok(history) => history,
            Err(frame) => return Reply::Frame(frame),
        };
        let mut steps = self.preamble(&frame, sent.as_deref());
        let stall = self.answer(&frame, history, &mut steps);
        Reply::Turn(Turn::new(steps, stall))
    }

    /// The frames before the answer: `response.metadata` with the turn
    /// state, and the configured `codex.rate_limits`.
    fn preamble(&self, frame: &Value, sent: Option<&str>) -> Vec<(Duration, Step)> {
        let turn_state = self.state.turn_state(sent);
        let mut steps = Vec::new();
        if !self.state.ws.skip_metadata.load(Ordering::SeqCst) {
            let headers = json!({TURN_STATE: turn_state, "openai-model": frame["model"]});
            let metadata = json!({"type": "response.metadata", "headers": headers});
            steps.push((Duration::ZERO, Step::Send(metadata)));
        }
        if let Some(limits) = self.state.rate_limits_event.lock().unwrap().clone() {
            steps.push((Duration::ZERO, Step::Send(limits)));
        }
        steps
    }

    /// Appends the answer's steps, keeping what a later
    /// `previous_response_id` may name; true when the answer stalls.
    fn answer(
        &mut self,
        frame: &Value,
        history: Vec<Value>,
        steps: &mut Vec<(Duration, Step)>,
    ) -> bool {
        self.responses += 1;
        let id = format!("resp_ws_{}_{}", self.id, self.responses);
        let answer = if frame["generate"] == Value::Bool(false) {
            WsAnswer::Events {
                events: events::prewarm_answer(&id),
                pace: Duration::ZERO,
            }
        } else if self
            .state
            .overflows(&json!({"model": frame["model"], "input": history,
                                                "instructions": frame["instructions"]}))
        {
            WsAnswer::Events {
                events: self.state.overflow_events(),
                pace: Duration::ZERO,
            }
        } else if body::asks_compaction(&history) {
            let item = self.state.issue_compaction(history.len());
            WsAnswer::Events {
                events: events::compaction_answer(&id, &item),
                pace: Duration::ZERO,
            }
        } else {
            self.state.next_ws_answer(&id)
        };
        let sends = |events: Vec<Value>, pace: Duration| {
            events.into_iter().map(move |e| (pace, Step::Send(e)))
        };
        match answer {
            WsAnswer::Events { events, pace } => {
                if let Some(id) = events::completed_id(&events) {
                    let output = events::output_items(&events);
                    let history = [history, output].concat();
                    self.previous = Some(Previous { id, history });
                }
                steps.extend(sends(events, pace));
            }
            WsAnswer::Stall { events } => {
                steps.extend(sends(events, Duration::ZERO));
                return true;
            }
            WsAnswer::Close { events } => {
                steps.extend(sends(events, Duration::ZERO));
                let reason = "the mock closed the socket mid-turn";
                steps.push((Duration::ZERO, Step::Close { code: 1011, reason }));
            }
            WsAnswer::Vanish { events } => {
                steps.extend(sends(events, Duration::ZERO));
                // Let the events go out before the connection breaks.
                steps.push((Duration::from_millis(50), Step::Vanish));
            }
            WsAnswer::Error { frame, close } => {
                steps.push((Duration::ZERO, Step::Send(frame)));
                if close {
                    let reason = "connection limit reached";
                    steps.push((Duration::ZERO, Step::Close { code: 1000, reason }));
                }
            }
        }
        false
    }
}

impl MockState {
    fn next_ws_answer(&self, response_id: &str) -> WsAnswer {
        if let Some(events) = self.next_any_answer() {
            return WsAnswer::Events {
                events,
                pace: Duration::ZERO,
            };
        }
        self.ws
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .or_else(|| self.ws.default_answer.lock().unwrap().clone())
            .unwrap_or_else(|| {
                let text = self.ws.default_text.lock().unwrap().clone();
                let (text, pieces) = text.unwrap_or(("Hello from the mock.".to_owned(), 4));
                WsAnswer::Events {
                    events: events::text_answer_as(response_id, &text, pieces),
                    pace: Duration::ZERO,
                }
            })
    }
}
