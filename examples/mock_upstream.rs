//! The test suite's mock Codex backend and token endpoint as a process on
//! 127.0.0.1, for the systemd system test, the start-up measurement, and for
//! trying the daemon (or the Codex CLI itself) without a subscription.
//!
//! ```sh
//! cargo run --example mock_upstream -- 127.0.0.1:0 /tmp/codex-home
//! # prints "upstream_url=… token_url=…", then "websocket_url=…" on a line of
//! # its own, and writes a login the mock accepts to /tmp/codex-home/auth.json
//! ```
//!
//! Every request gets a short text answer at once, over HTTP and over the
//! Responses WebSocket, each with a response id of its own (so answers can be
//! chained by `previous_response_id`, through a proxy or on the socket). A line `pace MS` on stdin makes the next HTTP answer
//! send its events MS milliseconds apart, so a test can keep a stream in
//! flight; `ws-pace MS` does the same for the next WebSocket answer, and
//! `primary PCT` makes every later answer report the 5-hour window PCT % used.
//!
//! The Codex CLI talks to it directly with that CODEX_HOME and a provider
//! such as (`name = "OpenAI"` also turns on remote compaction):
//!
//! ```toml
//! model_provider = "mock"
//! [model_providers.mock]
//! name = "OpenAI"
//! base_url = "http://127.0.0.1:PORT/backend-api/codex"
//! wire_api = "responses"
//! requires_openai_auth = true
//! supports_websockets = true
//! ```

#[path = "../tests/common/mock/mod.rs"]
mod mock;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::mock::{Answer, MockBackend, WsAnswer};

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
    backend.set_ws_answer_text(ANSWER, PIECES);

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
    println!("websocket_url={}", backend.websocket_url());
    // stdin is read on a thread of its own: tokio's is not built in.
    let (tx, mut paces) = tokio::sync::mpsc::unbounded_channel::<Pace>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if let Some(pace) = Pace::parse(&line)
                && tx.send(pace).is_err()
            {
                break;
            }
        }
    });
    while let Some(pace) = paces.recv().await {
        match pace {
            Pace::Http(ms) => {
                backend.push_answer(answer(Duration::from_millis(ms)));
                println!("next answer paced {ms} ms");
            }
            Pace::WebSocket(ms) => {
                backend.push_ws_answer(ws_answer(Duration::from_millis(ms)));
                println!("next WebSocket answer paced {ms} ms");
            }
            Pace::Primary(pct) => {
                let mut headers = backend
                    .state
                    .rate_limit_headers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for (name, value) in headers.iter_mut() {
                    if name == "x-codex-primary-used-percent" {
                        *value = pct.to_string();
                    }
                }
                println!("primary window now {pct}% used");
            }
        }
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// A line of stdin: the pause between the events of the next answer, or
/// the share of the 5-hour window later answers report.
enum Pace {
    Http(u64),
    WebSocket(u64),
    Primary(u64),
}

impl Pace {
    fn parse(line: &str) -> Option<Self> {
        let ms = |rest: &str| rest.trim().parse().ok();
        if let Some(rest) = line.strip_prefix("ws-pace ") {
            return ms(rest).map(Pace::WebSocket);
        }
        if let Some(rest) = line.strip_prefix("primary ") {
            return ms(rest).map(Pace::Primary);
        }
        line.strip_prefix("pace ").and_then(ms).map(Pace::Http)
    }
}

fn answer(pace: Duration) -> Answer {
    Answer::Text {
        text: ANSWER.to_owned(),
        pieces: PIECES,
        pace,
    }
}

fn ws_answer(pace: Duration) -> WsAnswer {
    WsAnswer::Events {
        events: mock::text_answer(ANSWER, PIECES),
        pace,
    }
}
