//! Server-Sent Events from the upstream: splitting a byte stream into whole
//! events, reading their fields, and assembling a collected answer.
//!
//! Everything here is pure: values in, values out.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use memchr::memmem;
use serde_json::{Map, Value};

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
fn last_boundary_end(buf: &[u8], from: usize) -> Option<usize> {
    let hay = &buf[from..];
    let lf = memmem::rfind(hay, b"\n\n").map(|i| i + 2);
    // A `\n\r\n` ending later than that `\n\n` starts at most one byte
    // before it ends: no need to scan the whole chunk a second time.
    let crlf_from = lf.map_or(0, |end| end - 1);
    let crlf = memmem::rfind(&hay[crlf_from..], b"\n\r\n").map(|i| crlf_from + i + 3);
    lf.max(crlf).map(|end| end + from)
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

/// The `event:` name of a frame, read without touching its data.
pub fn frame_name(frame: &[u8]) -> Option<&str> {
    lines(frame).find_map(|line| {
        let value = line.strip_prefix(b"event:")?;
        std::str::from_utf8(value.strip_prefix(b" ").unwrap_or(value)).ok()
    })
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

fn split_frame(buf: &[u8]) -> (&[u8], &[u8]) {
    let lf = memmem::find(buf, b"\n\n").map(|i| (i, 2));
    // A `\n\r\n` before the first `\n\n` at `i` ends by `i + 1`: looking
    // further would scan the rest of the block once per event.
    let crlf_hay = lf.map_or(buf, |(i, _)| &buf[..=i]);
    let crlf = memmem::find(crlf_hay, b"\n\r\n").map(|i| (i, 3));
    let cut = match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    };
    match cut {
        Some((i, len)) => (&buf[..=i], &buf[i + len..]),
        None => (buf, &[]),
    }
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

/// How a collected response ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `response.completed` or `response.incomplete`: the full response object.
    Finished(Value),
    /// `response.failed` or `error`: the upstream's error object (`{code, message, …}`).
    Failed(Value),
}

/// Builds one Responses object from the events of a stream. Only the events
/// that matter for the answer are parsed; text deltas are kept as raw text and
/// read only if an item never finishes.
#[derive(Debug, Default)]
pub struct Collector {
    /// Data of the last `response.created` / `response.in_progress`.
    latest_response: Option<String>,
    /// `(output_index, item)` from `response.output_item.done`.
    done_items: Vec<(u64, Value)>,
    /// Items announced by `response.output_item.added` and not yet done.
    open_items: Vec<(u64, Value)>,
    /// Raw `response.output_text.delta` data, for items that never finish.
    text_deltas: Vec<String>,
}

impl Collector {
    /// Whether an event of `kind` matters for the answer; others need not be
    /// read at all.
    pub fn wants(&self, kind: &str) -> bool {
        match kind {
            "response.output_text.delta" => !self.open_items.is_empty(),
            "response.created"
            | "response.in_progress"
            | "response.output_item.added"
            | "response.output_item.done"
            | "response.completed"
            | "response.incomplete"
            | "response.failed"
            | "error" => true,
            _ => false,
        }
    }

    /// Takes one event; returns the outcome once a terminal event arrives.
    pub fn push(&mut self, kind: &str, data: &str) -> Option<Outcome> {
        match kind {
            "response.created" | "response.in_progress" => {
                self.latest_response = Some(data.to_owned());
                None
            }
            "response.output_item.added" => {
                if let Some((i, item)) =
                    parse(data).and_then(|mut e| Some((output_index(&e)?, e.remove("item")?)))
                {
                    self.open_items.push((i, item));
                }
                None
            }
            "response.output_text.delta" => {
                if !self.open_items.is_empty() {
                    self.text_deltas.push(data.to_owned());
                }
                None
            }
            "response.output_item.done" => {
                if let Some((i, item)) =
                    parse(data).and_then(|mut e| Some((output_index(&e)?, e.remove("item")?)))
                {
                    self.open_items.retain(|o| o.0 != i);
                    self.done_items.push((i, item));
                }
                None
            }
            "response.completed" | "response.incomplete" => {
                // A terminal event we cannot read must not pass for an answer.
                let Some(mut event) = parse(data) else {
                    return Some(Outcome::Failed(serde_json::json!({
                        "code": "upstream_malformed_event",
                        "message": format!("the Codex backend ended the response with a {kind} event that is not a JSON object"),
                    })));
                };
                let response = event
                    .remove("response")
                    .filter(Value::is_object)
                    .or_else(|| {
                        let latest = parse(self.latest_response.as_deref()?)?;
                        latest.get("response").cloned()
                    })
                    .unwrap_or_else(|| Value::Object(Map::new()));
                Some(Outcome::Finished(self.finish(response)))
            }
            "response.failed" => {
                let error = parse(data)
                    .and_then(|mut e| e.get_mut("response")?.get_mut("error").map(Value::take))
                    .filter(|e| !e.is_null())
                    .unwrap_or_else(|| Value::Object(Map::new()));
                Some(Outcome::Failed(error))
            }
            "error" => {
                let error = match parse(data) {
                    Some(mut e) => match e.remove("error") {
                        Some(inner @ Value::Object(_)) => inner,
                        _ => Value::Object(e),
                    },
                    None => Value::Object(Map::new()),
                };
                Some(Outcome::Failed(error))
            }
            _ => None,
        }
    }

    /// Fills an empty `output` from the items seen in the stream, in `output_index` order.
    fn finish(&mut self, mut response: Value) -> Value {
        let empty = response
            .get("output")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty);
        if empty && let Value::Object(obj) = &mut response {
            let mut items = std::mem::take(&mut self.done_items);
            for (i, mut item) in std::mem::take(&mut self.open_items) {
                let text: String = self
                    .text_deltas
                    .iter()
                    .filter_map(|d| parse(d))
                    .filter(|d| output_index(d) == Some(i))
                    .filter_map(|d| d.get("delta").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                if !text.is_empty() && item.get("type").and_then(Value::as_str) == Some("message") {
                    item["content"] = serde_json::json!([
                        {"type": "output_text", "text": text, "annotations": []}
                    ]);
                    item["status"] = Value::from("completed");
                }
                items.push((i, item));
            }
            items.sort_by_key(|(i, _)| *i);
            obj.insert(
                "output".into(),
                Value::Array(items.into_iter().map(|(_, item)| item).collect()),
            );
        }
        response
    }
}

fn parse(data: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(data) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn output_index(event: &Map<String, Value>) -> Option<u64> {
    event.get("output_index").and_then(Value::as_u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    fn push(c: &mut Collector, event: Value) -> Option<Outcome> {
        let kind = event["type"].as_str().unwrap().to_owned();
        c.push(&kind, &event.to_string())
    }

    #[test]
    fn empty_completed_output_is_rebuilt_in_output_index_order() {
        let mut c = Collector::default();
        assert_eq!(
            push(
                &mut c,
                json!({"type":"response.created","response":{"id":"r","output":[]}})
            ),
            None
        );
        push(
            &mut c,
            json!({"type":"response.output_item.done","output_index":1,"item":{"id":"b"}}),
        );
        push(
            &mut c,
            json!({"type":"response.output_item.done","output_index":0,"item":{"id":"a"}}),
        );
        let out = push(
            &mut c,
            json!({"type":"response.completed","response":{"id":"r","status":"completed","output":[]}}),
        );
        assert_eq!(
            out,
            Some(Outcome::Finished(
                json!({"id":"r","status":"completed","output":[{"id":"a"},{"id":"b"}]})
            ))
        );
    }

    #[test]
    fn a_full_completed_output_is_kept_as_sent() {
        let mut c = Collector::default();
        push(
            &mut c,
            json!({"type":"response.output_item.done","output_index":0,"item":{"id":"other"}}),
        );
        let out = push(
            &mut c,
            json!({"type":"response.completed","response":{"output":[{"id":"kept"}]}}),
        );
        assert_eq!(
            out,
            Some(Outcome::Finished(json!({"output":[{"id":"kept"}]})))
        );
    }

    #[test]
    fn text_deltas_rebuild_a_message_that_never_finished() {
        let mut c = Collector::default();
        push(
            &mut c,
            json!({"type":"response.output_item.added","output_index":0,"item":{"type":"message","role":"assistant","content":[]}}),
        );
        push(
            &mut c,
            json!({"type":"response.output_text.delta","output_index":0,"delta":"Hel"}),
        );
        push(
            &mut c,
            json!({"type":"response.output_text.delta","output_index":0,"delta":"lo"}),
        );
        let out = push(
            &mut c,
            json!({"type":"response.completed","response":{"output":[]}}),
        );
        assert_eq!(
            out,
            Some(Outcome::Finished(
                json!({"output":[{"type":"message","role":"assistant","status":"completed",
                "content":[{"type":"output_text","text":"Hello","annotations":[]}]}]})
            ))
        );
    }

    #[test]
    fn an_unreadable_terminal_event_is_a_failure_not_an_answer() {
        let mut c = Collector::default();
        c.push(
            "response.created",
            r#"{"type":"response.created","response":{"status":"in_progress"}}"#,
        );
        let out = c.push("response.completed", "[1,2,3]");
        assert!(
            matches!(&out, Some(Outcome::Failed(e)) if e["code"] == "upstream_malformed_event"),
            "{out:?}"
        );
    }

    #[test]
    fn failed_and_error_events_yield_the_error_object() {
        let mut c = Collector::default();
        let out = push(
            &mut c,
            json!({"type":"response.failed","response":{"error":{"code":"slow_down","message":"m"}}}),
        );
        assert_eq!(
            out,
            Some(Outcome::Failed(json!({"code":"slow_down","message":"m"})))
        );
        let mut c = Collector::default();
        let out = push(&mut c, json!({"type":"error","code":"x","message":"m"}));
        assert_eq!(
            out,
            Some(Outcome::Failed(
                json!({"type":"error","code":"x","message":"m"})
            ))
        );
    }
}
