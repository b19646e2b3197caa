//! What the proxy costs: the same load sent straight to a mock backend,
//! through the proxy (release build, its own process), and through nginx
//! `proxy_pass` (a reverse proxy that parses nothing), back to back in one
//! run, so that the figures compare on one machine.
//!
//! Run: `cargo bench --bench overhead` (see docs/BENCHMARKS.md).
//! Environment: `BENCH_SECS` (seconds per measured case, default 2),
//! `BENCH_STREAMS` (open streams for the memory figure, default 1000),
//! `BENCH_ONLY` (a comma-separated subset of `json1,json16,json256,stream1,
//! stream16,stream256,ttfe,messages,memory,metrics,chain,ws,wsmem,incremental,start,
//! long,longmem,small,uplink`, for quick comparisons; `ws` and `wsmem` are
//! the Responses WebSocket's, see `overhead/ws.rs`, `incremental` the chained
//! HTTP turns', see `overhead/incremental.rs`, `messages` the Anthropic
//! Messages stream's, see `overhead/messages.rs`, `long`, `longmem` and
//! `small` a long conversation's and kept answers', see `overhead/long.rs`,
//! `uplink` the slow link's, see `overhead/uplink.rs`),
//! `BENCH_PROXY` (another proxy binary to measure in place of the release build).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

#[path = "overhead/chain.rs"]
mod chain;
#[path = "overhead/incremental.rs"]
mod incremental;
#[path = "overhead/long.rs"]
mod long;
#[path = "overhead/messages.rs"]
mod messages;
#[path = "overhead/metrics.rs"]
mod metrics;
#[path = "../tests/common/mock/mod.rs"]
mod mock;
#[path = "overhead/uplink.rs"]
mod uplink;
#[path = "overhead/ws.rs"]
mod ws;

const ACCOUNT_ID: &str = "acc-bench-1";
/// Loaded before each measured case so that pools and caches are warm.
const WARMUP: Duration = Duration::from_millis(300);
/// No case sends more than this many requests, whatever its duration.
const MAX_REQUESTS: usize = 2_000_000;
/// The first failed answer is shown; the rest are only counted.
/// Both a collected answer and a stream's last event say this.
const COMPLETED: &[u8] = b"\"completed\"";
/// What the last event of a Messages stream says.
const MESSAGE_STOP: &[u8] = b"\"message_stop\"";
static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

// ---------------------------------------------------------------- mock backend

/// The answer the backend streams: the test suite's realistic text answer
/// with 52 deltas, 60 events, `output: []` in `response.completed` as the real
/// backend sends it (PROTOCOL.md §4).
fn answer_events() -> Vec<Value> {
    let text: String = (0..52).map(|i| format!("w{i:02} ")).collect();
    mock::text_answer(&text, 52)
}

fn frame(event: &Value) -> String {
    format!(
        "event: {}\ndata: {event}\n\n",
        event["type"].as_str().unwrap()
    )
}

/// The bytes the mock sends, prepared once.
struct Answer {
    full: Bytes,
    first: Bytes,
    rest: Bytes,
    events: usize,
}

/// Answers given a response id of their own, counted.
static NUMBERED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The response id of the prepared answer; `resp_` and six hex digits in its
/// place are as long, so the answer can be renumbered in place.
const ANSWER_ID: &[u8] = b"resp_mock_1";

impl Answer {
    /// The whole answer under a response id of its own.
    fn numbered(&self) -> Bytes {
        let n = NUMBERED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("resp_{:06x}", n % 0x100_0000);
        let mut bytes = self.full.to_vec();
        for at in memchr::memmem::find_iter(&self.full, ANSWER_ID) {
            bytes[at..at + ANSWER_ID.len()].copy_from_slice(id.as_bytes());
        }
        Bytes::from(bytes)
    }
}

impl Answer {
    fn new() -> Self {
        let frames: Vec<String> = answer_events().iter().map(frame).collect();
        Answer {
            full: Bytes::from(frames.concat()),
            first: Bytes::from(frames[0].clone()),
            rest: Bytes::from(frames[1..].concat()),
            events: frames.len(),
        }
    }
}

type MockBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A lean backend: no parsing beyond draining the body and checking that a
/// bearer token came; `GET …/models` gets a one-model list. The `session-id` header picks the behaviour: absent,
/// the whole answer at once; `ttfe`, the first event and the rest 2 ms later;
/// `stall`, the first events and then nothing while the connection stays;
/// `unique`, the whole answer under a response id of its own.
async fn mock_answer(answer: Arc<Answer>, request: Request<Incoming>) -> Response<MockBody> {
    let bearer = request
        .headers()
        .get("authorization")
        .is_some_and(|v| v.as_bytes().starts_with(b"Bearer "));
    let mode = request
        .headers()
        .get("session-id")
        .map(|v| v.as_bytes().to_vec());
    let models = request.uri().path().ends_with("/models");
    let _ = request.into_body().collect().await;
    if bearer && models {
        let list = json!({"models": [{"slug": "gpt-5", "visibility": "list", "priority": 1}]});
        return Response::builder()
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(Bytes::from(list.to_string())).boxed())
            .unwrap();
    }
    if !bearer {
        return Response::builder()
            .status(401)
            .body(http_body_util::Full::new(Bytes::from_static(b"{}")).boxed())
            .unwrap();
    }
    let chunks: Vec<(Duration, Bytes)> = match mode.as_deref() {
        Some(b"ttfe") => vec![
            (Duration::ZERO, answer.first.clone()),
            (Duration::from_millis(2), answer.rest.clone()),
        ],
        Some(b"stall") => vec![
            (Duration::ZERO, answer.first.clone()),
            (Duration::from_secs(3600), Bytes::new()),
        ],
        Some(b"unique") => vec![(Duration::ZERO, answer.numbered())],
        _ => vec![(Duration::ZERO, answer.full.clone())],
    };
    let stream = futures_util::stream::iter(chunks).then(|(pause, bytes)| async move {
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        Ok::<_, Infallible>(Frame::data(bytes))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("x-request-id", "upstream-bench-1")
        // The usage windows every real answer reports (PROTOCOL.md §11).
        .header("x-codex-primary-used-percent", "12")
        .header("x-codex-primary-window-minutes", "300")
        .header("x-codex-primary-reset-at", "4000000000")
        .header("x-codex-secondary-used-percent", "3")
        .header("x-codex-secondary-window-minutes", "10080")
        .header("x-codex-secondary-reset-at", "4000086400")
        .body(BodyExt::boxed(StreamBody::new(stream)))
        .unwrap()
}

async fn run_mock(listener: tokio::net::TcpListener, answer: Arc<Answer>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        stream.set_nodelay(true).unwrap();
        let answer = answer.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |r| {
                let answer = answer.clone();
                async move { Ok::<_, Infallible>(mock_answer(answer, r).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

// ---------------------------------------------------------------- targets

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fake_jwt(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.signature")
}

fn access_token() -> String {
    fake_jwt(
        &json!({"exp": 4_102_444_800_i64, "https://api.openai.com/auth": {"chatgpt_account_id": ACCOUNT_ID}}),
    )
}

fn write_auth(home: &Path) {
    let doc = json!({
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": fake_jwt(&json!({"email": "bench@example.com",
                "https://api.openai.com/auth": {"chatgpt_account_id": ACCOUNT_ID, "chatgpt_plan_type": "plus"}})),
            "access_token": access_token(),
            "refresh_token": "rt-bench",
            "account_id": ACCOUNT_ID
        },
        "last_refresh": "2026-11-01T10:00:00.123456Z"
    });
    let path = home.join("auth.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A child process stopped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master stops its workers only then (a
        // SIGKILL would leave them running); the proxy drains and exits.
        let stopped = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status()
            .is_ok_and(|s| s.success());
        if stopped {
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.0.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const PROXY_BIN: &str = env!("CARGO_BIN_EXE_codex-responses-proxy");

fn proxy_args(home: &Path, mock: SocketAddr) -> Vec<String> {
    vec![
        "--codex-home".into(),
        home.display().to_string(),
        "--upstream-url".into(),
        format!("http://{mock}/backend-api/codex"),
        "--token-url".into(),
        format!("http://{mock}/oauth/token"),
        "--log-level".into(),
        "warn".into(),
        "--log-target".into(),
        "stderr".into(),
    ]
}

/// The binary measured: the release build, or `BENCH_PROXY`.
fn proxy_bin() -> String {
    std::env::var("BENCH_PROXY").unwrap_or_else(|_| PROXY_BIN.to_owned())
}

/// Whether `BENCH_ONLY` (if set) names this part of the run.
fn wanted(part: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p.trim() == part))
}

fn proxy_command(program: &str, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("CODEX_HOME", home)
        .env("XDG_CONFIG_HOME", home)
        // The response store: in the bench's folder, never the user's.
        .env("XDG_STATE_HOME", home)
        .env_remove("STATE_DIRECTORY")
        .env_remove("CODEX_RESPONSES_PROXY_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn start_proxy(home: &Path, mock: SocketAddr) -> (Proc, SocketAddr) {
    start_proxy_with(home, mock, &[])
}

fn start_proxy_with(home: &Path, mock: SocketAddr, extra: &[&str]) -> (Proc, SocketAddr) {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = proxy_command(&proxy_bin(), home)
        .arg("--listen")
        .arg(addr.to_string())
        .args(proxy_args(home, mock))
        .args(extra)
        .spawn()
        .expect("starting the proxy");
    wait_listening(addr, "the proxy");
    (Proc(child), addr)
}

fn wait_listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn find_nginx() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/bin/nginx", "/usr/local/sbin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// nginx in front of the mock: one process per core, no buffering either
/// way, keep-alive to the upstream.
fn start_nginx(bin: &Path, dir: &Path, mock: SocketAddr) -> (Proc, SocketAddr) {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let d = dir.display();
    let user = if is_root() { "user root;" } else { "" };
    let conf = format!(
        r#"daemon off;
master_process on;
worker_processes 2;
{user}
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 1000000;
    upstream mock {{ server {mock}; keepalive 512; keepalive_requests 1000000; }}
    server {{
        listen {addr} reuseport;
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 3600s;
        }}
    }}
}}
"#
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new(bin)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting nginx");
    wait_listening(addr, "nginx");
    (Proc(child), addr)
}

