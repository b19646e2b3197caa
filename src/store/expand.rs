//! A chain's items for the next turn as bytes: each stored input item goes
//! back as the client sent it, copied, unless it must change (an `id` to
//! drop, a message without its `type`, a reasoning item the backend cannot
//! use), so continuing a long conversation splices its history instead of
//! parsing and writing it again. Items that change, and the answers' own
//! items (which carry ids), take the parsed path, [`for_upstream`].

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::StoreError;
use super::continuity::for_upstream;
use super::db::{Db, StoredText, output_of};
use super::list::type_message;

/// The items to send before a new input that continues `id`, as JSON text
/// joined by commas (no brackets), and how many there are: what
/// [`Db::expand`] gives, with the inputs' items as they were sent.
#[derive(Debug)]
pub struct Expanded {
    pub items: Vec<u8>,
    pub count: usize,
}

impl Db {
    /// The items to send before a new input that continues `id`: every turn's
    /// input and output, oldest first, as the backend takes them back,
    /// parsed: the reference [`Db::expand_raw`] is held to.
    #[cfg(test)]
    pub fn expand(&self, id: &str, now: i64) -> Result<Vec<Value>, StoreError> {
        let mut items = Vec::new();
        for link in self.continued(id, now)? {
            items.extend(
                super::db::input_of(&link.id, &link.input)?
                    .iter()
                    .filter_map(for_upstream),
            );
            let response = serde_json::from_str(&link.response)?;
            items.extend(output_of(response).iter().filter_map(for_upstream));
        }
        Ok(items)
    }

    /// The chain a request continuing `id` is sent with, oldest first:
    /// `previous_response_not_found` naming `id` when it is unknown, or
    /// naming the first ancestor gone when the chain was cut short.
    fn continued(&self, id: &str, now: i64) -> Result<Vec<StoredText>, StoreError> {
        let not_found = |id: &str| StoreError::PreviousResponseNotFound(id.to_owned());
        let chain = self.chain_text(id, now)?.ok_or_else(|| not_found(id))?;
        match chain
            .first()
            .and_then(|l| l.previous_response_id.as_deref())
        {
            Some(missing) => Err(not_found(missing)),
            None => Ok(chain),
        }
    }

    /// [`Db::expand`] as bytes ([`Expanded`]).
    pub fn expand_raw(&self, id: &str, now: i64) -> Result<Expanded, StoreError> {
        let chain = self.continued(id, now)?;
        let mut out = Expanded {
            items: Vec::with_capacity(chain.iter().map(|l| l.input.len()).sum::<usize>() + 64),
            count: 0,
        };
        for link in chain {
            let input: Vec<&RawValue> = serde_json::from_slice(&link.input)?;
            for item in input {
                out.push_input(item)?;
            }
            let response: Value = serde_json::from_str(&link.response)?;
            for item in output_of(response).iter().filter_map(for_upstream) {
                out.push_value(&item)?;
            }
        }
        Ok(out)
    }
}

/// What an input item's fields say about how it goes back.
#[derive(Deserialize)]
struct Peek<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Field<'a>,
    #[serde(default)]
    role: Field<'a>,
    #[serde(default)]
    id: Field<'a>,
    #[serde(default, borrow)]
    encrypted_content: Field<'a>,
}

/// A field's raw value when present (`null` included, unlike `Option`).
#[derive(Default)]
struct Field<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&RawValue>::deserialize(d).map(|raw| Field(Some(raw)))
    }
}

impl Field<'_> {
    fn string(&self) -> Option<String> {
        self.0.and_then(|raw| serde_json::from_str(raw.get()).ok())
    }
}

impl Expanded {
    fn separate(&mut self) {
        if self.count > 0 {
            self.items.push(b',');
        }
        self.count += 1;
    }

    fn push_value(&mut self, item: &Value) -> Result<(), StoreError> {
        self.separate();
        serde_json::to_writer(&mut self.items, item)?;
        Ok(())
    }

