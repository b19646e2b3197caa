//! A streamed Messages answer: upstream events translated into Anthropic's
//! as they arrive, a `ping` while the backend is silent (a model thinking
//! before its first word), and an `error` event when the upstream breaks
//! off. Dropping the stream (the client left) drops the upstream answer,
//! which closes its connection and so cancels it. A context overflow is
//! told in Anthropic's words ([`Overflow`]): as a 400 when it comes before
//! the answer has begun ([`opening`]), else as the stream's `error` event.

use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, Sleep};

use crate::dialect::messages::{MessagesError, SseEvent, StreamTranslator, overflow};
use crate::http::overflow::Overflow;
use crate::proxy::relay::{EventStream, StreamError};
use crate::sse;

/// Silence after which the client gets a `ping`: clients and the proxies in
/// between may give up on a connection that says nothing for long.
pub const PING_AFTER: Duration = Duration::from_secs(3);

/// One live stream: the upstream events, their translator, the ping timer
/// (moved on by every event sent) and `guard`, held until the stream ends.
struct Live<G> {
    events: EventStream,
    translator: StreamTranslator,
    ping: Pin<Box<Sleep>>,
    ping_after: Duration,
    guard: G,
    /// Events the opening already translated, sent first.
    first: Vec<u8>,
    overflow: Overflow,
}

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

/// Anthropic's event stream for an upstream answer, each event sent as soon
/// as it is made; it ends after `message_stop` or an `error` event.
pub fn anthropic_events<G: Send + 'static>(
    events: EventStream,
    translator: StreamTranslator,
    guard: G,
    ping_after: Duration,
    (first, overflow): (Vec<u8>, Overflow),
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let live = Live {
        events,
        translator,
        ping: Box::pin(tokio::time::sleep(ping_after)),
        ping_after,
        guard,
        first,
        overflow,
    };
    futures_util::stream::unfold(Some(live), |state| async move {
        let mut live = state?;
        loop {
            let bytes = Bytes::from(live.next_events().await);
            if live.translator.is_finished() {
                let Live { events, guard, .. } = live;
                events.finish();
                drop(guard);
                return (!bytes.is_empty()).then_some((Ok(bytes), None));
            }
            live.ping.as_mut().reset(Instant::now() + live.ping_after);
            if !bytes.is_empty() {
                return Some((Ok(bytes), Some(live)));
            }
        }
    })
}

impl<G> Live<G> {
    /// The events of the next upstream block, a ping if the timer ran out
    /// first, or the `error` that ends a broken stream, as wire bytes.
    async fn next_events(&mut self) -> Vec<u8> {
        if !self.first.is_empty() {
            return std::mem::take(&mut self.first);
        }
        let block = tokio::select! {
            biased;
            block = self.events.next_block() => block,
            () = &mut self.ping => return to_wire(&self.translator.ping()),
        };
        match block {
            Some(Ok(block)) => {
                let mut out = Vec::with_capacity(block.len() + block.len() / 2);
                for event in sse::events(&block) {
                    if let Some(backend) = overflow::failure_in(&event.data) {
                        let told = self.overflow.told(backend).await;
                        out.extend(to_wire(&self.translator.finish_with_error(&told)));
                        break;
                    }
                    self.translator.on_event_json(&event.data, &mut out);
                }
                out
            }
            Some(Err(e)) => to_wire(&broken(&mut self.translator, &e)),
            None => to_wire(&broken(&mut self.translator, &StreamError::ClosedEarly)),
        }
    }
}

/// The `error` event that ends a stream the upstream broke off.
fn broken(translator: &mut StreamTranslator, e: &StreamError) -> Vec<SseEvent> {
    tracing::warn!(error = %e, "upstream stream ended abnormally");
    let api = e.to_api_error();
    let error = MessagesError::from_status(api.status, Some(e.code()), e.to_string());
    translator.finish_with_error(&error)
}

/// Events as `event:` / `data:` frames, in one buffer.
fn to_wire(events: &[SseEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len() * 128);
    for event in events {
        event.write_to(&mut out);
    }
    out
}
