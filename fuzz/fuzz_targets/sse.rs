//! The SSE path: bytes cut into arbitrary chunks, split into whole events,
//! parsed, and collected. Nothing may panic, and the events must not depend
//! on where the chunks were cut.
#![no_main]

use bytes::Bytes;
use codex_responses_proxy::sse::{self, Splitter};
use codex_responses_proxy::turn::collect::{Collector, Outcome};
use libfuzzer_sys::fuzz_target;

/// Large enough that the comparison is never cut short by the limit.
const NO_LIMIT: usize = 1 << 30;

/// The `(name, data)` of every event in `blocks`.
fn events_of(blocks: &[Bytes]) -> Vec<(Option<String>, String)> {
    blocks
        .iter()
        .flat_map(|b| {
            sse::events(b)
                .map(|e| (e.name.map(str::to_owned), e.data.into_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn feed(splitter: &mut Splitter, chunks: &[&[u8]]) -> Vec<Bytes> {
    chunks
        .iter()
        .filter_map(|c| {
            splitter
                .push(Bytes::copy_from_slice(c))
                .expect("no limit here")
        })
        .collect()
}

fuzz_target!(|input: &[u8]| {
    let Some((&cuts, stream)) = input.split_first() else {
        return;
    };
    // Cut the stream into chunks of 1..=16 bytes, the sizes taken from the
    // stream itself mixed with the first byte.
    let mut chunks = Vec::new();
    let mut rest = stream;
    let mut i = 0usize;
    while !rest.is_empty() {
        let size = ((rest[0] ^ cuts).wrapping_add(i as u8) % 16 + 1) as usize;
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        chunks.push(chunk);
        rest = tail;
        i += 1;
    }

    let whole = feed(&mut Splitter::new(NO_LIMIT), &[stream]);
    let mut chunked_splitter = Splitter::new(NO_LIMIT);
    let chunked = feed(&mut chunked_splitter, &chunks);
    assert_eq!(events_of(&whole), events_of(&chunked));

    // A small limit must fail cleanly, never panic.
    let mut small = Splitter::new(usize::from(cuts) + 1);
    for chunk in &chunks {
        if small.push(Bytes::copy_from_slice(chunk)).is_err() {
            break;
        }
    }
    let _ = chunked_splitter.has_partial();

    let mut collector = Collector::default();
    for block in &chunked {
        let outcome = collector.push_block(block);
        if let Some(Outcome::Finished(collected)) = &outcome {
            let text = collected.to_vec();
            assert!(
                serde_json::from_slice::<serde_json::Value>(&text).is_ok(),
                "the collected answer is not JSON: {}",
                String::from_utf8_lossy(&text)
            );
        }
        if outcome.is_some() {
            assert!(
                sse::has_terminal(block),
                "an answer ended without a terminal event"
            );
            return;
        }
    }
});
