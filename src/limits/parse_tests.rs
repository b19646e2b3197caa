use http::{HeaderMap, HeaderName, HeaderValue};
use jiff::Timestamp;
use serde_json::json;

use super::*;

const NOW: i64 = 1_760_003_640;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            )
        })
        .collect()
}

fn window(used_percent: f64, minutes: Option<u32>, resets_at: Option<i64>) -> Window {
    Window {
        used_percent,
        window_minutes: minutes,
        resets_at: resets_at.map(at),
    }
}

fn codex(primary: Option<Window>, secondary: Option<Window>) -> LimitFamily {
    LimitFamily {
        id: "codex".into(),
        name: None,
        primary,
        secondary,
        limit_reached: None,
    }
}

#[test]
fn every_header_of_the_codex_family_is_read() {
    let headers = headers(&[
        ("x-codex-primary-used-percent", "34.5"),
        ("x-codex-primary-window-minutes", "300"),
        ("x-codex-primary-reset-at", "1760011500"),
        ("x-codex-secondary-used-percent", "12"),
        ("x-codex-secondary-window-minutes", "10080"),
        ("x-codex-secondary-reset-at", "1760332800"),
        ("x-codex-limit-name", "Codex"),
        ("x-codex-credits-has-credits", "true"),
        ("x-codex-credits-unlimited", "False"),
        ("x-codex-credits-balance", " 12.00 "),
        ("x-codex-promo-message", "Try Pro"),
        ("x-codex-rate-limit-reached-type", "usage_limit_reached"),
        ("content-type", "text/event-stream"),
    ]);
    assert_eq!(
        Limits::from_headers(&headers, at(NOW)),
        Limits {
            seen_at: at(NOW),
            source: Source::Headers,
            plan: None,
            families: vec![LimitFamily {
                name: Some("Codex".into()),
                ..codex(
                    Some(window(34.5, Some(300), Some(1_760_011_500))),
                    Some(window(12.0, Some(10080), Some(1_760_332_800))),
                )
            }],
            credits: Some(Credits {
                has_credits: true,
                unlimited: false,
                balance: Some("12.00".into()),
            }),
            promo_message: Some("Try Pro".into()),
            reached_type: Some("usage_limit_reached".into()),
        }
    );
}

#[test]
fn a_reset_after_seconds_is_anchored_to_when_the_answer_was_seen() {
    let headers = headers(&[
        ("x-codex-primary-used-percent", "50"),
        ("x-codex-primary-reset-after-seconds", "7860"),
        ("x-codex-secondary-used-percent", "5"),
        ("x-codex-secondary-reset-after-seconds", "0.4"),
    ]);
    assert_eq!(
        Limits::from_headers(&headers, at(NOW)).families,
        vec![codex(
            Some(window(50.0, None, Some(NOW + 7860))),
            Some(window(5.0, None, Some(NOW))),
        )]
    );
}

#[test]
fn reset_at_wins_over_reset_after_and_a_broken_one_falls_back() {
    let headers = headers(&[
        ("x-codex-primary-used-percent", "50"),
        ("x-codex-primary-reset-at", "1760011500"),
        ("x-codex-primary-reset-after-seconds", "60"),
        ("x-codex-secondary-used-percent", "5"),
        ("x-codex-secondary-reset-at", "tomorrow"),
        ("x-codex-secondary-reset-after-seconds", "60"),
    ]);
    assert_eq!(
        Limits::from_headers(&headers, at(NOW)).families,
        vec![codex(
            Some(window(50.0, None, Some(1_760_011_500))),
            Some(window(5.0, None, Some(NOW + 60))),
        )]
    );
}

#[test]
fn other_limit_families_are_found_by_their_used_percent_headers() {
    let headers = headers(&[
        ("x-codex-bengalfox-primary-used-percent", "80"),
        ("x-codex-bengalfox-primary-window-minutes", "300"),
        ("x-codex-bengalfox-limit-name", "gpt-5.2-codex-sonic"),
        ("x-codex-other-secondary-used-percent", "3"),
        ("x-codex-primary-used-percent", "1"),
    ]);
    assert_eq!(
        Limits::from_headers(&headers, at(NOW)).families,
        vec![
            codex(Some(window(1.0, None, None)), None),
            LimitFamily {
                id: "codex_bengalfox".into(),
                name: Some("gpt-5.2-codex-sonic".into()),
                primary: Some(window(80.0, Some(300), None)),
                secondary: None,
                limit_reached: None,
            },
            LimitFamily {
                id: "codex_other".into(),
                name: None,
                primary: None,
                secondary: Some(window(3.0, None, None)),
                limit_reached: None,
            },
        ]
    );
}

