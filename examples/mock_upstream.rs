//! The test suite's mock Codex backend and token endpoint as a process on
//! 127.0.0.1, for the systemd system test, the start-up measurement, and for
//! trying the daemon without a subscription.
//!
//! ```sh
//! cargo run --example mock_upstream -- 127.0.0.1:0 /tmp/codex-home
//! # prints "upstream_url=… token_url=…" and writes a login the mock accepts
//! # to /tmp/codex-home/auth.json
//! ```
//!
//! Every request gets a short text answer at once. A line `pace MS` on stdin
//! makes the next answer send its events MS milliseconds apart, so a test can
//! keep a stream in flight.

#[path = "../tests/common/mock/mod.rs"]
mod mock;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::mock::{Answer, MockBackend};

/// The text of every answer.
const ANSWER: &str = "Hello, world!";
/// How many delta events an answer has.
const PIECES: usize = 8;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(home)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: mock_upstream ADDR CODEX_HOME");
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let backend = MockBackend::start_on(listener).await;
    backend.set_default_answer(answer(Duration::ZERO));

    // A login valid for a year, issued by this mock so it accepts it.
    let home = PathBuf::from(home);
    std::fs::create_dir_all(&home)?;
    let path = home.join("auth.json");
    let login = backend.login(mock::now_secs() + 365 * 24 * 3600);
    std::fs::write(&path, serde_json::to_vec_pretty(&login)?)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;

    println!(
        "upstream_url={} token_url={}",
        backend.upstream_url(),
        backend.token_url()
    );
    // stdin is read on a thread of its own: tokio's is not built in.
    let (tx, mut paces) = tokio::sync::mpsc::unbounded_channel::<u64>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if let Some(ms) = line
                .strip_prefix("pace ")
                .and_then(|n| n.trim().parse().ok())
                && tx.send(ms).is_err()
            {
                break;
            }
        }
    });
    while let Some(ms) = paces.recv().await {
        backend.push_answer(answer(Duration::from_millis(ms)));
        println!("next answer paced {ms} ms");
    }
    std::future::pending::<()>().await;
    Ok(())
}

fn answer(pace: Duration) -> Answer {
    Answer::Events {
        events: mock::text_answer(ANSWER, PIECES),
        pace,
    }
}
