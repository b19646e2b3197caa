//! Upstream Responses events rewritten as `chat.completion.chunk`s, one event at a time.
//!
//! The caller owns the wire: it sends each returned value with [`sse_data`] and
//! ends every stream, after a success or an error chunk alike, with [`DONE`].
//! OpenAI's SDKs stop reading at `[DONE]` and raise on an `{"error":…}` chunk
//! before they get there; the Vercel AI SDK reports the error chunk and skips
//! `[DONE]`; clients that wait for `[DONE]` to close would hang without it.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::error::ErrorKind;

use super::{SUMMARY_SEPARATOR, chat_usage, completion_id, finish_reason, unix_now};

/// The line that ends every chunk stream.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// One chunk as a Server-Sent Event. No `event:` line: OpenAI's SDKs only look
/// for an `error` chunk in events without a name.
pub fn sse_data(chunk: &Value) -> Bytes {
    Bytes::from(format!("data: {chunk}\n\n"))
}

/// The state of one chunk stream: which chunks went out, which tool calls are open.
#[derive(Debug)]
pub struct ChunkStream {
    model: String,
    include_usage: bool,
    /// Fixed by the first chunk, so that every chunk of a stream agrees.
    id: Option<String>,
    created: Option<u64>,
    role_sent: bool,
    finished: bool,
    /// Function calls in the order they started; a call's position is its chunk `index`.
    calls: Vec<Call>,
    /// Output items whose text came as deltas, so their `done` text is not sent twice.
    text_streamed: Vec<u64>,
    /// `(output_index, summary_index)` of the last reasoning summary delta.
    last_summary: Option<(u64, u64)>,
}

#[derive(Debug)]
struct Call {
    output_index: Option<u64>,
    arguments_sent: bool,
}

impl ChunkStream {
    /// `model` is the name the client asked for; `include_usage` is
    /// `stream_options.include_usage`.
    pub fn new(model: impl Into<String>, include_usage: bool) -> Self {
        ChunkStream {
            model: model.into(),
            include_usage,
            id: None,
            created: None,
            role_sent: false,
            finished: false,
            calls: Vec::new(),
            text_streamed: Vec::new(),
            last_summary: None,
        }
    }

