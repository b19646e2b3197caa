//! Incremental turns for HTTP clients (`incremental_turns`): an SDK-style
//! conversation whose first message is a large document (about 1 MiB, as an
//! agent's pasted files or tool results make one), then four small turns,
//! each sent whole by the client, through a proxy that chains them and one
//! that does not, and straight to the mock. Measured for each turn: the bytes
//! the backend received; for turn 5: the time from sending to the first
//! byte of the streamed answer. `BENCH_ONLY=incremental`;
//! `BENCH_INCREMENTAL_SAMPLES` conversations (default 20), each with a
//! `prompt_cache_key` of its own. On loopback here, and again behind the
//! 20 Mbit/s uplink of `uplink.rs` ([`measure`] with its shaping).

use super::*;
use crate::mock::MockBackend;

/// Turns in each conversation; the last one is timed.
const TURNS: usize = 5;

/// The first message: a document of about 1 MiB.
const DOCUMENT_BYTES: usize = 1024 * 1024;

/// Each later turn's new message: a few KiB, as a tool result.
const TURN_BYTES: usize = 2 * 1024;

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

/// Words up to about `bytes`, different for each `seed`.
fn filler(seed: usize, bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 16);
    let mut n = seed;
    while text.len() < bytes {
        text.push_str(&format!("w{n:x} "));
        n += 7;
    }
    text
}

/// One route's figures: bytes the backend got per turn, and turn 5's time
/// to first byte.
#[derive(Default)]
struct Figures {
    bytes: Vec<Vec<usize>>,
    first: Stats,
}

