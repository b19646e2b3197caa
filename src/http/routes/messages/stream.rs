//! A streamed Messages answer: upstream events translated into Anthropic's
//! as they arrive, a `ping` while the backend is silent (a model thinking
//! before its first word), and an `error` event when the upstream breaks
//! off; driven by [`crate::turn::answer::stream`]. A context overflow is
//! told in Anthropic's words ([`Overflow`]): as a 400 when it comes before
//! the answer has begun ([`opening`]), else as the stream's `error` event.

use std::time::Duration;

use bytes::Bytes;

use super::overflow::Overflow;
use crate::backend::events::{EventStream, StreamError};
use crate::dialect::messages::{MessagesError, SseEvent, StreamTranslator, overflow};
use crate::sse;
use crate::turn::answer::Writer;

/// Silence after which the client gets a `ping`: clients and the proxies in
/// between may give up on a connection that says nothing for long.
pub const PING_AFTER: Duration = Duration::from_secs(3);

/// Reads the backend's first events, up to the first that is not its
/// preamble (`response.created`, `response.in_progress`, limits) or for
/// [`PING_AFTER`] at most (then with the `ping` the silence calls for), so
/// that a request refused for its size (which the backend fails at once) is
/// answered with a 400 rather than a stream. The events read are
/// translated; their output goes out first.
pub async fn opening(
    events: &mut EventStream,
    translator: &mut StreamTranslator,
    overflow: &Overflow,
) -> Result<Vec<u8>, MessagesError> {
    let mut out = Vec::new();
    let deadline = tokio::time::sleep(PING_AFTER);
    tokio::pin!(deadline);
    while !translator.is_finished() {
        let block = tokio::select! {
            biased;
            block = events.next_block() => block,
            () = &mut deadline => {
                out.extend(to_wire(&translator.ping()));
                break;
            }
        };
        let block = match block {
            Some(Ok(block)) => block,
            Some(Err(e)) => return Ok(to_wire(&broken(translator, &e))),
            None => return Ok(to_wire(&broken(translator, &StreamError::ClosedEarly))),
        };
        let mut begun = false;
        for event in sse::events(&block) {
            if let Some(backend) = overflow::failure_in(&event.data) {
                return Err(overflow.told(backend).await);
            }
            begun |= !is_preamble(&event.data);
            translator.on_event_json(&event.data, &mut out);
        }
        if begun {
            break;
        }
    }
    Ok(out)
}

/// Events the backend sends before it starts answering.
fn is_preamble(data: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(borrow, rename = "type")]
        kind: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Kind<'_>>(data).is_ok_and(|k| {
        matches!(
            k.kind.as_ref(),
            "response.created" | "response.in_progress" | "codex.rate_limits"
        )
    })
}

/// The Messages door's writer.
#[derive(Debug)]
pub struct AnthropicEvents {
    translator: StreamTranslator,
    ping_after: Duration,
    overflow: Overflow,
}

impl AnthropicEvents {
    pub fn new(translator: StreamTranslator, ping_after: Duration, overflow: Overflow) -> Self {
        AnthropicEvents {
            translator,
            ping_after,
            overflow,
        }
    }
}

impl Writer for AnthropicEvents {
    async fn block(&mut self, block: Bytes) -> Bytes {
        let mut out = Vec::with_capacity(block.len() + block.len() / 2);
        for event in sse::events(&block) {
            if let Some(backend) = overflow::failure_in(&event.data) {
                let told = self.overflow.told(backend).await;
                out.extend(to_wire(&self.translator.finish_with_error(&told)));
                break;
            }
            self.translator.on_event_json(&event.data, &mut out);
        }
        Bytes::from(out)
    }

    fn failed(&mut self, e: &StreamError) -> Bytes {
        to_wire(&error_events(&mut self.translator, e)).into()
    }

    fn finished(&self) -> bool {
        self.translator.is_finished()
    }

    fn ping(&mut self) -> Bytes {
        to_wire(&self.translator.ping()).into()
    }

    fn ping_after(&self) -> Option<Duration> {
        Some(self.ping_after)
    }
}

/// The `error` event that ends a stream the upstream broke off.
fn error_events(translator: &mut StreamTranslator, e: &StreamError) -> Vec<SseEvent> {
    let api = e.to_api_error();
    let error = MessagesError::from_status(api.status, Some(e.code()), e.to_string());
    translator.finish_with_error(&error)
}

/// As [`error_events`], logged: for a break the driver did not see.
fn broken(translator: &mut StreamTranslator, e: &StreamError) -> Vec<SseEvent> {
    tracing::warn!(error = %e, "upstream stream ended abnormally");
    error_events(translator, e)
}

/// Events as `event:` / `data:` frames, in one buffer.
fn to_wire(events: &[SseEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len() * 128);
    for event in events {
        event.write_to(&mut out);
    }
    out
}