    /// Whether the stream has sent its last chunk (a finish, or an error). A
    /// caller whose upstream ends before that calls [`Self::on_upstream_failure`].
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Takes one upstream event's JSON and returns the chunks it produces.
    pub fn on_event(&mut self, event: &Value) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        let output_index = event.get("output_index").and_then(Value::as_u64);
        let delta = event.get("delta").and_then(Value::as_str).unwrap_or("");
        match event.get("type").and_then(Value::as_str).unwrap_or("") {
            "response.created" | "response.in_progress" => {
                if let Some(response) = event.get("response") {
                    self.identify(response);
                }
                self.send(Vec::new())
            }
            "response.output_text.delta" => {
                if let Some(i) = output_index
                    && !self.text_streamed.contains(&i)
                {
                    self.text_streamed.push(i);
                }
                self.send_delta(json!({ "content": delta }))
            }
            "response.refusal.delta" => self.send_delta(json!({ "refusal": delta })),
            "response.reasoning_summary_text.delta" => {
                let at = output_index.zip(event.get("summary_index").and_then(Value::as_u64));
                self.summary_delta(at, delta)
            }
            "response.output_item.added" => match event.get("item") {
                Some(item) if is_function_call(item) => self.start_call(output_index, item),
                _ => Vec::new(),
            },
            "response.function_call_arguments.delta" => match self.call_at(output_index) {
                Some(index) => {
                    self.calls[index].arguments_sent = true;
                    self.send_arguments(index, delta)
                }
                None => Vec::new(),
            },
            "response.output_item.done" => match event.get("item") {
                Some(item) if is_function_call(item) => self.finish_call(output_index, item),
                Some(item) => self.unstreamed_text(output_index, item),
                None => Vec::new(),
            },
            "response.completed" | "response.incomplete" => {
                self.finish(event.get("response").unwrap_or(&Value::Null))
            }
            "response.failed" => {
                let error = event.pointer("/response/error").unwrap_or(&Value::Null);
                self.fail(error)
            }
            "error" => self.fail(event.get("error").unwrap_or(event)),
            _ => Vec::new(),
        }
    }

    /// Ends the stream with an error chunk when the upstream broke off (a
    /// transport error, an idle timeout, a stream closed before its last event).
    pub fn on_upstream_failure(&mut self, message: &str) -> Vec<Value> {
        self.on_upstream_error(message, "bad_gateway")
    }

    /// As [`ChunkStream::on_upstream_failure`], with the error's own code
    /// (`upstream_idle_timeout`, …), as the other doors give it.
    pub fn on_upstream_error(&mut self, message: &str, code: &str) -> Vec<Value> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        vec![error_chunk(message, ErrorKind::Upstream, Some(code))]
    }

    /// Fixes the completion id and creation time from the upstream response,
    /// unless an earlier event already did.
    fn identify(&mut self, response: &Value) {
        self.id
            .get_or_insert_with(|| completion_id(response.get("id").and_then(Value::as_str)));
        if let Some(at) = response.get("created_at").and_then(Value::as_u64) {
            self.created.get_or_insert(at);
        }
    }

    /// A summary delta at `(output_index, summary_index)`; one that starts a
    /// new summary part is separated from the last, as in the collected answer.
    fn summary_delta(&mut self, at: Option<(u64, u64)>, delta: &str) -> Vec<Value> {
        let starts_a_new_part = self.last_summary.is_some() && self.last_summary != at;
        self.last_summary = at;
        let text = if starts_a_new_part {
            format!("{SUMMARY_SEPARATOR}{delta}")
        } else {
            delta.to_owned()
        };
        self.send_delta(json!({ "reasoning_content": text }))
    }

    /// The chunk `index` of the call at this output index, if it started.
    fn call_at(&self, output_index: Option<u64>) -> Option<usize> {
        self.calls
            .iter()
            .position(|c| c.output_index == output_index)
    }

    fn start_call(&mut self, output_index: Option<u64>, item: &Value) -> Vec<Value> {
        let index = self.calls.len();
        self.calls.push(Call {
            output_index,
            arguments_sent: false,
        });
        self.send_delta(json!({
            "tool_calls": [{
                "index": index,
                "id": item.get("call_id").cloned().unwrap_or(Value::Null),
                "type": "function",
                "function": {
                    "name": item.get("name").cloned().unwrap_or(Value::Null),
                    "arguments": "",
                },
            }]
        }))
    }

    /// Sends the arguments of a call whose deltas never came, once; and the
    /// whole call if even its start was missed.
    fn finish_call(&mut self, output_index: Option<u64>, item: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        let index = match self.call_at(output_index) {
            Some(index) => index,
            None => {
                out = self.start_call(output_index, item);
                self.calls.len() - 1
            }
        };
        let arguments = item.get("arguments").and_then(Value::as_str).unwrap_or("");
        if !self.calls[index].arguments_sent && !arguments.is_empty() {
            self.calls[index].arguments_sent = true;
            out.extend(self.send_arguments(index, arguments));
        }
        out
    }

    fn send_arguments(&mut self, index: usize, arguments: &str) -> Vec<Value> {
        self.send_delta(json!({
            "tool_calls": [{ "index": index, "function": { "arguments": arguments } }]
        }))
    }

    /// The text of a finished message whose deltas never came.
    fn unstreamed_text(&mut self, output_index: Option<u64>, item: &Value) -> Vec<Value> {
        if item.get("type").and_then(Value::as_str) != Some("message")
            || output_index.is_some_and(|i| self.text_streamed.contains(&i))
        {
            return Vec::new();
        }
        let text: String = item
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("output_text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect();
        if text.is_empty() {
            return Vec::new();
        }
        self.send_delta(json!({ "content": text }))
    }

    fn finish(&mut self, response: &Value) -> Vec<Value> {
        let reason = finish_reason(response, !self.calls.is_empty());
        let mut out = self.send(vec![(json!({}), Some(reason))]);
        if self.include_usage {
            let mut chunk = self.chunk(Vec::new());
            chunk["usage"] = response
                .get("usage")
                .filter(|u| u.is_object())
                .map_or(Value::Null, chat_usage);
            out.push(chunk);
        }
        self.finished = true;
        out
    }

    fn fail(&mut self, error: &Value) -> Vec<Value> {
        self.finished = true;
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the upstream response failed");
        let code = error.get("code").and_then(Value::as_str);
        // Errors the client can fix by changing its request; the rest are the upstream's.
        let kind = match code {
            Some("context_length_exceeded" | "invalid_prompt") => ErrorKind::InvalidRequest,
            _ => ErrorKind::Upstream,
        };
        vec![error_chunk(message, kind, code)]
    }

    fn send_delta(&mut self, delta: Value) -> Vec<Value> {
        self.send(vec![(delta, None)])
    }

    /// Chunks for these choice deltas, preceded by the role chunk if it has not gone out.
    fn send(&mut self, deltas: Vec<(Value, Option<&str>)>) -> Vec<Value> {
        let mut out = Vec::with_capacity(deltas.len() + 1);
        if !self.role_sent {
            self.role_sent = true;
            out.push(self.chunk(vec![json!({
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": null,
                "finish_reason": null,
            })]));
        }
        for (delta, finish) in deltas {
            out.push(self.chunk(vec![json!({
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish,
            })]));
        }
        out
    }

    fn chunk(&mut self, choices: Vec<Value>) -> Value {
        let id = self.id.get_or_insert_with(|| completion_id(None)).clone();
        let created = *self.created.get_or_insert_with(unix_now);
        let mut chunk = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": self.model,
            "choices": choices,
        });
        // OpenAI marks every chunk but the last with `usage: null` when usage was asked for.
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }
}

fn is_function_call(item: &Value) -> bool {
    item.get("type").and_then(Value::as_str) == Some("function_call")
}

/// OpenAI's in-stream error shape, which its SDKs raise as an `APIError`.
fn error_chunk(message: &str, kind: ErrorKind, code: Option<&str>) -> Value {
    json!({ "error": { "message": message, "type": kind.as_str(), "code": code } })
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
