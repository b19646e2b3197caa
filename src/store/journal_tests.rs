use std::io::Write;

use serde_json::json;

use super::*;
use crate::store::options::{StoreMode, StoreOptions};
use crate::store::{Answer, Db, StoredResponse, now_millis, open};

fn options(dir: &Path) -> StoreOptions {
    StoreOptions {
        mode: StoreMode::Disk,
        dir: Some(dir.to_path_buf()),
        ..StoreOptions::default()
    }
}

fn answer(n: u32, previous: Option<u32>) -> StoredResponse {
    let response = json!({
        "id": format!("resp_{n}"),
        "object": "response",
        "status": "completed",
        "previous_response_id": previous.map(|p| format!("resp_{p}")),
        "output": [{"type": "message", "id": format!("msg_{n}"), "role": "assistant",
                    "content": [{"type": "output_text", "text": format!("answer {n} \"quoted\" é")}]}],
    });
    let input = vec![json!({"type": "message", "role": "user", "content": format!("turn {n}")})];
    StoredResponse::new(response, input).unwrap()
}

fn input_text(response: &StoredResponse) -> String {
    serde_json::to_string(&response.input).unwrap()
}

/// Journals `answers` on a bare connection and drops the journal without
/// writing them to the database: what a process killed after their
/// `write`s leaves behind.
fn journal_and_crash(dir: &Path, answers: &[StoredResponse]) {
    let (mut conn, path) = open::connect(&options(dir)).unwrap();
    let journal = Journal::open(&path.unwrap().with_file_name(JOURNAL_FILE), &mut conn)
        .unwrap()
        .unwrap();
    for answer in answers {
        let response = serde_json::to_string(&answer.response).unwrap();
        let input = input_text(answer);
        let row = Row {
            id: &answer.id,
            previous_response_id: answer.previous_response_id.as_deref(),
            input: &input,
            response: &response,
            at: now_millis(),
        };
        assert_eq!(journal.append(&row), Appended::Yes(answer == &answers[0]));
    }
    assert!(journal.has_pending());
}

fn journal_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(JOURNAL_FILE)).unwrap().len()
}

#[test]
fn a_journalled_answer_is_readable_at_once_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&options(dir.path())).unwrap();
    let now = now_millis();
    for (n, previous) in [(1, None), (2, Some(1))] {
        let answer = answer(n, previous);
        let appended = db.journal(&Answer::of(&answer).unwrap(), &input_text(&answer), now);
        assert_eq!(appended, Appended::Yes(true));
        assert_eq!(db.get(&answer.id, now).unwrap(), Some(answer));
    }
    assert_eq!(db.expand("resp_2", now).unwrap().len(), 4);
    // Read, so written to the database, and nothing appended since: the
    // file is started again.
    assert_eq!(journal_len(dir.path()), HEADER);
}

#[test]
fn answers_journalled_before_a_crash_are_in_the_store_when_it_opens_again() {
    let dir = tempfile::tempdir().unwrap();
    let answers: Vec<_> = (1..=3).map(|n| answer(n, (n > 1).then(|| n - 1))).collect();
    journal_and_crash(dir.path(), &answers);
    assert!(journal_len(dir.path()) > HEADER);

    let db = Db::open(&options(dir.path())).unwrap();
    let now = now_millis();
    for answer in &answers {
        assert_eq!(db.get(&answer.id, now).unwrap().as_ref(), Some(answer));
    }
    assert_eq!(db.expand("resp_3", now).unwrap().len(), 6);
    assert_eq!(
        journal_len(dir.path()),
        HEADER,
        "started again once written"
    );
}

#[test]
fn a_record_cut_short_by_a_crash_ends_the_journal_and_what_precedes_it_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    journal_and_crash(dir.path(), &[answer(1, None), answer(2, None)]);
    let whole = journal_len(dir.path());
    // A third record whose `write` the kill cut short: its head says more
    // than follows.
    let mut file = OpenOptions::new()
        .append(true)
        .open(dir.path().join(JOURNAL_FILE))
        .unwrap();
    file.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0])
        .unwrap();
    drop(file);
    assert!(journal_len(dir.path()) > whole);

    let db = Db::open(&options(dir.path())).unwrap();
    let now = now_millis();
    assert!(db.get("resp_1", now).unwrap().is_some());
    assert!(db.get("resp_2", now).unwrap().is_some());
    assert_eq!(journal_len(dir.path()), HEADER);
}

#[test]
fn a_damaged_record_is_not_read_as_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    journal_and_crash(dir.path(), &[answer(1, None), answer(2, None)]);
    // Flip a byte inside the second record's payload.
    let path = dir.path().join(JOURNAL_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x55;
    std::fs::write(&path, bytes).unwrap();

    let db = Db::open(&options(dir.path())).unwrap();
    let now = now_millis();
    assert!(db.get("resp_1", now).unwrap().is_some());
    assert_eq!(db.get("resp_2", now).unwrap(), None);
}

