//! Server-Sent Events from the upstream: splitting a byte stream into whole
//! events and reading their fields.
//!
//! Everything here is pure: values in, values out.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use serde_json::Value;

/// An upstream event larger than `max_event_bytes`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an upstream event exceeded {limit} bytes")]
pub struct EventTooLarge {
    pub limit: usize,
}

/// Cuts a chunked byte stream at event boundaries, so that only whole events
/// are ever handed on. Chunks that end on a boundary pass through without a copy.
#[derive(Debug)]
pub struct Splitter {
    partial: BytesMut,
    max_event_bytes: usize,
}

impl Splitter {
    pub fn new(max_event_bytes: usize) -> Self {
        Splitter {
            partial: BytesMut::new(),
            max_event_bytes,
        }
    }

    /// Adds a chunk and returns the events it completes, as one block of bytes.
    pub fn push(&mut self, chunk: Bytes) -> Result<Option<Bytes>, EventTooLarge> {
        if self.partial.is_empty() {
            return match last_boundary_end(&chunk, 0) {
                Some(end) if end == chunk.len() => Ok(Some(chunk)),
                Some(end) => {
                    let mut rest = chunk;
                    let done = rest.split_to(end);
                    self.keep(&rest)?;
                    Ok(Some(done))
                }
                None => {
                    self.keep(&chunk)?;
                    Ok(None)
                }
            };
        }
        // A boundary may straddle the old and the new bytes: look back three bytes.
        let from = self.partial.len().saturating_sub(3);
        self.partial.extend_from_slice(&chunk);
        match last_boundary_end(&self.partial, from) {
            Some(end) => {
                let done = self.partial.split_to(end).freeze();
                self.check_size()?;
                Ok(Some(done))
            }
            None => {
                self.check_size()?;
                Ok(None)
            }
        }
    }

    /// Bytes of an event that has not ended yet.
    pub fn has_partial(&self) -> bool {
        self.partial.iter().any(|b| !b.is_ascii_whitespace())
    }

    fn keep(&mut self, bytes: &[u8]) -> Result<(), EventTooLarge> {
        self.partial.extend_from_slice(bytes);
        self.check_size()
    }

    fn check_size(&self) -> Result<(), EventTooLarge> {
        if self.partial.len() > self.max_event_bytes {
            Err(EventTooLarge {
                limit: self.max_event_bytes,
            })
        } else {
            Ok(())
        }
    }
}

/// End (exclusive) of the last blank line in `buf[from..]`: `\n\n` or `\n\r\n`.
/// Found from the end with memchr: a chunk usually ends on one.
fn last_boundary_end(buf: &[u8], from: usize) -> Option<usize> {
    let hay = &buf[from..];
    memchr::memrchr_iter(b'\n', hay)
        .find(|&i| ends_blank_line(hay, i))
        .map(|i| from + i + 1)
}

/// Whether the `\n` at `i` ends a blank line: `\n\n` or `\n\r\n`.
fn ends_blank_line(buf: &[u8], i: usize) -> bool {
    match i.checked_sub(1).map(|j| buf[j]) {
        Some(b'\n') => true,
        Some(b'\r') => i >= 2 && buf[i - 2] == b'\n',
        _ => false,
    }
}

/// One event: its `event:` name (if any) and its joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event<'a> {
    pub name: Option<&'a str>,
    pub data: Cow<'a, str>,
}

impl Event<'_> {
    /// The event's type: the `event:` line, else the `type` of its JSON data.
    pub fn kind(&self) -> Option<Cow<'_, str>> {
        if let Some(name) = self.name {
            return Some(Cow::Borrowed(name));
        }
        json_type(&self.data)
    }
}

