//! Long inputs kept as shared blocks: what a turn writes, what reads back,
//! what deleting and evicting free, and a file of the previous schema.

use std::time::Duration;

use serde_json::json;

use super::blocks::{BLOCK_SIZE, INLINE_BELOW};
use super::*;

/// A coding agent's history: `items` messages of about 1 KiB each, their
/// text varied so that blocks differ.
fn history(items: usize) -> Vec<Value> {
    (0..items)
        .map(|n| {
            let text: String = (0..120)
                .map(|w| format!("w{} ", (n * 131 + w * 7) % 997))
                .collect();
            json!({"type": "message", "role": "user", "content": text})
        })
        .collect()
}

/// The JSON text of `items`, as a client sends it.
fn text(items: &[Value]) -> String {
    serde_json::to_string(items).unwrap()
}

fn answer(id: &str) -> StoredResponse {
    let response = json!({"id": id, "status": "completed",
        "output": [{"type": "message", "id": format!("msg_{id}"), "role": "assistant",
                    "content": [{"type": "output_text", "text": "done"}]}]});
    StoredResponse::new(response, Vec::new()).unwrap()
}

fn memory_db(max_bytes: u64) -> Db {
    Db::open(&StoreOptions {
        mode: StoreMode::Memory,
        max_bytes,
        ttl: Duration::from_secs(365 * 24 * 3600),
        ..StoreOptions::default()
    })
    .unwrap()
}

/// A ready store in memory with the default bounds, and its database.
fn memory_store() -> (Store, Db) {
    let store = Store::open(&StoreOptions {
        mode: StoreMode::Memory,
        ..StoreOptions::default()
    })
    .unwrap();
    let Store::Ready(db) = &store else {
        panic!("a memory store is ready")
    };
    let db = db.clone();
    (store, db)
}

