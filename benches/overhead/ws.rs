//! The Responses WebSocket against HTTP, through the same proxy process and
//! the test suite's mock (which speaks both): a second turn continued by
//! `previous_response_id` on one open socket against the same turn posted
//! over HTTP with the whole conversation (time to `response.created`, time
//! to `response.completed`, the proxy's CPU per turn), and what one idle
//! open socket costs the proxy in memory; and a turn whose frame carries a
//! long conversation (`long::history_body`, about 0.9 MiB), as sent and with
//! the instructions left for the proxy to add. `BENCH_ONLY` names `ws`,
//! `wsmem`; `BENCH_WS_TURNS` (default 2000), `BENCH_WS_LONG_TURNS` (default
//! 200) and `BENCH_WS_SOCKETS` (default 1000).

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use super::*;
use crate::mock::MockBackend;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Turns sent before any is measured.
const WARM_TURNS: usize = 50;

/// Turns measured in a row before the conversation starts over: the mock
/// keeps the whole conversation and every request it saw, so a conversation
/// of thousands of turns would measure the mock.
const BLOCK: usize = 50;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// The answer's text: the 52 words of the HTTP cases above.
fn answer_text() -> String {
    (0..52).map(|i| format!("w{i:02} ")).collect()
}

pub fn run(mock_rt: &tokio::runtime::Runtime, rt: &tokio::runtime::Runtime) {
    if !wanted("ws") && !wanted("wsmem") {
        return;
    }
    let backend = mock_rt.block_on(MockBackend::start());
    let text = answer_text();
    backend.set_default_answer(mock::Answer::Events {
        events: mock::text_answer(&text, 52),
        pace: Duration::ZERO,
    });
    backend.set_ws_answer_text(&text, 52);
    let (home, _) = mock_home(&backend);
    let (proxy, addr) = start_proxy(home.path(), backend.addr);
    let pid = proxy.0.id();
    if wanted("ws") {
        let turns = env_usize("BENCH_WS_TURNS", 2000);
        rt.block_on(second_turns(&backend, addr, pid, &text, turns));
        let turns = env_usize("BENCH_WS_LONG_TURNS", 200);
        rt.block_on(long_turns(&backend, addr, pid, turns));
    }
    if wanted("wsmem") {
        let sockets = env_usize("BENCH_WS_SOCKETS", 1000);
        rt.block_on(idle_sockets(addr, pid, sockets));
    }
    drop(proxy);
}

