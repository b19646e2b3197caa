//! A long request body compressed in blocks, each block once per
//! conversation rather than once per turn.
//!
//! Over HTTP every turn of a conversation carries its whole history, and
//! the next turn's body is the previous one's bytes up to where the
//! history grew (the input list gains items at its end; what precedes it
//! is unchanged). So the body is cut into fixed-size blocks from its start,
//! each compressed as a zstd frame of its own, and the frames of whole
//! blocks are kept in a bounded cache under a hash of the block's bytes: a
//! turn compresses only the blocks from where it differs from the turns
//! before it, and copies the rest. Concatenated frames are one valid zstd
//! body (RFC 8878 §3.1: its content is the concatenation of the frames').
//!
//! The hash is xxh3-128 seeded with a random secret of the process, so a
//! block cannot be made to collide with another one without knowing it.

use std::io;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use lru::LruCache;
use ring::rand::SecureRandom;
use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::compression;

/// The block size, as the store's: small enough that a turn recompresses
/// little beyond what it added (half a block on average, about 0.1 ms
/// here), large enough that the frames compress nearly as well as the
/// whole body in one. On a coding agent's history 64 KiB blocks come within
/// 12 % of one frame (256 KiB blocks: 5 %): on a 20 Mbit/s uplink 6 ms of a
/// 1 MiB turn's 101 ms, against about 0.3 ms of CPU per turn that 256 KiB
/// blocks cost, a sixth of what the proxy added to such a turn.
pub const BLOCK: usize = 64 * 1024;

/// The compressed bytes the cache keeps at most: the histories of a few
/// dozen long conversations.
const BUDGET: usize = 8 * 1024 * 1024;

/// Most frames the cache holds (its bound in entries; the budget binds first).
const MAX_FRAMES: usize = 4096;

/// The compressor of bodies, with its cache of block frames. One per
/// daemon, shared by every request.
#[derive(Debug)]
pub struct Blocks {
    seed: u64,
    cache: Mutex<Cache>,
}

#[derive(Debug)]
struct Cache {
    frames: LruCache<u128, Bytes>,
    bytes: usize,
}

impl Default for Blocks {
    fn default() -> Self {
        Self::new()
    }
}