/// The `type` of a JSON object, read cheaply when it comes first (as upstream sends it).
pub fn json_type(data: &str) -> Option<Cow<'_, str>> {
    if let Some(rest) = data.strip_prefix("{\"type\":\"")
        && let Some(end) = rest.find('"')
        && !rest[..end].contains('\\')
    {
        return Some(Cow::Borrowed(&rest[..end]));
    }
    let value: Value = serde_json::from_str(data).ok()?;
    value
        .get("type")
        .and_then(Value::as_str)
        .map(|t| Cow::Owned(t.to_owned()))
}

/// Iterates the events of a block of whole events. Bytes that are not UTF-8
/// are replaced rather than dropped, so a JSON parser reports them.
pub fn events(block: &[u8]) -> impl Iterator<Item = Event<'_>> {
    frames(block).filter_map(parse_frame)
}

/// The raw frames of a block of whole events, blank-line separated.
pub fn frames(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = block;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (frame, next) = split_frame(rest);
        rest = next;
        Some(frame)
    })
}

/// The lines of a frame, without their `\r\n` or `\n`; found with memchr,
/// since a frame is mostly one long `data:` line.
fn lines(frame: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = frame;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &b""[..]),
        };
        rest = next;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

/// The `event:` name of a frame, read without touching its data: the last
/// `event:` line wins, as in [`parse_frame`] (and the SSE specification).
pub fn frame_name(frame: &[u8]) -> Option<&str> {
    lines(frame)
        .filter_map(|line| {
            let value = line.strip_prefix(b"event:")?;
            std::str::from_utf8(value.strip_prefix(b" ").unwrap_or(value)).ok()
        })
        .last()
}

/// A frame's type: its `event:` name, else the `type` of its data.
pub fn frame_kind(frame: &[u8]) -> Option<Cow<'_, str>> {
    match frame_name(frame) {
        Some(name) => Some(Cow::Borrowed(name)),
        None => parse_frame(frame).and_then(|e| e.kind().map(|k| Cow::Owned(k.into_owned()))),
    }
}

/// Whether a block holds an event that ends the response. The upstream names
/// its events, so mostly only the `event:` lines are read.
pub fn has_terminal(block: &[u8]) -> bool {
    frames(block).any(|frame| frame_kind(frame).is_some_and(|k| is_terminal(&k)))
}

/// The first event of `buf` and the rest, cut after the first blank line.
/// Lines are found with memchr: an event is two or three lines.
fn split_frame(buf: &[u8]) -> (&[u8], &[u8]) {
    for i in memchr::memchr_iter(b'\n', buf) {
        match buf.get(i + 1) {
            Some(b'\n') => return (&buf[..=i], &buf[i + 2..]),
            Some(b'\r') if buf.get(i + 2) == Some(&b'\n') => return (&buf[..=i], &buf[i + 3..]),
            _ => {}
        }
    }
    (buf, &[])
}

pub fn parse_frame(frame: &[u8]) -> Option<Event<'_>> {
    let mut name = None;
    let mut data: Option<Cow<'_, str>> = None;
    for line in lines(frame) {
        if line.is_empty() || line[0] == b':' {
            continue;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        // Validating is much cheaper than the lossy path's chunking; that
        // path only runs for bytes that are not UTF-8.
        let value = match std::str::from_utf8(value) {
            Ok(v) => Cow::Borrowed(v),
            Err(_) => String::from_utf8_lossy(value),
        };
        match field {
            b"event" => {
                if let Cow::Borrowed(v) = value {
                    name = Some(v);
                }
            }
            b"data" => {
                data = Some(match data {
                    None => value,
                    Some(prev) => Cow::Owned(format!("{prev}\n{value}")),
                })
            }
            _ => {}
        }
    }
    data.map(|data| Event { name, data })
}