pub fn run(mock_rt: &tokio::runtime::Runtime, rt: &tokio::runtime::Runtime) {
    if !wanted("incremental") {
        return;
    }
    let samples = std::env::var("BENCH_INCREMENTAL_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    measure(mock_rt, rt, samples, "loopback", |_| Ok(()));
}

/// The conversations on every route, `link` naming where the backend is;
/// `shape` is given the mock's port before anything is sent.
pub fn measure(
    mock_rt: &tokio::runtime::Runtime,
    rt: &tokio::runtime::Runtime,
    samples: usize,
    link: &str,
    shape: impl Fn(u16) -> Result<(), String>,
) {
    let backend = mock_rt.block_on(MockBackend::start());
    if let Err(e) = shape(backend.addr.port()) {
        println!("incremental turns ({link}): not measured: {e}");
        return;
    }
    let text: String = (0..52).map(|i| format!("w{i:02} ")).collect();
    backend.set_default_answer(mock::Answer::Events {
        events: mock::text_answer(&text, 52),
        pace: Duration::ZERO,
    });
    backend.set_ws_answer_text(&text, 52);
    let (home, access) = super::ws::mock_home(&backend);
    let proxy =
        |on: &str| start_proxy_with(home.path(), backend.addr, &["--incremental-turns", on]);
    let (chained_proxy, chained) = proxy("true");
    let (whole_proxy, whole) = proxy("false");
    let mut direct_headers = reqwest::header::HeaderMap::new();
    direct_headers.insert("authorization", format!("Bearer {access}").parse().unwrap());
    direct_headers.insert("chatgpt-account-id", mock::ACCOUNT_ID.parse().unwrap());
    direct_headers.insert("originator", "codex_exec".parse().unwrap());
    let routes = [
        (
            "proxy, incremental",
            format!("http://{chained}/v1/responses"),
            None,
        ),
        ("proxy, whole", format!("http://{whole}/v1/responses"), None),
        (
            "direct to the backend, whole",
            format!("{}/responses", backend.upstream_url()),
            Some(direct_headers),
        ),
    ];
    let client = client(4);
    let mut figures: Vec<Figures> = routes.iter().map(|_| Figures::default()).collect();
    // Warm-up, unmeasured: a conversation on each route.
    for (n, (_, url, headers)) in routes.iter().enumerate() {
        rt.block_on(conversation(
            &client,
            url,
            headers.as_ref(),
            1_000 + n,
            &backend,
        ));
    }
    for sample in 0..samples {
        for ((_, url, headers), figures) in routes.iter().zip(&mut figures) {
            let (bytes, first) = rt.block_on(conversation(
                &client,
                url,
                headers.as_ref(),
                sample,
                &backend,
            ));
            figures.bytes.push(bytes);
            figures.first.latencies_us.push(first.as_micros() as u32);
        }
    }
    println!();
    println!(
        "| {TURNS} turns, the first one a {} KiB document, then {} KiB each ({samples} conversations, {link}) | turn 1 | turn 2 | turn 3 | turn 4 | turn 5 | turn 5 / whole | turn 5 to first byte p50 | p99 | p50 ÷ direct |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        DOCUMENT_BYTES / 1024,
        TURN_BYTES / 1024,
    );
    let whole_turn5 = median(&figures[1].bytes, TURNS - 1);
    for f in &mut figures {
        f.first.latencies_us.sort_unstable();
    }
    let direct_p50 = figures[2].first.pct(0.5);
    for ((name, _, _), f) in routes.iter().zip(&mut figures) {
        let per_turn: Vec<String> = (0..TURNS)
            .map(|t| format!("{} B", median(&f.bytes, t)))
            .collect();
        println!(
            "| {name}: bytes the backend received | {} | {:.2} % | {} | {} | {:.2}× |",
            per_turn.join(" | "),
            100.0 * median(&f.bytes, TURNS - 1) as f64 / whole_turn5 as f64,
            us(f.first.pct(0.5)),
            us(f.first.pct(0.99)),
            f.first.pct(0.5) / direct_p50,
        );
    }
    drop((chained_proxy, whole_proxy));
}

/// The median over the samples of turn `turn`'s bytes.
fn median(samples: &[Vec<usize>], turn: usize) -> usize {
    let mut values: Vec<usize> = samples
        .iter()
        .filter_map(|s| s.get(turn).copied())
        .collect();
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// One conversation of [`TURNS`] turns, each the whole conversation so far,
/// streamed; the bytes the backend received for each, and the time to the
/// last turn's first byte.
async fn conversation(
    client: &reqwest::Client,
    url: &str,
    headers: Option<&reqwest::header::HeaderMap>,
    sample: usize,
    backend: &MockBackend,
) -> (Vec<usize>, Duration) {
    backend.state.seen.lock().unwrap().clear();
    let mut input = vec![user(&filler(sample, DOCUMENT_BYTES))];
    let mut first = Duration::ZERO;
    for turn in 1..=TURNS {
        if turn > 1 {
            input.push(user(&filler(sample + turn, TURN_BYTES)));
        }
        let body = json!({"model": "gpt-5", "instructions": "Be brief.", "store": false,
            "stream": true, "prompt_cache_key": format!("bench-{sample}"), "input": input});
        let start = Instant::now();
        let mut request = client.post(url).json(&body);
        if let Some(headers) = headers {
            request = request.headers(headers.clone());
        }
        let mut response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        let mut events = Vec::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            if events.is_empty() {
                first = start.elapsed();
            }
            events.extend_from_slice(&chunk);
        }
        let events = String::from_utf8(events).unwrap();
        let completed = events
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .find(|e| e["type"] == "response.completed")
            .expect("a completed answer");
        let output = completed["response"]["output"].as_array().cloned();
        // The backend's own stream carries an empty output: its items then.
        let output = match output.filter(|o| !o.is_empty()) {
            Some(output) => output,
            None => vec![mock::text_message(
                &completed_text(&events).unwrap_or_default(),
            )],
        };
        input.extend(output);
    }
    let bytes = backend.seen().iter().map(|s| s.bytes).collect();
    (bytes, first)
}

/// The text of a stream's `response.output_text.done`.
fn completed_text(events: &str) -> Option<String> {
    events
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|e| e["type"] == "response.output_text.done")
        .and_then(|e| e["text"].as_str().map(str::to_owned))
}
