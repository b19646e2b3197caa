//! Long conversations: what a coding agent's request costs. Every turn over
//! HTTP carries the whole history; here about 1 MiB of it (600 items:
//! messages, function calls and their outputs, 20 tools), its text drawn
//! from a seeded generator over a word list and code-like lines so that it
//! compresses like a real session, not like a repeated word. Measured:
//! - `long`: the time each target adds to the request at concurrency 1,
//!   per MiB of body, with `store: false` and kept (the proxy's default);
//!   with zstd upstream (the default) and, when the binary has the flag,
//!   with `--upstream-compression off`;
//! - `longmem`: a fresh proxy's peak RSS while four such requests are in
//!   flight at once, over a few rounds;
//! - `small`: the small request of the main table kept (no `store`) beside
//!   `store: false`: total p50 at concurrency 1, throughput at 16.
//!
//! In `long` and `small` the targets take turns (see `in_turns`).

use super::*;

/// Items in the history, and tools offered.
const ITEMS: usize = 600;
const TOOLS: usize = 20;
/// Rounds of four requests at once for the peak RSS.
const MEM_ROUNDS: usize = 8;

/// splitmix64: deterministic, so every run sends the same history.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

const WORDS: &[&str] = &[
    "the",
    "a",
    "to",
    "of",
    "and",
    "in",
    "is",
    "that",
    "for",
    "it",
    "with",
    "as",
    "on",
    "this",
    "be",
    "we",
    "when",
    "which",
    "not",
    "but",
    "file",
    "function",
    "test",
    "error",
    "request",
    "response",
    "value",
    "module",
    "change",
    "return",
    "type",
    "field",
    "config",
    "build",
    "run",
    "check",
    "failing",
    "passes",
    "because",
    "should",
    "would",
    "could",
    "first",
    "then",
    "before",
    "after",
    "instead",
    "still",
    "now",
    "again",
    "case",
    "path",
    "line",
    "string",
    "list",
    "map",
    "key",
    "index",
    "buffer",
    "stream",
    "socket",
    "client",
    "server",
    "handler",
    "parser",
    "token",
    "cache",
    "store",
    "commit",
    "branch",
    "merge",
    "patch",
    "diff",
    "look",
    "read",
    "write",
    "open",
    "close",
    "send",
    "receive",
    "update",
    "remove",
    "add",
    "fix",
    "bug",
    "issue",
    "reason",
    "expected",
    "actual",
    "output",
    "input",
    "crate",
    "struct",
    "trait",
    "impl",
    "async",
    "await",
    "future",
    "task",
    "thread",
    "lock",
    "mutex",
    "channel",
    "timeout",
    "retry",
    "limit",
    "size",
    "bytes",
    "memory",
    "latency",
    "throughput",
    "slow",
    "fast",
    "large",
    "small",
    "empty",
    "missing",
    "unused",
    "warning",
    "clippy",
    "format",
    "docs",
    "comment",
    "example",
    "README",
    "version",
    "dependency",
    "feature",
    "flag",
    "option",
    "default",
    "setting",
    "environment",
    "variable",
    "directory",
    "folder",
    "log",
];

const IDENTS: &[&str] = &[
    "body", "request", "response", "state", "config", "headers", "items", "input", "output",
    "store", "client", "upstream", "events", "frame", "buffer", "limit", "count", "index", "path",
    "name", "value", "result", "error", "stream", "socket", "permit", "turn", "model",
];

const CALLS: &[&str] = &[
    "parse",
    "read",
    "write",
    "send",
    "get",
    "insert",
    "remove",
    "push",
    "extend",
    "map_err",
    "and_then",
    "unwrap_or_default",
    "to_owned",
    "clone",
    "len",
    "is_empty",
    "iter",
    "collect",
];

fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut out = String::new();
    for i in 0..words {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(rng.pick(WORDS));
        if rng.below(12) == 0 {
            out.push(',');
        }
    }
    out.push('.');
    out
}

