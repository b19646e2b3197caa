//! One driver for every streamed answer: it reads the upstream's blocks of
//! events, hands each to the door's [`Writer`] (the Responses passthrough,
//! the Chat chunk writer, the Messages event writer), says something while
//! the backend is silent when the door wants that, ends the stream after
//! the terminal event or with the door's own error when the upstream breaks
//! off, and hands the upstream connection back. Or it collects the events
//! into one Responses object. Dropping the stream (the client left) drops
//! the upstream answer, which closes its connection and so cancels it.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, Sleep};

use super::collect::{Collected, Collector, Outcome};
use super::finish::Finish;
use crate::backend::events::{EventStream, StreamError};
use crate::backend::refusal::map_failure;
use crate::error::ApiError;

/// How a door writes one answer's events for its client.
pub trait Writer: Send + 'static {
    /// The client's bytes for one block of whole upstream events.
    fn block(&mut self, block: Bytes) -> impl Future<Output = Bytes> + Send;

    /// The client's last bytes when the upstream failed or closed before
    /// the answer was finished.
    fn failed(&mut self, e: &StreamError) -> Bytes;

    /// Whether the answer is complete: nothing more is read or sent.
    fn finished(&self) -> bool;

    /// What to send after the backend was silent for [`Writer::ping_after`].
    fn ping(&mut self) -> Bytes {
        Bytes::new()
    }

    /// How long a silence may last before [`Writer::ping`]; `None`: never.
    fn ping_after(&self) -> Option<Duration> {
        None
    }
}

/// One live answer: the upstream events, the door's writer, the ping timer
/// (moved on by every block sent) and `guard`, held until the stream ends.
struct Live<W, G> {
    events: EventStream,
    writer: W,
    ping: Option<Pin<Box<Sleep>>>,
    guard: G,
    /// The upstream broke off: its connection is closed, not handed back.
    broken: bool,
}

/// The client's stream for an upstream answer, each block written as soon
/// as it arrives; it ends after the writer is finished.
pub fn stream<W: Writer, G: Send + 'static>(
    events: EventStream,
    writer: W,
    guard: G,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send {
    let ping = writer
        .ping_after()
        .map(|after| Box::pin(tokio::time::sleep(after)));
    let live = Live {
        events,
        writer,
        ping,
        guard,
        broken: false,
    };
    futures_util::stream::unfold(Some(live), |state| async move {
        let mut live = state?;
        loop {
            // A writer may be finished before the first block (the door read
            // the answer's opening itself).
            let bytes = if live.writer.finished() {
                Bytes::new()
            } else {
                live.next_bytes().await
            };
            if live.writer.finished() {
                let Live {
                    events,
                    guard,
                    broken,
                    ..
                } = live;
                if !broken {
                    events.finish();
                }
                drop(guard);
                return (!bytes.is_empty()).then_some((Ok(bytes), None));
            }
            if let (Some(ping), Some(after)) = (&mut live.ping, live.writer.ping_after()) {
                ping.as_mut().reset(Instant::now() + after);
            }
            if !bytes.is_empty() {
                return Some((Ok(bytes), Some(live)));
            }
        }
    })
}

impl<W: Writer, G> Live<W, G> {
    /// The next block as the client's bytes, a ping if the timer ran out
    /// first, or the door's error for a broken stream.
    async fn next_bytes(&mut self) -> Bytes {
        let block = match &mut self.ping {
            Some(ping) => tokio::select! {
                biased;
                block = self.events.next_block() => block,
                () = ping.as_mut() => return self.writer.ping(),
            },
            None => self.events.next_block().await,
        };
        match block {
            Some(Ok(block)) => self.writer.block(block).await,
            Some(Err(e)) => self.broken(&e),
            None if self.writer.finished() => Bytes::new(),
            None => self.broken(&StreamError::ClosedEarly),
        }
    }

    fn broken(&mut self, e: &StreamError) -> Bytes {
        tracing::warn!(error = %e, "upstream stream ended abnormally");
        self.broken = true;
        self.writer.failed(e)
    }
}

/// The Responses door's writer: events passed through as they arrive, with
/// a [`Collector`] reading them on the way (most events by their `event:`
/// line alone). The terminal event is held back until
/// [`Finish::terminal_block`] has rebuilt its response (the backend sends
/// `output: []`) and committed it when it is kept; a final `error` event
/// says why when the upstream vanishes first.
#[derive(Debug)]
pub struct Passthrough {
    collector: Collector,
    finish: Option<Finish>,
}

impl Passthrough {
    pub fn new(finish: Finish) -> Self {
        Passthrough {
            collector: Collector::default(),
            finish: Some(finish),
        }
    }
}

impl Writer for Passthrough {
    async fn block(&mut self, block: Bytes) -> Bytes {
        let outcome = self.collector.push_block(&block);
        let Some(finish) = self.finish.take() else {
            return Bytes::new();
        };
        match outcome {
            None => {
                let block = finish.event_block(block);
                self.finish = Some(finish);
                block
            }
            Some(Outcome::Finished(response)) => finish.terminal_block(&block, response).await,
            Some(Outcome::Failed(_)) => finish.event_block(block),
        }
    }

    fn failed(&mut self, e: &StreamError) -> Bytes {
        self.finish = None;
        e.to_event()
    }

    fn finished(&self) -> bool {
        self.finish.is_none()
    }
}

/// Reads the whole stream into one Responses object, or the error it ended with.
pub async fn collect(mut events: EventStream) -> Result<Collected, ApiError> {
    let mut collector = Collector::default();
    while let Some(block) = events.next_block().await {
        let block = block.map_err(|e| e.to_api_error())?;
        match collector.push_block(&block) {
            Some(Outcome::Finished(response)) => {
                events.finish();
                return Ok(response);
            }
            Some(Outcome::Failed(error)) => {
                events.finish();
                return Err(map_failure(&error));
            }
            None => {}
        }
    }
    Err(StreamError::ClosedEarly.to_api_error())
}
