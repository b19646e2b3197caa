//! A streamed Messages answer: upstream events translated into Anthropic's
//! as they arrive, a `ping` while the backend is silent (a model thinking
//! before its first word), and an `error` event when the upstream breaks
//! off; driven by [`crate::turn::answer::stream`].

use std::time::Duration;

use bytes::Bytes;

use crate::backend::events::StreamError;
use crate::dialect::messages::{MessagesError, SseEvent, StreamTranslator};
use crate::sse;
use crate::turn::answer::Writer;

/// Silence after which the client gets a `ping`: clients and the proxies in
/// between may give up on a connection that says nothing for long.
pub const PING_AFTER: Duration = Duration::from_secs(3);

/// The Messages door's writer.
#[derive(Debug)]
pub struct AnthropicEvents {
    translator: StreamTranslator,
    ping_after: Duration,
}

impl AnthropicEvents {
    pub fn new(translator: StreamTranslator, ping_after: Duration) -> Self {
        AnthropicEvents {
            translator,
            ping_after,
        }
    }
}

impl Writer for AnthropicEvents {
    async fn block(&mut self, block: Bytes) -> Bytes {
        let mut out = Vec::with_capacity(block.len() + block.len() / 2);
        for event in sse::events(&block) {
            self.translator.on_event_json(&event.data, &mut out);
        }
        Bytes::from(out)
    }

    fn failed(&mut self, e: &StreamError) -> Bytes {
        let api = e.to_api_error();
        let error = MessagesError::from_status(api.status, Some(e.code()), e.to_string());
        to_wire(&self.translator.finish_with_error(&error))
    }

    fn finished(&self) -> bool {
        self.translator.is_finished()
    }

    fn ping(&mut self) -> Bytes {
        to_wire(&self.translator.ping())
    }

    fn ping_after(&self) -> Option<Duration> {
        Some(self.ping_after)
    }
}

/// Events as `event:` / `data:` frames, in one buffer.
fn to_wire(events: &[SseEvent]) -> Bytes {
    let mut out = Vec::with_capacity(events.len() * 128);
    for event in events {
        event.write_to(&mut out);
    }
    Bytes::from(out)
}
