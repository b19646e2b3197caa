//! The text is read back by the reference OpenMetrics parser, so these tests
//! check what a scraper sees, not strings.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::openmetrics::{Sample, parse, sample, samples, value};
use super::*;
use crate::accounting::{Client, Usage};
use crate::limits::{
    CooldownPolicy, DEFAULT_FAMILY, LimitFamily, Limits, Source, UsageLimitReached, Window,
};

const NOW: i64 = 1_760_003_640;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

const STREAMED: [(&str, &str); 4] = [
    ("dialect", "responses"),
    ("route", "responses"),
    ("status", "200"),
    ("stream", "true"),
];

fn streamed(metrics: &Metrics) {
    let took = Duration::from_millis(1200);
    metrics.request_finished(Route::Responses, Dialect::Responses, 200, true, took);
}

/// The families a scrape of `metrics` gives; `None`: no parser, skipped.
fn scrape(metrics: &Metrics) -> Option<Value> {
    parse(&metrics.encode(&LimitsBook::default(), at(NOW)).unwrap())
}

#[test]
fn requests_are_counted_by_route_dialect_status_and_stream() {
    let metrics = Metrics::new();
    streamed(&metrics);
    streamed(&metrics);
    let took = Duration::from_millis(10);
    metrics.request_finished(Route::ChatCompletions, Dialect::Chat, 429, false, took);
    let Some(first) = scrape(&metrics) else {
        return;
    };
    let total = "codex_proxy_requests_total";
    let refused = [
        ("dialect", "chat"),
        ("route", "chat_completions"),
        ("status", "429"),
        ("stream", "false"),
    ];
    assert_eq!(
        samples(&first, "codex_proxy_requests"),
        vec![sample(total, &refused, 1.0), sample(total, &STREAMED, 2.0)]
    );
    streamed(&metrics);
    let second = scrape(&metrics).unwrap();
    assert_eq!(
        samples(&second, "codex_proxy_requests"),
        vec![sample(total, &refused, 1.0), sample(total, &STREAMED, 3.0)]
    );
}

#[test]
fn durations_and_first_events_land_in_their_buckets() {
    let metrics = Metrics::new();
    streamed(&metrics);
    streamed(&metrics);
    metrics.first_event(Dialect::Responses, Duration::from_millis(300));
    let Some(families) = scrape(&metrics) else {
        return;
    };
    let duration = "codex_proxy_request_duration_seconds";
    let labels = [("route", "responses"), ("stream", "true")];
    let bucket = |le: &str| {
        let labels = [labels[0], labels[1], ("le", le)];
        value(&families, duration, &format!("{duration}_bucket"), &labels)
    };
    assert_eq!(
        (bucket("1.0"), bucket("2.5"), bucket("+Inf")),
        (Some(0.0), Some(2.0), Some(2.0))
    );
    let sum = value(&families, duration, &format!("{duration}_sum"), &labels);
    assert_eq!(sum, Some(2.4));
    let first_event = "codex_proxy_first_event_seconds";
    let responses = [("dialect", "responses")];
    let count = format!("{first_event}_count");
    assert_eq!(value(&families, first_event, &count, &responses), Some(1.0));
    let below = |le: &str| {
        let labels = [responses[0], ("le", le)];
        value(
            &families,
            first_event,
            &format!("{first_event}_bucket"),
            &labels,
        )
    };
    assert_eq!((below("0.25"), below("0.5")), (Some(0.0), Some(1.0)));
}

#[test]
fn a_request_is_in_flight_until_its_guard_is_dropped() {
    let metrics = Metrics::new();
    let gauge = "codex_proxy_in_flight_requests";
    let first = metrics.request_started();
    let second = metrics.request_started();
    drop(first);
    let Some(during) = scrape(&metrics) else {
        return;
    };
    assert_eq!(samples(&during, gauge), vec![sample(gauge, &[], 1.0)]);
    drop(second);
    let after = scrape(&metrics).unwrap();
    assert_eq!(samples(&after, gauge), vec![sample(gauge, &[], 0.0)]);
}

#[test]
fn upstream_errors_and_refreshes_are_counted_by_kind_and_outcome() {
    let metrics = Metrics::new();
    metrics.upstream_error(UpstreamErrorKind::Connect);
    metrics.upstream_error(UpstreamErrorKind::Connect);
    metrics.upstream_error(UpstreamErrorKind::IdleTimeout);
    metrics.refresh(RefreshOutcome::Refreshed);
    metrics.refresh(RefreshOutcome::Transient);
    let Some(families) = scrape(&metrics) else {
        return;
    };
    let errors = "codex_proxy_upstream_errors_total";
    assert_eq!(
        samples(&families, "codex_proxy_upstream_errors"),
        vec![
            sample(errors, &[("kind", "connect")], 2.0),
            sample(errors, &[("kind", "idle_timeout")], 1.0),
        ]
    );
    let refreshes = "codex_proxy_token_refreshes_total";
    assert_eq!(
        samples(&families, "codex_proxy_token_refreshes"),
        vec![
            sample(refreshes, &[("outcome", "refreshed")], 1.0),
            sample(refreshes, &[("outcome", "transient")], 1.0),
        ]
    );
}

