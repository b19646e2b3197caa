//! The store against its contract: round trips, chains, eviction, damage,
//! file modes, and many tasks continuing one response at once.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::*;

const HOUR: i64 = 3_600_000;

fn options(mode: StoreMode) -> StoreOptions {
    StoreOptions {
        mode,
        ..StoreOptions::default()
    }
}

fn on_disk(dir: &Path) -> StoreOptions {
    StoreOptions {
        dir: Some(dir.to_path_buf()),
        ..StoreOptions::default()
    }
}

fn memory_db(max_bytes: u64, ttl: Duration) -> Db {
    Db::open(&StoreOptions {
        mode: StoreMode::Memory,
        max_bytes,
        ttl,
        ..StoreOptions::default()
    })
    .unwrap()
}

/// A finished turn: the user's words in, a reasoning item and an answer out.
fn turn(id: &str, previous: Option<&str>, said: &str) -> StoredResponse {
    let response = json!({
        "id": id,
        "object": "response",
        "created_at": 1_700_000_000,
        "status": "completed",
        "model": "gpt-5.5",
        "instructions": "be brief",
        "metadata": {"k": "v"},
        "previous_response_id": previous,
        "output": [
            {"type": "reasoning", "id": format!("rs_{id}"), "summary": [], "encrypted_content": format!("sealed-{id}")},
            {"type": "message", "id": format!("msg_{id}"), "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": format!("re: {said}"), "annotations": []}]},
        ],
        "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
    });
    let input = vec![json!({"type": "message", "role": "user", "content": said})];
    StoredResponse::new(response, input).unwrap()
}

fn user(said: &str) -> Value {
    json!({"type": "message", "role": "user", "content": said})
}

/// A turn's items as the backend is sent them on the next turn.
fn sent_back(id: &str, said: &str) -> Vec<Value> {
    vec![
        user(said),
        json!({"type": "reasoning", "summary": [], "encrypted_content": format!("sealed-{id}")}),
        json!({"type": "message", "role": "assistant", "status": "completed",
               "content": [{"type": "output_text", "text": format!("re: {said}"), "annotations": []}]}),
    ]
}

#[tokio::test]
async fn a_stored_response_reads_back_whole_and_deletes_once() {
    let store = Store::open(&options(StoreMode::Memory)).unwrap();
    let first = turn("resp_1", None, "hello");
    store.put(first.clone()).await.unwrap();
    assert_eq!(store.get("resp_1").await.unwrap(), Some(first.clone()));
    assert_eq!(
        first.input,
        vec![json!({"type": "message", "role": "user", "content": "hello", "id": "msg_1_in0"})]
    );
    assert_eq!(first.status(), Some("completed"));
    assert_eq!(store.get("resp_unknown").await.unwrap(), None);
    assert!(store.delete("resp_1").await.unwrap());
    assert!(!store.delete("resp_1").await.unwrap());
    assert_eq!(store.get("resp_1").await.unwrap(), None);
}