// ---------------------------------------------------------------- load

/// One way to reach the backend: the URL, the headers and the body a client
/// sends there.
#[derive(Clone)]
struct Target {
    name: &'static str,
    url: String,
    headers: reqwest::header::HeaderMap,
    json_body: Bytes,
    stream_body: Bytes,
    /// When set, each request is the next turn of a conversation (built
    /// before its clock starts) instead of `stream_body`.
    turns: Option<Arc<long::Turns>>,
}

fn direct_headers() -> reqwest::header::HeaderMap {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        "authorization",
        format!("Bearer {}", access_token()).parse().unwrap(),
    );
    h.insert("chatgpt-account-id", ACCOUNT_ID.parse().unwrap());
    h.insert("originator", "codex_cli_rs".parse().unwrap());
    h.insert("content-type", "application/json".parse().unwrap());
    h.insert("accept", "text/event-stream".parse().unwrap());
    h
}

/// What the proxy sends the backend, roughly: the backend always streams.
fn backend_body() -> Bytes {
    Bytes::from(
        json!({"model": "gpt-5", "instructions": "You are a helpful assistant.",
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello"}]}],
            "stream": true, "store": false, "tool_choice": "auto", "parallel_tool_calls": false})
        .to_string(),
    )
}

/// What a client sends. `store: false`: these cases measure the transport
/// against nginx, which keeps nothing; what keeping answers costs is the
/// `chain` part's.
fn client_body(stream: bool) -> Bytes {
    Bytes::from(
        json!({"model": "gpt-5", "input": "Say hello", "stream": stream, "store": false})
            .to_string(),
    )
}

fn client(max_idle: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(max_idle)
        .pool_idle_timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Stream,
}

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u32>,
    errors: usize,
    elapsed: Duration,
}

impl Stats {
    /// Adds a later measurement of the same case (its latencies unsorted).
    fn add(&mut self, other: Stats) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        self.elapsed += other.elapsed;
    }

    fn rps(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 * p) as usize).min(self.latencies_us.len() - 1);
        f64::from(self.latencies_us[i])
    }
}