/// A CODEX_HOME holding a login `backend` accepts, and its access token.
pub(super) fn mock_home(backend: &MockBackend) -> (tempfile::TempDir, String) {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("auth.json");
    let login = backend.login(mock::now_secs() + 3600);
    std::fs::write(&path, serde_json::to_vec_pretty(&login).unwrap()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let access = login["tokens"]["access_token"].as_str().unwrap().to_owned();
    (home, access)
}

/// The second turn of a conversation, many times, on each transport.
async fn second_turns(backend: &MockBackend, addr: SocketAddr, pid: u32, text: &str, turns: usize) {
    let mut socket = connect(addr).await;
    let mut previous = ws_turn(&mut socket, json!([user("one")]), None).await.2;
    for _ in 0..WARM_TURNS {
        previous = ws_turn(&mut socket, json!([user("next")]), Some(&previous))
            .await
            .2;
    }
    let mut ws = Timings::default();
    let mut ticks = 0;
    for block in (0..turns).collect::<Vec<_>>().chunks(BLOCK) {
        backend.state.seen.lock().unwrap().clear();
        backend.state.ws.frames.lock().unwrap().clear();
        previous = ws_turn(&mut socket, json!([user("one")]), None).await.2;
        let start = cpu_ticks(pid);
        for _ in block {
            let (first, done, id) =
                ws_turn(&mut socket, json!([user("next")]), Some(&previous)).await;
            ws.push(first, done);
            previous = id;
        }
        ticks += cpu_ticks(pid) - start;
    }
    let ws_cpu = cpu_per_turn(ticks, turns);

    // Over HTTP the client sends the whole conversation again.
    let assistant = json!({"type": "message", "role": "assistant",
        "content": [{"type": "output_text", "text": text}]});
    let body = json!({"model": "gpt-5", "stream": true,
        "input": [user("one"), assistant, user("next")]});
    let target = Target {
        name: "proxy, HTTP",
        url: format!("http://{addr}/v1/responses"),
        headers: {
            let mut h = reqwest::header::HeaderMap::new();
            h.insert("content-type", "application/json".parse().unwrap());
            h
        },
        json_body: Bytes::from(body.to_string()),
        stream_body: Bytes::from(body.to_string()),
        turns: None,
    };
    let client = client(1);
    for _ in 0..WARM_TURNS {
        one(&client, &target, Kind::Stream, None).await.unwrap();
    }
    let mut http = Timings::default();
    let mut ticks = 0;
    for block in (0..turns).collect::<Vec<_>>().chunks(BLOCK) {
        backend.state.seen.lock().unwrap().clear();
        let start = cpu_ticks(pid);
        for _ in block {
            let (first, done) = one(&client, &target, Kind::Stream, None).await.unwrap();
            http.push(first, done);
        }
        ticks += cpu_ticks(pid) - start;
    }
    let http_cpu = cpu_per_turn(ticks, turns);

    println!();
    println!(
        "| second turn ({turns} samples, c=1) | to response.created p50 | p99 | to completed p50 | proxy CPU per turn |\n|---|---:|---:|---:|---:|"
    );
    for (name, t, cpu) in [
        ("WebSocket", &mut ws, ws_cpu),
        ("HTTP", &mut http, http_cpu),
    ] {
        t.sort();
        println!(
            "| {name} | {} | {} | {} | {} |",
            us(t.first.pct(0.5)),
            us(t.first.pct(0.99)),
            us(t.done.pct(0.5)),
            us(cpu)
        );
    }
    println!(
        "| WebSocket / HTTP | {:.2} | | {:.2} | {:.2} |",
        ws.first.pct(0.5) / http.first.pct(0.5),
        ws.done.pct(0.5) / http.done.pct(0.5),
        ws_cpu / http_cpu
    );
}

/// Turns whose frame carries a long conversation whole: one that needs no
/// change, and one without instructions (the proxy adds them, so the frame
/// is written anew).
async fn long_turns(backend: &MockBackend, addr: SocketAddr, pid: u32, turns: usize) {
    let mut frame = long::history_body();
    frame["type"] = json!("response.create");
    let unchanged = frame.to_string();
    frame.as_object_mut().unwrap().remove("instructions");
    let patched = frame.to_string();
    println!();
    println!(
        "| WebSocket turn, {:.2} MiB frame ({turns} samples, c=1) | to response.created p50 | p99 | to completed p50 | proxy CPU per turn |\n|---|---:|---:|---:|---:|",
        unchanged.len() as f64 / (1024.0 * 1024.0)
    );
    for (name, text) in [
        ("needs no change", unchanged),
        ("instructions added", patched),
    ] {
        let mut socket = connect(addr).await;
        for _ in 0..WARM_TURNS / 5 {
            ws_turn_text(&mut socket, text.clone()).await;
        }
        let mut t = Timings::default();
        let mut ticks = 0;
        // The mock keeps every frame it saw: cleared often, as they are long.
        for block in (0..turns).collect::<Vec<_>>().chunks(10) {
            backend.state.seen.lock().unwrap().clear();
            backend.state.ws.frames.lock().unwrap().clear();
            let start = cpu_ticks(pid);
            for _ in block {
                let (first, done, _) = ws_turn_text(&mut socket, text.clone()).await;
                t.push(first, done);
            }
            ticks += cpu_ticks(pid) - start;
        }
        t.sort();
        println!(
            "| {name} | {} | {} | {} | {} |",
            us(t.first.pct(0.5)),
            us(t.first.pct(0.99)),
            us(t.done.pct(0.5)),
            us(cpu_per_turn(ticks, turns))
        );
    }
}

/// `n` sockets, each with one turn answered (so each holds its socket to
/// the backend too), then left open: the proxy's RSS grows by what they cost.
async fn idle_sockets(addr: SocketAddr, pid: u32, n: usize) {
    // Each socket holds a descriptor here and one in the mock (this process).
    let fit = (open_files_limit().saturating_sub(200) / 2) as usize;
    let n = if n > fit {
        println!(
            "NOTE: measuring {fit} sockets instead of {n} (raise the limit with `ulimit -n 8192`)"
        );
        fit
    } else {
        n
    };
    let before = status_kib(pid, "VmRSS:");
    let mut sockets = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(32) {
        let opened = futures_util::future::join_all(chunk.iter().map(|_| async {
            let mut socket = connect(addr).await;
            ws_turn(&mut socket, json!([user("one")]), None).await;
            socket
        }));
        sockets.extend(opened.await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss = status_kib(pid, "VmRSS:");
    let per = rss.saturating_sub(before) as f64 / n as f64;
    println!();
    println!("| proxy memory, WebSocket | VmRSS |\n|---|---:|");
    println!("| before | {before} KiB |");
    println!("| with {n} idle open sockets (one turn each) | {rss} KiB |");
    println!("| per idle open socket (client and backend side) | {per:.1} KiB |");
    drop(sockets);
}

async fn connect(addr: SocketAddr) -> Socket {
    let url = format!("ws://{addr}/v1/responses");
    // Without Nagle's algorithm, as the proxy and the CLI.
    let connected = tokio_tungstenite::connect_async_with_config(url, None, true).await;
    connected.unwrap().0
}

/// One turn; the time to `response.created` and to `response.completed`,
/// and the response's id.
async fn ws_turn(
    socket: &mut Socket,
    input: Value,
    previous: Option<&str>,
) -> (Duration, Duration, String) {
    let mut frame = json!({"type": "response.create", "model": "gpt-5", "input": input,
        "store": false, "stream": true});
    if let Some(previous) = previous {
        frame["previous_response_id"] = json!(previous);
    }
    ws_turn_text(socket, frame.to_string()).await
}

/// One turn of the frame `text`, as [`ws_turn`].
async fn ws_turn_text(socket: &mut Socket, text: String) -> (Duration, Duration, String) {
    let start = Instant::now();
    socket.send(Message::text(text)).await.unwrap();
    let mut first = None;
    loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("the socket ended mid-turn");
        };
        let text = text.as_str();
        if first.is_none() && text.starts_with("{\"type\":\"response.created\"") {
            first = Some(start.elapsed());
        }
        if text.starts_with("{\"type\":\"response.completed\"") {
            let event: Value = serde_json::from_str(text).unwrap();
            let id = event["response"]["id"].as_str().unwrap().to_owned();
            return (first.unwrap_or_default(), start.elapsed(), id);
        }
        assert!(!text.starts_with("{\"type\":\"error\""), "{text}");
    }
}

#[derive(Default)]
struct Timings {
    first: Stats,
    done: Stats,
}

impl Timings {
    fn push(&mut self, first: Duration, done: Duration) {
        self.first.latencies_us.push(first.as_micros() as u32);
        self.done.latencies_us.push(done.as_micros() as u32);
    }

    fn sort(&mut self) {
        self.first.latencies_us.sort_unstable();
        self.done.latencies_us.sort_unstable();
    }
}

/// The proxy's user and system CPU time so far, in clock ticks
/// (`/proc/PID/stat`, every thread counted).
pub(super) fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which may hold spaces: state is
    // the first, utime the 12th, stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Microseconds of CPU per turn, from the ticks `turns` turns took.
pub(super) fn cpu_per_turn(ticks: u64, turns: usize) -> f64 {
    let tick_us = 1_000_000.0 / clock_ticks_per_second();
    ticks as f64 * tick_us / turns as f64
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
