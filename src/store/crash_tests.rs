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
const WRITER_TEST: &str = "store::crash_tests::writer_for_the_kill_test";

/// Commits seen before the kill: enough that it lands mid-write.
const COMMITS_BEFORE_KILL: u64 = 40;
/// The whole exchange is bounded; a writer this slow is a failure.
const WRITER_DEADLINE: Duration = Duration::from_secs(120);

/// Turn `n` of one long conversation, large enough that a write takes a
/// while, its input long enough to be kept as blocks, most of them the
/// earlier turns'.
fn turn(n: u64) -> StoredResponse {
    let previous = n.checked_sub(1).map(|p| format!("resp_{p}"));
    let response = json!({
        "id": format!("resp_{n}"),
        "object": "response",
        "status": "completed",
        "previous_response_id": previous,
        "output": [{"type": "message", "id": format!("msg_{n}"), "role": "assistant",
                    "content": [{"type": "output_text", "text": "x".repeat(32 * 1024)}]}],
    });
    let history: String = (0..30_000).map(|w| format!("w{} ", w % 977)).collect();
    let said = format!("{history}turn {n}");
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
    let db = Db::open(&options(dir.as_ref())).unwrap();
    let mut out = std::io::stdout().lock();
    for n in 0.. {
        db.put(&turn(n), now_millis()).unwrap();
        writeln!(out, "committed {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_writer_killed_mid_write_leaves_every_committed_response_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([WRITER_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(WRITER_DIR, dir.path())
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
    let committed = rx.try_iter().last().or(committed).unwrap();

    let db = Db::open(&options(dir.path())).unwrap();
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

    let check = rusqlite::Connection::open(dir.path().join(options::DB_FILE)).unwrap();
    let verdict: String = check
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    let blocks: i64 = check
        .query_row("SELECT COUNT(*) FROM blocks", [], |r| r.get(0))
        .unwrap();
    assert!(blocks > 0, "the inputs were kept as blocks");
}