#[tokio::test]
async fn an_input_kept_as_the_client_sent_it_reads_back_as_one_given_ids_at_writing() {
    let store = Store::open(&options(StoreMode::Memory)).unwrap();
    let given = turn("resp_1", None, "hello");
    store.put(given.clone()).await.unwrap();
    // The same turn, its input as the text a client sent: no ids, no `type`.
    let sent = bytes::Bytes::from_static(br#"[ {"role": "user", "content": "hello"} ]"#);
    let mut raw = given.clone();
    raw.id = "resp_2".into();
    raw.input.clear();
    raw.response["id"] = json!("resp_2");
    store.put_with_input(raw, Some(sent)).await.unwrap();
    let read = store.get("resp_2").await.unwrap().unwrap();
    assert_eq!(
        read.input,
        vec![json!({"role": "user", "content": "hello", "type": "message", "id": "msg_2_in0"})]
    );
    let (a, b) = (
        store.expand("resp_1", Vec::new()).await.unwrap(),
        store.expand("resp_2", Vec::new()).await.unwrap(),
    );
    // Maps compare without their order: the same items either way.
    assert_eq!(a.len(), 3);
    assert_eq!(a, b);
}

#[tokio::test]
async fn a_three_turn_chain_expands_to_every_earlier_item_then_the_new_input() {
    let store = Store::open(&options(StoreMode::Memory)).unwrap();
    store.put(turn("resp_a", None, "one")).await.unwrap();
    let second = store.expand("resp_a", vec![user("two")]).await.unwrap();
    assert_eq!(
        second,
        [sent_back("resp_a", "one"), vec![user("two")]].concat()
    );
    store
        .put(turn("resp_b", Some("resp_a"), "two"))
        .await
        .unwrap();
    store
        .put(turn("resp_c", Some("resp_b"), "three"))
        .await
        .unwrap();

    let fourth = store.expand("resp_c", vec![user("four")]).await.unwrap();
    let want = [
        sent_back("resp_a", "one"),
        sent_back("resp_b", "two"),
        sent_back("resp_c", "three"),
        vec![user("four")],
    ]
    .concat();
    assert_eq!(fourth, want);
}

#[tokio::test]
async fn input_items_list_the_whole_conversation_page_by_page() {
    let store = Store::open(&options(StoreMode::Memory)).unwrap();
    store.put(turn("resp_a", None, "one")).await.unwrap();
    store
        .put(turn("resp_b", Some("resp_a"), "two"))
        .await
        .unwrap();
    let ids = |page: &Page| -> Vec<String> {
        page.data
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = ListQuery {
        order: Order::Asc,
        ..ListQuery::default()
    };
    let page = store
        .input_items("resp_b", all.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (ids(&page), page.has_more),
        (
            vec!["msg_a_in0", "rs_resp_a", "msg_resp_a", "msg_b_in0"]
                .into_iter()
                .map(String::from)
                .collect(),
            false
        )
    );
    assert_eq!(
        page.data[1],
        json!({"type": "reasoning", "id": "rs_resp_a", "summary": []})
    );

    let newest = ListQuery {
        limit: 2,
        ..ListQuery::default()
    };
    let page = store.input_items("resp_b", newest).await.unwrap().unwrap();
    assert_eq!(
        (ids(&page), page.has_more),
        (vec!["msg_b_in0".into(), "msg_resp_a".into()], true)
    );
    let next = ListQuery {
        limit: 2,
        after: Some("msg_resp_a".into()),
        ..ListQuery::default()
    };
    let page = store.input_items("resp_b", next).await.unwrap().unwrap();
    assert_eq!(
        (ids(&page), page.has_more),
        (vec!["rs_resp_a".into(), "msg_a_in0".into()], false)
    );
    assert_eq!(store.input_items("resp_nope", all).await.unwrap(), None);
}

#[tokio::test]
async fn an_unknown_or_deleted_previous_response_is_previous_response_not_found() {
    let store = Store::open(&options(StoreMode::Memory)).unwrap();
    let err = store.expand("resp_missing", vec![]).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Previous response with id 'resp_missing' not found."
    );
    assert_eq!(
        (err.status(), err.code_and_param()),
        (
            400,
            Some(("previous_response_not_found", "previous_response_id"))
        )
    );
    store.put(turn("resp_a", None, "one")).await.unwrap();
    store.delete("resp_a").await.unwrap();
    assert!(matches!(
        store.expand("resp_a", vec![]).await,
        Err(StoreError::PreviousResponseNotFound(id)) if id == "resp_a"
    ));
}

#[test]
fn a_response_unused_past_the_ttl_is_gone_even_before_a_sweep() {
    let db = memory_db(u64::MAX, Duration::from_secs(24 * 3600));
    db.put(&turn("resp_old", None, "one"), 0).unwrap();
    assert!(db.get("resp_old", 23 * HOUR).unwrap().is_some());
    assert!(db.get("resp_old", 25 * HOUR).unwrap().is_none());
    assert!(matches!(
        db.expand("resp_old", 25 * HOUR),
        Err(StoreError::PreviousResponseNotFound(id)) if id == "resp_old"
    ));
    let evicted = db.evict(25 * HOUR).unwrap();
    assert_eq!(
        evicted,
        Evicted {
            responses: 1,
            bytes: size(&turn("resp_old", None, "one"))
        }
    );
    assert_eq!(db.stored_bytes(), 0);
}

/// What `max_bytes` counts for one response.
fn size(r: &StoredResponse) -> u64 {
    (serde_json::to_string(&r.input).unwrap().len() + r.response.to_string().len()) as u64
}

#[test]
fn continuing_a_conversation_keeps_its_first_turns_from_ageing_out() {
    let db = memory_db(u64::MAX, Duration::from_secs(24 * 3600));
    db.put(&turn("resp_a", None, "one"), 0).unwrap();
    db.put(&turn("resp_other", None, "aside"), 0).unwrap();
    db.put(&turn("resp_b", Some("resp_a"), "two"), 20 * HOUR)
        .unwrap();
    let evicted = db.evict(30 * HOUR).unwrap();
    assert_eq!(evicted.responses, 1);
    assert!(db.get("resp_other", 30 * HOUR).unwrap().is_none());
    assert_eq!(
        db.expand("resp_b", 30 * HOUR).unwrap(),
        [sent_back("resp_a", "one"), sent_back("resp_b", "two")].concat()
    );
}

#[test]
fn past_the_size_bound_the_least_recently_used_go_first() {
    let one = size(&turn("resp_w", None, "one"));
    let db = memory_db(one * 3, Duration::from_secs(365 * 24 * 3600));
    for (at, id) in [(0, "resp_w"), (1, "resp_x"), (2, "resp_y")] {
        assert!(!db.put(&turn(id, None, "one"), at).unwrap(), "{id} fits");
    }
    // Continuing resp_w uses it again: resp_x and resp_y are now the oldest.
    let due = db.put(&turn("resp_z", Some("resp_w"), "one"), 10).unwrap();
    assert!(due, "past the bound an eviction is due");
    let evicted = db.evict(11).unwrap();
    assert_eq!(evicted.responses, 2);
    let alive: Vec<bool> = ["resp_w", "resp_x", "resp_y", "resp_z"]
        .iter()
        .map(|id| db.get(id, 11).unwrap().is_some())
        .collect();
    assert_eq!(alive, [true, false, false, true]);
    assert!(
        db.stored_bytes() <= one * 3 * 9 / 10,
        "{}",
        db.stored_bytes()
    );
    assert_eq!(db.expand("resp_z", 11).unwrap().len(), 6);
}

#[test]
fn eviction_never_leaves_a_response_without_the_turns_it_continues() {
    let one = size(&turn("resp_a", None, "one"));
    let db = memory_db(one * 2, Duration::from_secs(365 * 24 * 3600));
    db.put(&turn("resp_a", None, "one"), 0).unwrap();
    db.put(&turn("resp_b", Some("resp_a"), "two"), 1).unwrap();
    db.put(&turn("resp_c", Some("resp_b"), "three"), 1).unwrap();
    // All three were last used together; the newest turns go first.
    db.evict(2).unwrap();
    let alive: Vec<bool> = ["resp_a", "resp_b", "resp_c"]
        .iter()
        .map(|id| db.get(id, 2).unwrap().is_some())
        .collect();
    assert_eq!(alive, [true, false, false]);
    assert_eq!(db.expand("resp_a", 2).unwrap(), sent_back("resp_a", "one"));
}

#[test]
fn deleting_a_continued_response_hides_it_but_its_successors_still_expand() {
    let db = memory_db(u64::MAX, Duration::from_secs(3600));
    db.put(&turn("resp_a", None, "one"), 0).unwrap();
    db.put(&turn("resp_b", Some("resp_a"), "two"), 0).unwrap();
    assert!(db.delete("resp_a", 0).unwrap());
    assert!(db.get("resp_a", 0).unwrap().is_none());
    assert!(!db.delete("resp_a", 0).unwrap());
    assert_eq!(
        db.expand("resp_b", 0).unwrap(),
        [sent_back("resp_a", "one"), sent_back("resp_b", "two")].concat()
    );
    // With its last successor gone, the hidden one goes too.
    assert!(db.delete("resp_b", 0).unwrap());
    assert_eq!(db.stored_bytes(), 0);
}

#[test]
fn garbage_over_the_file_is_a_typed_error_and_the_store_serves_on_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let options = on_disk(dir.path());
    Db::open(&options)
        .unwrap()
        .put(&turn("resp_a", None, "one"), 0)
        .unwrap();
    let path = dir.path().join(options::DB_FILE);
    std::fs::write(&path, vec![0xA5; 64 * 1024]).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("{}{suffix}", options::DB_FILE)));
    }
    let err = Db::open(&options).unwrap_err();
    assert!(
        matches!(err, OpenError::Corrupt { ref path, .. } if path.ends_with(options::DB_FILE)),
        "{err}"
    );
    assert!(err.to_string().contains("move it aside"), "{err}");

    let store = Store::open_or_warn(&options);
    assert!(!store.is_ready());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = runtime
        .block_on(store.expand("resp_a", vec![]))
        .unwrap_err();
    assert_eq!(err.status(), 503);
    assert!(
        err.to_string().contains("response store is unavailable"),
        "{err}"
    );
}

