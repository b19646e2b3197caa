//! `GET /metrics`: off by default, and when on, OpenMetrics text that the
//! reference parser reads, with the counters moving as requests are made.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::time::Duration;

use serde_json::json;

use common::mock::now_secs;
use common::{Answer, MockBackend, TestProxy, hello, openmetrics, write_auth};

#[tokio::test]
async fn metrics_are_openmetrics_with_the_counters_moving_as_requests_are_made() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    // Expired: the first request refreshes the login.
    write_auth(home.path(), &mock.login(now_secs() - 60));
    let proxy = TestProxy::start_in(&mock, home, |c| c.metrics = true).await;
    let scrape = async || {
        let response = proxy.get("/metrics").await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        openmetrics::parse(&response.text().await.unwrap())
    };
    let Some(before) = scrape().await else {
        return;
    };
    let responses = |stream: &'static str| {
        [
            ("route", "responses"),
            ("dialect", "responses"),
            ("status", "200"),
            ("stream", stream),
        ]
    };
    let requests = "codex_proxy_requests";
    assert_eq!(
        before.value(requests, "codex_proxy_requests_total", &responses("false")),
        None
    );

    assert_eq!(
        proxy.post("/v1/responses", &hello(false)).await.status(),
        200
    );
    let streamed = proxy.post("/v1/responses", &hello(true)).await;
    assert!(
        streamed
            .text()
            .await
            .unwrap()
            .contains("response.completed")
    );
    mock.push_answer(Answer::Status {
        status: 503,
        body: json!({"error": {"code": "server_is_overloaded", "message": "busy"}}).to_string(),
        content_type: "application/json",
        headers: Vec::new(),
    });
    assert_eq!(
        proxy.post("/v1/responses", &hello(false)).await.status(),
        503
    );

    let total = |m: &openmetrics::Families, stream| {
        m.value(requests, "codex_proxy_requests_total", &responses(stream))
    };
    // A request counts once its answer has ended, a moment after the client
    // has read it: scrape until the last one is in.
    let mut after = scrape().await.unwrap();
    let failed = [
        ("route", "responses"),
        ("dialect", "responses"),
        ("status", "503"),
        ("stream", "false"),
    ];
    while after
        .value(requests, "codex_proxy_requests_total", &failed)
        .is_none()
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
        after = scrape().await.unwrap();
    }
    assert_eq!(after.kind(requests).as_deref(), Some("counter"));
    assert_eq!(total(&after, "false"), Some(1.0));
    assert_eq!(total(&after, "true"), Some(1.0));
    assert_eq!(
        after.value(requests, "codex_proxy_requests_total", &failed),
        Some(1.0)
    );
    assert_eq!(
        after.value(
            "codex_proxy_first_event_seconds",
            "codex_proxy_first_event_seconds_count",
            &[("dialect", "responses")]
        ),
        Some(2.0)
    );
    assert_eq!(
        after.value(
            "codex_proxy_upstream_errors",
            "codex_proxy_upstream_errors_total",
            &[("kind", "overloaded")]
        ),
        Some(1.0)
    );
    assert_eq!(
        after.value(
            "codex_proxy_token_refreshes",
            "codex_proxy_token_refreshes_total",
            &[("outcome", "refreshed")]
        ),
        Some(1.0)
    );
    // This scrape is the one request in flight.
    assert_eq!(
        after.value(
            "codex_proxy_in_flight_requests",
            "codex_proxy_in_flight_requests",
            &[]
        ),
        Some(1.0)
    );
    let scrapes = |m: &openmetrics::Families| {
        let labels = [
            ("route", "metrics"),
            ("dialect", "none"),
            ("status", "200"),
            ("stream", "false"),
        ];
        m.value(requests, "codex_proxy_requests_total", &labels)
            .unwrap_or(0.0)
    };
    let scraped = scrapes(&after);
    assert!(scraped >= 1.0);
    let primary = [
        ("account", "acc-test-1"),
        ("limit", "codex"),
        ("window", "primary"),
    ];
    assert_eq!(
        after.value(
            "codex_proxy_limit_used_percent",
            "codex_proxy_limit_used_percent",
            &primary
        ),
        Some(12.0)
    );

    let answered = proxy.post("/v1/responses", &hello(false)).await;
    assert!(!answered.text().await.unwrap().is_empty());
    let mut later = scrape().await.unwrap();
    while total(&later, "false") != Some(2.0) {
        tokio::time::sleep(Duration::from_millis(5)).await;
        later = scrape().await.unwrap();
    }
    assert!(scrapes(&later) > scraped);
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let mock = MockBackend::start().await;
    let proxy = TestProxy::start(&mock).await;
    assert_eq!(proxy.get("/metrics").await.status(), 404);
}
