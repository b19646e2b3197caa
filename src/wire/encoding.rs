//! The request body's encoding on the way to the backend. The official
//! client sends its history zstd-compressed (PROTOCOL.md §12); the proxy
//! does the same for every client, so an SDK's plain JSON does not cross
//! the user's uplink at full size. A backend that refuses compressed
//! bodies (a 415, or a 400 that names the encoding) turns it off for the
//! rest of the daemon's life, with one warning, and the refused request is
//! sent again plain.

use std::sync::atomic::{AtomicBool, Ordering};

use super::Outgoing;
use super::blocks::Blocks;
use crate::config::upstream::UpstreamCompression;
use crate::error::ApiError;

/// Whether request bodies go compressed now: the setting, until the
/// backend refuses a compressed body. Shared by every request.
#[derive(Debug)]
pub struct Compression {
    on: AtomicBool,
    blocks: Blocks,
}

impl Compression {
    pub fn new(setting: UpstreamCompression) -> Self {
        Compression {
            on: AtomicBool::new(setting == UpstreamCompression::Zstd),
            blocks: Blocks::new(),
        }
    }

    /// Whether the next body goes compressed.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Called with the backend's refusal of a compressed body: `true` when
    /// it is about the encoding, so the request is to be sent again plain.
    /// Compression is then off for good; the first such refusal warns.
    pub fn refused(&self, error: &ApiError) -> bool {
        if !is_encoding_refusal(error) {
            return false;
        }
        if self.on.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                status = error.status.as_u16(),
                "the backend refused a zstd-compressed body; sending bodies plain \
                 until the daemon restarts (set upstream_compression = \"off\" to say so)"
            );
        }
        true
    }
}

/// A 415, or a 400 whose message names the content encoding or zstd.
pub fn is_encoding_refusal(error: &ApiError) -> bool {
    match error.status.as_u16() {
        415 => true,
        400 => {
            let message = error.message.to_ascii_lowercase();
            ["encoding", "zstd", "compress"]
                .iter()
                .any(|word| message.contains(word))
        }
        _ => false,
    }
}

/// A request body as sent to the backend: zstd-compressed as the official
/// client sends it (PROTOCOL.md §12), whatever the client sent, so a long
/// history crosses the uplink at a fraction of its size; the JSON is kept
/// for a plain retry when the backend refuses the encoding.
#[derive(Debug)]
pub struct Encoded {
    json: bytes::Bytes,
    zstd: Option<bytes::Bytes>,
}

impl Encoded {
    /// `body` as [`Compression`] sends it now.
    pub fn new(body: Outgoing, compression: &Compression) -> std::io::Result<Self> {
        let zstd = match (compression.is_on(), body.zstd) {
            (false, _) => None,
            (true, Some(zstd)) => Some(zstd),
            (true, None) => {
                let (zstd, frames) = compression
                    .blocks
                    .compress_around(&body.json, body.input.clone())?;
                if let (Some(sink), Some(frames), Some(input)) = (&body.frames, frames, &body.input)
                {
                    // Whoever waits may have gone; then nobody needs them.
                    let _ = sink.try_send(super::blocks::InputFrames {
                        text: body.json.slice(input.clone()),
                        frames,
                    });
                }
                Some(zstd)
            }
        };
        Ok(Encoded {
            json: body.json,
            zstd,
        })
    }

    /// The bytes the body takes on the wire (compressed when it is).
    pub fn wire_len(&self) -> usize {
        self.zstd
            .as_ref()
            .map_or(self.json.len(), bytes::Bytes::len)
    }

    /// Whether the body goes compressed (unless sent `plain`).
    pub fn is_compressed(&self) -> bool {
        self.zstd.is_some()
    }

    /// `request` with this body (`plain`: the JSON even when compressed)
    /// and the headers that describe it.
    pub fn attach(&self, request: reqwest::RequestBuilder, plain: bool) -> reqwest::RequestBuilder {
        let request = request.header(http::header::CONTENT_TYPE, "application/json");
        match &self.zstd {
            Some(zstd) if !plain => request
                .header(http::header::CONTENT_ENCODING, "zstd")
                .body(zstd.clone()),
            Some(_) | None => request.body(self.json.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;
    use crate::error::ErrorKind;

    fn error(status: u16, message: &str) -> ApiError {
        ApiError::new(
            StatusCode::from_u16(status).unwrap(),
            ErrorKind::InvalidRequest,
            None,
            message,
        )
    }

    #[test]
    fn a_415_or_a_400_naming_the_encoding_is_a_refusal_of_compression() {
        assert!(is_encoding_refusal(&error(415, "Unsupported Media Type")));
        assert!(is_encoding_refusal(&error(
            400,
            "Unsupported Content-Encoding: zstd"
        )));
        assert!(is_encoding_refusal(&error(400, "Invalid zstd body")));
        assert!(!is_encoding_refusal(&error(
            400,
            "Stream must be set to true"
        )));
        assert!(!is_encoding_refusal(&error(500, "content encoding broke")));
    }

    #[test]
    fn the_first_refusal_turns_compression_off_for_good_and_every_one_retries() {
        let compression = Compression::new(UpstreamCompression::Zstd);
        assert!(compression.is_on());
        assert!(!compression.refused(&error(400, "Instructions are required")));
        assert!(compression.is_on());
        assert!(compression.refused(&error(415, "no")));
        assert!(!compression.is_on());
        // A second request refused while the first was in flight retries too.
        assert!(compression.refused(&error(415, "no")));
        assert!(!compression.is_on());
        assert!(!Compression::new(UpstreamCompression::Off).is_on());
    }
}
