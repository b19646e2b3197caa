//! The Grafana dashboard in `contrib/grafana/` against the daemon's own
//! `/metrics`: after turns on every door, a refresh, an upstream error and
//! the login's windows, every metric name the dashboard's queries use is one
//! the daemon exposes, so no panel stays empty for a misspelt name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::accounting::{OPENAI_PYTHON, answer, post_as, status_after};
use common::mock::{now_secs, text_answer, with_usage};
use common::{Answer, MockBackend, TestProxy, openmetrics, write_auth};

const DASHBOARD: &str = include_str!("../../contrib/grafana/codex-responses-proxy.json");

/// Every query of the dashboard: panel targets and template variables.
fn queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "definition" | "query", Value::String(text)) => {
                        out.push(text.clone());
                    }
                    _ => queries(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

/// The `codex_proxy_*` names in a query.
fn metric_names(query: &str) -> impl Iterator<Item = &str> {
    query.match_indices("codex_proxy_").map(|(start, _)| {
        let rest = &query[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

/// The sample names of an exposition: `name` of each `name{…} value` line.
fn exposed(text: &str) -> BTreeSet<&str> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .collect()
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_is_one_the_daemon_exposes() {
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    // Expired: the first request refreshes the login.
    write_auth(home.path(), &mock.login(now_secs() - 60));
    let proxy = TestProxy::start_in(&mock, home, |c| c.metrics = true).await;
    mock.push_answer(answer(with_usage(text_answer("Hi.", 1), [30, 10, 8, 2])));
    let chat = json!({"model": "gpt-5", "stream": true,
        "messages": [{"role": "user", "content": "hi"}]});
    post_as(&proxy, "/v1/chat/completions", &OPENAI_PYTHON, &chat).await;
    post_as(&proxy, "/v1/responses", &[], &common::hello(false)).await;
    mock.push_answer(Answer::Status {
        status: 503,
        body: json!({"error": {"code": "server_is_overloaded", "message": "busy"}}).to_string(),
        content_type: "application/json",
        headers: Vec::new(),
    });
    let refused = proxy.post("/v1/responses", &common::hello(false)).await;
    assert_eq!(refused.status(), 503);
    status_after(&proxy, 3).await;

    let text = proxy.get("/metrics").await.text().await.unwrap();
    // The reference parser reads it (when installed), the new families included.
    if let Some(families) = openmetrics::parse(&text) {
        let tokens = [
            ("client", "openai_sdk"),
            ("dialect", "chat"),
            ("kind", "cached_input"),
        ];
        let cached = families.value("codex_proxy_tokens", "codex_proxy_tokens_total", &tokens);
        assert_eq!(cached, Some(10.0));
    }
    let exposed = exposed(&text);
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    let mut all = Vec::new();
    queries(&dashboard, &mut all);
    let used: BTreeSet<&str> = all.iter().flat_map(|q| metric_names(q)).collect();
    let missing: Vec<&&str> = used
        .iter()
        .filter(|name| !exposed.contains(**name))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, which /metrics does not expose:\n{text}"
    );
    // The panels the dashboard is for, each present.
    for wanted in [
        "codex_proxy_limit_used_percent",
        "codex_proxy_cooldown_active",
        "codex_proxy_requests_total",
        "codex_proxy_first_event_seconds_bucket",
        "codex_proxy_request_duration_seconds_bucket",
        "codex_proxy_tokens_total",
        "codex_proxy_token_refreshes_total",
        "codex_proxy_upstream_errors_total",
    ] {
        assert!(used.contains(wanted), "no panel queries {wanted}");
    }
}

#[test]
fn the_dashboard_is_provisionable_grafana_json() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    assert_eq!(dashboard["uid"], "codex-responses-proxy");
    let panels = dashboard["panels"].as_array().unwrap();
    let ids: BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        assert_eq!(panel["datasource"]["uid"], "${datasource}");
    }
}