#[test]
fn tokens_are_counted_by_client_dialect_and_kind_and_a_turn_without_usage_adds_none() {
    let metrics = Metrics::new();
    let usage = Usage {
        input: 30,
        cached_input: 10,
        output: 8,
        reasoning: 3,
    };
    metrics.turn(Client::ClaudeCode, Dialect::Messages, Some(usage));
    metrics.turn(Client::ClaudeCode, Dialect::Messages, Some(usage));
    metrics.turn(Client::CodexCli, Dialect::Responses, None);
    let Some(families) = scrape(&metrics) else {
        return;
    };
    let tokens = "codex_proxy_tokens_total";
    let claude = |kind| {
        [
            ("client", "claude_code"),
            ("dialect", "messages"),
            ("kind", kind),
        ]
    };
    assert_eq!(
        samples(&families, "codex_proxy_tokens"),
        vec![
            sample(tokens, &claude("cached_input"), 20.0),
            sample(tokens, &claude("input"), 60.0),
            sample(tokens, &claude("output"), 16.0),
            sample(tokens, &claude("reasoning"), 6.0),
        ]
    );
    let turns = "codex_proxy_turns_total";
    assert_eq!(
        samples(&families, "codex_proxy_turns"),
        vec![
            sample(
                turns,
                &[("client", "claude_code"), ("dialect", "messages")],
                2.0
            ),
            sample(
                turns,
                &[("client", "codex_cli"), ("dialect", "responses")],
                1.0
            ),
        ]
    );
}

#[test]
fn families_carry_their_type_and_unit() {
    let metrics = Metrics::new();
    metrics.request_finished(Route::Models, Dialect::None, 200, false, Duration::ZERO);
    metrics.first_event(Dialect::Messages, Duration::from_secs(1));
    metrics.upstream_error(UpstreamErrorKind::Timeout);
    metrics.refresh(RefreshOutcome::Permanent);
    metrics.turn(Client::Other, Dialect::Chat, Some(Usage::default()));
    let book = LimitsBook::default();
    book.observe("acc", one_window_limits());
    // A family without a series is left out of the text: each one gets one.
    let Some(families) = parse(&metrics.encode(&book, at(NOW)).unwrap()) else {
        return;
    };
    let kinds: BTreeMap<&str, (&str, &str)> = families
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, f)| {
            (
                name.as_str(),
                (f["type"].as_str().unwrap(), f["unit"].as_str().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("codex_proxy_cooldown_active", ("gauge", "")),
            (
                "codex_proxy_cooldown_remaining_seconds",
                ("gauge", "seconds")
            ),
            ("codex_proxy_first_event_seconds", ("histogram", "seconds")),
            ("codex_proxy_in_flight_requests", ("gauge", "")),
            (
                "codex_proxy_limit_reset_after_seconds",
                ("gauge", "seconds")
            ),
            ("codex_proxy_limit_used_percent", ("gauge", "percent")),
            ("codex_proxy_limit_window_seconds", ("gauge", "seconds")),
            (
                "codex_proxy_limits_seen_timestamp_seconds",
                ("gauge", "seconds")
            ),
            (
                "codex_proxy_request_duration_seconds",
                ("histogram", "seconds")
            ),
            ("codex_proxy_requests", ("counter", "")),
            ("codex_proxy_token_refreshes", ("counter", "")),
            ("codex_proxy_tokens", ("counter", "")),
            ("codex_proxy_turns", ("counter", "")),
            ("codex_proxy_upstream_errors", ("counter", "")),
        ])
    );
}

fn window(used_percent: f64, minutes: u32, resets_at: i64) -> Window {
    Window {
        used_percent,
        window_minutes: Some(minutes),
        resets_at: Some(at(resets_at)),
    }
}

fn one_window_limits() -> Limits {
    Limits {
        families: vec![LimitFamily {
            id: DEFAULT_FAMILY.into(),
            name: None,
            primary: Some(window(34.0, 300, NOW + 7860)),
            secondary: None,
            limit_reached: None,
        }],
        ..Limits::empty(at(NOW), Source::Headers)
    }
}

