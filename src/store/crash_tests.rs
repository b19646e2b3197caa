//! `kill -9` during a write: the test binary runs itself as a writer that
//! reports each committed response, is killed mid-stream, and the store must
//! then open and hold every response the writer saw committed.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

/// Set in the child to the store's directory; unset, the writer test is a no-op.
const WRITER_DIR: &str = "CODEX_RESPONSES_PROXY_TEST_CRASH_WRITER_DIR";
/// Set in the child when it keeps short answers through the journal.
const WRITER_JOURNAL: &str = "CODEX_RESPONSES_PROXY_TEST_CRASH_WRITER_JOURNAL";
const WRITER_TEST: &str = "store::crash_tests::writer_for_the_kill_test";

/// Commits seen before the kill: enough that it lands mid-write.
const COMMITS_BEFORE_KILL: u64 = 40;
/// The whole exchange is bounded; a writer this slow is a failure.
const WRITER_DEADLINE: Duration = Duration::from_secs(120);

/// Turn `n` of one long conversation, large enough that a write takes a
/// while, its input long enough to be kept as blocks, most of them the
/// earlier turns'.
fn turn(n: u64) -> StoredResponse {
    let history: String = (0..30_000).map(|w| format!("w{} ", w % 977)).collect();
    chained(n, "x".repeat(32 * 1024), format!("{history}turn {n}"))
}

/// Turn `n` of a conversation of short turns, the kind the journal keeps.
fn short_turn(n: u64) -> StoredResponse {
    chained(n, format!("answer {n}"), format!("turn {n}"))
}

/// Turn `n` of a conversation: the user `said`, the model `answered`.
fn chained(n: u64, answered: String, said: String) -> StoredResponse {
    let previous = n.checked_sub(1).map(|p| format!("resp_{p}"));
    let response = json!({
        "id": format!("resp_{n}"),
        "object": "response",
        "status": "completed",
        "previous_response_id": previous,
        "output": [{"type": "message", "id": format!("msg_{n}"), "role": "assistant",
                    "content": [{"type": "output_text", "text": answered}]}],
    });
    let input = vec![json!({"type": "message", "role": "user", "content": said})];
    StoredResponse::new(response, input).unwrap()
}

fn options(dir: &std::path::Path) -> StoreOptions {
    StoreOptions {
        dir: Some(dir.to_path_buf()),
        ..StoreOptions::default()
    }
}

/// The child's body (a no-op in an ordinary run): writes turns until
/// killed, printing `committed <n>` once each `put` has returned.
#[test]
fn writer_for_the_kill_test() {
    let Some(dir) = std::env::var_os(WRITER_DIR) else {
        return;
    };
    let journal = std::env::var_os(WRITER_JOURNAL).is_some();
    let db = Db::open(&options(dir.as_ref())).unwrap();
    let mut out = std::io::stdout().lock();
    for n in 0.. {
        if journal {
            // Never written to the database: only the journal holds them.
            let turn = short_turn(n);
            let input = serde_json::to_string(&turn.input).unwrap();
            let appended = db.journal(&Answer::of(&turn).unwrap(), &input, now_millis());
            assert!(matches!(appended, super::journal::Appended::Yes(_)));
        } else {
            db.put(&turn(n), now_millis()).unwrap();
        }
        writeln!(out, "committed {n}").unwrap();
        out.flush().unwrap();
    }
}

/// Runs the writer in a child, journalling or committing, kills it with
/// SIGKILL once it has reported enough, and returns the last turn it
/// reported.
fn kill_a_writer(dir: &std::path::Path, journal: bool) -> u64 {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([WRITER_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(WRITER_DIR, dir);
    if journal {
        command.env(WRITER_JOURNAL, "1");
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("committed ") {
                let _ = tx.send(n.parse::<u64>().unwrap());
            }
        }
    });
    let deadline = Instant::now() + WRITER_DEADLINE;
    let mut committed = None;
    while committed.is_none_or(|n| n < COMMITS_BEFORE_KILL) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(n) => committed = Some(n),
            Err(e) => {
                let _ = child.kill();
                panic!("the writer stopped reporting commits: {e}");
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the writer was killed, not finished"
    );
    // Lines written before the kill are still in the pipe; it ends at EOF.
    reader.join().unwrap();
    rx.try_iter().last().or(committed).unwrap()
}

/// Opens the store the killed writer left: every turn it reported reads
/// back and expands, a write cut short is either whole or absent, and the
/// file passes SQLite's integrity check. Returns a plain connection to it.
fn every_reported_turn_reads_back(
    dir: &std::path::Path,
    committed: u64,
    turn: fn(u64) -> StoredResponse,
) -> rusqlite::Connection {
    let db = Db::open(&options(dir)).unwrap();
    let now = now_millis();
    for n in 0..=committed {
        assert_eq!(
            db.get(&format!("resp_{n}"), now).unwrap(),
            Some(turn(n)),
            "turn {n}"
        );
    }
    // A write cut short is either whole or absent, never half there.
    let cut = db.get(&format!("resp_{}", committed + 1), now).unwrap();
    assert!(cut.is_none() || cut == Some(turn(committed + 1)));
    let items = db.expand(&format!("resp_{committed}"), now).unwrap();
    assert_eq!(items.len() as u64, 2 * (committed + 1));
    drop(db);

    let check = rusqlite::Connection::open(dir.join(options::DB_FILE)).unwrap();
    let verdict: String = check
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    check
}

#[test]
fn a_writer_killed_mid_write_leaves_every_committed_response_readable() {
    let dir = tempfile::tempdir().unwrap();
    let committed = kill_a_writer(dir.path(), false);

    let check = every_reported_turn_reads_back(dir.path(), committed, turn);
    let blocks: i64 = check
        .query_row("SELECT COUNT(*) FROM blocks", [], |r| r.get(0))
        .unwrap();
    assert!(blocks > 0, "the inputs were kept as blocks");
}

#[test]
fn a_process_killed_while_journalling_leaves_every_journalled_answer_readable() {
    let dir = tempfile::tempdir().unwrap();
    let committed = kill_a_writer(dir.path(), true);

    every_reported_turn_reads_back(dir.path(), committed, short_turn);
}
