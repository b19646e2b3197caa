//! The decisions of `boundary` on requests built by hand.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::config::hosts::{EntryError, parse};

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A boundary of the entries that parse (configuration loading refuses the
/// others first, see `validate`).
fn boundary(hosts: &[&str], origins: &[&str]) -> Boundary {
    let usable = |list: &[&str], host: bool| -> Vec<String> {
        strings(list)
            .into_iter()
            .filter(|e| {
                let one = std::slice::from_ref(e);
                if host {
                    parse(one, &[])
                } else {
                    parse(&[], one)
                }
                .is_ok()
            })
            .collect()
    };
    Boundary::new(&parse(&usable(hosts, true), &usable(origins, false)).unwrap())
}

fn validate(hosts: &[String], origins: &[String]) -> Result<(), EntryError> {
    parse(hosts, origins).map(|_| ())
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn decide(b: &Boundary, method: Method, pairs: &[(&str, &str)]) -> Verdict {
    b.decide(
        &method,
        &Uri::from_static("/v1/responses"),
        &headers(pairs),
        false,
    )
}

use axum::http::HeaderName;

#[test]
fn loopback_names_are_hosts_of_this_daemon_with_or_without_a_port() {
    let b = Boundary::default();
    for host in [
        "localhost",
        "LocalHost:8787",
        "127.0.0.1",
        "127.0.0.1:8787",
        "127.1.2.3:1",
        "[::1]",
        "[::1]:8787",
        "[0:0:0:0:0:0:0:1]:8787",
        "[::ffff:127.0.0.1]",
    ] {
        assert!(b.host_allowed(host), "{host}");
    }
}

#[test]
fn other_names_and_malformed_hosts_are_refused() {
    let b = Boundary::default();
    for host in [
        "evil.example",
        "evil.example:8787",
        "localhost.evil.example",
        "127.0.0.1.nip.io:8787",
        "localhost.",
        "128.0.0.1",
        "0.0.0.0:8787",
        "192.168.1.2:8787",
        "[::2]:8787",
        "[::1",
        "::1",
        "localhost:",
        "localhost:port",
        "localhost:99999",
        "localhost:8787:1",
        "user@localhost",
        "",
    ] {
        assert!(!b.host_allowed(host), "{host}");
    }
}

#[test]
fn an_allowed_host_without_a_port_matches_every_port_and_with_one_only_that() {
    let b = boundary(&["Proxy.LAN", "gateway:8443", "[fd00::0:1]"], &[]);
    assert!(b.host_allowed("proxy.lan"));
    assert!(b.host_allowed("proxy.lan:8787"));
    assert!(b.host_allowed("gateway:8443"));
    assert!(!b.host_allowed("gateway"));
    assert!(!b.host_allowed("gateway:8787"));
    assert!(b.host_allowed("[fd00::1]:8787"));
    assert!(!b.host_allowed("evil.example"));
}

#[test]
fn a_star_in_allowed_hosts_turns_the_host_check_off() {
    let b = boundary(&["*"], &[]);
    assert!(b.host_allowed("evil.example:8787"));
    assert_eq!(
        decide(&b, Method::POST, &[("host", "evil.example")]),
        Verdict::Serve
    );
}

#[test]
fn a_request_without_an_origin_is_served_without_cors() {
    let b = Boundary::default();
    assert_eq!(
        decide(&b, Method::POST, &[("host", "127.0.0.1:8787")]),
        Verdict::Serve
    );
}

#[test]
fn a_rebinding_host_is_refused_before_the_origin_is_looked_at() {
    let b = boundary(&[], &["http://evil.example:8787"]);
    assert_eq!(
        decide(
            &b,
            Method::POST,
            &[
                ("host", "evil.example:8787"),
                ("origin", "http://evil.example:8787")
            ]
        ),
        Verdict::Refuse(Refusal::Host("evil.example:8787".into()))
    );
}

#[test]
fn no_host_or_two_hosts_are_refused() {
    let b = Boundary::default();
    assert_eq!(
        decide(&b, Method::GET, &[]),
        Verdict::Refuse(Refusal::NoHost)
    );
    assert_eq!(
        decide(&b, Method::GET, &[("host", "localhost"), ("host", "evil")]),
        Verdict::Refuse(Refusal::NoHost)
    );
}

#[test]
fn an_absolute_target_must_name_this_daemon_too() {
    let b = Boundary::default();
    let uri = Uri::from_static("http://evil.example/v1/responses");
    assert_eq!(
        b.decide(
            &Method::POST,
            &uri,
            &headers(&[("host", "localhost")]),
            false
        ),
        Verdict::Refuse(Refusal::Host("evil.example".into()))
    );
}

#[test]
fn over_a_unix_socket_any_host_is_served_but_the_origin_still_counts() {
    let b = Boundary::default();
    let uri = Uri::from_static("/v1/responses");
    let evil = headers(&[("host", "evil.example")]);
    assert_eq!(b.decide(&Method::POST, &uri, &evil, true), Verdict::Serve);
    assert_eq!(
        b.decide(&Method::POST, &uri, &HeaderMap::new(), true),
        Verdict::Serve
    );
    let page = headers(&[("origin", "https://evil.example")]);
    assert_eq!(
        b.decide(&Method::POST, &uri, &page, true),
        Verdict::Refuse(Refusal::Origin("https://evil.example".into()))
    );
}

#[test]
fn origins_are_refused_unless_listed_and_null_always() {
    let b = boundary(&[], &["http://localhost:3000", "null"]);
    let host = ("host", "localhost:8787");
    for (origin, refusal) in [
        (
            "https://evil.example",
            Refusal::Origin("https://evil.example".into()),
        ),
        (
            "http://localhost:3001",
            Refusal::Origin("http://localhost:3001".into()),
        ),
        (
            "http://localhost",
            Refusal::Origin("http://localhost".into()),
        ),
        ("null", Refusal::NullOrigin),
        ("NULL", Refusal::NullOrigin),
    ] {
        assert_eq!(
            decide(&b, Method::POST, &[host, ("origin", origin)]),
            Verdict::Refuse(refusal),
            "{origin}"
        );
    }
    assert_eq!(
        decide(
            &b,
            Method::POST,
            &[
                host,
                ("origin", "http://localhost:3000"),
                ("origin", "https://evil.example")
            ]
        ),
        Verdict::Refuse(Refusal::BadOrigin)
    );
}

#[test]
fn an_allowed_origin_is_served_with_cors_and_its_preflight_answered() {
    let b = boundary(&[], &["HTTP://LocalHost:3000/"]);
    let origin = HeaderValue::from_static("http://localhost:3000");
    let host = ("host", "127.0.0.1:8787");
    assert_eq!(
        decide(
            &b,
            Method::POST,
            &[host, ("origin", "http://localhost:3000")]
        ),
        Verdict::ServeWithCors(origin.clone())
    );
    assert_eq!(
        decide(
            &b,
            Method::OPTIONS,
            &[
                host,
                ("origin", "http://localhost:3000"),
                ("access-control-request-method", "POST")
            ]
        ),
        Verdict::Preflight(origin.clone())
    );
    // An OPTIONS that is not a preflight goes to the routes.
    assert_eq!(
        decide(
            &b,
            Method::OPTIONS,
            &[host, ("origin", "http://localhost:3000")]
        ),
        Verdict::ServeWithCors(origin)
    );
}

#[test]
fn a_preflight_from_a_foreign_origin_is_refused() {
    let b = boundary(&[], &["http://localhost:3000"]);
    assert_eq!(
        decide(
            &b,
            Method::OPTIONS,
            &[
                ("host", "localhost:8787"),
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST")
            ]
        ),
        Verdict::Refuse(Refusal::Origin("https://evil.example".into()))
    );
}

#[test]
fn settings_entries_are_checked_with_the_key_they_belong_to() {
    assert_eq!(
        validate(
            &strings(&["*", "proxy.lan", "gw:8443", "[fd00::1]:1", "10.0.0.2"]),
            &strings(&[
                "http://localhost:3000",
                "chrome-extension://abcdef",
                "https://ui.example/"
            ])
        ),
        Ok(())
    );
    for (hosts, origins, error) in [
        (
            &["http://proxy.lan"][..],
            &[][..],
            EntryError::Host("http://proxy.lan".into()),
        ),
        (
            &["proxy.lan/x"][..],
            &[][..],
            EntryError::Host("proxy.lan/x".into()),
        ),
        (
            &["fd00::1"][..],
            &[][..],
            EntryError::Host("fd00::1".into()),
        ),
        (&[][..], &["*"][..], EntryError::OriginWildcard("*".into())),
        (
            &[][..],
            &["null"][..],
            EntryError::OriginWildcard("null".into()),
        ),
        (
            &[][..],
            &["localhost:3000"][..],
            EntryError::Origin("localhost:3000".into()),
        ),
        (
            &[][..],
            &["http://ui.example/app"][..],
            EntryError::Origin("http://ui.example/app".into()),
        ),
    ] {
        let got = validate(&strings(hosts), &strings(origins));
        assert_eq!(got, Err(error.clone()));
        assert_eq!(
            error.key(),
            if hosts.is_empty() {
                "allowed_origins"
            } else {
                "allowed_hosts"
            }
        );
    }
}

#[test]
fn a_preflight_answer_echoes_the_origin_and_lists_methods_and_headers() {
    let response = preflight(HeaderValue::from_static("http://localhost:3000"));
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], "http://localhost:3000");
    assert_eq!(h["access-control-allow-methods"], "GET, POST, OPTIONS");
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    for name in [
        "authorization",
        "content-type",
        "x-api-key",
        "anthropic-version",
        "openai-beta",
        "x-stainless-os",
    ] {
        assert!(allowed.split(", ").any(|n| n == name), "{name}");
    }
    let vary: Vec<_> = h
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        vary,
        [
            "origin",
            "access-control-request-method",
            "access-control-request-headers"
        ]
    );
    assert!(!h.contains_key("access-control-allow-credentials"));
}

#[tokio::test]
async fn a_refusal_is_openai_shaped_and_anthropic_shaped_on_messages() {
    let refusal = Refusal::Origin("https://evil.example".into());
    let body = |response: Response| async move {
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
    };
    let message = refusal.to_string();
    assert!(message.contains("allowed_origins"), "{message}");
    assert_eq!(
        body(refused(&refusal, "/v1/responses")).await,
        serde_json::json!({"error": {"message": message, "type": "invalid_request_error",
            "param": null, "code": "origin_not_allowed"}})
    );
    assert_eq!(
        body(refused(&refusal, "/v1/messages")).await,
        serde_json::json!({"type": "error", "error": {"type": "permission_error", "message": message}})
    );
}
