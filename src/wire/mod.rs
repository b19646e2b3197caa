//! Long conversations at wire speed. A coding agent's request carries its
//! whole history, one to several MiB of JSON, on every turn; this is what
//! keeps the proxy's cost on it close to a plain reverse proxy's:
//! - [`raw`]: a Responses request (an HTTP body, or a WebSocket's
//!   `response.create` frame) held as its top-level fields' raw JSON bytes,
//!   so only the fields the backend's rules name are read or rewritten, and
//!   a request that needs no change goes out as it came.
//! - [`rules`]: those rules (the ones of [`crate::patch`]) applied to it.
//! - [`encoding`]: the body compressed for the backend whatever the client
//!   sent (`upstream_compression`), and turned off for good by a backend
//!   that refuses it.
//! - [`blocks`]: a long body compressed block by block, so a conversation's
//!   next turn compresses only what it added.
//!
//! Pure: bytes in, bytes out; the doors read the body and the proxy sends it.

pub mod blocks;
pub mod encoding;
pub mod raw;
pub mod rules;

use std::ops::Range;

use bytes::Bytes;

/// A request body as it goes to the backend: its JSON, and the same JSON
/// as zstd when that is already at hand (the client's own compressed bytes,
/// for a request forwarded unchanged), so it is not compressed twice.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub json: Bytes,
    pub zstd: Option<Bytes>,
    /// Where the `input` list's bytes are in `json`: the body's blocks are
    /// cut from there ([`blocks::Blocks::compress_around`]), so the frames
    /// of a conversation's earlier items and of what follows the list
    /// (the tools) are the same from turn to turn.
    pub input: Option<Range<usize>>,
    /// Who keeps that input (the store), waiting for its frames.
    pub frames: Option<blocks::FrameSink>,
}

impl Outgoing {
    /// A body known only as JSON.
    pub fn json(json: impl Into<Bytes>) -> Self {
        Outgoing {
            json: json.into(),
            zstd: None,
            input: None,
            frames: None,
        }
    }

    /// This body with its `input` list at `input`, whose frames go to
    /// `frames` once compressed.
    pub fn with_input(
        mut self,
        input: Option<Range<usize>>,
        frames: Option<blocks::FrameSink>,
    ) -> Self {
        self.input = input;
        self.frames = frames;
        self
    }
}
