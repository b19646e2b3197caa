//! A streamed Messages answer: upstream events translated into Anthropic's
//! as they arrive, a `ping` while the backend is silent (a model thinking
//! before its first word), and an `error` event when the upstream breaks
//! off. Dropping the stream (the client left) drops the upstream answer,
//! which closes its connection and so cancels it.

use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, Sleep};

use crate::backend::events::{EventStream, StreamError};
use crate::dialect::messages::{MessagesError, SseEvent, StreamTranslator};
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
}

/// Anthropic's event stream for an upstream answer, each event sent as soon
/// as it is made; it ends after `message_stop` or an `error` event.
pub fn anthropic_events<G: Send + 'static>(
    events: EventStream,
    translator: StreamTranslator,
    guard: G,
    ping_after: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let live = Live {
        events,
        translator,
        ping: Box::pin(tokio::time::sleep(ping_after)),
        ping_after,
        guard,
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
        let block = tokio::select! {
            biased;
            block = self.events.next_block() => block,
            () = &mut self.ping => return to_wire(&self.translator.ping()),
        };
        match block {
            Some(Ok(block)) => {
                let mut out = Vec::with_capacity(block.len() + block.len() / 2);
                for event in sse::events(&block) {
                    self.translator.on_event_json(&event.data, &mut out);
                }
                out
            }
            Some(Err(e)) => to_wire(&self.broken(&e)),
            None => to_wire(&self.broken(&StreamError::ClosedEarly)),
        }
    }

    fn broken(&mut self, e: &StreamError) -> Vec<SseEvent> {
        tracing::warn!(error = %e, "upstream stream ended abnormally");
        let api = e.to_api_error();
        let error = MessagesError::from_status(api.status, Some(e.code()), e.to_string());
        self.translator.finish_with_error(&error)
    }
}

/// Events as `event:` / `data:` frames, in one buffer.
fn to_wire(events: &[SseEvent]) -> Vec<u8> {
    let mut out = Vec::with_capacity(events.len() * 128);
    for event in events {
        event.write_to(&mut out);
    }
    out
}
