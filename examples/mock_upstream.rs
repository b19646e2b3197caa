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
//! flight; `ws-pace MS` does the same for the next WebSocket answer;
//! `primary PCT` makes every later answer report the 5-hour window PCT % used;
//! `tool NAME ARGS` makes the next answer (over HTTP or on a WebSocket) a
//! call of the tool NAME with the JSON arguments ARGS, so a client can go
//! through a tool round trip; `turns` prints `turns [...]`: every model
//! request so far, oldest first, as `{"route": "http"|"websocket",
//! "chained": …, "items": …, "bytes": …}` (chained by
//! `previous_response_id`, input items and bytes it carried itself);
//! `overflow` makes the next answer fail with `context_length_exceeded`
//! (as for an input past the model's window), so a client can be seen
//! compacting its conversation. An input holding the text
//! `[mock: context overflow]` always gets that answer.
//! Each line is acknowledged on stdout once it holds.
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
    let (tx, mut commands) = tokio::sync::mpsc::unbounded_channel::<Command>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if let Some(command) = Command::parse(&line)
                && tx.send(command).is_err()
            {
                break;
            }
        }
    });
    let mut calls = 0;
    while let Some(command) = commands.recv().await {
        match command {
            Command::Pace(ms) => {
                backend.push_answer(answer(Duration::from_millis(ms)));
                println!("next answer paced {ms} ms");
            }
            Command::WsPace(ms) => {
                backend.push_ws_answer(ws_answer(Duration::from_millis(ms)));
                println!("next WebSocket answer paced {ms} ms");
            }
            Command::Primary(pct) => {
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
            Command::Overflow => {
                backend.push_any_answer(backend.state.overflow_events());
                println!("next answer overflows the context window");
            }
            Command::Tool { name, arguments } => {
                calls += 1;
                backend.push_any_answer(tool_call(
                    &format!("call_mock_{calls}"),
                    &name,
                    &arguments,
                ));
                println!("next answer calls {name}");
            }
            Command::Turns => println!("turns {}", turns(&backend)),
        }
    }
    std::future::pending::<()>().await;
    Ok(())
}

/// A line of stdin: what the next answer is.
enum Command {
    /// The pause between the events of the next HTTP answer.
    Pace(u64),
    /// The same for the next WebSocket answer.
    WsPace(u64),
    /// The next HTTP answer calls this tool.
    Tool { name: String, arguments: String },
    /// The share of the 5-hour window every later answer reports.
    Primary(u64),
    /// Print the model requests seen so far.
    Turns,
    /// The next HTTP answer fails as past the model's window.
    Overflow,
}

impl Command {
    fn parse(line: &str) -> Option<Self> {
        let ms = |rest: &str| rest.trim().parse().ok();
        if line.trim() == "turns" {
            return Some(Command::Turns);
        }
        if let Some(rest) = line.strip_prefix("ws-pace ") {
            return ms(rest).map(Command::WsPace);
        }
        if let Some(rest) = line.strip_prefix("tool ") {
            let (name, arguments) = rest.trim().split_once(' ')?;
            serde_json::from_str::<serde_json::Value>(arguments).ok()?;
            return Some(Command::Tool {
                name: name.to_owned(),
                arguments: arguments.trim().to_owned(),
            });
        }
        if line.trim() == "overflow" {
            return Some(Command::Overflow);
        }
        if let Some(rest) = line.strip_prefix("primary ") {
            return ms(rest).map(Command::Primary);
        }
        line.strip_prefix("pace ").and_then(ms).map(Command::Pace)
    }
}

/// The model requests seen so far, as one line of JSON.
fn turns(backend: &MockBackend) -> serde_json::Value {
    use mock::Route;
    let turns = backend.seen().into_iter().filter_map(|seen| {
        let route = match seen.route {
            Route::Responses => "http",
            Route::WebSocket { .. } => "websocket",
            Route::Compact => return None,
        };
        Some(
            serde_json::json!({"route": route, "chained": seen.chained(),
                                "items": seen.items(), "bytes": seen.bytes}),
        )
    });
    serde_json::Value::Array(turns.collect())
}

/// An answer calling `name` with `arguments`, streamed in two halves as the
/// backend streams them.
fn tool_call(call_id: &str, name: &str, arguments: &str) -> Vec<serde_json::Value> {
    use serde_json::json;
    let id = "resp_mock_tool";
    let item = |arguments: &str, status: &str| {
        json!({"type": "function_call", "id": "fc_mock_1", "call_id": call_id, "name": name,
               "arguments": arguments, "status": status})
    };
    let half = arguments
        .char_indices()
        .map(|(i, _)| i)
        .nth(arguments.chars().count() / 2)
        .unwrap_or(0);
    let (a, b) = arguments.split_at(half);
    let mut events = vec![
        json!({"type": "response.created", "response": {"id": id, "object": "response",
               "status": "in_progress", "model": "gpt-5", "output": []}}),
        json!({"type": "response.output_item.added", "output_index": 0, "item": item("", "in_progress")}),
    ];
    for delta in [a, b] {
        events.push(
            json!({"type": "response.function_call_arguments.delta", "output_index": 0,
                           "item_id": "fc_mock_1", "delta": delta}),
        );
    }
    events.extend([
        json!({"type": "response.function_call_arguments.done", "output_index": 0,
               "item_id": "fc_mock_1", "arguments": arguments}),
        json!({"type": "response.output_item.done", "output_index": 0, "item": item(arguments, "completed")}),
        mock::completed(id),
    ]);
    events
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
