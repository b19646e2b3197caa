//! The concurrency limit, and 1,000 concurrent streaming clients: every one
//! finishes or gets a clean 503, and nothing (descriptors, memory) is left
//! behind. The proxy runs in this process, so the process's own descriptors
//! and resident memory are the ones measured: a test crate of its own, so
//! that no other test shares the process while they are counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Answer, MockBackend, TestProxy, hello, mock, sse_data, wait_until};
use serde_json::{Value, json};

const CLIENTS: usize = 1000;

/// Descriptors one streaming client costs at most: its socket, the proxy's
/// side of it, the proxy's upstream socket and the mock's side of that.
const FDS_PER_CLIENT: u64 = 4;

#[tokio::test]
async fn requests_past_max_concurrent_requests_get_a_503_with_retry_after() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start_with(&mock, |c| {
        c.max_concurrent_requests = 2;
        c.idle_timeout = Duration::from_millis(500);
    })
    .await;
    let head: Vec<Value> = mock::text_answer("Hello", 2).into_iter().take(2).collect();
    let mut open = Vec::new();
    for _ in 0..2 {
        mock.push_answer(Answer::Stall {
            events: head.clone(),
        });
        let response = proxy.post("/v1/responses", &hello(true)).await;
        assert_eq!(response.status(), 200);
        open.push(response);
    }
    for path in ["/v1/responses", "/v1/chat/completions"] {
        let body = json!({"model": "gpt-5", "input": "hi", "messages": [{"role": "user", "content": "hi"}]});
        let response = proxy.post(path, &body).await;
        assert_eq!(response.status(), 503, "{path}");
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"error": {
                "message": "the proxy is already forwarding 2 requests (max_concurrent_requests); retry shortly",
                "type": "server_error", "code": "too_many_requests_in_flight", "param": null}})
        );
    }
    assert_eq!(mock.responses_calls(), 2);
    // The held places come back once those streams end (here by the idle timeout).
    for response in open {
        let text = response.text().await.unwrap();
        assert_eq!(
            sse_data(&text).last().unwrap()["code"],
            "upstream_idle_timeout"
        );
    }
    let response = proxy.post("/v1/responses", &hello(false)).await;
    assert_eq!(response.status(), 200);
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").unwrap().count() as u64
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[derive(Debug, Default, PartialEq)]
struct Tally {
    completed: usize,
    limited: usize,
    /// Other OpenAI-shaped errors (a slow upstream connect under load).
    failed_cleanly: usize,
}

impl Tally {
    fn total(&self) -> usize {
        self.completed + self.limited + self.failed_cleanly
    }
}

/// One burst: a fresh mock and proxy, `CLIENTS` streaming clients at once,
/// then everything stopped and dropped.
async fn burst() -> Tally {
    let mock = MockBackend::start().await;
    mock.set_default_answer(Answer::Events {
        events: mock::text_answer("Hello from the mock, under load.", 6),
        pace: Duration::from_millis(10),
    });
    let proxy = TestProxy::start_with(&mock, |c| {
        c.max_concurrent_requests = 600;
        c.connect_timeout = Duration::from_secs(10);
    })
    .await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let request = client.post(proxy.url("/v1/responses")).json(&hello(true));
            tokio::spawn(async move {
                let response = request
                    .send()
                    .await
                    .expect("the proxy refused a connection");
                let status = response.status().as_u16();
                let retry_after = response.headers().get("retry-after").cloned();
                let text = response.text().await.expect("a stream broke off");
                (status, retry_after, text)
            })
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        let (status, retry_after, text) = task.await.unwrap();
        match status {
            200 => match sse_data(&text).last().unwrap()["type"].as_str() {
                Some("response.completed") => tally.completed += 1,
                Some("error") => tally.failed_cleanly += 1,
                _ => panic!("a stream ended without a terminal event: {text}"),
            },
            503 => {
                assert_eq!(retry_after.unwrap(), "1");
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(body["error"]["code"], "too_many_requests_in_flight");
                tally.limited += 1;
            }
            502 | 504 => {
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(body["error"]["type"], "upstream_error", "{text}");
                tally.failed_cleanly += 1;
            }
            other => panic!("unexpected status {other}: {text}"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the burst took {:?}",
        started.elapsed()
    );
    drop(client);
    proxy.shutdown().await;
    drop(mock);
    eprintln!("burst: {tally:?}");
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_streams_finish_cleanly_and_leave_nothing_behind() {
    let needed = 2 * FDS_PER_CLIENT * CLIENTS as u64 + 256;
    let limit = rlimit::increase_nofile_limit(needed).unwrap();
    assert!(
        limit >= needed,
        "RLIMIT_NOFILE is {limit}; this test needs {needed} (raise it with `ulimit -n`)"
    );
    let fds_before = open_fds();

    // The first two bursts warm the allocator (its arenas grow for a while)
    // and the lazily built statics; two more may not keep what they use.
    for _ in 0..2 {
        let tally = burst().await;
        assert_eq!(tally.total(), CLIENTS, "{tally:?}");
        assert!(tally.completed >= CLIENTS / 2, "{tally:?}");
    }
    let rss_warm = rss_kib();
    wait_until(Duration::from_secs(10), "descriptors to be closed", || {
        open_fds() <= fds_before + 8
    })
    .await;

    for _ in 0..2 {
        let tally = burst().await;
        assert_eq!(tally.total(), CLIENTS, "{tally:?}");
        assert!(tally.completed >= CLIENTS / 2, "{tally:?}");
    }
    wait_until(Duration::from_secs(10), "descriptors to be closed", || {
        open_fds() <= fds_before + 8
    })
    .await;
    let rss_after = rss_kib();
    let grown = rss_after.saturating_sub(rss_warm);
    eprintln!(
        "descriptors: {fds_before} before, {} after; resident: {rss_warm} KiB after two bursts, {rss_after} KiB after four",
        open_fds()
    );
    assert!(
        grown < 32 * 1024,
        "resident memory grew by {grown} KiB over two warm bursts ({rss_warm} → {rss_after} KiB)"
    );
}
