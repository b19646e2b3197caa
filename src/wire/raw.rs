//! A JSON object held as its top-level fields' raw bytes. A Responses
//! request of a long conversation is mostly `input`, a MiB or more that the
//! backend's rules never need to look inside; parsing it into a tree and
//! writing it out again cost more than the rest of the proxy. Here the body
//! is scanned once (which also checks that it is JSON), each field keeps the
//! place of its value in the body as read, a rule reads or replaces only the
//! field it names, and the body is written by copying the untouched values'
//! bytes. A request nothing was changed in is the body as it came.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::ApiError;

/// A request body's top level: its fields in order, each value's bytes.
#[derive(Debug, Clone)]
pub struct RawRequest {
    source: Bytes,
    fields: Vec<(String, Slot)>,
    /// A field was set or removed (or a key was repeated): the body is
    /// written from the fields rather than handed back as it came.
    changed: bool,
    /// Words the refusal of a text the scan or a field's parse refused.
    refusal: Refusal,
}

/// The refusal of a text that is not a JSON object, in the words of the
/// door it came by (as the tree parser would refuse it there); `None` when
/// the tree parser takes it after all.
pub type Refusal = fn(&[u8]) -> Option<ApiError>;

/// A request body's refusal: [`crate::patch::parse_object`]'s.
fn body_refusal(source: &[u8]) -> Option<ApiError> {
    crate::patch::parse_object(source).err()
}

/// Where a field's value is.
#[derive(Debug, Clone)]
enum Slot {
    /// Its place in the body as read.
    Source(Range<usize>),
    /// Written by a rule.
    Owned(Bytes),
}

impl RawRequest {
    /// Reads a request body as a JSON object, with the same messages as
    /// [`crate::patch::parse_object`] for a body that is not one.
    pub fn parse(source: Bytes) -> Result<Self, ApiError> {
        Self::parse_with(source, body_refusal)
    }

    /// Reads a JSON object whose refusal `refusal` words (a socket's frame).
    pub fn parse_with(source: Bytes, refusal: Refusal) -> Result<Self, ApiError> {
        let fields = match top_level(&source) {
            Ok(fields) => fields,
            // The tree parser words the error; only a refused text pays for it.
            Err(_) => {
                return Err(refusal(&source).unwrap_or_else(|| {
                    ApiError::invalid_request("the request body is not valid JSON")
                }));
            }
        };
        let mut request = RawRequest {
            source,
            fields: Vec::with_capacity(fields.len()),
            changed: false,
            refusal,
        };
        for (key, range) in fields {
            // A repeated key: the last value wins, in the first one's place,
            // as a parsed map has it.
            match request.position(&key) {
                Some(i) => {
                    request.fields[i].1 = Slot::Source(range);
                    request.changed = true;
                }
                None => request.fields.push((key, Slot::Source(range))),
            }
        }
        Ok(request)
    }