/// Sends one request and reads its whole answer; the time it took, or `None`
/// when the answer was not a complete one.
async fn one(
    client: &reqwest::Client,
    target: &Target,
    kind: Kind,
    mode: Option<&str>,
) -> Option<(Duration, Duration)> {
    let body = match (&target.turns, kind) {
        (Some(turns), _) => turns.next(),
        (None, Kind::Json) => target.json_body.clone(),
        (None, Kind::Stream) => target.stream_body.clone(),
    };
    let start = Instant::now();
    let mut request = client
        .post(&target.url)
        .headers(target.headers.clone())
        .body(body);
    if let Some(mode) = mode {
        request = request.header("session-id", mode);
    }
    let mut response = request.send().await.ok()?;
    if !response.status().is_success() {
        if !REPORTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            eprintln!("{}: answered {status}: {text}", target.name);
        }
        return None;
    }
    let mut first = None;
    let mut complete = false;
    // The end of the previous chunk, so that a word cut in two is found.
    let mut carry = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if first.is_none() && !chunk.is_empty() {
            first = Some(start.elapsed());
        }
        if !complete {
            carry.extend_from_slice(&chunk[..chunk.len().min(16)]);
            complete = [COMPLETED, MESSAGE_STOP].iter().any(|done| {
                memchr::memmem::find(&carry, done).is_some()
                    || memchr::memmem::find(&chunk, done).is_some()
            });
            carry.clear();
            carry.extend_from_slice(&chunk[chunk.len().saturating_sub(16)..]);
        }
    }
    let done = start.elapsed();
    complete.then_some((first.unwrap_or(done), done))
}

/// `concurrency` workers sending back to back for `duration`.
async fn load(
    client: &reqwest::Client,
    target: &Target,
    kind: Kind,
    concurrency: usize,
    duration: Duration,
) -> Stats {
    let start = Instant::now();
    let deadline = start + duration;
    let budget = Arc::new(std::sync::atomic::AtomicUsize::new(MAX_REQUESTS));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let target = target.clone();
        let budget = budget.clone();
        workers.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            while Instant::now() < deadline
                && budget.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) > 0
            {
                match tokio::time::timeout(
                    Duration::from_secs(10),
                    one(&client, &target, kind, None),
                )
                .await
                {
                    Ok(Some((_, t))) => stats.latencies_us.push(t.as_micros() as u32),
                    _ => stats.errors += 1,
                }
            }
            stats
        }));
    }
    let mut all = Stats::default();
    for w in workers {
        let s = w.await.unwrap();
        all.latencies_us.extend(s.latencies_us);
        all.errors += s.errors;
    }
    all.elapsed = start.elapsed();
    all.latencies_us.sort_unstable();
    all
}

/// How many turns each target takes in [`in_turns`].
const SLICES: u32 = 5;

/// Each target loaded at each of `concurrencies` for `duration`, the
/// targets taking turns in [`SLICES`] slices of it, so that a machine whose
/// speed drifts over seconds (a shared host) slows every target alike.
/// One `Stats` per target and concurrency, its latencies sorted.
fn in_turns(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    targets: &[Target],
    kind: Kind,
    concurrencies: &[usize],
    duration: Duration,
) -> Vec<Vec<Stats>> {
    for target in targets {
        for &concurrency in concurrencies {
            rt.block_on(load(client, target, kind, concurrency, WARMUP));
        }
    }
    let mut measured: Vec<Vec<Stats>> = targets
        .iter()
        .map(|_| concurrencies.iter().map(|_| Stats::default()).collect())
        .collect();
    for _ in 0..SLICES {
        for (target, stats) in targets.iter().zip(&mut measured) {
            for (&concurrency, stats) in concurrencies.iter().zip(stats.iter_mut()) {
                let slice = rt.block_on(load(client, target, kind, concurrency, duration / SLICES));
                stats.add(slice);
            }
        }
    }
    for stats in measured.iter_mut().flatten() {
        stats.latencies_us.sort_unstable();
    }
    measured
}

