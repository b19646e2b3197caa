//! Request bodies: read under a limit as a JSON object (decoded as they
//! arrive when sent as zstd or gzip), and, when the answer comes before the
//! body was read, read and dropped in the background so the client sees
//! the answer.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use bytes::BytesMut;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use crate::compression::{DecodeError, Decoder, Encoding};
use crate::error::{ApiError, Code, ErrorKind};
use crate::wire::Outgoing;

/// Reads a JSON object body of at most `limit` bytes.
pub async fn read_json_object(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let bytes = read_limited(headers, body, limit).await?.json;
    crate::patch::parse_object(&bytes)
}

/// Reads a body of at most `limit` bytes as JSON text, not parsed, with
/// the zstd bytes it came as when it came so: a request nothing in is
/// changed is forwarded as those.
pub async fn read_outgoing(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Outgoing, ApiError> {
    read_limited(headers, body, limit).await
}

/// Reads a request body of at most `limit` bytes, decoded when it came
/// compressed (the limit is then on the decoded size as well).
async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Outgoing, ApiError> {
    check_content_type(headers)?;
    let encoding = Encoding::of(headers).map_err(decode_error)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    match encoding {
        None => read_plain(body, declared, limit).await.map(Outgoing::json),
        Some(encoding) => read_decoded(body, encoding, limit).await,
    }
}

/// `declared`: the `Content-Length`, when the client gave one (checked
/// against `limit`).
async fn read_plain(
    mut body: Body,
    declared: Option<u64>,
    limit: usize,
) -> Result<Bytes, ApiError> {
    // A body that arrives in one piece is kept as it is, without a copy;
    // one in pieces is joined in a buffer of its declared length, so a
    // long history is copied once rather than again at every doubling.
    let mut first: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    while let Some(data) = next_data(&mut body).await? {
        let so_far = first.as_ref().map_or(0, Bytes::len) + joined.len();
        if so_far + data.len() > limit {
            return Err(too_large(limit));
        }
        match first.take() {
            None if joined.is_empty() => first = Some(data),
            None => joined.extend_from_slice(&data),
            Some(earlier) => {
                let declared = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit));
                joined.reserve(declared.min(limit).max(earlier.len() + data.len()));
                joined.extend_from_slice(&earlier);
                joined.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| joined.freeze()))
}

/// Decodes the body as it arrives, so no more than `limit` decoded bytes
/// are ever held: a bomb stops at the limit. A zstd body's compressed
/// bytes (at most `limit` too, and a fraction of the decoded size) are
/// kept to be forwarded as they came.
async fn read_decoded(
    mut body: Body,
    encoding: Encoding,
    limit: usize,
) -> Result<Outgoing, ApiError> {
    let mut decoder = Decoder::new(encoding, limit).map_err(decode_error)?;
    let mut received = 0;
    let mut compressed = (encoding == Encoding::Zstd).then(BytesMut::new);
    while let Some(data) = next_data(&mut body).await? {
        received += data.len();
        if received > limit {
            return Err(too_large(limit));
        }
        decoder.push(&data).map_err(decode_error)?;
        if let Some(compressed) = &mut compressed {
            compressed.extend_from_slice(&data);
        }
    }
    Ok(Outgoing {
        json: Bytes::from(decoder.finish().map_err(decode_error)?),
        zstd: compressed.map(BytesMut::freeze),
        input: None,
        frames: None,
    })
}

/// The next piece of the body's data, skipping trailers.
async fn next_data(body: &mut Body) -> Result<Option<Bytes>, ApiError> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError::invalid_request(format!("the request body could not be read: {e}"))
        })?;
        if let Ok(data) = frame.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

fn too_large(limit: usize) -> ApiError {
    ApiError::own(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::InvalidRequest,
        Code::RequestTooLarge,
        format!("the request body is larger than max_body_bytes ({limit} bytes)"),
    )
}

/// A compressed body we cannot read: an unknown encoding is a 415, a body
/// too large once decoded a 413, a broken one a 400.
fn decode_error(e: DecodeError) -> ApiError {
    match e {
        DecodeError::Unsupported(_) => ApiError::own(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::InvalidRequest,
            Code::UnsupportedContentEncoding,
            e.to_string(),
        ),
        DecodeError::TooLarge { limit } => ApiError::own(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::InvalidRequest,
            Code::RequestTooLarge,
            format!("the request body is larger than max_body_bytes ({limit} bytes) once decoded"),
        ),
        DecodeError::Corrupt { .. } => ApiError::invalid_request(e.to_string()),
    }
}

/// How long, and how much of, a request body left unread is read and dropped.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024 * 1024;

/// A request body that, if the answer is given without reading it to its
/// end (a 413, 415, 401…), is read and dropped in the background for a
/// while: a client still sending it then reads the answer rather than a
/// reset connection (what nginx calls a lingering close).
#[derive(Debug)]
pub struct Lingering {
    inner: Option<Body>,
}

impl Lingering {
    pub fn new(inner: Body) -> Self {
        Lingering { inner: Some(inner) }
    }
}

impl http_body::Body for Lingering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(mut body) = self.inner.take() else {
            return;
        };
        if http_body::Body::is_end_stream(&body) {
            return;
        }
        // Outside a runtime (the daemon stopping) there is no one to answer.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let drained = async {
                    let mut left = LINGER_BYTES;
                    while let Some(Ok(frame)) = body.frame().await {
                        let n = frame.data_ref().map_or(0, Bytes::len);
                        if n >= left {
                            break;
                        }
                        left -= n;
                    }
                };
                let _ = tokio::time::timeout(LINGER_TIME, drained).await;
            });
        }
    }
}

/// A body declared as something other than JSON (a form, plain text) is
/// refused before it is read or forwarded; no content type at all is taken
/// as JSON, as curl and many SDKs send it that way.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        return Ok(());
    }
    Err(ApiError::own(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::InvalidRequest,
        Code::UnsupportedMediaType,
        format!(
            "the request body must be JSON (Content-Type: application/json), not {:?}",
            String::from_utf8_lossy(value.as_bytes())
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &'static [u8], size: usize) -> Body {
        let chunks: Vec<Result<Bytes, std::io::Error>> = text
            .chunks(size)
            .map(|c| Ok(Bytes::from_static(c)))
            .collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    fn headers(length: Option<usize>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        if let Some(length) = length {
            headers.insert(header::CONTENT_LENGTH, length.into());
        }
        headers
    }

    const TEXT: &[u8] =
        br#"{"model":"m","input":[{"role":"user","content":"a body that came in pieces"}]}"#;

    #[tokio::test]
    async fn a_body_in_pieces_is_joined_whole_with_or_without_its_declared_length() {
        for length in [Some(TEXT.len()), None] {
            let read = read_outgoing(&headers(length), pieces(TEXT, 7), 1 << 20)
                .await
                .unwrap();
            assert_eq!(&read.json[..], TEXT, "declared {length:?}");
        }
    }

    #[tokio::test]
    async fn a_body_in_pieces_past_the_limit_is_a_413_whatever_it_declared() {
        for length in [Some(10), None] {
            let err = read_outgoing(&headers(length), pieces(TEXT, 7), 40)
                .await
                .unwrap_err();
            assert_eq!(
                err.status,
                StatusCode::PAYLOAD_TOO_LARGE,
                "declared {length:?}"
            );
        }
    }
}
