//! The compressed-body decoder: any bytes as zstd or gzip, pushed in
//! arbitrary pieces, are decoded or refused without a panic and never past
//! the limit, and the result does not depend on where the pieces were cut;
//! any bytes compressed as the daemon forwards them decode to themselves.
#![no_main]

use codex_responses_proxy::compression::{self, Decoder, Encoding};
use libfuzzer_sys::fuzz_target;

/// Small, so that bombs and bodies just over the limit are found quickly.
const LIMIT: usize = 64 * 1024;

fn decode(encoding: Encoding, pieces: &[&[u8]]) -> Option<Vec<u8>> {
    let mut decoder = Decoder::new(encoding, LIMIT).expect("a decoder");
    for piece in pieces {
        decoder.push(piece).ok()?;
    }
    decoder.finish().ok()
}

fuzz_target!(|input: &[u8]| {
    // The first byte picks the encoding and where the body is cut in two.
    let Some((&first, body)) = input.split_first() else {
        return;
    };
    let encoding = if first & 1 == 0 {
        Encoding::Zstd
    } else {
        Encoding::Gzip
    };
    let cut = usize::from(first >> 1).min(body.len());
    let whole = decode(encoding, &[body]);
    if let Some(decoded) = &whole {
        assert!(decoded.len() <= LIMIT);
    }
    let (head, tail) = body.split_at(cut);
    assert_eq!(decode(encoding, &[head, tail]), whole, "depends on the cut");

    if body.len() <= LIMIT {
        let compressed = compression::zstd(body).expect("zstd compresses");
        assert_eq!(
            decode(Encoding::Zstd, &[&compressed]).as_deref(),
            Some(body)
        );
    }
});