/// Time to the first streamed event, one request at a time.
async fn ttfe(client: &reqwest::Client, target: &Target, samples: usize) -> Stats {
    let mut stats = Stats::default();
    let start = Instant::now();
    for _ in 0..samples {
        match one(client, target, Kind::Stream, Some("ttfe")).await {
            Some((first, _)) => stats.latencies_us.push(first.as_micros() as u32),
            None => stats.errors += 1,
        }
    }
    stats.elapsed = start.elapsed();
    stats.latencies_us.sort_unstable();
    stats
}

// ---------------------------------------------------------------- memory

fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(1024)
}

/// Opens `n` streams that stay open (the mock stalls after the first event),
/// waits until each has its first event, and returns the proxy's VmRSS then.
async fn open_streams(target: &Target, n: usize, pid: u32) -> (usize, u64, u64) {
    let client = client(n);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(n);
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for _ in 0..n {
        let client = client.clone();
        let target = target.clone();
        let tx = tx.clone();
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(&target.url)
                .headers(target.headers.clone())
                .header("session-id", "stall")
                .body(target.stream_body.clone())
                .send()
                .await;
            let Ok(mut response) = response else { return };
            if let Ok(Some(_)) = response.chunk().await {
                let _ = tx.send(()).await;
            }
            stop.notified().await;
        }));
    }
    drop(tx);
    let mut open = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while open < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(())) => open += 1,
            _ => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss = status_kib(pid, "VmRSS:");
    let hwm = status_kib(pid, "VmHWM:");
    for t in tasks {
        t.abort();
    }
    (open, rss, hwm)
}

// ---------------------------------------------------------------- cold start

/// Connect to a socket-activated instance and time the first complete answer.
fn cold_start(home: &Path, mock: SocketAddr, samples: usize) -> Result<Vec<Duration>, String> {
    let activator = Path::new("/usr/bin/systemd-socket-activate");
    if !activator.exists() {
        return Err("systemd-socket-activate not found (apt-get install -y systemd)".into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..samples {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let _child = Proc(
            proxy_command(activator.to_str().unwrap(), home)
                .arg("-l")
                .arg(addr.to_string())
                .arg(proxy_bin())
                .args(proxy_args(home, mock))
                .spawn()
                .map_err(|e| format!("systemd-socket-activate: {e}"))?,
        );
        wait_listening_quietly(addr)?;
        let target = Target {
            name: "cold",
            url: format!("http://{addr}/v1/responses"),
            headers: Default::default(),
            json_body: client_body(false),
            stream_body: client_body(true),
            turns: None,
        };
        // A fresh client: the time includes connecting.
        let client = client(1);
        let answer = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(5),
                one(&client, &target, Kind::Json, None),
            )
            .await
        });
        match answer {
            Ok(Some((_, t))) => times.push(t),
            _ => return Err("no complete answer from the socket-activated proxy within 5 s (does it take LISTEN_FDS?)".into()),
        }
    }
    times.sort();
    Ok(times)
}

/// Without socket activation: spawn with `--listen`, connect as soon as the
/// port answers, and time spawn to the first complete answer.
fn spawn_start(home: &Path, mock: SocketAddr, samples: usize) -> Vec<Duration> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..samples {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let start = Instant::now();
        let _child = Proc(
            proxy_command(&proxy_bin(), home)
                .arg("--listen")
                .arg(addr.to_string())
                .args(proxy_args(home, mock))
                .spawn()
                .unwrap(),
        );
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the proxy did not start"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        let target = Target {
            name: "spawned",
            url: format!("http://{addr}/v1/responses"),
            headers: Default::default(),
            json_body: client_body(false),
            stream_body: client_body(true),
            turns: None,
        };
        let client = client(1);
        if rt
            .block_on(one(&client, &target, Kind::Json, None))
            .is_some()
        {
            times.push(start.elapsed());
        }
    }
    times.sort();
    times
}

/// systemd-socket-activate listens before it starts anything.
fn wait_listening_quietly(addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    // Connecting would activate the service: look for the socket instead.
    let hex = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes([127, 0, 0, 1]),
        addr.port()
    );
    while Instant::now() < deadline {
        let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
        if tcp
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(hex.as_str()) && l.contains(" 0A "))
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Err("systemd-socket-activate did not listen".into())
}