/// What the database holds, counted from its tables: rows' bytes plus
/// every block's, and how many blocks there are.
fn counted(db: &Db) -> (u64, i64) {
    let state = db.lock();
    let rows: i64 = state
        .conn
        .query_row("SELECT COALESCE(SUM(bytes), 0) FROM responses", [], |r| {
            r.get(0)
        })
        .unwrap();
    let (blocks, count): (i64, i64) = state
        .conn
        .query_row(
            "SELECT COALESCE(SUM(bytes), 0), COUNT(*) FROM blocks",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    ((rows + blocks) as u64, count)
}

/// `items` as read back: each given its id for `id`.
fn with_ids(id: &str, mut items: Vec<Value>) -> Vec<Value> {
    list::assign_ids(&mut items, id, "in");
    items
}

#[test]
fn a_turn_that_resends_its_history_writes_only_the_blocks_past_the_earlier_turns() {
    let db = memory_db(u64::MAX);
    let first = history(600);
    let mut second = first.clone();
    second.extend(history(605).split_off(600));
    let (one, two) = (text(&first), text(&second));
    assert!(one.len() > 4 * BLOCK_SIZE);
    db.put_with_input(&answer("resp_1"), &one, 0).unwrap();
    let (after_one, blocks_one) = counted(&db);
    assert_eq!(db.stored_bytes(), after_one);
    assert!(after_one < one.len() as u64, "blocks are compressed");
    db.put_with_input(&answer("resp_2"), &two, 1).unwrap();
    let (after_two, blocks_two) = counted(&db);
    assert_eq!(db.stored_bytes(), after_two);
    // Only the blocks from where the history grew are new.
    let shared = one.len() / BLOCK_SIZE;
    let new_blocks = two.len().div_ceil(BLOCK_SIZE) - shared;
    assert_eq!(blocks_two - blocks_one, new_blocks as i64);
    assert!(after_two - after_one < (new_blocks * BLOCK_SIZE) as u64);
    for (id, items) in [("resp_1", &first), ("resp_2", &second)] {
        let read = db.get(id, 2).unwrap().unwrap();
        assert_eq!(read.input, with_ids(id, items.clone()), "{id}");
        assert_eq!(db.input_items(id, 2).unwrap().unwrap(), read.input);
    }
}

#[test]
fn an_input_below_two_blocks_stays_in_its_row() {
    let db = memory_db(u64::MAX);
    let mut items = history(40);
    while text(&items).len() >= INLINE_BELOW {
        items.pop();
    }
    db.put_with_input(&answer("resp_1"), &text(&items), 0)
        .unwrap();
    assert_eq!(counted(&db).1, 0);
    assert_eq!(
        db.get("resp_1", 1).unwrap().unwrap().input,
        with_ids("resp_1", items)
    );
}

#[test]
fn a_long_input_continued_by_previous_response_id_expands_whole() {
    let db = memory_db(u64::MAX);
    let items = history(300);
    db.put_with_input(&answer("resp_1"), &text(&items), 0)
        .unwrap();
    let mut next = answer("resp_2");
    next.previous_response_id = Some("resp_1".into());
    db.put_with_input(&next, r#"[{"role":"user","content":"more"}]"#, 1)
        .unwrap();
    let expanded = db.expand("resp_2", 2).unwrap();
    assert_eq!(expanded.len(), 300 + 1 + 1 + 1);
    assert_eq!(expanded[..300], items[..]);
}

#[test]
fn deleting_frees_a_block_only_with_the_last_response_that_names_it() {
    let db = memory_db(u64::MAX);
    let items = history(400);
    let mut longer = items.clone();
    longer.extend(history(402).split_off(400));
    db.put_with_input(&answer("resp_1"), &text(&items), 0)
        .unwrap();
    db.put_with_input(&answer("resp_2"), &text(&longer), 0)
        .unwrap();
    let (_, both) = counted(&db);
    assert!(db.delete("resp_1", 1).unwrap());
    let (bytes, left) = counted(&db);
    assert_eq!(db.stored_bytes(), bytes);
    assert!(left < both && left > 0, "{left} of {both}");
    assert_eq!(
        db.get("resp_2", 1).unwrap().unwrap().input,
        with_ids("resp_2", longer)
    );
    assert!(db.delete("resp_2", 1).unwrap());
    assert_eq!(counted(&db), (0, 0));
    assert_eq!(db.stored_bytes(), 0);
}

#[test]
fn storing_a_response_again_under_its_id_keeps_the_count_true() {
    let db = memory_db(u64::MAX);
    let items = history(300);
    let mut other = history(310);
    other.reverse();
    db.put_with_input(&answer("resp_1"), &text(&items), 0)
        .unwrap();
    db.put_with_input(&answer("resp_1"), &text(&items), 1)
        .unwrap();
    assert_eq!(db.stored_bytes(), counted(&db).0);
    db.put_with_input(&answer("resp_1"), &text(&other), 2)
        .unwrap();
    let (bytes, blocks) = counted(&db);
    assert_eq!(db.stored_bytes(), bytes);
    assert_eq!(blocks as usize, text(&other).len().div_ceil(BLOCK_SIZE));
    assert_eq!(
        db.get("resp_1", 3).unwrap().unwrap().input,
        with_ids("resp_1", other)
    );
}

/// Conversation `name` at `at`, its blocks its own: a turn, then the same
/// history and one more item.
fn conversation(db: &Db, name: &str, at: i64) {
    let mut mine = history(300);
    for item in &mut mine {
        let said = item["content"].as_str().unwrap_or_default();
        item["content"] = json!(format!("{name}: {said}"));
    }
    let mut next = mine.clone();
    next.push(json!({"type": "message", "role": "user", "content": "again"}));
    db.put_with_input(&answer(&format!("resp_{name}1")), &text(&mine), at)
        .unwrap();
    db.put_with_input(&answer(&format!("resp_{name}2")), &text(&next), at + 1)
        .unwrap();
}

#[test]
fn eviction_past_the_size_bound_frees_the_blocks_of_whole_conversations() {
    let sizer = memory_db(u64::MAX);
    conversation(&sizer, "a", 0);
    let one = sizer.stored_bytes();
    // Room for two and a half conversations; three are written, each
    // newer than the one before.
    let db = memory_db(one * 5 / 2);
    for (at, name) in [(0, "a"), (10, "b"), (20, "c")] {
        conversation(&db, name, at);
    }
    db.evict(30).unwrap();
    let (bytes, _) = counted(&db);
    assert_eq!(db.stored_bytes(), bytes);
    assert!(bytes <= one * 5 / 2 / 100 * 90, "{bytes} of {one}");
    let alive: Vec<bool> = [
        "resp_a1", "resp_a2", "resp_b1", "resp_b2", "resp_c1", "resp_c2",
    ]
    .iter()
    .map(|id| db.get(id, 30).unwrap().is_some())
    .collect();
    assert_eq!(alive, [false, false, true, true, true, true]);
}

#[test]
fn a_file_of_the_previous_schema_opens_keeps_its_responses_and_takes_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        dir: Some(dir.path().to_path_buf()),
        ..StoreOptions::default()
    };
    let old = answer("resp_old");
    let input = r#"[{"type":"message","role":"user","content":"kept from before"}]"#;
    let body = old.response.to_string();
    {
        let conn = rusqlite::Connection::open(dir.path().join(options::DB_FILE)).unwrap();
        conn.execute_batch(super::schema::VERSION_1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO responses (id, previous_response_id, depth, touched_at, hidden, bytes,
                 input, response) VALUES ('resp_old', NULL, 0, ?1, 0, ?2, ?3, ?4)",
            rusqlite::params![now_millis(), (input.len() + body.len()) as i64, input, body],
        )
        .unwrap();
    }
    let db = Db::open(&options).unwrap();
    let now = now_millis();
    let read = db.get("resp_old", now).unwrap().unwrap();
    assert_eq!(read.response, old.response);
    assert_eq!(read.input.len(), 1);
    assert_eq!(db.stored_bytes(), (input.len() + body.len()) as u64);
    let items = history(300);
    let mut next = answer("resp_new");
    next.previous_response_id = Some("resp_old".into());
    db.put_with_input(&next, &text(&items), now).unwrap();
    assert_eq!(db.expand("resp_new", now).unwrap().len(), 1 + 1 + 300 + 1);
    assert_eq!(db.stored_bytes(), counted(&db).0);
    drop(db);
    let version: i64 = rusqlite::Connection::open(dir.path().join(options::DB_FILE))
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, super::schema::SCHEMA_VERSION);
}

