//! Upstream Responses events rewritten as Anthropic's event stream, one event
//! at a time.
//!
//! The grammar, and nothing else: `message_start`; per content block
//! `content_block_start`, `content_block_delta`s (`text_delta`,
//! `input_json_delta`, `thinking_delta`, `signature_delta`),
//! `content_block_stop`, with indices dense from 0 in order; `ping`s when the
//! caller asks for them; `message_delta` (stop reason, usage) and
//! `message_stop`; or, on a failure, one `error` event, after which the caller
//! closes the stream.
//!
//! One block is open at a time, as in Anthropic's streams: the backend sends
//! output items one after another, and a block ends when its item is done or
//! when the next block begins. Text, tool arguments and reasoning summaries
//! stream as their deltas arrive; what came only with a finished item (a
//! signature, arguments never streamed, a web search) is sent then.

use bytes::Bytes;
use serde_json::{Value, json};

use super::errors::MessagesError;
use super::response::{item_signature, message_part, tool_start};
use super::tools::ToolNames;
use super::{
    SUMMARY_SEPARATOR, anthropic_usage, message_id, stop_reason, summary_text, web_search_blocks,
};

/// The name of an Anthropic stream event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    MessageStart,
    ContentBlockStart,
    ContentBlockDelta,
    ContentBlockStop,
    MessageDelta,
    MessageStop,
    Ping,
    Error,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::MessageStart => "message_start",
            EventName::ContentBlockStart => "content_block_start",
            EventName::ContentBlockDelta => "content_block_delta",
            EventName::ContentBlockStop => "content_block_stop",
            EventName::MessageDelta => "message_delta",
            EventName::MessageStop => "message_stop",
            EventName::Ping => "ping",
            EventName::Error => "error",
        }
    }
}

/// One event of the stream; `data` carries the same `type` as `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub name: EventName,
    pub data: Value,
}

impl SseEvent {
    fn new(name: EventName, fields: Value) -> SseEvent {
        let mut data = json!({ "type": name.as_str() });
        if let (Value::Object(data), Value::Object(fields)) = (&mut data, fields) {
            data.extend(fields);
        }
        SseEvent { name, data }
    }

    /// The event on the wire: `event:` and `data:` lines, as Anthropic sends them.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(format!(
            "event: {}\ndata: {}\n\n",
            self.name.as_str(),
            self.data
        ))
    }
}

/// Which upstream output a content block shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Text { item: u64, part: u64 },
    Tool(u64),
    Thinking(u64),
    WebSearch(u64),
}

#[derive(Debug, Clone, Copy)]
struct Open {
    source: Source,
    index: u64,
}

/// What is known of one upstream output item.
#[derive(Debug, Default)]
struct Item {
    output_index: u64,
    /// Deltas of it went out, so its finished form is not sent again.
    streamed: bool,
    /// The summary part of the last reasoning delta, to separate parts.
    last_summary: Option<u64>,
    /// The `tool_use` start block of a function call.
    tool: Option<Value>,
    done: bool,
}

/// The state of one Anthropic stream.
#[derive(Debug)]
pub struct StreamTranslator {
    model: String,
    names: ToolNames,
    id: Option<String>,
    started: bool,
    finished: bool,
    next_index: u64,
    open: Option<Open>,
    items: Vec<Item>,
    called_tools: bool,
    refused: bool,
    web_searches: u64,
}

impl StreamTranslator {
    /// `model` is the name the client asked for; `names` the request's renamed
    /// tools ([`super::Translated::tool_names`]).
    pub fn new(model: impl Into<String>, names: ToolNames) -> Self {
        StreamTranslator {
            model: model.into(),
            names,
            id: None,
            started: false,
            finished: false,
            next_index: 0,
            open: None,
            items: Vec::new(),
            called_tools: false,
            refused: false,
            web_searches: 0,
        }
    }

    /// Whether the stream has sent its last event (`message_stop` or `error`).
    /// A caller whose upstream ends before that calls [`Self::finish_with_error`].
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// A `ping`, for a caller whose upstream has been quiet for a while
    /// (preceded by `message_start` if that has not gone out yet).
    pub fn ping(&mut self) -> Vec<SseEvent> {
        if self.finished {
            return Vec::new();
        }
        let mut out = Vec::new();
        self.start(&mut out);
        out.push(SseEvent::new(EventName::Ping, json!({})));
        out
    }

