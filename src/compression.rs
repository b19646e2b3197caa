//! Compressed request bodies (PROTOCOL.md §12). The official client sends
//! its JSON zstd-compressed when it talks to the ChatGPT backend, so a body
//! may arrive as zstd or gzip: it is decoded as it is read, under a cap on
//! the decoded size, so a compression bomb costs no more memory than an
//! honest body of the largest size allowed. And the body forwarded for a
//! client that compressed its own is compressed again, as the official
//! client does it, so a long history is not inflated on the way.
//! Pure: bytes in, bytes out; the caller reads the body and sends it.

use std::cell::RefCell;
use std::io::{self, Write};

use http::{HeaderMap, header};

/// The zstd level the official client compresses with; fast enough that a
/// large history costs a few milliseconds, and most of the gain.
pub const FORWARD_LEVEL: i32 = 3;

/// The largest zstd window a frame may ask for, whatever the limit: a
/// window is allocated whole when a frame starts, so a frame declaring a
/// large one is refused rather than served. 2^27 is zstd's own default.
const MAX_WINDOW_LOG: u32 = 27;

/// The smallest window always allowed: what every standard level up to 19
/// uses when the size is not known in advance (level 3 uses 2^21), so a
/// small `max_body_bytes` never refuses an honest client's body.
const MIN_WINDOW_LOG: u32 = 23;

/// A request body's `Content-Encoding`, when it is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Zstd,
    Gzip,
}

impl Encoding {
    /// The encoding `headers` declare: `None` when the body is sent as it
    /// is (no header, or `identity`); an error for one we cannot read.
    pub fn of(headers: &HeaderMap) -> Result<Option<Encoding>, DecodeError> {
        let Some(value) = headers.get(header::CONTENT_ENCODING) else {
            return Ok(None);
        };
        let name = value
            .to_str()
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default();
        match name.as_str() {
            "" | "identity" => Ok(None),
            "zstd" => Ok(Some(Encoding::Zstd)),
            "gzip" | "x-gzip" => Ok(Some(Encoding::Gzip)),
            _ => Err(DecodeError::Unsupported(
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a compressed body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("Content-Encoding {0:?} is not supported: send the body as it is, or as zstd or gzip")]
    Unsupported(String),
    #[error("the request body is larger than {limit} bytes once decoded")]
    TooLarge { limit: usize },
    #[error("the request body is not valid {encoding}: {source}")]
    Corrupt {
        encoding: Encoding,
        source: io::Error,
    },
}

/// Decodes a body pushed to it piece by piece, as it arrives, refusing
/// it as soon as the decoded bytes pass the limit.
pub struct Decoder {
    encoding: Encoding,
    limit: usize,
    inner: Inner,
}

enum Inner {
    Zstd(zstd::stream::write::Decoder<'static, Capped>),
    Gzip(flate2::write::MultiGzDecoder<Capped>),
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("encoding", &self.encoding)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder for `encoding` whose output may not exceed `limit` bytes.
    pub fn new(encoding: Encoding, limit: usize) -> Result<Self, DecodeError> {
        let out = Capped {
            out: Vec::new(),
            limit,
            over: false,
        };
        let corrupt = |source| DecodeError::Corrupt { encoding, source };
        let inner = match encoding {
            Encoding::Zstd => {
                let mut decoder = zstd::stream::write::Decoder::new(out).map_err(corrupt)?;
                decoder
                    .window_log_max(window_log_max(limit))
                    .map_err(corrupt)?;
                Inner::Zstd(decoder)
            }
            Encoding::Gzip => Inner::Gzip(flate2::write::MultiGzDecoder::new(out)),
        };
        Ok(Decoder {
            encoding,
            limit,
            inner,
        })
    }

    /// Decodes the next piece of the body.
    pub fn push(&mut self, piece: &[u8]) -> Result<(), DecodeError> {
        let written = match &mut self.inner {
            Inner::Zstd(d) => d.write_all(piece),
            Inner::Gzip(d) => d.write_all(piece),
        };
        written.map_err(|e| self.error(e))
    }

    /// The decoded body, once the whole of it was pushed; an error if it
    /// ends inside a frame.
    pub fn finish(mut self) -> Result<Vec<u8>, DecodeError> {
        let finished = match &mut self.inner {
            Inner::Zstd(d) => d.do_finish(),
            Inner::Gzip(d) => d.try_finish(),
        };
        finished.map_err(|e| self.error(e))?;
        Ok(match self.inner {
            Inner::Zstd(d) => d.into_inner().out,
            Inner::Gzip(mut d) => std::mem::take(&mut d.get_mut().out),
        })
    }

    fn error(&self, source: io::Error) -> DecodeError {
        let over = match &self.inner {
            Inner::Zstd(d) => d.get_ref().over,
            Inner::Gzip(d) => d.get_ref().over,
        };
        if over {
            DecodeError::TooLarge { limit: self.limit }
        } else {
            DecodeError::Corrupt {
                encoding: self.encoding,
                source,
            }
        }
    }
}

/// The largest zstd window a body of at most `limit` bytes needs.
fn window_log_max(limit: usize) -> u32 {
    let needed = usize::BITS - limit.saturating_sub(1).leading_zeros();
    needed.clamp(MIN_WINDOW_LOG, MAX_WINDOW_LOG)
}

/// The decoded bytes, refusing any write that would pass `limit`.
#[derive(Debug)]
struct Capped {
    out: Vec<u8>,
    limit: usize,
    over: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.limit - self.out.len() {
            self.over = true;
            return Err(io::Error::other("the decoded body passed the limit"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

thread_local! {
    /// A compression context per thread, reused: making one allocates and
    /// faults in its tables, which for a long history cost as much as a
    /// good part of the compression itself.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        const { RefCell::new(None) };
}

/// `json` compressed as the official client compresses it: one zstd frame
/// at [`FORWARD_LEVEL`], its size in the header.
pub fn zstd(json: &[u8]) -> io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let compressor = match &mut *slot {
            Some(compressor) => compressor,
            None => slot.insert(zstd::bulk::Compressor::new(FORWARD_LEVEL)?),
        };
        compressor.compress(json)
    })
}

#[cfg(test)]
#[path = "compression_tests.rs"]
mod tests;
