//! The `messages` part of the overhead bench: the same upstream answer
//! streamed to a Responses client (passed through) and to a Messages client
//! (translated event by event into Anthropic's stream), back to back in one
//! run: the proxy's CPU per answer and per upstream event, read from
//! `/proc/PID/stat`, and the time to the first event.

use super::{Kind, Stats, Target, client, load, ttfe, us};
use bytes::Bytes;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

/// Streams at once while the CPU is measured: enough to keep the proxy busy.
const CONCURRENCY: usize = 16;

/// A Messages client's streamed request, as the Anthropic SDKs send it.
pub fn target(proxy: SocketAddr) -> Target {
    let body = Bytes::from(
        json!({"model": "gpt-5", "max_tokens": 1024, "stream": true,
               "messages": [{"role": "user", "content": "Say hello"}]})
        .to_string(),
    );
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("anthropic-version", "2023-06-01".parse().unwrap());
    Target {
        name: "messages",
        url: format!("http://{proxy}/v1/messages"),
        headers,
        json_body: body.clone(),
        stream_body: body,
        turns: None,
    }
}

/// User and system CPU time of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the command name in parentheses: state is the first field,
    // utime the twelfth and stime the thirteenth.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum()
}

fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Runs both targets and prints one table. `upstream_events` is the number
/// of events in the mock's answer.
pub fn run(
    rt: &tokio::runtime::Runtime,
    targets: [&Target; 2],
    pid: u32,
    duration: Duration,
    upstream_events: usize,
) {
    let hz = ticks_per_second();
    println!();
    println!(
        "| streamed answer, proxy (c={CONCURRENCY}; TTFE c=1, 500 samples) | req/s | CPU per answer | CPU per upstream event | TTFE p50 | TTFE p99 | errors |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for target in targets {
        let client = client(64);
        rt.block_on(load(
            &client,
            target,
            Kind::Stream,
            CONCURRENCY,
            super::WARMUP,
        ));
        let before = cpu_ticks(pid);
        let s: Stats = rt.block_on(load(&client, target, Kind::Stream, CONCURRENCY, duration));
        let ticks = cpu_ticks(pid).saturating_sub(before);
        let answers = s.latencies_us.len().max(1) as f64;
        let cpu_us = ticks as f64 / hz * 1e6 / answers;
        let first = rt.block_on(ttfe(&client, target, 500));
        println!(
            "| {} | {:.0} | {} | {:.2} µs | {} | {} | {} |",
            match target.name {
                "messages" => "Messages (translated)",
                _ => "Responses (passed through)",
            },
            s.rps(),
            us(cpu_us),
            cpu_us / upstream_events as f64,
            us(first.pct(0.5)),
            us(first.pct(0.99)),
            s.errors + first.errors,
        );
    }
}