#[tokio::test]
async fn an_input_named_while_the_backend_answers_is_kept_and_reads_back_whole() {
    let (store, _) = memory_store();
    let items = history(300);
    let named = store.name_input(bytes::Bytes::from(text(&items)));
    store.put_named(answer("resp_1"), named).await.unwrap();
    let short = store.name_input(bytes::Bytes::from(text(&items[..2])));
    store.put_named(answer("resp_2"), short).await.unwrap();
    let Store::Ready(db) = &store else {
        panic!("a memory store is ready")
    };
    assert!(counted(db).1 > 0, "the long input went into blocks");
    for (id, items) in [("resp_1", &items[..]), ("resp_2", &items[..2])] {
        let read = store.get(id).await.unwrap().unwrap();
        assert_eq!(read.input, with_ids(id, items.to_vec()), "{id}");
    }
}

#[tokio::test]
async fn only_the_blocks_the_store_lacks_are_compressed_ahead_and_one_stored_meanwhile_is_not_stored_twice()
 {
    let (store, db) = memory_store();
    let db = &db;
    let first = history(600);
    let mut second = first.clone();
    second.extend(history(605).split_off(600));
    let (one, two) = (text(&first), text(&second));
    // Written now: a response past the TTL would be swept after the next commit.
    db.put_with_input(&answer("resp_1"), &one, now_millis())
        .unwrap();
    let (_, before) = counted(db);

    // Named while the first turn alone is stored: only the blocks past it
    // are compressed ahead.
    let mut names = blocks::names(two.as_bytes()).unwrap();
    db.compress_missing(two.as_bytes(), &mut names, None);
    let shared = one.len() / BLOCK_SIZE;
    let ahead: Vec<bool> = names.iter().map(blocks::Name::is_compressed).collect();
    assert_eq!(ahead.iter().filter(|&&a| a).count(), names.len() - shared);
    assert!(
        ahead[..shared].iter().all(|&a| !a),
        "the stored blocks are not compressed again"
    );

    // Another turn stores the same blocks first; this one then only names them.
    let named = store.name_input(bytes::Bytes::from(two.clone()));
    store.put_named(answer("resp_2"), named).await.unwrap();
    let (_, after_other) = counted(db);
    db.put_answer(
        &Answer::of(&answer("resp_3")).unwrap(),
        &two,
        Some(&names),
        now_millis(),
    )
    .unwrap();
    assert_eq!(counted(db).1, after_other, "no block is stored twice");
    assert_eq!(after_other - before, (names.len() - shared) as i64);
    for (id, items) in [("resp_1", &first), ("resp_2", &second), ("resp_3", &second)] {
        let read = db.get(id, 3).unwrap().unwrap();
        assert_eq!(read.input, with_ids(id, items.clone()), "{id}");
    }
}