    /// A stored input item as it goes back: its bytes when nothing in it
    /// changes, else what the parsed path makes of it (reading it back
    /// gives a message its `type` and every item an id, which goes).
    fn push_input(&mut self, item: &RawValue) -> Result<(), StoreError> {
        let Ok(peek) = serde_json::from_str::<Peek<'_>>(item.get()) else {
            // Not an object: as the parsed path has it.
            let value: Value = serde_json::from_str(item.get())?;
            return self.push_parsed(value);
        };
        let kind = peek.kind.string();
        let reasoning = kind.as_deref() == Some("reasoning");
        let sealed = peek
            .encrypted_content
            .string()
            .is_some_and(|c| !c.is_empty());
        if reasoning && !sealed {
            return Ok(());
        }
        let untyped_message = peek.kind.0.is_none() && peek.role.0.is_some();
        if peek.id.0.is_some() || untyped_message {
            let value: Value = serde_json::from_str(item.get())?;
            return self.push_parsed(value);
        }
        self.separate();
        self.items.extend_from_slice(item.get().as_bytes());
        Ok(())
    }

    fn push_parsed(&mut self, mut value: Value) -> Result<(), StoreError> {
        if let Value::Object(map) = &mut value {
            type_message(map);
        }
        match for_upstream(&value) {
            Some(item) => self.push_value(&item),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{StoreMode, StoreOptions, StoredResponse};

    fn db() -> Db {
        Db::open(&StoreOptions {
            mode: StoreMode::Memory,
            ..StoreOptions::default()
        })
        .unwrap()
    }

    fn answer(id: &str, previous: Option<&str>) -> StoredResponse {
        let response = json!({
            "id": id, "object": "response", "status": "completed", "model": "gpt-5",
            "output": [
                {"type": "reasoning", "id": format!("rs_{id}"), "summary": [], "encrypted_content": "sealed"},
                {"type": "reasoning", "id": format!("rs2_{id}"), "summary": []},
                {"type": "message", "id": format!("msg_{id}"), "role": "assistant",
                 "content": [{"type": "output_text", "text": "ok", "annotations": []}]},
            ],
        });
        let mut stored = StoredResponse::new(response, Vec::new()).unwrap();
        stored.previous_response_id = previous.map(str::to_owned);
        stored
    }

    fn parsed(expanded: &Expanded) -> Vec<Value> {
        let list = [b"[".as_slice(), &expanded.items, b"]"].concat();
        serde_json::from_slice(&list).unwrap()
    }

    #[test]
    fn the_bytes_parse_to_what_the_parsed_path_gives_for_every_kind_of_item() {
        let db = db();
        // As a client sends them: spacing and escapes of its own, items
        // with and without ids and types, reasoning sealed or not, a null
        // id, a non-object.
        let first = r#"[ {"role":"user", "content":"caf\u00e9"},
            {"type":"message","role":"user","content":[{"type":"input_text","text":"a\nb"}]},
            {"type":"function_call_output","call_id":"c1","output":"x","id":"fco_1"},
            {"type":"reasoning","summary":[],"encrypted_content":""},
            {"type":"reasoning","summary":[],"encrypted_content":"sealed-client"},
            {"type":"message","role":"user","content":"n","id":null},
            "a bare string" ]"#;
        db.put_with_input(&answer("resp_1", None), first, 0)
            .unwrap();
        let second = r#"[{"type":"function_call","name":"shell","call_id":"c2","arguments":"{}"}]"#;
        db.put_with_input(&answer("resp_2", Some("resp_1")), second, 1)
            .unwrap();
        let raw = db.expand_raw("resp_2", 2).unwrap();
        let values = db.expand("resp_2", 2).unwrap();
        assert_eq!(raw.count, values.len());
        assert_eq!(parsed(&raw), values);
    }

    #[test]
    fn an_unchanged_item_is_copied_as_the_client_wrote_it() {
        let db = db();
        let item = r#"{"type":"message", "role":"user", "content":"caf\u00e9  "}"#;
        db.put_with_input(&answer("resp_1", None), &format!("[{item}]"), 0)
            .unwrap();
        let raw = db.expand_raw("resp_1", 1).unwrap();
        assert!(raw.items.starts_with(item.as_bytes()));
    }

    #[test]
    fn an_unknown_or_broken_chain_is_not_found() {
        let db = db();
        assert!(matches!(
            db.expand_raw("resp_none", 0),
            Err(StoreError::PreviousResponseNotFound(id)) if id == "resp_none"
        ));
        db.put_with_input(&answer("resp_b", Some("resp_gone")), "[]", 0)
            .unwrap();
        assert!(matches!(
            db.expand_raw("resp_b", 0),
            Err(StoreError::PreviousResponseNotFound(id)) if id == "resp_gone"
        ));
    }
}