#[test]
fn a_malformed_value_loses_only_itself() {
    let mut headers = headers(&[
        ("x-codex-primary-used-percent", "lots"),
        ("x-codex-primary-window-minutes", "300"),
        ("x-codex-secondary-used-percent", "12"),
        ("x-codex-secondary-window-minutes", "a week"),
        ("x-codex-secondary-reset-at", "-5"),
        ("x-codex-credits-has-credits", "maybe"),
        ("x-codex-credits-unlimited", "1"),
        ("x-codex-promo-message", "   "),
    ]);
    headers.insert(
        "x-codex-rate-limit-reached-type",
        HeaderValue::from_bytes(b"\xffusage").unwrap(),
    );
    assert_eq!(
        Limits::from_headers(&headers, at(NOW)),
        Limits {
            families: vec![codex(None, Some(window(12.0, None, None)))],
            credits: Some(Credits {
                has_credits: true,
                unlimited: true,
                balance: None,
            }),
            ..Limits::empty(at(NOW), Source::Headers)
        }
    );
}

#[test]
fn numbers_that_are_not_finite_or_not_percentages_are_dropped() {
    for used in ["NaN", "inf", "-1", "", "1e999"] {
        let headers = headers(&[
            ("x-codex-primary-used-percent", used),
            ("x-codex-primary-window-minutes", "300"),
        ]);
        assert_eq!(
            Limits::from_headers(&headers, at(NOW)),
            Limits::empty(at(NOW), Source::Headers),
            "{used:?}"
        );
    }
}

#[test]
fn an_answer_without_limit_headers_says_nothing() {
    let limits = Limits::from_headers(
        &headers(&[("content-type", "application/json"), ("x-request-id", "r1")]),
        at(NOW),
    );
    assert_eq!(limits, Limits::empty(at(NOW), Source::Headers));
    assert!(limits.is_empty());
}

#[test]
fn a_window_of_zeros_is_no_window() {
    let headers = headers(&[
        ("x-codex-primary-used-percent", "0"),
        ("x-codex-primary-window-minutes", "0"),
        ("x-codex-secondary-used-percent", "0"),
        ("x-codex-secondary-window-minutes", "10080"),
    ]);
    assert_eq!(
        Limits::from_headers(&headers, at(NOW)).families,
        vec![codex(None, Some(window(0.0, Some(10080), None)))]
    );
}

#[test]
fn the_rate_limits_event_is_read_whole() {
    let event = json!({
        "type": "codex.rate_limits",
        "plan_type": "plus",
        "rate_limits": {
            "primary": {"used_percent": 12.5, "window_minutes": 300, "reset_at": 1_760_011_500},
            "secondary": {"used_percent": 40, "window_minutes": 10080, "reset_after_seconds": 86_400}
        },
        "credits": {"has_credits": true, "unlimited": false, "balance": "12.00"},
        "metered_limit_name": "codex"
    });
    assert_eq!(
        Limits::from_event(&event.to_string(), at(NOW)),
        Some(Limits {
            plan: Some("plus".into()),
            families: vec![codex(
                Some(window(12.5, Some(300), Some(1_760_011_500))),
                Some(window(40.0, Some(10080), Some(NOW + 86_400))),
            )],
            credits: Some(Credits {
                has_credits: true,
                unlimited: false,
                balance: Some("12.00".into()),
            }),
            ..Limits::empty(at(NOW), Source::Event)
        })
    );
}

#[test]
fn an_event_for_another_metered_limit_fills_that_family() {
    let event = json!({
        "type": "codex.rate_limits",
        "rate_limits": {"primary": {"used_percent": "80", "window_minutes": 60}, "secondary": null},
        "metered_limit_name": "codex-bengalfox",
        "limit_name": "gpt-5.2-codex-sonic",
        "credits": {"has_credits": "false", "balance": 0}
    });
    assert_eq!(
        Limits::from_event(&event.to_string(), at(NOW)),
        Some(Limits {
            families: vec![LimitFamily {
                id: "codex_bengalfox".into(),
                name: Some("gpt-5.2-codex-sonic".into()),
                primary: Some(window(80.0, Some(60), None)),
                secondary: None,
                limit_reached: None,
            }],
            credits: Some(Credits {
                has_credits: false,
                unlimited: false,
                balance: Some("0".into()),
            }),
            ..Limits::empty(at(NOW), Source::Event)
        })
    );
}