    /// Ends the stream with an `error` event: the upstream broke off, timed
    /// out, or could not be reached. Nothing is sent once the stream finished.
    pub fn finish_with_error(&mut self, error: &MessagesError) -> Vec<SseEvent> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        vec![SseEvent {
            name: EventName::Error,
            data: error.body(),
        }]
    }

    /// Takes one upstream event's JSON and returns the events it produces.
    pub fn on_event(&mut self, event: &Value) -> Vec<SseEvent> {
        if self.finished {
            return Vec::new();
        }
        let mut out = Vec::new();
        let at = event
            .get("output_index")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let delta = event.get("delta").and_then(Value::as_str).unwrap_or("");
        match event.get("type").and_then(Value::as_str).unwrap_or("") {
            "response.created" | "response.in_progress" => {
                if self.id.is_none() {
                    self.id = event
                        .pointer("/response/id")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                }
                self.start(&mut out);
            }
            kind @ ("response.output_text.delta" | "response.refusal.delta") => {
                self.refused |= kind == "response.refusal.delta";
                let part = event
                    .get("content_index")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                self.item(at).streamed = true;
                self.text(&mut out, at, part, delta);
            }
            "response.reasoning_summary_text.delta" => {
                let part = event.get("summary_index").and_then(Value::as_u64);
                self.summary(&mut out, at, part, delta);
            }
            "response.output_item.added" => {
                if let Some(item) = event.get("item").filter(|i| i["type"] == "function_call") {
                    self.item(at).tool = Some(tool_start(item, &self.names));
                    self.open_tool(&mut out, at);
                }
            }
            "response.function_call_arguments.delta" => self.arguments(&mut out, at, delta),
            "response.output_item.done" => {
                if let Some(item) = event.get("item") {
                    self.item_done(&mut out, at, item);
                }
            }
            "response.completed" | "response.incomplete" => {
                self.finish(&mut out, event.get("response").unwrap_or(&Value::Null));
            }
            "response.failed" => {
                let error = event.pointer("/response/error").unwrap_or(&Value::Null);
                return self.finish_with_error(&MessagesError::from_upstream_failure(error));
            }
            "error" => {
                let error = event.get("error").unwrap_or(event);
                return self.finish_with_error(&MessagesError::from_upstream_failure(error));
            }
            _ => {}
        }
        out
    }

    /// Arguments as they arrive, into the call's `tool_use` block.
    fn arguments(&mut self, out: &mut Vec<SseEvent>, at: u64, delta: &str) {
        if self.item(at).done || !self.open_tool(out, at) {
            return;
        }
        self.item(at).streamed = true;
        self.delta(
            out,
            json!({"type": "input_json_delta", "partial_json": delta}),
        );
    }

    /// Reasoning summary text as it arrives; separate summary parts are
    /// joined into one thinking block.
    fn summary(&mut self, out: &mut Vec<SseEvent>, at: u64, part: Option<u64>, delta: &str) {
        let item = self.item(at);
        let new_part = item.last_summary.is_some() && item.last_summary != part;
        item.last_summary = part;
        item.streamed = true;
        if new_part {
            self.thinking(out, at, &format!("{SUMMARY_SEPARATOR}{delta}"));
        } else {
            self.thinking(out, at, delta);
        }
    }

    fn finish(&mut self, out: &mut Vec<SseEvent>, response: &Value) {
        self.start(out);
        self.close(out);
        let reason = stop_reason(response, self.called_tools, self.refused);
        out.push(SseEvent::new(
            EventName::MessageDelta,
            json!({
                "delta": {"stop_reason": reason, "stop_sequence": null},
                "usage": anthropic_usage(response.get("usage"), self.web_searches),
            }),
        ));
        out.push(SseEvent::new(EventName::MessageStop, json!({})));
        self.finished = true;
    }

    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = message_id(self.id.as_deref());
        out.push(SseEvent::new(
            EventName::MessageStart,
            json!({"message": {
                "id": id, "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": anthropic_usage(None, 0),
            }}),
        ));
    }

    fn text(&mut self, out: &mut Vec<SseEvent>, at: u64, part: u64, text: &str) {
        let source = Source::Text { item: at, part };
        self.open_block(out, source, json!({"type": "text", "text": ""}));
        self.delta(out, json!({"type": "text_delta", "text": text}));
    }

    /// Opens (or continues) the thinking block of item `at`, with `text` if any.
    fn thinking(&mut self, out: &mut Vec<SseEvent>, at: u64, text: &str) {
        let start = json!({"type": "thinking", "thinking": "", "signature": ""});
        self.open_block(out, Source::Thinking(at), start);
        if !text.is_empty() {
            self.delta(out, json!({"type": "thinking_delta", "thinking": text}));
        }
    }

    /// Opens (or continues) the `tool_use` block of item `at`; false when its
    /// start is unknown.
    fn open_tool(&mut self, out: &mut Vec<SseEvent>, at: u64) -> bool {
        match self.item(at).tool.clone() {
            Some(start) => {
                self.open_block(out, Source::Tool(at), start);
                true
            }
            None => false,
        }
    }

    fn open_block(&mut self, out: &mut Vec<SseEvent>, source: Source, block: Value) {
        if self.open.is_some_and(|open| open.source == source) {
            return;
        }
        self.start(out);
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(Open { source, index });
        out.push(SseEvent::new(
            EventName::ContentBlockStart,
            json!({"index": index, "content_block": block}),
        ));
    }

    fn delta(&mut self, out: &mut Vec<SseEvent>, delta: Value) {
        if let Some(open) = self.open {
            out.push(SseEvent::new(
                EventName::ContentBlockDelta,
                json!({"index": open.index, "delta": delta}),
            ));
        }
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if let Some(open) = self.open.take() {
            out.push(SseEvent::new(
                EventName::ContentBlockStop,
                json!({"index": open.index}),
            ));
        }
    }

    fn item(&mut self, output_index: u64) -> &mut Item {
        let at = match self
            .items
            .iter()
            .position(|i| i.output_index == output_index)
        {
            Some(at) => at,
            None => {
                self.items.push(Item {
                    output_index,
                    ..Item::default()
                });
                self.items.len() - 1
            }
        };
        &mut self.items[at]
    }
}

mod items;
mod wire;

#[cfg(test)]
mod tests;