/// Events that end a response.
pub fn is_terminal(kind: &str) -> bool {
    matches!(
        kind,
        "response.completed" | "response.failed" | "response.incomplete" | "error"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(s: &Splitter, pieces: &[&str]) -> (Vec<String>, Splitter) {
        let mut sp = Splitter::new(s.max_event_bytes);
        let mut out = Vec::new();
        for p in pieces {
            if let Some(block) = sp.push(Bytes::copy_from_slice(p.as_bytes())).unwrap() {
                out.push(String::from_utf8(block.to_vec()).unwrap());
            }
        }
        (out, sp)
    }

    #[test]
    fn splitter_hands_on_only_whole_events_whatever_the_chunking() {
        let stream =
            "event: a\ndata: {\"x\":1}\n\nevent: b\r\ndata: 2\r\n\r\nevent: c\ndata: 3\n\n";
        for size in 1..stream.len() {
            let pieces: Vec<&str> = stream
                .as_bytes()
                .chunks(size)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            let (blocks, sp) = frames(&Splitter::new(1024), &pieces);
            assert_eq!(blocks.concat(), stream, "chunk size {size}");
            assert!(!sp.has_partial());
            let names: Vec<_> = blocks
                .iter()
                .flat_map(|b| {
                    events(b.as_bytes())
                        .map(|e| e.name.map(str::to_owned))
                        .collect::<Vec<_>>()
                })
                .collect();
            assert_eq!(
                names,
                vec![Some("a".into()), Some("b".into()), Some("c".into())]
            );
        }
    }

    #[test]
    fn terminal_events_are_found_by_name_or_by_type() {
        assert!(has_terminal(
            b"event: a\ndata: 1\n\nevent: response.completed\ndata: {}\n\n"
        ));
        assert!(has_terminal(b"event:error\r\ndata: {}\r\n\r\n"));
        assert!(has_terminal(b"data: {\"type\":\"response.failed\"}\n\n"));
        assert!(!has_terminal(
            b"event: response.output_text.delta\ndata: {\"delta\":\"event: error\"}\n\n"
        ));
        assert!(!has_terminal(b": comment\n\n"));
        assert_eq!(frame_name(b"id: 1\nevent: x\ndata: y\n"), Some("x"));
    }

    #[test]
    fn splitter_passes_a_whole_chunk_without_copying() {
        let chunk = Bytes::from_static(b"data: 1\n\n");
        let mut sp = Splitter::new(64);
        let out = sp.push(chunk.clone()).unwrap().unwrap();
        assert_eq!(out.as_ptr(), chunk.as_ptr());
    }

    #[test]
    fn splitter_refuses_an_event_over_the_limit() {
        let mut sp = Splitter::new(16);
        assert!(sp.push(Bytes::from_static(b"data: 0123456789")).is_ok());
        assert_eq!(
            sp.push(Bytes::from_static(b"0123456789")),
            Err(EventTooLarge { limit: 16 })
        );
    }

    #[test]
    fn events_join_data_lines_and_skip_comments() {
        let block = b": keep-alive\n\nevent: x\ndata: a\ndata: b\nid: 7\n\ndata:c\n\n";
        let got: Vec<_> = events(block).collect();
        assert_eq!(
            got,
            vec![
                Event {
                    name: Some("x"),
                    data: Cow::Owned("a\nb".into())
                },
                Event {
                    name: None,
                    data: Cow::Borrowed("c")
                },
            ]
        );
    }

    #[test]
    fn the_last_event_line_names_a_frame_whichever_way_it_is_read() {
        let frame = b"event: response.created\nevent: error\ndata: {}\n";
        assert_eq!(frame_name(frame), Some("error"));
        assert_eq!(parse_frame(frame).unwrap().name, Some("error"));
        assert!(has_terminal(
            b"event: response.created\nevent: error\ndata: {}\n\n"
        ));
    }

    #[test]
    fn kind_falls_back_to_the_json_type() {
        let e = Event {
            name: None,
            data: Cow::Borrowed(r#"{"type":"response.completed","x":1}"#),
        };
        assert_eq!(e.kind().as_deref(), Some("response.completed"));
        let e = Event {
            name: None,
            data: Cow::Borrowed(r#"{"x":1,"type":"error"}"#),
        };
        assert_eq!(e.kind().as_deref(), Some("error"));
        assert_eq!(json_type("not json"), None);
    }
}