#[test]
fn other_events_and_broken_json_are_not_limits() {
    for data in [
        r#"{"type":"response.created","response":{}}"#,
        r#"{"type":"codex.rate_limits""#,
        "[1,2]",
        "",
    ] {
        assert_eq!(Limits::from_event(data, at(NOW)), None, "{data}");
    }
}

#[test]
fn a_rate_limits_event_with_broken_parts_keeps_the_rest() {
    let event = json!({
        "type": "codex.rate_limits",
        "plan_type": 7,
        "rate_limits": {"primary": "full", "secondary": {"used_percent": 20, "window_minutes": -5, "reset_at": "x"}},
        "credits": "plenty"
    });
    assert_eq!(
        Limits::from_event(&event.to_string(), at(NOW)),
        Some(Limits {
            families: vec![codex(None, Some(window(20.0, None, None)))],
            ..Limits::empty(at(NOW), Source::Event)
        })
    );
}

#[test]
fn the_usage_endpoint_answer_is_read_whole() {
    let body = json!({
        "plan_type": "pro",
        "rate_limit": {
            "allowed": true,
            "limit_reached": false,
            "primary_window": {"used_percent": 12, "limit_window_seconds": 18_000, "reset_after_seconds": 9000, "reset_at": 1_760_011_500},
            "secondary_window": null
        },
        "credits": {"has_credits": false, "unlimited": true, "balance": null},
        "additional_rate_limits": [
            {"limit_name": "gpt-5.2-codex-sonic", "metered_feature": "codex_bengalfox",
             "rate_limit": {"limit_reached": true, "primary_window": {"used_percent": 100, "limit_window_seconds": 18_000, "reset_after_seconds": 600}}},
            {"limit_name": "broken", "metered_feature": "codex_broken", "rate_limit": null},
            "not an object"
        ]
    });
    assert_eq!(
        Limits::from_usage(body.to_string().as_bytes(), at(NOW)),
        Ok(Limits {
            plan: Some("pro".into()),
            families: vec![
                LimitFamily {
                    limit_reached: Some(false),
                    ..codex(Some(window(12.0, Some(300), Some(1_760_011_500))), None)
                },
                LimitFamily {
                    id: "codex_bengalfox".into(),
                    name: Some("gpt-5.2-codex-sonic".into()),
                    primary: Some(window(100.0, Some(300), Some(NOW + 600))),
                    secondary: None,
                    limit_reached: Some(true),
                },
            ],
            credits: Some(Credits {
                has_credits: false,
                unlimited: true,
                balance: None,
            }),
            ..Limits::empty(at(NOW), Source::UsageEndpoint)
        })
    );
}

#[test]
fn a_usage_answer_that_is_not_a_json_object_is_an_error() {
    for body in [&b"<html>sign in</html>"[..], b"[]", b"null", b""] {
        assert_eq!(Limits::from_usage(body, at(NOW)), Err(UsageBodyError));
    }
    assert_eq!(
        Limits::from_usage(b"{}", at(NOW)),
        Ok(Limits::empty(at(NOW), Source::UsageEndpoint))
    );
}

#[test]
fn a_usage_limit_refusal_gives_its_reset_time_in_either_form() {
    let body = json!({"error": {"type": "usage_limit_reached", "message": "You've hit your usage limit.",
                                "plan_type": "plus", "resets_at": 1_760_011_500}});
    assert_eq!(
        UsageLimitReached::from_error_body(&body, at(NOW)),
        Some(UsageLimitReached {
            resets_at: Some(at(1_760_011_500)),
            message: Some("You've hit your usage limit.".into()),
            plan: Some("plus".into()),
        })
    );
    let older = json!({"error": {"code": "usage_limit_reached", "resets_in_seconds": 90}});
    assert_eq!(
        UsageLimitReached::from_error_body(&older, at(NOW)),
        Some(UsageLimitReached {
            resets_at: Some(at(NOW + 90)),
            message: None,
            plan: None,
        })
    );
    let bare = json!({"type": "usage_limit_reached", "resets_at": "soon"});
    assert_eq!(
        UsageLimitReached::from_error_body(&bare, at(NOW)),
        Some(UsageLimitReached {
            resets_at: None,
            message: None,
            plan: None,
        })
    );
}

#[test]
fn other_errors_are_not_usage_limits() {
    for body in [
        json!({"error": {"type": "invalid_request_error", "message": "bad"}}),
        json!({"error": {"code": "rate_limit_exceeded", "message": "try again in 11.054s"}}),
        json!({"detail": "Unauthorized"}),
        json!("usage_limit_reached"),
    ] {
        assert_eq!(UsageLimitReached::from_error_body(&body, at(NOW)), None);
    }
}