fn prose(rng: &mut Rng, sentences: usize) -> String {
    (0..sentences)
        .map(|_| {
            let n = 6 + rng.below(14);
            sentence(rng, n)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn code_line(rng: &mut Rng) -> String {
    let indent = "    ".repeat(rng.below(4));
    let (a, b, c) = (rng.pick(IDENTS), rng.pick(IDENTS), rng.pick(CALLS));
    let n = rng.below(4096);
    match rng.below(8) {
        0 => format!("{indent}let {a} = {b}.{c}({n})?;"),
        1 => format!("{indent}if {a}.{c}() > {n} {{"),
        2 => {
            let n = 5 + rng.below(8);
            format!("{indent}// {}", sentence(rng, n))
        }
        3 => format!(
            "{indent}fn {a}_{c}(&self, {b}: &{}) -> Result<(), Error> {{",
            "Value"
        ),
        4 => format!("{indent}}}"),
        5 => format!("{indent}self.{a}.{c}(&{b}[..{n}]);"),
        6 => format!("{indent}assert_eq!({a}.{c}(), {n}, \"{b}\");"),
        _ => format!("{indent}return Ok({a}.{c}({b}));"),
    }
}

fn code(rng: &mut Rng, lines: usize) -> String {
    (0..lines)
        .map(|_| code_line(rng))
        .collect::<Vec<_>>()
        .join("\n")
}

fn tools(rng: &mut Rng) -> Vec<Value> {
    (0..TOOLS)
        .map(|i| {
            let name = format!("{}_{}_{i}", rng.pick(CALLS), rng.pick(IDENTS));
            let properties: serde_json::Map<String, Value> = (0..3 + rng.below(4))
                .map(|_| {
                    let n = 8 + rng.below(10);
                    (
                        rng.pick(IDENTS).to_owned(),
                        json!({"type": "string", "description": sentence(rng, n)}),
                    )
                })
                .collect();
            json!({"type": "function", "name": name, "description": prose(rng, 3),
                "strict": false,
                "parameters": {"type": "object", "properties": properties, "required": []}})
        })
        .collect()
}

/// The 600 items: a user turn, the model's words, and tool calls with
/// their outputs (file contents, test logs), over and over.
fn items(rng: &mut Rng) -> Vec<Value> {
    let mut items = Vec::with_capacity(ITEMS);
    let mut call = 0;
    while items.len() < ITEMS {
        let size = rng.below(8);
        let item = match items.len() % 6 {
            0 => json!({"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": prose(rng, 4 + 2 * (size % 6))}]}),
            1 | 3 => {
                call += 1;
                let command = format!(
                    "sed -n 1,{}p src/{}.rs",
                    40 + rng.below(200),
                    rng.pick(IDENTS)
                );
                let arguments = json!({"command": ["bash", "-lc", command], "workdir": "/work"});
                json!({"type": "function_call", "name": "shell", "call_id": format!("call_{call:04}"),
                    "arguments": arguments.to_string()})
            }
            2 | 4 => json!({"type": "function_call_output", "call_id": format!("call_{call:04}"),
                "output": code(rng, 40 + size * 10)}),
            _ => json!({"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": prose(rng, 6 + 2 * size)}]}),
        };
        items.push(item);
    }
    items
}

/// The backend body of a long conversation, as the Codex CLI sends it:
/// `stream: true`, `store: false`, instructions, tools.
pub fn history_body() -> Value {
    let mut rng = Rng::new(0x00c0_dec5);
    let tools = tools(&mut rng);
    json!({"model": "gpt-5", "instructions": prose(&mut rng, 40), "input": items(&mut rng),
        "tools": tools, "tool_choice": "auto", "parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "summary": "auto"}, "include": [],
        "prompt_cache_key": "bench-long-1", "stream": true, "store": false})
}

/// The same body kept: the client leaves `store` out (the public API's default).
fn kept(body: &Value) -> Bytes {
    let mut body = body.clone();
    body.as_object_mut().unwrap().remove("store");
    Bytes::from(body.to_string())
}

/// A conversation's successive turns over HTTP, as a client sends them:
/// the whole history so far, which grew by the model's last answer (a
/// message, a tool call and its output) and the user's next message. Each
/// request is a turn never sent before, so nothing is measured on a body
/// the proxy has seen whole; what it shares with the turns before it is
/// what a real conversation's turns share.
pub struct Turns {
    /// The body up to the end of its input list, and from there on.
    head: Bytes,
    rest: Bytes,
}

