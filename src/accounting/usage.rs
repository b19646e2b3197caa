//! What one turn cost, read from the backend's own count: the `usage` of
//! the response its final event carries. A [`Meter`] rides along with one
//! turn (an HTTP answer or a WebSocket turn), is shown every block or frame
//! the turn's reader sees, and keeps the time of the first event and the
//! final usage for the turn's record. A turn whose final event carries no
//! usage has none: nothing is counted, not zero.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use memchr::memmem;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::sse;

/// Tokens one turn used, as the backend counted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens, the cached ones included.
    pub input: u64,
    /// Input tokens the prompt cache served.
    pub cached_input: u64,
    /// Output tokens, the reasoning ones included.
    pub output: u64,
    pub reasoning: u64,
}

impl Usage {
    /// The `usage` of a Responses object; `None` when it has none.
    pub fn of_response(response: &Value) -> Option<Usage> {
        Usage::of_usage(response.get("usage")?)
    }

    /// A Responses object's `usage`; `None` when it is not an object.
    fn of_usage(usage: &Value) -> Option<Usage> {
        let usage = usage.as_object()?;
        let count = |value: Option<&Value>| value.and_then(Value::as_u64).unwrap_or(0);
        let detail = |field: &str, name: &str| count(usage.get(field).and_then(|d| d.get(name)));
        Some(Usage {
            input: count(usage.get("input_tokens")),
            cached_input: detail("input_tokens_details", "cached_tokens"),
            output: count(usage.get("output_tokens")),
            reasoning: detail("output_tokens_details", "reasoning_tokens"),
        })
    }

    /// The usage a final event's JSON carries in its `response`.
    pub fn of_event(data: &str) -> Option<Usage> {
        // Most final events are large: look before parsing.
        memmem::find(data.as_bytes(), b"\"usage\"")?;
        // Only `response.usage` becomes a tree; the rest is skipped over.
        #[derive(Deserialize)]
        struct Event<'a> {
            #[serde(borrow)]
            response: Response<'a>,
        }
        #[derive(Deserialize)]
        struct Response<'a> {
            #[serde(borrow)]
            usage: &'a RawValue,
        }
        let event: Event = serde_json::from_str(data).ok()?;
        let usage = event.response.usage.get();
        match serde_json::from_str::<Counts>(usage) {
            Ok(counts) => Some(counts.into()),
            // A count that is not a whole number, details that are not an object.
            Err(_) => Usage::of_usage(&serde_json::from_str(usage).ok()?),
        }
    }

    pub fn add(&mut self, other: Usage) {
        self.input += other.input;
        self.cached_input += other.cached_input;
        self.output += other.output;
        self.reasoning += other.reasoning;
    }

    /// Each count with the `kind` label its counter carries.
    pub fn kinds(self) -> [(&'static str, u64); 4] {
        [
            ("input", self.input),
            ("cached_input", self.cached_input),
            ("output", self.output),
            ("reasoning", self.reasoning),
        ]
    }
}

/// A `usage` object as the backend writes it, read without building a tree;
/// anything else is read through [`Usage::of_usage`].
#[derive(Deserialize)]
struct Counts {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    input_tokens_details: Option<Details>,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    output_tokens_details: Option<Details>,
}

#[derive(Deserialize)]
struct Details {
    #[serde(default)]
    cached_tokens: u64,
    #[serde(default)]
    reasoning_tokens: u64,
}

impl From<Counts> for Usage {
    fn from(counts: Counts) -> Usage {
        Usage {
            input: counts.input_tokens,
            cached_input: counts.input_tokens_details.map_or(0, |d| d.cached_tokens),
            output: counts.output_tokens,
            reasoning: counts
                .output_tokens_details
                .map_or(0, |d| d.reasoning_tokens),
        }
    }
}

/// The share of input tokens the prompt cache served; `None` without input.
pub fn cache_hit_ratio(cached_input: u64, input: u64) -> Option<f64> {
    (input > 0).then(|| cached_input as f64 / input as f64)
}

/// What a [`Meter`] saw of its turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// The request's `reasoning.effort`.
    pub effort: Option<String>,
    pub first_event: Option<Instant>,
    pub usage: Option<Usage>,
}

/// One turn's reading, shared between the reader of its events and whoever
/// writes its record when it ends. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    /// Set once, without a lock: every block of a stream passes here.
    first_event: OnceLock<Instant>,
    effort: Mutex<Option<String>>,
    usage: Mutex<Option<Usage>>,
}

impl Meter {
    /// Notes what the request sent upstream asked for; returns the meter
    /// for the turn's event stream.
    pub fn sent(&self, body: &Map<String, Value>) -> Meter {
        let effort = body
            .get("reasoning")
            .and_then(|r| r.get("effort"))
            .and_then(Value::as_str);
        *lock(&self.0.effort) = effort.map(str::to_owned);
        self.clone()
    }

    /// A block of whole SSE events from the backend.
    pub fn block(&self, block: &[u8]) {
        let usage = if memmem::find(block, b"\"usage\"").is_some() {
            // Only a final event's data is read; the others are passed by name.
            sse::frames(block)
                .filter(|frame| sse::frame_kind(frame).is_some_and(|k| sse::is_terminal(&k)))
                .filter_map(sse::parse_frame)
                .find_map(|e| Usage::of_event(&e.data))
        } else {
            None
        };
        self.saw(usage);
    }

