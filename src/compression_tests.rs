use std::io::Write;

use http::HeaderValue;

use super::*;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Decodes `body` pushed in pieces of `piece` bytes.
fn decode(
    encoding: Encoding,
    body: &[u8],
    limit: usize,
    piece: usize,
) -> Result<Vec<u8>, DecodeError> {
    let mut decoder = Decoder::new(encoding, limit)?;
    for chunk in body.chunks(piece) {
        decoder.push(chunk)?;
    }
    decoder.finish()
}

fn headers(encoding: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
    headers
}

#[test]
fn the_content_encoding_header_names_zstd_gzip_or_nothing() {
    assert_eq!(Encoding::of(&HeaderMap::new()).unwrap(), None);
    assert_eq!(Encoding::of(&headers("identity")).unwrap(), None);
    assert_eq!(
        Encoding::of(&headers("zstd")).unwrap(),
        Some(Encoding::Zstd)
    );
    assert_eq!(
        Encoding::of(&headers(" ZSTD ")).unwrap(),
        Some(Encoding::Zstd)
    );
    assert_eq!(
        Encoding::of(&headers("gzip")).unwrap(),
        Some(Encoding::Gzip)
    );
    assert_eq!(
        Encoding::of(&headers("x-gzip")).unwrap(),
        Some(Encoding::Gzip)
    );
    for unknown in ["br", "deflate", "gzip, zstd"] {
        let e = Encoding::of(&headers(unknown)).unwrap_err();
        assert!(
            matches!(&e, DecodeError::Unsupported(name) if name == unknown),
            "{e}"
        );
    }
}

#[test]
fn bodies_decode_whole_whatever_pieces_they_arrive_in() {
    let json: Vec<u8> = br#"{"model":"gpt-5","input":"hello"}"#.repeat(500);
    let zstd_body = zstd(&json).unwrap();
    let gzip_body = gzip(&json);
    for piece in [1, 7, 4096, usize::MAX] {
        assert_eq!(
            decode(Encoding::Zstd, &zstd_body, json.len(), piece).unwrap(),
            json
        );
        assert_eq!(
            decode(Encoding::Gzip, &gzip_body, json.len(), piece).unwrap(),
            json
        );
    }
}

#[test]
fn a_body_one_byte_over_the_limit_is_too_large() {
    let json = vec![b' '; 10_000];
    for (encoding, body) in [
        (Encoding::Zstd, zstd(&json).unwrap()),
        (Encoding::Gzip, gzip(&json)),
    ] {
        let e = decode(encoding, &body, 9_999, 512).unwrap_err();
        assert!(
            matches!(e, DecodeError::TooLarge { limit: 9_999 }),
            "{encoding}: {e}"
        );
        assert_eq!(decode(encoding, &body, 10_000, 512).unwrap().len(), 10_000);
    }
}

#[test]
fn a_bomb_stops_at_the_limit_without_decoding_the_rest() {
    // 256 MiB of zeros in a few kilobytes.
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    let mut decoder = Decoder::new(Encoding::Zstd, 1 << 20).unwrap();
    let e = decoder.push(&bomb).unwrap_err();
    assert!(matches!(e, DecodeError::TooLarge { .. }), "{e}");
}

#[test]
fn a_truncated_or_garbled_body_is_corrupt() {
    let json = br#"{"model":"gpt-5","input":"hello"}"#.repeat(50);
    for (encoding, body) in [
        (Encoding::Zstd, zstd(&json).unwrap()),
        (Encoding::Gzip, gzip(&json)),
    ] {
        let cut = &body[..body.len() - 3];
        let e = decode(encoding, cut, 1 << 20, 64).unwrap_err();
        assert!(
            matches!(e, DecodeError::Corrupt { .. }),
            "{encoding} truncated: {e}"
        );
        let e = decode(encoding, b"{\"plain\": \"json\"}", 1 << 20, 64).unwrap_err();
        assert!(
            matches!(e, DecodeError::Corrupt { .. }),
            "{encoding} plain: {e}"
        );
    }
}

#[test]
fn a_zstd_frame_asking_for_a_window_larger_than_the_limit_needs_is_refused() {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    encoder.window_log(25).unwrap();
    encoder.write_all(b"{}").unwrap();
    let wide = encoder.finish().unwrap();
    let e = decode(Encoding::Zstd, &wide, 1 << 20, 64).unwrap_err();
    assert!(matches!(e, DecodeError::Corrupt { .. }), "{e}");
    assert_eq!(decode(Encoding::Zstd, &wide, 32 << 20, 64).unwrap(), b"{}");
}

#[test]
fn the_window_follows_the_limit_between_zstds_bounds() {
    assert_eq!(window_log_max(0), MIN_WINDOW_LOG);
    assert_eq!(window_log_max(1 << 20), MIN_WINDOW_LOG);
    assert_eq!(window_log_max(32 << 20), 25);
    assert_eq!(window_log_max((32 << 20) + 1), 26);
    assert_eq!(window_log_max(usize::MAX), MAX_WINDOW_LOG);
}

#[test]
fn several_gzip_members_decode_as_one_body() {
    let mut body = gzip(b"{\"a\":");
    body.extend(gzip(b"1}"));
    assert_eq!(decode(Encoding::Gzip, &body, 100, 3).unwrap(), b"{\"a\":1}");
}

#[test]
fn a_forwarded_body_is_one_frame_that_states_its_size() {
    let json = br#"{"input":[]}"#;
    let frame = zstd(json).unwrap();
    let size = zstd::zstd_safe::get_frame_content_size(&frame)
        .ok()
        .flatten();
    assert_eq!(size, Some(json.len() as u64));
    assert_eq!(zstd::decode_all(&frame[..]).unwrap(), json);
}

#[test]
fn a_forwarded_body_is_one_frame_with_its_size_and_the_reused_context_gives_the_same() {
    let json = br#"{"type":"message","content":"a line of a long history"},"#.repeat(2_000);
    let first = zstd(&json).unwrap();
    assert!(first.len() * 10 < json.len());
    assert_eq!(
        zstd::zstd_safe::get_frame_content_size(&first).ok(),
        Some(Some(json.len() as u64))
    );
    assert_eq!(zstd::decode_all(&first[..]).unwrap(), json);
    // A smaller body after a larger one on the same thread's context.
    let small = &json[..100];
    assert_eq!(zstd::decode_all(&zstd(small).unwrap()[..]).unwrap(), small);
    assert_eq!(zstd(&json).unwrap(), first);
}