impl Blocks {
    pub fn new() -> Self {
        let mut seed = [0u8; 8];
        // Without the system's randomness the seed is the clock's: still
        // unknown to a client, which is what the seed is for.
        if ring::rand::SystemRandom::new().fill(&mut seed).is_err() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            seed = (now as u64).to_le_bytes();
        }
        Blocks {
            seed: u64::from_le_bytes(seed),
            cache: Mutex::new(Cache {
                frames: LruCache::new(NonZeroUsize::MIN.saturating_add(MAX_FRAMES - 1)),
                bytes: 0,
            }),
        }
    }

    /// `json` as zstd at the official client's level: one frame when it is
    /// no longer than a block, else one frame per block, the whole blocks'
    /// taken from the cache when an earlier body had them.
    pub fn compress(&self, json: &[u8]) -> io::Result<Bytes> {
        self.compress_around(json, None).map(|(zstd, _)| zstd)
    }

    /// [`Blocks::compress`], the blocks cut from the start of `input` (the
    /// `input` list's place in `json`) and again from its end, so that the
    /// frames before and after the list (instructions, tools) and those of
    /// its earlier items come from the cache turn after turn, and only the
    /// list's last block is new. Also gives the list's own frames, which
    /// are its blocks compressed one by one as the store keeps them.
    pub fn compress_around(
        &self,
        json: &[u8],
        input: Option<Range<usize>>,
    ) -> io::Result<(Bytes, Option<Vec<Bytes>>)> {
        if json.len() <= BLOCK {
            return Ok((Bytes::from(compression::zstd(json)?), None));
        }
        let mut out = BytesMut::with_capacity(json.len() / 3);
        let Some(input) = input.filter(|r| r.start <= r.end && r.end <= json.len()) else {
            for block in json.chunks(BLOCK) {
                // The tail: where the next turn will differ anyway.
                out.extend_from_slice(&self.frame(block, block.len() == BLOCK)?);
            }
            return Ok((out.freeze(), None));
        };
        let mut frames = Vec::with_capacity(input.len().div_ceil(BLOCK));
        for block in json[..input.start].chunks(BLOCK) {
            out.extend_from_slice(&self.frame(block, true)?);
        }
        for block in json[input.clone()].chunks(BLOCK) {
            // The list's last block is where the next turn will differ.
            let frame = self.frame(block, block.len() == BLOCK)?;
            out.extend_from_slice(&frame);
            frames.push(frame);
        }
        for block in json[input.end..].chunks(BLOCK) {
            out.extend_from_slice(&self.frame(block, true)?);
        }
        Ok((out.freeze(), Some(frames)))
    }

    /// `block` as one frame: from the cache, or compressed (and kept there
    /// when `keep`).
    fn frame(&self, block: &[u8], keep: bool) -> io::Result<Bytes> {
        if !keep {
            return compression::zstd(block).map(Bytes::from);
        }
        let key = xxh3_128_with_seed(block, self.seed);
        if let Some(frame) = self.lock().frames.get(&key).cloned() {
            return Ok(frame);
        }
        let frame = Bytes::from(compression::zstd(block)?);
        self.keep(key, frame.clone());
        Ok(frame)
    }

    /// The compressed bytes held now.
    pub fn cached_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn keep(&self, key: u128, frame: Bytes) {
        let mut cache = self.lock();
        cache.bytes += frame.len();
        if let Some((_, old)) = cache.frames.push(key, frame) {
            cache.bytes -= old.len();
        }
        while cache.bytes > BUDGET {
            match cache.frames.pop_lru() {
                Some((_, old)) => cache.bytes -= old.len(),
                None => break,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A body's `input` list as compressed for the backend: its bytes and
/// its frames, one per block, handed to the store so that it does not
/// compress the same blocks again.
#[derive(Debug)]
pub struct InputFrames {
    pub text: Bytes,
    pub frames: Vec<Bytes>,
}

/// Where [`InputFrames`] go once the body is compressed: the store's
/// naming of a kept input waits for them on the blocking pool, and
/// compresses the blocks itself when every sink is dropped unsent (the
/// body went plain, or as the client's own zstd).
pub type FrameSink = std::sync::mpsc::SyncSender<InputFrames>;

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// A history-like body: distinct lines, so blocks differ.
    fn body(items: usize) -> Vec<u8> {
        let mut json = String::from("{\"model\":\"m\",\"input\":[");
        for i in 0..items {
            if i > 0 {
                json.push(',');
            }
            json.push_str(&format!(
                "{{\"role\":\"user\",\"content\":\"item {i}: the {} of {} is {}\"}}",
                i * 7919 % 1000,
                i * 104_729 % 997,
                i * 31
            ));
        }
        json.push_str("],\"tools\":[]}");
        json.into_bytes()
    }

    fn decode(zstd: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        zstd::stream::read::Decoder::new(zstd)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn a_short_body_is_one_frame_that_decodes_to_it() {
        let blocks = Blocks::new();
        let json = body(10);
        let zstd = blocks.compress(&json).unwrap();
        assert_eq!(decode(&zstd), json);
        assert_eq!(blocks.cached_bytes(), 0);
    }

    #[test]
    fn a_long_body_decodes_to_itself_through_a_stock_decoder() {
        let blocks = Blocks::new();
        let json = body(30_000);
        assert!(json.len() > 4 * BLOCK);
        let zstd = blocks.compress(&json).unwrap();
        assert_eq!(decode(&zstd), json);
        assert!(zstd.len() < json.len() / 2);
        // Again, from the cache: the same bytes.
        assert_eq!(blocks.compress(&json).unwrap(), zstd);
    }

    #[test]
    fn the_next_turn_reuses_the_frames_of_the_blocks_it_shares() {
        let blocks = Blocks::new();
        let first = body(30_000);
        blocks.compress(&first).unwrap();
        let held = blocks.cached_bytes();
        assert!(held > 0);
        let next = body(30_050);
        let zstd = blocks.compress(&next).unwrap();
        assert_eq!(decode(&zstd), next);
        // Only the blocks from where the bodies differ are new.
        let whole_blocks_shared = first
            .chunks(BLOCK)
            .zip(next.chunks(BLOCK))
            .take_while(|(a, b)| a == b && a.len() == BLOCK)
            .count();
        assert!(whole_blocks_shared >= first.len() / BLOCK - 1);
        let added = blocks.cached_bytes() - held;
        assert!(added < held / 2, "added {added} of {held}");
    }

    #[test]
    fn a_body_is_cut_around_its_input_whose_frames_are_its_blocks_compressed_one_by_one() {
        let blocks = Blocks::new();
        let json = body(30_000);
        let start = json.windows(9).position(|w| w == b"\"input\":[").unwrap() + 8;
        let end = json.len() - "],\"tools\":[]}".len() + 1;
        assert_eq!((json[start], json[end - 1]), (b'[', b']'));
        let (zstd, frames) = blocks.compress_around(&json, Some(start..end)).unwrap();
        assert_eq!(decode(&zstd), json);
        let frames = frames.unwrap();
        let own: Vec<Bytes> = json[start..end]
            .chunks(BLOCK)
            .map(|c| Bytes::from(compression::zstd(c).unwrap()))
            .collect();
        assert_eq!(frames, own);
        // The frames of what comes before and after the list are the same
        // whatever the list's length.
        let next = body(30_050);
        let next_end = next.len() - "],\"tools\":[]}".len() + 1;
        let (again, _) = blocks
            .compress_around(&next, Some(start..next_end))
            .unwrap();
        assert_eq!(decode(&again), next);
        assert!(again.ends_with(&compression::zstd(&next[next_end..]).unwrap()));
        // A place outside the body is no place: cut from the start.
        let (plain, none) = blocks.compress_around(&json, Some(end..start)).unwrap();
        assert_eq!((plain, none), (blocks.compress(&json).unwrap(), None));
    }

    #[test]
    fn the_cache_stays_within_its_budget() {
        let blocks = Blocks::new();
        let mut seed = 1u64;
        let mut random = vec![0u8; 3 * BLOCK];
        for _ in 0..60 {
            // Incompressible blocks fill the budget fastest.
            for byte in &mut random {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                *byte = (seed >> 56) as u8;
            }
            let zstd = blocks.compress(&random).unwrap();
            assert_eq!(decode(&zstd), random);
            assert!(blocks.cached_bytes() <= BUDGET);
        }
        assert!(blocks.cached_bytes() > BUDGET / 2);
    }
}