// ---------------------------------------------------------------- report

fn us(v: f64) -> String {
    if v.is_nan() {
        "n/a".into()
    } else if v >= 10_000.0 {
        format!("{:.1} ms", v / 1000.0)
    } else {
        format!("{v:.0} µs")
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cores} cores, {cpu}, load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn main() {
    if uplink::is_child() {
        uplink::child();
        return;
    }
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let duration = Duration::from_secs_f64(secs);
    let mut streams: usize = std::env::var("BENCH_STREAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);

    // The mock has its own runtime, the load generator another.
    let answer = Arc::new(Answer::new());
    let mock_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("mock")
        .enable_all()
        .build()
        .unwrap();
    let mock_listener = mock_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let mock = mock_listener.local_addr().unwrap();
    mock_rt.spawn(run_mock(mock_listener, answer.clone()));

    let dir = tempfile::tempdir().unwrap();
    write_auth(dir.path());
    let (proxy, proxy_addr) = start_proxy(dir.path(), mock);
    let pid = proxy.0.id();

    let nginx_bin = find_nginx();
    let nginx_dir = tempfile::tempdir().unwrap();
    let nginx = nginx_bin
        .as_deref()
        .map(|bin| start_nginx(bin, nginx_dir.path(), mock));
    if nginx.is_none() {
        println!(
            "NOTE: nginx is not installed, so the nginx column is empty. Install it with: apt-get install -y nginx-light"
        );
    }

    let direct_url = format!("http://{mock}/backend-api/codex/responses");
    let mut targets = vec![
        Target {
            name: "direct",
            url: direct_url,
            headers: direct_headers(),
            json_body: backend_body(),
            stream_body: backend_body(),
            turns: None,
        },
        Target {
            name: "proxy",
            url: format!("http://{proxy_addr}/v1/responses"),
            headers: {
                let mut h = reqwest::header::HeaderMap::new();
                h.insert("content-type", "application/json".parse().unwrap());
                h
            },
            json_body: client_body(false),
            stream_body: client_body(true),
            turns: None,
        },
    ];
    if let Some((_, addr)) = &nginx {
        targets.push(Target {
            name: "nginx",
            url: format!("http://{addr}/backend-api/codex/responses"),
            headers: direct_headers(),
            json_body: backend_body(),
            stream_body: backend_body(),
            turns: None,
        });
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load")
        .enable_all()
        .build()
        .unwrap();
    let clients: Vec<reqwest::Client> = targets.iter().map(|_| client(512)).collect();

    let idle_rss = status_kib(pid, "VmRSS:");
    let idle_hwm = status_kib(pid, "VmHWM:");

    println!("machine: {}", machine());
    println!(
        "answer: {} events, {} bytes; {secs} s per case after {} ms of warm-up",
        answer.events,
        answer.full.len(),
        WARMUP.as_millis()
    );
    println!();
    println!(
        "| answer | conc. | target | req/s | p50 | p99 | added p50 | errors |\n|---|---:|---|---:|---:|---:|---:|---:|"
    );
    for kind in [Kind::Json, Kind::Stream] {
        for concurrency in [1, 16, 256] {
            let name = match kind {
                Kind::Json => "json",
                Kind::Stream => "stream",
            };
            if !wanted(&format!("{name}{concurrency}")) {
                continue;
            }
            let mut direct_p50 = f64::NAN;
            for (target, client) in targets.iter().zip(&clients) {
                rt.block_on(load(client, target, kind, concurrency, WARMUP));
                let s = rt.block_on(load(client, target, kind, concurrency, duration));
                let p50 = s.pct(0.5);
                if target.name == "direct" {
                    direct_p50 = p50;
                }
                let added = if target.name == "direct" {
                    "-".into()
                } else {
                    us(p50 - direct_p50)
                };
                println!(
                    "| {} | {concurrency} | {} | {:.0} | {} | {} | {added} | {} |",
                    match kind {
                        Kind::Json => "JSON (collected)",
                        Kind::Stream => "streamed",
                    },
                    target.name,
                    s.rps(),
                    us(p50),
                    us(s.pct(0.99)),
                    s.errors,
                );
            }
        }
    }

    println!();
    println!(
        "| time to first event (c=1, 500 samples) | p50 | p99 | added p50 |\n|---|---:|---:|---:|"
    );
    let mut direct_p50 = f64::NAN;
    for (target, client) in targets.iter().zip(&clients).filter(|_| wanted("ttfe")) {
        let s = rt.block_on(ttfe(client, target, 500));
        if target.name == "direct" {
            direct_p50 = s.pct(0.5);
        }
        println!(
            "| {} | {} | {} | {} |",
            target.name,
            us(s.pct(0.5)),
            us(s.pct(0.99)),
            if target.name == "direct" {
                "-".into()
            } else {
                us(s.pct(0.5) - direct_p50)
            }
        );
    }

    if wanted("messages") {
        let anthropic = messages::target(proxy_addr);
        messages::run(&rt, [&targets[1], &anthropic], pid, duration, answer.events);
    }

    if wanted("memory") {
        let limit = open_files_limit();
        // Each stream holds a socket here and two in the proxy and the mock.
        let fit = (limit.saturating_sub(200) / 2) as usize;
        if streams > fit {
            println!(
                "NOTE: the open-files limit is {limit}: measuring {fit} streams instead of {streams} (raise it with `ulimit -n 8192`)"
            );
            streams = fit;
        }
        let after_load_rss = status_kib(pid, "VmRSS:");
        let after_load_hwm = status_kib(pid, "VmHWM:");
        let (open, rss, hwm) = rt.block_on(open_streams(&targets[1], streams, pid));
        let per_stream = (rss.saturating_sub(after_load_rss) as f64) / open.max(1) as f64;
        println!();
        println!("| proxy memory | VmRSS | VmHWM |\n|---|---:|---:|");
        println!("| idle, after start | {idle_rss} KiB | {idle_hwm} KiB |");
        println!("| after the load above | {after_load_rss} KiB | {after_load_hwm} KiB |");
        println!("| with {open} open streams | {rss} KiB | {hwm} KiB |");
        println!("| per open stream | {per_stream:.1} KiB | |");
        println!(
            "| per open stream, counted from idle | {:.1} KiB | |",
            rss.saturating_sub(idle_rss) as f64 / open.max(1) as f64
        );
    }

    if wanted("metrics") {
        metrics::cost(&rt, (&targets[1], pid), dir.path(), mock, duration);
    }
    if wanted("chain") {
        chain::run(&rt, proxy_addr, duration);
    }
    let nginx_target = targets.iter().find(|t| t.name == "nginx");
    if wanted("small") {
        long::small(&rt, proxy_addr, nginx_target, duration);
    }
    if wanted("long") {
        long::run(&rt, &targets[0], nginx_target, mock, duration);
    }
    if wanted("longmem") {
        long::memory(&rt, mock);
    }
    if wanted("uplink") {
        uplink::run();
    }
    ws::run(&mock_rt, &rt);
    incremental::run(&mock_rt, &rt);

    drop(proxy);
    std::thread::sleep(Duration::from_millis(200));
    println!();
    if wanted("start") {
        match cold_start(dir.path(), mock, 10) {
            Ok(times) => println!(
                "cold start, socket-activated, connect to complete answer (10 samples): median {:.1} ms, max {:.1} ms",
                times[times.len() / 2].as_secs_f64() * 1000.0,
                times[times.len() - 1].as_secs_f64() * 1000.0
            ),
            Err(e) => println!("cold start: not measured: {e}"),
        }
        let times = spawn_start(dir.path(), mock, 10);
        if !times.is_empty() {
            println!(
                "start, spawned with --listen, spawn to first complete answer ({} samples): median {:.1} ms, max {:.1} ms",
                times.len(),
                times[times.len() / 2].as_secs_f64() * 1000.0,
                times[times.len() - 1].as_secs_f64() * 1000.0
            );
        }
    }
    drop(nginx);
    println!("machine after the run: {}", machine());
}