#[test]
fn an_answer_deleted_after_it_reached_the_database_stays_deleted_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (mut conn, path) = open::connect(&options(dir.path())).unwrap();
    let journal = Journal::open(&path.unwrap().with_file_name(JOURNAL_FILE), &mut conn)
        .unwrap()
        .unwrap();
    let row = |answer: &StoredResponse, response: &str, input: &str| {
        let row = Row {
            id: &answer.id,
            previous_response_id: None,
            input,
            response,
            at: now_millis(),
        };
        journal.append(&row)
    };
    let (one, two) = (answer(1, None), answer(2, None));
    let text = |a: &StoredResponse| (serde_json::to_string(&a.response).unwrap(), input_text(a));
    let (r1, i1) = text(&one);
    row(&one, &r1, &i1);
    let mut state = State {
        conn,
        total_bytes: 0,
        last_sweep: 0,
    };
    journal.settle(&mut state).unwrap();
    // Appended after that settle: the file is not started again, and
    // answer 1's record stays in it.
    let (r2, i2) = text(&two);
    row(&two, &r2, &i2);
    state
        .conn
        .execute("DELETE FROM responses WHERE id = 'resp_1'", [])
        .unwrap();
    drop(journal);
    drop(state);

    let db = Db::open(&options(dir.path())).unwrap();
    let now = now_millis();
    assert_eq!(db.get("resp_1", now).unwrap(), None, "not brought back");
    assert_eq!(db.get("resp_2", now).unwrap(), Some(two));
}

#[test]
fn a_store_whose_journal_another_process_holds_commits_directly_until_it_can_take_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = Db::open(&options(dir.path())).unwrap();
    // A second open file description contends for the lock as another
    // process's would.
    let second = Db::open(&options(dir.path())).unwrap();
    let answer = answer(1, None);
    let text = input_text(&answer);
    assert_eq!(
        second.journal(&Answer::of(&answer).unwrap(), &text, now_millis()),
        Appended::No
    );
    second.put_with_input(&answer, &text, now_millis()).unwrap();
    assert_eq!(first.get("resp_1", now_millis()).unwrap(), Some(answer));

    // Once the other is gone, the journal is taken on a later answer.
    drop(first);
    let later = self::answer(2, Some(1));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = input_text(&later);
        match second.journal(&Answer::of(&later).unwrap(), &text, now_millis()) {
            Appended::Yes(_) => break,
            Appended::No => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "never took the journal"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
    assert_eq!(second.get("resp_2", now_millis()).unwrap(), Some(later));
}

#[test]
fn a_store_in_memory_has_no_journal() {
    let db = Db::open(&StoreOptions {
        mode: StoreMode::Memory,
        ..StoreOptions::default()
    })
    .unwrap();
    let answer = answer(1, None);
    assert_eq!(
        db.journal(
            &Answer::of(&answer).unwrap(),
            &input_text(&answer),
            now_millis()
        ),
        Appended::No
    );
}

#[test]
fn the_journal_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let _db = Db::open(&options(dir.path())).unwrap();
    let mode = std::fs::metadata(dir.path().join(JOURNAL_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn records_round_trip_and_a_longer_payload_than_written_is_refused() {
    let row = Row {
        id: "resp_1",
        previous_response_id: Some("resp_0"),
        input: "[{\"role\":\"user\",\"content\":\"hi\"}]",
        response: "{\"id\":\"resp_1\"}",
        at: 42,
    };
    let record = encode(&row).unwrap();
    let mut text = vec![0; HEADER as usize];
    text.extend_from_slice(&record);
    let entries = records(&text, HEADER);
    assert_eq!(entries.len(), 1);
    let entry = entries[0].row().unwrap();
    assert_eq!(
        (entry.id, entry.previous_response_id, entry.at),
        ("resp_1", Some("resp_0"), 42)
    );
    assert_eq!((entry.input, entry.response), (row.input, row.response));
    text.truncate(text.len() - 1);
    assert!(records(&text, HEADER).is_empty());
}

#[test]
fn a_journal_never_idle_is_replaced_by_one_holding_only_what_the_database_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let (conn, path) = open::connect(&options(dir.path())).unwrap();
    let mut conn = conn;
    let journal = Journal::open(&path.unwrap().with_file_name(JOURNAL_FILE), &mut conn)
        .unwrap()
        .unwrap();
    let big = "x".repeat(120 * 1024);
    let append = |n: u32, text: &str| {
        let response = json!({"id": format!("resp_{n}"), "output": [], "note": text}).to_string();
        let id = format!("resp_{n}");
        let row = Row {
            id: &id,
            previous_response_id: None,
            input: "[]",
            response: &response,
            at: now_millis(),
        };
        assert!(matches!(journal.append(&row), Appended::Yes(_)));
    };
    for n in 1..=10 {
        append(n, &big);
    }
    let mut state = State {
        conn,
        total_bytes: 0,
        last_sweep: 0,
    };
    // What `settle` does, with an answer journalled while its transaction
    // runs.
    let (batch, generation, end) = {
        let mut tail = journal.lock();
        (std::mem::take(&mut tail.pending), tail.generation, tail.end)
    };
    assert!(end >= ROTATE_AT);
    append(11, "late");
    write(&mut state, &batch, generation, end).unwrap();
    {
        let mut tail = journal.lock();
        assert_ne!(tail.end, end);
        tail.rotate(&journal.path).unwrap();
        assert_eq!(tail.pending.len(), 1);
    }
    assert!(
        journal_len(dir.path()) < 1024,
        "only the late record is left"
    );
    assert!(!dir.path().join("responses.journal.next").exists());
    drop(journal);
    drop(state);

    let db = Db::open(&options(dir.path())).unwrap();
    let now = now_millis();
    for n in 1..=11 {
        assert!(
            db.get(&format!("resp_{n}"), now).unwrap().is_some(),
            "resp_{n}"
        );
    }
}
