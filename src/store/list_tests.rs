//! Pagination as the official SDKs page: by `after` and `before` cursors.

use serde_json::json;

use super::*;

fn items(n: usize) -> Vec<Value> {
    (0..n).map(|i| json!({"id": format!("i{i}")})).collect()
}

fn ids(page: &Page) -> Vec<&str> {
    page.data
        .iter()
        .filter_map(|i| i.get("id").and_then(Value::as_str))
        .collect()
}

fn query(limit: usize, order: Order, after: Option<&str>, before: Option<&str>) -> ListQuery {
    ListQuery {
        limit,
        order,
        after: after.map(str::to_owned),
        before: before.map(str::to_owned),
        ..ListQuery::default()
    }
}

#[test]
fn the_default_lists_newest_first_twenty_at_a_time() {
    let page = paginate(items(25), &ListQuery::default()).unwrap();
    assert_eq!(page.data.len(), 20);
    assert_eq!(
        page.to_json(),
        json!({
            "object": "list",
            "data": page.data,
            "first_id": "i24",
            "last_id": "i5",
            "has_more": true,
        })
    );
}

#[test]
fn after_pages_forward_in_either_order_until_has_more_is_false() {
    let asc: Vec<Vec<String>> = walk(Order::Asc);
    assert_eq!(
        asc,
        vec![vec!["i0", "i1", "i2"], vec!["i3", "i4", "i5"], vec!["i6"]]
    );
    let desc = walk(Order::Desc);
    assert_eq!(
        desc,
        vec![vec!["i6", "i5", "i4"], vec!["i3", "i2", "i1"], vec!["i0"]]
    );
}

fn walk(order: Order) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = paginate(items(7), &query(3, order, after.as_deref(), None)).unwrap();
        pages.push(ids(&page).iter().map(|s| s.to_string()).collect());
        if !page.has_more {
            return pages;
        }
        after = page.to_json()["last_id"].as_str().map(str::to_owned);
    }
}

#[test]
fn before_gives_the_page_next_to_the_cursor() {
    let page = paginate(items(10), &query(2, Order::Asc, None, Some("i6"))).unwrap();
    assert_eq!((ids(&page), page.has_more), (vec!["i4", "i5"], true));
    let page = paginate(items(10), &query(2, Order::Desc, None, Some("i6"))).unwrap();
    assert_eq!((ids(&page), page.has_more), (vec!["i8", "i7"], true));
    let page = paginate(items(10), &query(5, Order::Asc, None, Some("i2"))).unwrap();
    assert_eq!((ids(&page), page.has_more), (vec!["i0", "i1"], false));
}

#[test]
fn after_and_before_together_bound_a_window() {
    let page = paginate(items(10), &query(3, Order::Asc, Some("i2"), Some("i8"))).unwrap();
    assert_eq!((ids(&page), page.has_more), (vec!["i3", "i4", "i5"], true));
    let page = paginate(items(10), &query(3, Order::Asc, Some("i8"), Some("i2"))).unwrap();
    assert_eq!((ids(&page), page.has_more), (Vec::<&str>::new(), false));
}

#[test]
fn limits_are_clamped_and_an_empty_list_has_null_ids() {
    let page = paginate(items(150), &query(0, Order::Asc, None, None)).unwrap();
    assert_eq!(ids(&page), vec!["i0"]);
    let page = paginate(items(150), &query(1000, Order::Asc, None, None)).unwrap();
    assert_eq!((page.data.len(), page.has_more), (100, true));
    let empty = paginate(Vec::new(), &ListQuery::default()).unwrap();
    assert_eq!(
        empty.to_json(),
        json!({"object": "list", "data": [], "first_id": null, "last_id": null, "has_more": false})
    );
}

#[test]
fn an_unknown_cursor_is_an_error_naming_it() {
    let err = paginate(items(3), &query(3, Order::Asc, Some("nope"), None)).unwrap_err();
    assert!(matches!(
        err,
        StoreError::CursorNotFound { param: Cursor::After, ref id } if id == "nope"
    ));
}

#[test]
fn listed_reasoning_keeps_its_encrypted_content_only_when_asked() {
    let items = vec![json!({"id": "rs_1", "type": "reasoning", "encrypted_content": "gAAA"})];
    let plain = paginate(items.clone(), &ListQuery::default()).unwrap();
    assert_eq!(plain.data, vec![json!({"id": "rs_1", "type": "reasoning"})]);
    let asked = ListQuery {
        encrypted_reasoning: true,
        ..ListQuery::default()
    };
    assert_eq!(paginate(items.clone(), &asked).unwrap().data, items);
}

#[test]
fn items_without_ids_get_stable_ones_and_untyped_messages_a_type() {
    let mut items = vec![
        json!({"role": "user", "content": "hi"}),
        json!({"type": "function_call_output", "call_id": "c1", "output": "4"}),
        json!({"type": "message", "id": "msg_client", "role": "user", "content": "x"}),
    ];
    assign_ids(&mut items, "resp_abc", "in");
    assert_eq!(
        items,
        vec![
            json!({"role": "user", "content": "hi", "type": "message", "id": "msg_abc_in0"}),
            json!({"type": "function_call_output", "call_id": "c1", "output": "4", "id": "item_abc_in1"}),
            json!({"type": "message", "id": "msg_client", "role": "user", "content": "x"}),
        ]
    );
}