/// Turns made so far, by every [`Turns`]: no two targets send the same turn.
static SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Turns {
    pub fn new(body: &Bytes) -> Arc<Turns> {
        let at = memchr::memmem::find(body, b"],\"tools\"")
            .expect("the input list ends before the tools");
        Arc::new(Turns {
            head: body.slice(..at),
            rest: body.slice(at..),
        })
    }

    /// The next turn: the history and this turn's own few KiB.
    pub fn next(&self) -> Bytes {
        let turn = SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut rng = Rng::new(turn.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x7e57);
        let call = format!("call_turn_{turn}");
        let added = [
            json!({"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": prose(&mut rng, 6)}]}),
            json!({"type": "function_call", "name": "shell", "call_id": call,
                "arguments": json!({"command": ["bash", "-lc", format!("cat src/{}.rs", rng.pick(IDENTS))]}).to_string()}),
            json!({"type": "function_call_output", "call_id": call, "output": code(&mut rng, 60)}),
            json!({"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": prose(&mut rng, 3)}]}),
        ];
        let mut body = Vec::with_capacity(self.head.len() + self.rest.len() + 8192);
        body.extend_from_slice(&self.head);
        for item in added {
            body.push(b',');
            serde_json::to_writer(&mut body, &item).unwrap();
        }
        body.extend_from_slice(&self.rest);
        Bytes::from(body)
    }
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Whether the measured binary has `--upstream-compression` (a build from
/// before it has not).
pub fn has_compression_flag() -> bool {
    Command::new(proxy_bin())
        .arg("--help")
        .output()
        .is_ok_and(|out| memchr::memmem::find(&out.stdout, b"--upstream-compression").is_some())
}

fn target(
    name: &'static str,
    url: &str,
    headers: reqwest::header::HeaderMap,
    body: Bytes,
) -> Target {
    Target {
        name,
        url: url.to_owned(),
        headers,
        json_body: body.clone(),
        stream_body: body,
        turns: None,
    }
}

/// `target`, each request the conversation's next turn.
fn next_turns(mut target: Target) -> Target {
    target.turns = Some(Turns::new(&target.stream_body));
    target
}

fn proxy_headers() -> reqwest::header::HeaderMap {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("content-type", "application/json".parse().unwrap());
    // Every answer an id of its own, so kept answers do not overwrite one row.
    h.insert("session-id", "unique".parse().unwrap());
    h
}

/// Added p50 per MiB at concurrency 1, the targets taking turns.
pub fn run(
    rt: &tokio::runtime::Runtime,
    direct: &Target,
    nginx: Option<&Target>,
    mock: SocketAddr,
    duration: Duration,
) {
    let body = history_body();
    let plain = Bytes::from(body.to_string());
    let compressed = zstd::bulk::compress(&plain, 3).unwrap().len();
    let in_blocks = codex_responses_proxy::wire::blocks::Blocks::new()
        .compress(&plain)
        .unwrap()
        .len();
    println!();
    println!(
        "long conversation: {} items, {} tools, {} bytes ({:.2} MiB) of JSON, {} bytes as zstd level 3 ({:.1}x), {} in the proxy's blocks ({:.1}x)",
        ITEMS,
        TOOLS,
        plain.len(),
        mib(plain.len()),
        compressed,
        plain.len() as f64 / compressed as f64,
        in_blocks,
        plain.len() as f64 / in_blocks as f64
    );
    let home = tempfile::tempdir().unwrap();
    write_auth(home.path());
    let (zstd_proxy, zstd_addr) = start_proxy(home.path(), mock);
    let off_home = tempfile::tempdir().unwrap();
    write_auth(off_home.path());
    let off = has_compression_flag()
        .then(|| start_proxy_with(off_home.path(), mock, &["--upstream-compression", "off"]));
    let url = |addr: SocketAddr| format!("http://{addr}/v1/responses");
    let mut direct = direct.clone();
    direct.json_body = plain.clone();
    direct.stream_body = plain.clone();
    direct.turns = Some(Turns::new(&plain));
    let mut cases = vec![direct];
    if let Some(nginx) = nginx {
        let mut nginx = nginx.clone();
        nginx.json_body = plain.clone();
        nginx.stream_body = plain.clone();
        nginx.turns = Some(Turns::new(&plain));
        cases.push(nginx);
    }
    cases.push(next_turns(target(
        "proxy, store: false",
        &url(zstd_addr),
        proxy_headers(),
        plain.clone(),
    )));
    cases.push(next_turns(target(
        "proxy, kept",
        &url(zstd_addr),
        proxy_headers(),
        kept(&body),
    )));
    if let Some((_, addr)) = &off {
        cases.push(next_turns(target(
            "proxy (compression off), store: false",
            &url(*addr),
            proxy_headers(),
            plain.clone(),
        )));
        cases.push(next_turns(target(
            "proxy (compression off), kept",
            &url(*addr),
            proxy_headers(),
            kept(&body),
        )));
    }
    let client = client(4);
    println!(
        "| long conversation, streamed, c=1 | req/s | p50 | p99 | added p50 | added per MiB | ÷ nginx's | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let measured = in_turns(rt, &client, &cases, Kind::Stream, &[1], duration);
    let (mut direct_p50, mut nginx_added) = (f64::NAN, f64::NAN);
    for (case, s) in cases.iter().zip(measured.iter().flatten()) {
        let p50 = s.pct(0.5);
        let added = p50 - direct_p50;
        if case.name == "direct" {
            direct_p50 = p50;
        } else if case.name == "nginx" {
            nginx_added = added;
        }
        let per_mib = added / mib(plain.len());
        let (added, per_mib, ratio) = if case.name == "direct" {
            ("-".into(), "-".into(), "-".into())
        } else {
            (
                us(added),
                us(per_mib),
                format!("{:.2}×", added / nginx_added),
            )
        };
        println!(
            "| {} | {:.0} | {} | {} | {added} | {per_mib} | {ratio} | {} |",
            case.name,
            s.rps(),
            us(p50),
            us(s.pct(0.99)),
            s.errors
        );
    }
    drop(off);
    drop(zstd_proxy);
}

/// A fresh proxy's peak RSS with four long requests in flight at once.
pub fn memory(rt: &tokio::runtime::Runtime, mock: SocketAddr) {
    let body = history_body();
    let home = tempfile::tempdir().unwrap();
    write_auth(home.path());
    let (proxy, addr) = start_proxy(home.path(), mock);
    let pid = proxy.0.id();
    let url = format!("http://{addr}/v1/responses");
    let client = client(8);
    let small = target("warm-up", &url, proxy_headers(), client_body(true));
    rt.block_on(one(&client, &small, Kind::Stream, None));
    let idle = status_kib(pid, "VmRSS:");
    println!();
    println!(
        "| proxy peak memory, 4 long requests ({:.2} MiB each) in flight, {MEM_ROUNDS} rounds | VmRSS idle | VmHWM after | errors |\n|---|---:|---:|---:|",
        mib(body.to_string().len())
    );
    for (name, bytes) in [
        ("store: false", Bytes::from(body.to_string())),
        ("kept", kept(&body)),
    ] {
        let case = target("proxy", &url, proxy_headers(), bytes);
        let mut errors = 0;
        for _ in 0..MEM_ROUNDS {
            let answers = rt.block_on(futures_util::future::join_all(
                (0..4).map(|_| one(&client, &case, Kind::Stream, Some("ttfe"))),
            ));
            errors += answers.iter().filter(|a| a.is_none()).count();
        }
        println!(
            "| {name} (cumulative peak) | {idle} KiB | {} KiB | {errors} |",
            status_kib(pid, "VmHWM:")
        );
    }
    drop(proxy);
}

/// Small requests kept or not, beside nginx in the same run.
pub fn small(
    rt: &tokio::runtime::Runtime,
    proxy: SocketAddr,
    nginx: Option<&Target>,
    duration: Duration,
) {
    let url = format!("http://{proxy}/v1/responses");
    let kept_body =
        Bytes::from(json!({"model": "gpt-5", "input": "Say hello", "stream": false}).to_string());
    let mut cases = Vec::new();
    if let Some(nginx) = nginx {
        cases.push(nginx.clone());
    }
    cases.push(target(
        "proxy, store: false",
        &url,
        proxy_headers(),
        client_body(false),
    ));
    cases.push(target("proxy, kept", &url, proxy_headers(), kept_body));
    let client = client(64);
    println!();
    println!(
        "| small request, JSON (collected) | c=1 p50 | ÷ nginx's | c=16 req/s | ÷ nginx's | errors |\n|---|---:|---:|---:|---:|---:|"
    );
    let mut measured = in_turns(rt, &client, &cases, Kind::Json, &[1, 16], duration);
    let (mut nginx_p50, mut nginx_rps) = (f64::NAN, f64::NAN);
    for (case, stats) in cases.iter().zip(&mut measured) {
        let [one, many] = &stats[..] else {
            unreachable!("two concurrencies")
        };
        if case.name == "nginx" {
            (nginx_p50, nginx_rps) = (one.pct(0.5), many.rps());
        }
        println!(
            "| {} | {} | {:.2}× | {:.0} | {:.2}× | {} |",
            case.name,
            us(one.pct(0.5)),
            one.pct(0.5) / nginx_p50,
            many.rps(),
            many.rps() / nginx_rps,
            one.errors + many.errors
        );
    }
}
