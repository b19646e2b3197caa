//! A finished output item: the blocks it closes, and what of it was not
//! streamed before (a tool call's arguments, a message's text, a reasoning
//! item's summary and signature, a web search and its results).

use super::*;

impl StreamTranslator {
    pub(super) fn item_done(&mut self, out: &mut Vec<SseEvent>, at: u64, item: &Value) {
        let state = self.item(at);
        if state.done {
            return;
        }
        state.done = true;
        let streamed = state.streamed;
        match item.get("type").and_then(Value::as_str) {
            Some("function_call") => self.call_done(out, at, item, streamed),
            Some("message") => self.message_done(out, at, item, streamed),
            Some("reasoning") => self.reasoning_done(out, at, item, streamed),
            Some("web_search_call") => self.web_search_done(out, at, item),
            _ => {}
        }
    }

    fn call_done(&mut self, out: &mut Vec<SseEvent>, at: u64, item: &Value, streamed: bool) {
        self.called_tools = true;
        if self.item(at).tool.is_none() {
            self.item(at).tool = Some(tool_start(item, &self.names));
        }
        self.open_tool(out, at);
        let arguments = item.get("arguments").and_then(Value::as_str).unwrap_or("");
        if !streamed && !arguments.is_empty() {
            self.delta(
                out,
                json!({"type": "input_json_delta", "partial_json": arguments}),
            );
        }
        self.close(out);
    }

    fn message_done(&mut self, out: &mut Vec<SseEvent>, at: u64, item: &Value, streamed: bool) {
        let parts = item.get("content").and_then(Value::as_array);
        for (part, content) in parts.into_iter().flatten().enumerate() {
            let (text, refusal) = message_part(content);
            self.refused |= refusal;
            if let Some(text) = text.filter(|t| !streamed && !t.is_empty()) {
                self.text(out, at, part as u64, text);
            }
        }
        if matches!(self.open, Some(Open { source: Source::Text { item, .. }, .. }) if item == at) {
            self.close(out);
        }
    }

    /// The signature goes out last: the encrypted reasoning comes only with
    /// the finished item.
    fn reasoning_done(&mut self, out: &mut Vec<SseEvent>, at: u64, item: &Value, streamed: bool) {
        let text = summary_text(item);
        let signature = item_signature(item);
        if !streamed && text.is_empty() && signature.is_empty() {
            return;
        }
        self.thinking(out, at, if streamed { "" } else { &text });
        if !signature.is_empty() {
            self.delta(
                out,
                json!({"type": "signature_delta", "signature": signature}),
            );
        }
        self.close(out);
    }

    fn web_search_done(&mut self, out: &mut Vec<SseEvent>, at: u64, item: &Value) {
        self.web_searches += 1;
        let (mut call, results) = web_search_blocks(item);
        let input = std::mem::replace(&mut call["input"], json!({}));
        self.open_block(out, Source::WebSearch(at), call);
        self.delta(
            out,
            json!({"type": "input_json_delta", "partial_json": input.to_string()}),
        );
        self.close(out);
        self.open_block(out, Source::WebSearch(at), results);
        self.close(out);
    }
}
