//! A slow uplink: the backend behind a 20 Mbit/s link, as from a home or
//! a train. The bench makes a network namespace of its own (`ip netns
//! add`), brings up its `lo` (MTU 1500, as a real link), and shapes only
//! the traffic towards the mock's port on that `lo` with `tc`: an `htb`
//! root whose default class is unshaped, and a class with a `tbf` at
//! 20 Mbit/s chosen by a `u32` filter on the destination port. (The
//! kernel this ran on has no `prio` or `netem` qdisc; `htb` selects the
//! band the same way.) Loopback addresses only. The bench runs itself
//! again inside the namespace (`ip netns exec NAME /proc/self/exe` with
//! [`CHILD`] set): that process runs the mock, the proxy and the client,
//! and prints its rows. The namespace is deleted when this returns, also
//! after a failure, and the child is bounded in time.
//!
//! Measured: time to first event for a 1 MiB plain-JSON request (the long
//! conversation of `long.rs`, `store: false`, streamed) straight to the
//! mock and through the proxy (which sends it zstd-compressed), a few
//! samples each, alternating; then `incremental.rs`'s conversations, whose
//! turn 5 goes as its new items only on the conversation's socket.

use std::io::Read as _;

use super::*;

/// Set in the child run inside the namespace, to the namespace's name. Not
/// under the daemon's `CODEX_RESPONSES_PROXY_` prefix: the proxy the child
/// starts inherits it, and would refuse an unknown key.
const CHILD: &str = "OVERHEAD_BENCH_UPLINK_CHILD";
/// Samples per target, after one warm-up each.
const SAMPLES: usize = 5;
/// Conversations of `incremental.rs` behind the link, after one warm-up.
const INCREMENTAL_SAMPLES: usize = 3;
/// The child is killed past this.
const CHILD_DEADLINE: Duration = Duration::from_secs(180);
const RATE: &str = "20mbit";

/// The namespace, deleted when dropped.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn sh(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Whether this process is the child run inside the namespace.
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Makes the namespace, runs the child in it, prints what it measured.
pub fn run() {
    if !is_root() {
        println!("slow uplink: not measured: making a network namespace needs root");
        return;
    }
    let ns = Netns(format!("crp-bench-{}", std::process::id()));
    let made = sh(&["ip", "netns", "add", &ns.0]).and_then(|()| {
        sh(&[
            "ip", "netns", "exec", &ns.0, "ip", "link", "set", "lo", "mtu", "1500", "up",
        ])
    });
    if let Err(e) = made {
        println!("slow uplink: not measured: {e}");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(exe)
        .env(CHILD, &ns.0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("running the bench in the namespace");
    let deadline = Instant::now() + CHILD_DEADLINE;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    print!("{out}");
    match status {
        Some(s) if s.success() => {}
        Some(s) => println!("slow uplink: the run in the namespace failed ({s})"),
        None => println!(
            "slow uplink: the run in the namespace took over {CHILD_DEADLINE:?} and was stopped"
        ),
    }
}

/// Shapes traffic towards `port` on `lo` to [`RATE`].
fn shape(port: u16) -> Result<(), String> {
    let port = port.to_string();
    sh(&[
        "tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "1", "r2q",
        "1000",
    ])?;
    for class in ["1:1", "1:2"] {
        sh(&[
            "tc", "class", "add", "dev", "lo", "parent", "1:", "classid", class, "htb", "rate",
            "10gbit",
        ])?;
    }
    sh(&[
        "tc", "qdisc", "add", "dev", "lo", "parent", "1:2", "handle", "20:", "tbf", "rate", RATE,
        "burst", "32kb", "latency", "400ms",
    ])?;
    shape_also(&port)
}

/// Sends the traffic towards `port` through the shaped class too.
fn shape_also(port: &str) -> Result<(), String> {
    sh(&[
        "tc", "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
        "match", "ip", "dport", port, "0xffff", "flowid", "1:2",
    ])
}

/// The child: mock, proxy and client inside the namespace.
pub fn child() {
    let answer = Arc::new(Answer::new());
    let mock_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = mock_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let mock = listener.local_addr().unwrap();
    mock_rt.spawn(run_mock(listener, answer));
    if let Err(e) = shape(mock.port()) {
        println!("slow uplink: not measured: {e}");
        return;
    }
    let home = tempfile::tempdir().unwrap();
    write_auth(home.path());
    let (proxy, addr) = start_proxy(home.path(), mock);
    let body = long::history_body();
    let plain = Bytes::from(body.to_string());
    let mut cases = vec![
        Target {
            name: "direct (plain JSON)",
            url: format!("http://{mock}/backend-api/codex/responses"),
            headers: direct_headers(),
            json_body: plain.clone(),
            stream_body: plain.clone(),
            // Each request the conversation's next turn, never one sent before.
            turns: Some(long::Turns::new(&plain)),
        },
        Target {
            name: "proxy",
            url: format!("http://{addr}/v1/responses"),
            headers: {
                let mut h = reqwest::header::HeaderMap::new();
                h.insert("content-type", "application/json".parse().unwrap());
                h
            },
            json_body: plain.clone(),
            stream_body: plain.clone(),
            // Each request the conversation's next turn, never one sent before.
            turns: Some(long::Turns::new(&plain)),
        },
    ];
    let off_home = tempfile::tempdir().unwrap();
    write_auth(off_home.path());
    let off = long::has_compression_flag()
        .then(|| start_proxy_with(off_home.path(), mock, &["--upstream-compression", "off"]));
    if let Some((_, addr)) = &off {
        let mut plain_proxy = cases[1].clone();
        plain_proxy.name = "proxy (compression off)";
        plain_proxy.url = format!("http://{addr}/v1/responses");
        cases.push(plain_proxy);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = client(4);
    let mut firsts: Vec<Vec<u32>> = vec![Vec::new(); cases.len()];
    let mut errors = vec![0; cases.len()];
    for round in 0..=SAMPLES {
        for (i, case) in cases.iter().enumerate() {
            let sent = rt.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(20),
                    one(&client, case, Kind::Stream, Some("ttfe")),
                )
                .await
            });
            match sent {
                // Round 0 warms the connections up.
                Ok(Some((first, _))) if round > 0 => firsts[i].push(first.as_millis() as u32),
                Ok(Some(_)) => {}
                _ => errors[i] += 1,
            }
        }
    }
    println!();
    println!(
        "| slow uplink ({RATE} towards the backend), 1 MiB plain-JSON request, {SAMPLES} samples | time to first event, median | min | max | ÷ direct | errors |\n|---|---:|---:|---:|---:|---:|"
    );
    let median = |v: &mut Vec<u32>| {
        v.sort_unstable();
        v.get(v.len() / 2).copied().map_or(f64::NAN, f64::from)
    };
    let direct = median(&mut firsts[0].clone());
    for (i, case) in cases.iter().enumerate() {
        let mut v = firsts[i].clone();
        let m = median(&mut v);
        println!(
            "| {} | {m:.0} ms | {} ms | {} ms | {:.2}× | {} |",
            case.name,
            v.first().copied().unwrap_or(0),
            v.last().copied().unwrap_or(0),
            m / direct,
            errors[i]
        );
    }
    drop(off);
    drop(proxy);
    // Incremental turns behind the same link: the conversation's mock is
    // shaped as well before it is sent anything.
    incremental::measure(
        &mock_rt,
        &rt,
        INCREMENTAL_SAMPLES,
        "20 Mbit/s uplink",
        |port| shape_also(&port.to_string()),
    );
}