#[test]
fn limit_and_cooldown_gauges_are_computed_from_the_book_at_scrape_time() {
    let metrics = Metrics::new();
    let book = LimitsBook::new(CooldownPolicy::default());
    let limits = Limits {
        families: vec![LimitFamily {
            id: DEFAULT_FAMILY.into(),
            name: None,
            primary: Some(window(34.0, 300, NOW + 7860)),
            secondary: Some(window(12.5, 10080, NOW + 300_000)),
            limit_reached: None,
        }],
        ..Limits::empty(at(NOW), Source::Headers)
    };
    book.observe("acc", limits);
    let refusal = UsageLimitReached {
        resets_at: Some(at(NOW + 600)),
        message: None,
        plan: None,
    };
    book.reached("cool", &refusal, at(NOW));

    let Some(early) = parse(&metrics.encode(&book, at(NOW + 60)).unwrap()) else {
        return;
    };
    fn acc(slot: &str) -> [(&str, &str); 3] {
        [("account", "acc"), ("limit", "codex"), ("window", slot)]
    }
    let used = "codex_proxy_limit_used_percent";
    assert_eq!(
        samples(&early, used),
        vec![
            sample(used, &acc("primary"), 34.0),
            sample(used, &acc("secondary"), 12.5)
        ]
    );
    let reset = "codex_proxy_limit_reset_after_seconds";
    assert_eq!(
        samples(&early, reset),
        vec![
            sample(reset, &acc("primary"), 7800.0),
            sample(reset, &acc("secondary"), 299_940.0)
        ]
    );
    let length = "codex_proxy_limit_window_seconds";
    assert_eq!(
        samples(&early, length),
        vec![
            sample(length, &acc("primary"), 18_000.0),
            sample(length, &acc("secondary"), 604_800.0)
        ]
    );
    let seen = "codex_proxy_limits_seen_timestamp_seconds";
    assert_eq!(
        samples(&early, seen),
        vec![sample(seen, &[("account", "acc")], NOW as f64)]
    );
    let active = "codex_proxy_cooldown_active";
    let remaining = "codex_proxy_cooldown_remaining_seconds";
    assert_eq!(
        (samples(&early, active), samples(&early, remaining)),
        (
            vec![
                sample(active, &[("account", "acc")], 0.0),
                sample(active, &[("account", "cool")], 1.0)
            ],
            vec![
                sample(remaining, &[("account", "acc")], 0.0),
                sample(remaining, &[("account", "cool")], 540.0)
            ],
        )
    );

    // Later, with no new answer: the primary window and the cooldown are over.
    let late = parse(&metrics.encode(&book, at(NOW + 8000)).unwrap()).unwrap();
    assert_eq!(
        samples(&late, used),
        vec![
            sample(used, &acc("primary"), 0.0),
            sample(used, &acc("secondary"), 12.5)
        ]
    );
    assert_eq!(
        samples(&late, reset),
        vec![
            sample(reset, &acc("primary"), 0.0),
            sample(reset, &acc("secondary"), 292_000.0)
        ]
    );
    assert_eq!(
        value(&late, active, active, &[("account", "cool")]),
        Some(0.0)
    );
}

#[test]
fn every_upstream_error_kind_is_its_own_series() {
    use UpstreamErrorKind::*;
    let kinds = [
        Connect,
        Timeout,
        Unauthorized,
        RateLimited,
        Overloaded,
        ServerError,
        Refused,
        IdleTimeout,
        StreamBroken,
        StreamIncomplete,
        EventTooLarge,
        ResponseFailed,
    ];
    let metrics = Metrics::new();
    for kind in kinds {
        metrics.upstream_error(kind);
    }
    let Some(families) = parse(&metrics.encode(&LimitsBook::default(), at(NOW)).unwrap()) else {
        return;
    };
    let mut expected: Vec<Sample> = kinds
        .iter()
        .map(|k| {
            sample(
                "codex_proxy_upstream_errors_total",
                &[("kind", k.as_str())],
                1.0,
            )
        })
        .collect();
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(samples(&families, "codex_proxy_upstream_errors"), expected);
}

#[test]
fn an_error_status_names_its_upstream_error_kind() {
    use UpstreamErrorKind::*;
    let cases = [
        (200, None),
        (304, None),
        (400, Some(Refused)),
        (401, Some(Unauthorized)),
        (403, Some(Unauthorized)),
        (404, Some(Refused)),
        (429, Some(RateLimited)),
        (500, Some(ServerError)),
        (503, Some(ServerError)),
    ];
    for (status, kind) in cases {
        assert_eq!(UpstreamErrorKind::from_status(status), kind, "{status}");
    }
}