    /// The raw bytes of `key`'s value.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        let i = self.position(key)?;
        Some(self.bytes_of(&self.fields[i].1))
    }

    /// The bytes of `key`'s value, sharing the body's buffer (no copy).
    pub fn get_bytes(&self, key: &str) -> Option<Bytes> {
        let i = self.position(key)?;
        Some(match &self.fields[i].1 {
            Slot::Source(range) => self.source.slice(range.clone()),
            Slot::Owned(bytes) => bytes.clone(),
        })
    }

    /// `key`'s value parsed, for the small fields the rules read; `None`
    /// when absent. The scan checked the JSON's syntax, not what only a
    /// parse finds (a lone surrogate, a number past f64): such a value is
    /// refused as the tree parser refuses the body.
    pub fn value(&self, key: &str) -> Result<Option<Value>, ApiError> {
        let Some(bytes) = self.get(key) else {
            return Ok(None);
        };
        serde_json::from_slice(bytes).map(Some).map_err(|e| {
            (self.refusal)(&self.source).unwrap_or_else(|| {
                ApiError::invalid_request(format!(
                    "the request body is not valid JSON: {e} in `{key}`"
                ))
            })
        })
    }

    /// A map of just `keys` (those present, parsed; a value only a parse
    /// refuses is left out), for what reads a few fields of a request.
    pub fn head(&self, keys: &[&str]) -> serde_json::Map<String, Value> {
        keys.iter()
            .filter_map(|key| Some(((*key).to_owned(), self.value(key).ok()??)))
            .collect()
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// The JSON type of `key`'s value, from its first byte.
    pub fn kind(&self, key: &str) -> Option<Kind> {
        self.get(key).map(Kind::of)
    }

    /// Sets `key` to `value` (JSON text): in its place when present, last
    /// otherwise, as inserting into a parsed map does.
    pub fn set_raw(&mut self, key: &str, value: Bytes) {
        self.changed = true;
        match self.position(key) {
            Some(i) => self.fields[i].1 = Slot::Owned(value),
            None => self.fields.push((key.to_owned(), Slot::Owned(value))),
        }
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: &str, value: &Value) {
        // A `Value` always serializes: its keys are strings.
        self.set_raw(
            key,
            Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
        );
    }

    /// Removes `key`, keeping the others in order; whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some(i) = self.position(key) else {
            return false;
        };
        self.fields.remove(i);
        self.changed = true;
        true
    }

    /// Whether the body to send differs from the one read.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// The body: the one read when nothing changed (no copy), else the
    /// fields written in order, untouched values copied as they came.
    pub fn to_bytes(&self) -> Bytes {
        self.to_bytes_placing("").0
    }

    /// [`RawRequest::to_bytes`], and where `key`'s value is in it.
    pub fn to_bytes_placing(&self, key: &str) -> (Bytes, Option<Range<usize>>) {
        if !self.changed {
            let place = self.position(key).and_then(|i| match &self.fields[i].1 {
                Slot::Source(range) => Some(range.clone()),
                Slot::Owned(_) => None,
            });
            return (self.source.clone(), place);
        }
        let size = self
            .fields
            .iter()
            .map(|(k, v)| k.len() + self.bytes_of(v).len() + 8)
            .sum::<usize>()
            + 2;
        let mut out = BytesMut::with_capacity(size);
        let mut place = None;
        out.put_u8(b'{');
        for (n, (name, slot)) in self.fields.iter().enumerate() {
            if n > 0 {
                out.put_u8(b',');
            }
            // A `str` always serializes.
            out.put_slice(&serde_json::to_vec(name).unwrap_or_default());
            out.put_u8(b':');
            let value = self.bytes_of(slot);
            if name == key {
                place = Some(out.len()..out.len() + value.len());
            }
            out.put_slice(value);
        }
        out.put_u8(b'}');
        (out.freeze(), place)
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.fields.iter().position(|(k, _)| k == key)
    }

    fn bytes_of<'a>(&'a self, slot: &'a Slot) -> &'a [u8] {
        match slot {
            Slot::Source(range) => &self.source[range.clone()],
            Slot::Owned(bytes) => bytes,
        }
    }
}

/// A JSON value's type, read from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl Kind {
    fn of(bytes: &[u8]) -> Kind {
        match bytes.first() {
            Some(b'n') => Kind::Null,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'"') => Kind::String,
            Some(b'[') => Kind::Array,
            Some(b'{') => Kind::Object,
            _ => Kind::Number,
        }
    }

    /// As [`crate::patch`] names types in its messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "a boolean",
            Kind::Number => "a number",
            Kind::String => "a string",
            Kind::Array => "a list",
            Kind::Object => "an object",
        }
    }
}

/// The items of a JSON array's text, without its brackets (empty for `[]`).
pub fn array_items(array: &[u8]) -> &[u8] {
    let inner = array
        .strip_prefix(b"[")
        .and_then(|a| a.strip_suffix(b"]"))
        .unwrap_or(array);
    inner.trim_ascii()
}

/// The top level of `source`: each key and its value's place in it.
fn top_level(source: &[u8]) -> Result<Vec<(String, Range<usize>)>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(source);
    let fields = deserializer.deserialize_map(Fields {
        base: source.as_ptr() as usize,
    })?;
    deserializer.end()?;
    Ok(fields)
}

struct Fields {
    base: usize,
}