    /// One frame of the backend's WebSocket: an event's JSON.
    pub fn frame(&self, text: &str) {
        let terminal = sse::json_type(text).is_some_and(|k| sse::is_terminal(&k));
        self.saw(terminal.then(|| Usage::of_event(text)).flatten());
    }

    fn saw(&self, usage: Option<Usage>) {
        self.0.first_event.get_or_init(Instant::now);
        if usage.is_some() {
            *lock(&self.0.usage) = usage;
        }
    }

    /// What the turn showed so far.
    pub fn reading(&self) -> Reading {
        Reading {
            effort: lock(&self.0.effort).clone(),
            first_event: self.0.first_event.get().copied(),
            usage: *lock(&self.0.usage),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn completed(usage: Value) -> String {
        json!({"type": "response.completed", "response": {"id": "resp_1", "usage": usage}})
            .to_string()
    }

    fn full_usage() -> Value {
        json!({"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10},
               "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 3},
               "total_tokens": 38})
    }

    #[test]
    fn a_final_event_gives_input_cached_output_and_reasoning_tokens() {
        let usage = Usage::of_event(&completed(full_usage()));
        let expected = Usage {
            input: 30,
            cached_input: 10,
            output: 8,
            reasoning: 3,
        };
        assert_eq!(usage, Some(expected));
        // Whatever comes before the usage, escapes included, is skipped over.
        let long = json!({"type": "response.completed", "response": {
            "id": "r", "output": [{"type": "message", "content": [{"text": "a \"quoted\"\n\u{e9}"}]}],
            "usage": full_usage()}});
        assert_eq!(Usage::of_event(&long.to_string()), Some(expected));
        let bare = Usage::of_event(&completed(json!({"input_tokens": 4, "output_tokens": 2})));
        assert_eq!(bare.map(|u| (u.cached_input, u.reasoning)), Some((0, 0)));
        // A count that is not a whole number is none; the others still count.
        let odd = json!({"input_tokens": 4.5, "input_tokens_details": null, "output_tokens": 2,
                         "output_tokens_details": [1]});
        let odd = Usage::of_event(&completed(odd));
        assert_eq!(
            odd.map(|u| (u.input, u.cached_input, u.output, u.reasoning)),
            Some((0, 0, 2, 0))
        );
    }

    #[test]
    fn an_answer_without_usage_counts_nothing_rather_than_zero() {
        let event = json!({"type": "response.completed", "response": {"id": "r"}}).to_string();
        assert_eq!(Usage::of_event(&event), None);
        assert_eq!(Usage::of_event(&completed(Value::Null)), None);
        assert_eq!(Usage::of_event(&completed(json!(38))), None);
        let odd = json!({"type": "response.completed", "response": "\"usage\""}).to_string();
        assert_eq!(Usage::of_event(&odd), None);
        let meter = Meter::default();
        meter.block(format!("event: response.completed\ndata: {event}\n\n").as_bytes());
        let reading = meter.reading();
        assert!(reading.first_event.is_some());
        assert_eq!(reading.usage, None);
    }

    #[test]
    fn a_meter_reads_the_usage_of_the_terminal_event_only() {
        let meter = Meter::default();
        let body = json!({"model": "gpt-5", "reasoning": {"effort": "high"}});
        let Value::Object(body) = body else {
            unreachable!()
        };
        let shared = meter.sent(&body);
        // A text delta that mentions "usage" is not the turn's usage.
        let delta = json!({"type": "response.output_text.delta", "delta": "\"usage\"",
                           "response": {"usage": {"input_tokens": 999}}});
        shared.block(format!("event: response.output_text.delta\ndata: {delta}\n\n").as_bytes());
        assert_eq!(meter.reading().usage, None);
        let first = meter.reading().first_event;
        assert!(first.is_some());
        let end = completed(full_usage());
        shared.block(format!("event: response.completed\ndata: {end}\n\n").as_bytes());
        let reading = meter.reading();
        assert_eq!(reading.effort.as_deref(), Some("high"));
        assert_eq!(
            reading.first_event, first,
            "the first event stays the first"
        );
        assert_eq!(reading.usage.map(|u| u.input), Some(30));
    }

    #[test]
    fn a_socket_frame_is_read_like_an_event() {
        let meter = Meter::default();
        meter.frame(&json!({"type": "response.created", "response": {"id": "r"}}).to_string());
        assert_eq!(meter.reading().usage, None);
        meter.frame(&completed(full_usage()));
        assert_eq!(meter.reading().usage.map(|u| u.cached_input), Some(10));
    }

    #[test]
    fn the_cache_hit_ratio_is_cached_over_input() {
        assert_eq!(cache_hit_ratio(10, 40), Some(0.25));
        assert_eq!(cache_hit_ratio(0, 0), None);
        let mut total = Usage::default();
        total.add(Usage {
            input: 5,
            cached_input: 1,
            output: 2,
            reasoning: 1,
        });
        total.add(total);
        assert_eq!(
            total.kinds(),
            [
                ("input", 10),
                ("cached_input", 2),
                ("output", 4),
                ("reasoning", 2)
            ]
        );
    }
}