#[test]
fn a_directory_that_cannot_be_made_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"").unwrap();
    let err = Db::open(&on_disk(&blocker.join("store"))).unwrap_err();
    assert!(
        matches!(err, OpenError::Io { ref path, .. } if path.ends_with("store")),
        "{err}"
    );
}

#[tokio::test]
async fn a_store_that_is_off_keeps_nothing_and_says_why_on_reads() {
    let store = Store::open(&options(StoreMode::Off)).unwrap();
    store.put(turn("resp_a", None, "one")).await.unwrap();
    let err = store.get("resp_a").await.unwrap_err();
    assert!(matches!(err, StoreError::Off));
    assert!(err.to_string().contains("response store is off"));
    assert_eq!(store.sweep().await.unwrap(), Evicted::default());
}

#[test]
fn the_directory_is_private_and_so_are_the_database_and_its_journal_files_in_wal_mode() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state/codex-responses-proxy");
    let db = Db::open(&on_disk(&dir)).unwrap();
    db.put(&turn("resp_a", None, "one"), 0).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for name in [
        "responses.sqlite3",
        "responses.sqlite3-wal",
        "responses.sqlite3-shm",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    let file = rusqlite::Connection::open(dir.join("responses.sqlite3")).unwrap();
    let pragma = |name: &str| -> String {
        file.query_row(
            &format!("SELECT CAST({name} AS TEXT) FROM pragma_{name}"),
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    // WAL, and pages handed back to the file system after eviction (2 = incremental).
    assert_eq!(
        (pragma("journal_mode"), pragma("auto_vacuum")),
        ("wal".into(), "2".into())
    );
    drop((file, db));
    // A file left readable by others is tightened on the next open.
    let file = dir.join("responses.sqlite3");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _db = Db::open(&on_disk(&dir)).unwrap();
    assert_eq!(mode(&file), 0o600);
}

#[test]
fn a_response_outlives_the_process_that_stored_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = Db::open(&on_disk(dir.path())).unwrap();
    first
        .put(&turn("resp_a", None, "one"), now_millis())
        .unwrap();
    drop(first);
    let again = Db::open(&on_disk(dir.path())).unwrap();
    assert_eq!(
        again.get("resp_a", now_millis()).unwrap(),
        Some(turn("resp_a", None, "one"))
    );
    assert_eq!(again.stored_bytes(), size(&turn("resp_a", None, "one")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_continuing_one_response_each_get_their_own_branch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&on_disk(dir.path())).unwrap();
    store.put(turn("resp_root", None, "root")).await.unwrap();
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let said = format!("branch {n}");
                let input = store.expand("resp_root", vec![user(&said)]).await.unwrap();
                assert_eq!(
                    input,
                    [sent_back("resp_root", "root"), vec![user(&said)]].concat()
                );
                let id = format!("resp_{n}");
                store
                    .put(turn(&id, Some("resp_root"), &said))
                    .await
                    .unwrap();
                let next = store.expand(&id, vec![]).await.unwrap();
                assert_eq!(
                    next,
                    [sent_back("resp_root", "root"), sent_back(&id, &said)].concat()
                );
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let page = store
        .input_items("resp_root", ListQuery::default())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.data.len(), 1);
}
