//! The public API's list shape for `GET /v1/responses/{id}/input_items`:
//! cursor pagination over item ids, and the ids that make it possible for
//! items the client sent without one. Pure.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::StoreError;
use super::continuity::strip_encrypted_reasoning;

/// The page size when none is asked for (the public API's).
pub const DEFAULT_LIMIT: usize = 20;
/// The largest page the public API gives.
pub const MAX_LIMIT: usize = 100;

/// The order items are listed in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first: the public API's default.
    #[default]
    Desc,
}

/// Which cursor named an item that is not in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    After,
    Before,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cursor::After => "after",
            Cursor::Before => "before",
        })
    }
}

/// A list request: the query of `input_items`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    /// Items per page, 1 to [`MAX_LIMIT`] (out-of-range values are clamped).
    pub limit: usize,
    pub order: Order,
    /// List the items that come after this item id, in `order`.
    pub after: Option<String>,
    /// List the items that come before this item id, in `order`: the page
    /// next to it, so `before` pages back the way `after` pages forward.
    pub before: Option<String>,
    /// Keep reasoning items' `encrypted_content` (`include` asked for it).
    #[serde(skip)]
    pub encrypted_reasoning: bool,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            limit: DEFAULT_LIMIT,
            order: Order::Desc,
            after: None,
            before: None,
            encrypted_reasoning: false,
        }
    }
}

/// One page of items.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub data: Vec<Value>,
    pub has_more: bool,
}

impl Page {
    /// `{"object":"list","data":[…],"first_id","last_id","has_more"}`.
    pub fn to_json(&self) -> Value {
        let id = |item: Option<&Value>| item.and_then(|i| i.get("id")).cloned();
        json!({
            "object": "list",
            "data": self.data,
            "first_id": id(self.data.first()),
            "last_id": id(self.data.last()),
            "has_more": self.has_more,
        })
    }
}

/// The page of `items` (oldest first) that `query` asks for.
pub fn paginate(mut items: Vec<Value>, query: &ListQuery) -> Result<Page, StoreError> {
    if query.order == Order::Desc {
        items.reverse();
    }
    let position = |cursor: Cursor, id: &str| {
        items
            .iter()
            .position(|item| item.get("id").and_then(Value::as_str) == Some(id))
            .ok_or_else(|| StoreError::CursorNotFound {
                param: cursor,
                id: id.to_owned(),
            })
    };
    let start = match &query.after {
        Some(id) => position(Cursor::After, id)? + 1,
        None => 0,
    };
    let end = match &query.before {
        Some(id) => position(Cursor::Before, id)?,
        None => items.len(),
    };
    let window = items.get(start..end.max(start)).unwrap_or_default();
    let limit = query.limit.clamp(1, MAX_LIMIT);
    let has_more = window.len() > limit;
    let page = if query.before.is_some() && query.after.is_none() {
        &window[window.len().saturating_sub(limit)..]
    } else {
        &window[..window.len().min(limit)]
    };
    let mut data = page.to_vec();
    if !query.encrypted_reasoning {
        data.iter_mut().for_each(strip_encrypted_reasoning);
    }
    Ok(Page { data, has_more })
}

/// Gives a message written without its `type` (`role` and `content` only,
/// as the public API allows) its `type`, as the API shows it back.
pub fn type_message(map: &mut serde_json::Map<String, Value>) {
    if !map.contains_key("type") && map.contains_key("role") {
        map.insert("type".into(), Value::from("message"));
    }
}

/// Gives every item of `items` an `id` (and a message its `type`), so that
/// items listed later can be named by a cursor. Ids are made from the owning
/// response's id and the item's place, unique in the store without a random
/// source: `msg_<response>_<n>` for messages, `item_<response>_<n>` for others,
/// with `tag` telling a response's input (`in`) from its output (`out`).
pub fn assign_ids(items: &mut [Value], response_id: &str, tag: &str) {
    let stem = response_id.strip_prefix("resp_").unwrap_or(response_id);
    for (n, item) in items.iter_mut().enumerate() {
        let Value::Object(map) = item else { continue };
        type_message(map);
        if map.get("id").and_then(Value::as_str).is_some() {
            continue;
        }
        let kind = match map.get("type").and_then(Value::as_str) {
            Some("message") => "msg",
            _ => "item",
        };
        map.insert("id".into(), Value::from(format!("{kind}_{stem}_{tag}{n}")));
    }
}

#[cfg(test)]
#[path = "list_tests.rs"]
mod tests;