/// Every block's stored bytes, in the order of `id`'s input.
fn stored_blocks(db: &Db, id: &str) -> Vec<Vec<u8>> {
    let state = db.lock();
    let mut read = state
        .conn
        .prepare(
            "SELECT b.data FROM response_blocks n JOIN blocks b ON b.id = n.block
             WHERE n.response_id = ?1 ORDER BY n.seq",
        )
        .unwrap();
    read.query_map([id], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn the_frames_an_input_was_sent_in_are_kept_as_its_new_blocks_and_frames_of_other_text_are_not()
 {
    let (store, db) = memory_store();
    let db = &db;
    let items = history(400);
    let input = bytes::Bytes::from(text(&items));
    // Frames the store would never make itself (level 19), so that the
    // test sees which ones it kept.
    let frames = |text: &[u8]| -> Vec<bytes::Bytes> {
        text.chunks(BLOCK_SIZE)
            .map(|c| bytes::Bytes::from(zstd::bulk::compress(c, 19).unwrap()))
            .collect()
    };
    let own = crate::compression::zstd;

    // Sent as it is: its frames are its blocks.
    let (named, sink) = store.name_sent_input(input.clone());
    let sent = frames(&input);
    sink.expect("a long input waits for its frames")
        .send(crate::wire::blocks::InputFrames {
            text: input.clone(),
            frames: sent.clone(),
        })
        .unwrap();
    store.put_named(answer("resp_1"), named).await.unwrap();
    let kept = stored_blocks(db, "resp_1");
    assert_eq!(kept, sent.iter().map(|f| f.to_vec()).collect::<Vec<_>>());

    // Frames of other text (one byte differs) are not taken.
    let mut grown = items.clone();
    grown.extend(history(410).split_off(400));
    let next = bytes::Bytes::from(text(&grown));
    let mut other = next.to_vec();
    let last = other.len() - 3;
    other[last] = b'x';
    let (named, sink) = store.name_sent_input(next.clone());
    sink.unwrap()
        .send(crate::wire::blocks::InputFrames {
            text: bytes::Bytes::from(other.clone()),
            frames: frames(&other),
        })
        .unwrap();
    store.put_named(answer("resp_2"), named).await.unwrap();
    let kept = stored_blocks(db, "resp_2");
    let shared = input.len() / BLOCK_SIZE;
    assert_eq!(kept[..shared], stored_blocks(db, "resp_1")[..shared]);
    for (block, text) in kept.iter().zip(next.chunks(BLOCK_SIZE)).skip(shared) {
        assert_eq!(block, &own(text).unwrap(), "compressed by the store");
    }

    // A sink dropped unsent: the store compresses the new blocks itself.
    grown.extend(history(420).split_off(410));
    let third = bytes::Bytes::from(text(&grown));
    let (named, sink) = store.name_sent_input(third.clone());
    drop(sink);
    store.put_named(answer("resp_3"), named).await.unwrap();
    let kept = stored_blocks(db, "resp_3");
    let last = kept.len() - 1;
    assert_eq!(
        kept[last],
        own(third.chunks(BLOCK_SIZE).last().unwrap()).unwrap()
    );
    for (id, items) in [("resp_1", &items[..]), ("resp_3", &grown[..])] {
        let read = store.get(id).await.unwrap().unwrap();
        assert_eq!(read.input, with_ids(id, items.to_vec()), "{id}");
    }
}
