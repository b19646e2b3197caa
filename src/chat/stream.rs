//! Upstream Responses events rewritten as `chat.completion.chunk`s, one event at a time.
//!
//! The caller owns the wire: it sends each returned value with [`sse_data`] and
//! ends every stream, after a success or an error chunk alike, with [`DONE`].
//! OpenAI's SDKs stop reading at `[DONE]` and raise on an `{"error":…}` chunk
//! before they get there; the Vercel AI SDK reports the error chunk and skips
//! `[DONE]`; clients that wait for `[DONE]` to close would hang without it.

use bytes::Bytes;
use serde_json::{Value, json};

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
                    self.id.get_or_insert_with(|| {
                        completion_id(response.get("id").and_then(Value::as_str))
                    });
                    if let Some(at) = response.get("created_at").and_then(Value::as_u64) {
                        self.created.get_or_insert(at);
                    }
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
                let starts_a_new_part = self.last_summary.is_some() && self.last_summary != at;
                self.last_summary = at;
                let text = if starts_a_new_part {
                    format!("{SUMMARY_SEPARATOR}{delta}")
                } else {
                    delta.to_owned()
                };
                self.send_delta(json!({ "reasoning_content": text }))
            }
            "response.output_item.added" => match event.get("item") {
                Some(item) if is_function_call(item) => self.start_call(output_index, item),
                _ => Vec::new(),
            },
            "response.function_call_arguments.delta" => {
                match self
                    .calls
                    .iter()
                    .position(|c| c.output_index == output_index)
                {
                    Some(index) => {
                        self.calls[index].arguments_sent = true;
                        self.send_arguments(index, delta)
                    }
                    None => Vec::new(),
                }
            }
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
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        vec![error_chunk(message, "upstream_error", Some("bad_gateway"))]
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
        let index = match self
            .calls
            .iter()
            .position(|c| c.output_index == output_index)
        {
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
            Some("context_length_exceeded" | "invalid_prompt") => "invalid_request_error",
            _ => "upstream_error",
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
fn error_chunk(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({ "error": { "message": message, "type": kind, "code": code } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stream: &mut ChunkStream, events: &[Value]) -> Vec<Value> {
        events.iter().flat_map(|e| stream.on_event(e)).collect()
    }

    fn created() -> Value {
        json!({"type": "response.created",
               "response": {"id": "resp_1", "created_at": 7, "status": "in_progress", "output": []}})
    }

    /// A chunk of the `resp_1` stream.
    fn chunk(delta: Value, finish: Value) -> Value {
        json!({
            "id": "chatcmpl-resp_1",
            "object": "chat.completion.chunk",
            "created": 7,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    }

    fn role() -> Value {
        chunk(json!({"role": "assistant", "content": ""}), Value::Null)
    }

    fn with_null_usage(mut chunk: Value) -> Value {
        chunk["usage"] = Value::Null;
        chunk
    }

    fn text_delta(i: u64, delta: &str) -> Value {
        json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": i,
               "content_index": 0, "delta": delta})
    }

    fn completed(response: Value) -> Value {
        json!({"type": "response.completed", "response": response})
    }

    #[test]
    fn text_streams_as_role_then_content_then_one_finish_then_usage() {
        let mut stream = ChunkStream::new("m", true);
        let got = run(
            &mut stream,
            &[
                created(),
                json!({"type": "response.in_progress", "response": {"id": "resp_1"}}),
                json!({"type": "response.output_item.added", "output_index": 0,
                       "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}}),
                text_delta(0, "Hel"),
                text_delta(0, "lo"),
                json!({"type": "response.output_item.done", "output_index": 0,
                       "item": {"type": "message", "id": "msg_1", "role": "assistant",
                                "content": [{"type": "output_text", "text": "Hello"}]}}),
                completed(json!({"id": "resp_1", "status": "completed", "output": [],
                                 "usage": {"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}})),
            ],
        );
        assert_eq!(
            got,
            vec![
                with_null_usage(role()),
                with_null_usage(chunk(json!({"content": "Hel"}), Value::Null)),
                with_null_usage(chunk(json!({"content": "lo"}), Value::Null)),
                with_null_usage(chunk(json!({}), json!("stop"))),
                json!({
                    "id": "chatcmpl-resp_1",
                    "object": "chat.completion.chunk",
                    "created": 7,
                    "model": "m",
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 9,
                        "completion_tokens": 2,
                        "total_tokens": 11,
                        "prompt_tokens_details": {"cached_tokens": 0},
                        "completion_tokens_details": {"reasoning_tokens": 0},
                    },
                }),
            ]
        );
        assert!(stream.is_finished());
    }

    #[test]
    fn parallel_function_calls_stream_as_tool_calls_indexed_from_zero() {
        let call = |i: u64, id: &str, args: &str| {
            json!({"type": "function_call", "id": format!("fc_{i}"), "call_id": id,
                   "name": "weather", "arguments": args})
        };
        let args = |i: u64, delta: &str| {
            json!({"type": "response.function_call_arguments.delta", "output_index": i,
                   "item_id": format!("fc_{i}"), "delta": delta})
        };
        let mut stream = ChunkStream::new("m", false);
        let got = run(
            &mut stream,
            &[
                created(),
                json!({"type": "response.output_item.added", "output_index": 1, "item": call(1, "call_a", "")}),
                args(1, "{\"city\":"),
                args(1, "\"Paris\"}"),
                json!({"type": "response.output_item.done", "output_index": 1,
                       "item": call(1, "call_a", "{\"city\":\"Paris\"}")}),
                json!({"type": "response.output_item.added", "output_index": 2, "item": call(2, "call_b", "")}),
                args(2, "{\"city\":\"Rome\"}"),
                json!({"type": "response.output_item.done", "output_index": 2,
                       "item": call(2, "call_b", "{\"city\":\"Rome\"}")}),
                completed(json!({"id": "resp_1", "status": "completed", "output": []})),
            ],
        );
        let start = |index: u64, id: &str| {
            chunk(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                                       "function": {"name": "weather", "arguments": ""}}]}),
                Value::Null,
            )
        };
        let more = |index: u64, arguments: &str| {
            chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]}),
                Value::Null,
            )
        };
        assert_eq!(
            got,
            vec![
                role(),
                start(0, "call_a"),
                more(0, "{\"city\":"),
                more(0, "\"Paris\"}"),
                start(1, "call_b"),
                more(1, "{\"city\":\"Rome\"}"),
                chunk(json!({}), json!("tool_calls")),
            ]
        );
    }

    #[test]
    fn arguments_that_only_come_with_the_finished_item_are_sent_once() {
        let item =
            json!({"type": "function_call", "call_id": "call_1", "name": "now", "arguments": "{}"});
        let mut stream = ChunkStream::new("m", false);
        let got = run(
            &mut stream,
            &[
                created(),
                json!({"type": "response.output_item.added", "output_index": 0,
                       "item": {"type": "function_call", "call_id": "call_1", "name": "now", "arguments": ""}}),
                json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
                json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
            ],
        );
        assert_eq!(
            got,
            vec![
                role(),
                chunk(
                    json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                           "function": {"name": "now", "arguments": ""}}]}),
                    Value::Null
                ),
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
                    Value::Null
                ),
            ]
        );
    }

    #[test]
    fn finish_reason_is_sent_exactly_once() {
        let mut stream = ChunkStream::new("m", false);
        let done = completed(json!({"id": "resp_1", "status": "completed"}));
        let mut got = run(
            &mut stream,
            &[created(), text_delta(0, "Hi"), done.clone(), done],
        );
        got.extend(stream.on_upstream_failure("stream closed"));
        got.extend(stream.on_event(&text_delta(0, "late")));
        assert_eq!(
            got,
            vec![
                role(),
                chunk(json!({"content": "Hi"}), Value::Null),
                chunk(json!({}), json!("stop")),
            ]
        );
    }

    #[test]
    fn incomplete_for_max_output_tokens_finishes_with_length() {
        let mut stream = ChunkStream::new("m", false);
        let got = run(
            &mut stream,
            &[
                created(),
                text_delta(0, "Once upon"),
                json!({"type": "response.incomplete", "response": {
                    "id": "resp_1", "status": "incomplete",
                    "incomplete_details": {"reason": "max_output_tokens"}}}),
            ],
        );
        assert_eq!(
            got,
            vec![
                role(),
                chunk(json!({"content": "Once upon"}), Value::Null),
                chunk(json!({}), json!("length")),
            ]
        );
    }

    #[test]
    fn reasoning_summary_deltas_become_reasoning_content_with_parts_separated() {
        let summary = |s: u64, delta: &str| {
            json!({"type": "response.reasoning_summary_text.delta", "item_id": "rs_1",
                   "output_index": 0, "summary_index": s, "delta": delta})
        };
        let mut stream = ChunkStream::new("m", false);
        let got = run(
            &mut stream,
            &[
                created(),
                summary(0, "Plan"),
                summary(0, " it."),
                summary(1, "Do it."),
            ],
        );
        assert_eq!(
            got,
            vec![
                role(),
                chunk(json!({"reasoning_content": "Plan"}), Value::Null),
                chunk(json!({"reasoning_content": " it."}), Value::Null),
                chunk(json!({"reasoning_content": "\n\nDo it."}), Value::Null),
            ]
        );
    }

    #[test]
    fn a_message_without_text_deltas_is_sent_whole_when_it_finishes() {
        let mut stream = ChunkStream::new("m", false);
        let got = run(
            &mut stream,
            &[
                created(),
                json!({"type": "response.output_item.done", "output_index": 0,
                       "item": {"type": "message", "role": "assistant",
                                "content": [{"type": "output_text", "text": "Whole"}]}}),
            ],
        );
        assert_eq!(
            got,
            vec![role(), chunk(json!({"content": "Whole"}), Value::Null)]
        );
    }

    #[test]
    fn upstream_failure_mid_stream_ends_with_an_error_chunk() {
        let mut stream = ChunkStream::new("m", true);
        let got = run(
            &mut stream,
            &[
                created(),
                text_delta(0, "Par"),
                json!({"type": "response.failed", "response": {"id": "resp_1", "status": "failed",
                       "error": {"code": "server_is_overloaded", "message": "Our servers are busy."}}}),
                completed(json!({"id": "resp_1", "status": "completed"})),
            ],
        );
        assert_eq!(
            got,
            vec![
                with_null_usage(role()),
                with_null_usage(chunk(json!({"content": "Par"}), Value::Null)),
                json!({"error": {"message": "Our servers are busy.", "type": "upstream_error",
                                 "code": "server_is_overloaded"}}),
            ]
        );
        assert!(stream.is_finished());

        let mut stream = ChunkStream::new("m", false);
        let got = run(
            &mut stream,
            &[json!({"type": "error", "code": "context_length_exceeded", "message": "Too long."})],
        );
        assert_eq!(
            got,
            vec![
                json!({"error": {"message": "Too long.", "type": "invalid_request_error",
                                  "code": "context_length_exceeded"}})
            ]
        );

        let mut stream = ChunkStream::new("m", false);
        let mut got = run(&mut stream, &[created()]);
        got.extend(stream.on_upstream_failure("stream closed before response.completed"));
        got.extend(stream.on_upstream_failure("again"));
        assert_eq!(
            got,
            vec![
                role(),
                json!({"error": {"message": "stream closed before response.completed",
                                 "type": "upstream_error", "code": "bad_gateway"}}),
            ]
        );
    }

    #[test]
    fn chunks_share_a_generated_id_when_the_response_id_never_came() {
        let mut stream = ChunkStream::new("m", false);
        let got = run(&mut stream, &[text_delta(0, "a"), completed(json!({}))]);
        assert_eq!(got.len(), 3);
        let first = &got[0];
        assert!(
            first["id"]
                .as_str()
                .is_some_and(|id| id.starts_with("chatcmpl-"))
        );
        assert!(
            got.iter()
                .all(|c| c["id"] == first["id"] && c["created"] == first["created"])
        );
    }

    #[test]
    fn chunks_are_framed_as_unnamed_data_events() {
        assert_eq!(
            sse_data(&json!({"a": 1})),
            Bytes::from_static(b"data: {\"a\":1}\n\n")
        );
        assert_eq!(DONE, b"data: [DONE]\n\n");
    }
}
