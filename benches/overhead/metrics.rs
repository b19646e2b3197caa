//! What `metrics = true` costs: the proxy with metrics on against the same
//! proxy without, as throughput and as the proxy's own CPU per request, and
//! a scrape that shows the counters moved; and the metrics' own work per
//! request, timed alone.

use super::ws::{cpu_per_turn, cpu_ticks};
use super::*;

/// Alternating rounds per answer kind; the medians are shown.
const ROUNDS: usize = 5;

/// One measured round: the load's figures and the proxy's CPU per request.
struct Round {
    stats: Stats,
    cpu_us: f64,
}

/// The proxy with `metrics = true` against the same proxy without (`off`,
/// with its process id), at 16 concurrent requests, in rounds of both sides
/// (off first in one round, on first in the next) so that drift in the
/// machine's load falls on both sides. Throughput moves
/// with whatever else the machine runs; the proxy's CPU time per request
/// much less.
pub fn cost(
    rt: &tokio::runtime::Runtime,
    (off, off_pid): (&Target, u32),
    home: &Path,
    mock: SocketAddr,
    duration: Duration,
) {
    let (on_proc, on_addr) = start_proxy_with(home, mock, &["--metrics"]);
    let on_pid = on_proc.0.id();
    let on = Target {
        name: "proxy, metrics on",
        url: format!("http://{on_addr}/v1/responses"),
        ..off.clone()
    };
    let (off_client, on_client) = (client(512), client(512));
    println!();
    println!(
        "| metrics (c=16, {ROUNDS} alternating rounds, median) | answer | req/s | p50 | p99 | proxy CPU per request | cost (req/s) | cost (CPU) |\n|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for kind in [Kind::Json, Kind::Stream] {
        let mut runs: [Vec<Round>; 2] = [Vec::new(), Vec::new()];
        for round in 0..ROUNDS {
            let sides = [(off, &off_client, off_pid), (&on, &on_client, on_pid)];
            // Off first, then on first, and so on: neither side always
            // follows the other.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let (target, client, pid) = sides[i];
                rt.block_on(load(client, target, kind, 16, WARMUP));
                let before = cpu_ticks(pid);
                let stats = rt.block_on(load(client, target, kind, 16, duration));
                let cpu_us = cpu_per_turn(cpu_ticks(pid) - before, stats.latencies_us.len());
                runs[i].push(Round { stats, cpu_us });
            }
        }
        let [off_runs, on_runs] = runs;
        print_rows(kind, off_runs, on_runs);
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
    println!(
        "\nthe metrics' own work per streamed request (in flight, first event, finished), timed alone: {:.0} ns",
        own_work_ns()
    );
}

/// What `metrics = true` adds to every streamed answer, without the proxy
/// around it: the in-flight gauge, the time to the first event, and the
/// request's counter and duration, on one thread; nanoseconds per request.
fn own_work_ns() -> f64 {
    use codex_responses_proxy::metrics::{Dialect, Metrics, Route};
    const N: u32 = 1_000_000;
    let metrics = Metrics::new();
    let start = Instant::now();
    for i in 0..N {
        let in_flight = metrics.request_started();
        let elapsed = Duration::from_micros(u64::from(i % 5000));
        metrics.first_event(Dialect::Responses, elapsed);
        let (route, dialect) = std::hint::black_box((Route::Responses, Dialect::Responses));
        metrics.request_finished(route, dialect, 200, true, elapsed * 3);
        drop(in_flight);
    }
    start.elapsed().as_nanos() as f64 / f64::from(N)
}

/// The off and on rows of one answer kind: the median round by throughput,
/// and the median CPU per request over the rounds.
fn print_rows(kind: Kind, mut off: Vec<Round>, mut on: Vec<Round>) {
    let median_cpu = |runs: &[Round]| {
        let mut cpu: Vec<f64> = runs.iter().map(|r| r.cpu_us).collect();
        cpu.sort_by(f64::total_cmp);
        cpu[cpu.len() / 2]
    };
    let (off_cpu, on_cpu) = (median_cpu(&off), median_cpu(&on));
    let median = |runs: &mut Vec<Round>| {
        runs.sort_by(|a, b| a.stats.rps().total_cmp(&b.stats.rps()));
        runs.swap_remove(runs.len() / 2).stats
    };
    let (off_s, on_s) = (median(&mut off), median(&mut on));
    for (name, s, cpu) in [("off", &off_s, off_cpu), ("on", &on_s, on_cpu)] {
        let (rps_cost, cpu_cost) = if name == "on" {
            (
                format!("{:.1} %", (1.0 - on_s.rps() / off_s.rps()) * 100.0),
                format!("{:.1} %", (on_cpu / off_cpu - 1.0) * 100.0),
            )
        } else {
            ("-".into(), "-".into())
        };
        println!(
            "| {name} | {} | {:.0} | {} | {} | {cpu:.0} µs | {rps_cost} | {cpu_cost} |",
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