impl<'de> Visitor<'de> for Fields {
    type Value = Vec<(String, Range<usize>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value: &'de RawValue = map.next_value()?;
            let text = value.get();
            // A borrowed raw value is a slice of the source.
            let start = text.as_ptr() as usize - self.base;
            fields.push((key.into_owned(), start..start + text.len()));
        }
        Ok(fields)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parsed(text: &str) -> RawRequest {
        RawRequest::parse(Bytes::from(text.to_owned())).unwrap()
    }

    #[test]
    fn a_field_is_placed_in_the_body_sent_changed_or_not() {
        let text = "{\"model\":\"m\",\"input\":[{\"a\":1}],\"tools\":[]}";
        let mut request = parsed(text);
        let (out, place) = request.to_bytes_placing("input");
        assert_eq!(&out[place.unwrap()], b"[{\"a\":1}]");
        request.set_raw("model", Bytes::from_static(b"\"a-longer-model\""));
        request.set_raw("store", Bytes::from_static(b"false"));
        let (out, place) = request.to_bytes_placing("input");
        assert_eq!(out, request.to_bytes());
        assert_eq!(&out[place.unwrap()], b"[{\"a\":1}]");
        assert_eq!(request.to_bytes_placing("absent").1, None);
    }

    #[test]
    fn an_unchanged_request_is_the_body_as_it_came_without_a_copy() {
        let text = "{ \"model\" : \"m\",\n \"input\": [ {\"a\": 1} ] }";
        let source = Bytes::from(text);
        let request = RawRequest::parse(source.clone()).unwrap();
        let out = request.to_bytes();
        assert_eq!(out, source);
        assert_eq!(out.as_ptr(), source.as_ptr());
        assert_eq!(request.get("input"), Some(&b"[ {\"a\": 1} ]"[..]));
        assert_eq!(request.kind("input"), Some(Kind::Array));
        assert_eq!(request.value("model").unwrap(), Some(json!("m")));
    }

    #[test]
    fn set_and_remove_keep_the_order_a_parsed_map_has() {
        let mut request = parsed(r#"{"a":1,"b":[2, 3],"c":"x"}"#);
        request.set("a", &json!({"k": true}));
        request.set("d", &json!(null));
        assert!(request.remove("c"));
        assert!(!request.remove("zz"));
        assert_eq!(
            &request.to_bytes()[..],
            br#"{"a":{"k":true},"b":[2, 3],"d":null}"#
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_its_last_value() {
        let request = parsed(r#"{"a":1,"b":2,"a":3}"#);
        assert!(request.is_changed());
        assert_eq!(&request.to_bytes()[..], br#"{"a":3,"b":2}"#);
    }

    #[test]
    fn escaped_keys_are_written_escaped() {
        let mut request = parsed(r#"{"q\"uote":1,"\u00e9":2}"#);
        request.set("x", &json!(0));
        let out: Value = serde_json::from_slice(&request.to_bytes()).unwrap();
        assert_eq!(out, json!({"q\"uote": 1, "é": 2, "x": 0}));
    }

    #[test]
    fn what_is_not_an_object_is_refused_as_the_tree_parser_words_it() {
        for body in [&b""[..], b"[1]", b"{\"a\":", b"{\"a\":\"\xff\"}", b"{} x"] {
            let raw = RawRequest::parse(Bytes::copy_from_slice(body)).unwrap_err();
            let tree = crate::patch::parse_object(body).unwrap_err();
            assert_eq!(raw.message, tree.message, "{body:?}");
        }
    }

    #[test]
    fn a_value_only_a_parse_refuses_is_refused_as_the_tree_parser_words_it() {
        let body = br#"{"model": "m", "input": "\ud800"}"#;
        let request = RawRequest::parse(Bytes::from_static(body)).unwrap();
        let tree = crate::patch::parse_object(body).unwrap_err();
        assert_eq!(request.value("input").unwrap_err().message, tree.message);
        assert_eq!(request.value("model").unwrap(), Some(json!("m")));
    }

    #[test]
    fn array_items_are_the_text_between_the_brackets() {
        assert_eq!(array_items(b"[ ]"), b"");
        assert_eq!(array_items(b"[1, [2]]"), b"1, [2]");
    }
}
