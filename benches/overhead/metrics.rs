//! What `metrics = true` costs: the proxy with metrics on against the same
//! proxy without, and a scrape that shows the counters moved.

use super::*;

/// Throughput of the proxy with `metrics = true` against the same proxy
/// without, at 16 concurrent requests, in alternating rounds so that drift
/// in the machine's load falls on both sides.
pub fn cost(
    rt: &tokio::runtime::Runtime,
    off: &Target,
    home: &Path,
    mock: SocketAddr,
    duration: Duration,
) {
    const ROUNDS: usize = 3;
    let (on_proc, on_addr) = start_proxy_with(home, mock, &["--metrics"]);
    let on = Target {
        name: "proxy, metrics on",
        url: format!("http://{on_addr}/v1/responses"),
        ..off.clone()
    };
    let (off_client, on_client) = (client(512), client(512));
    println!();
    println!(
        "| metrics (c=16, {ROUNDS} alternating rounds, median) | answer | req/s | p50 | p99 | cost |\n|---|---|---:|---:|---:|---:|"
    );
    for kind in [Kind::Json, Kind::Stream] {
        let mut runs: [Vec<Stats>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..ROUNDS {
            for (i, (target, client)) in [(off, &off_client), (&on, &on_client)]
                .into_iter()
                .enumerate()
            {
                rt.block_on(load(client, target, kind, 16, WARMUP));
                runs[i].push(rt.block_on(load(client, target, kind, 16, duration)));
            }
        }
        let median = |runs: &mut Vec<Stats>| {
            runs.sort_by(|a, b| a.rps().total_cmp(&b.rps()));
            runs.swap_remove(runs.len() / 2)
        };
        let (off_s, on_s) = (median(&mut runs[0]), median(&mut runs[1]));
        for (name, s) in [("off", &off_s), ("on", &on_s)] {
            let cost = if name == "on" {
                format!("{:.1} %", (1.0 - on_s.rps() / off_s.rps()) * 100.0)
            } else {
                "-".into()
            };
            println!(
                "| {name} | {} | {:.0} | {} | {} | {cost} |",
                match kind {
                    Kind::Json => "JSON (collected)",
                    Kind::Stream => "streamed",
                },
                s.rps(),
                us(s.pct(0.5)),
                us(s.pct(0.99)),
            );
        }
    }
    // The counters moved: the scrape holds the load just measured.
    let scrape = rt.block_on(async {
        on_client
            .get(format!("http://{on_addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(scrape.contains("codex_proxy_requests_total{route=\"responses\""));
    drop(on_proc);
}
