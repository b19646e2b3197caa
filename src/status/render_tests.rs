//! Unit tests of the status report's plain words and verdict.
use jiff::tz::{Offset, TimeZone};

use super::*;
use crate::accounting::{Client, Usage};
use crate::limits::{CooldownView, DEFAULT_FAMILY, LimitFamily, Limits, Source, Window};
use crate::models::client_version::{Chosen, Source as VersionSource};
use crate::status::{RefreshError, UsageEndpoint};

/// 2025-10-09T13:54:00Z.
const NOW: i64 = 1_760_018_040;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn utc() -> TimeZone {
    TimeZone::fixed(Offset::UTC)
}

fn report() -> StatusReport {
    StatusReport {
        version: "1.2.3".into(),
        listeners: vec!["127.0.0.1:8787".into()],
        activation: Activation::Socket,
        started_at: at(NOW - 7_860),
        uptime_seconds: 7_860,
        in_flight: InFlight {
            requests: 2,
            streams: 1,
        },
        login: Login {
            usable: true,
            error: None,
            account_id: Some("acc-1".into()),
            email: Some("dev@example.com".into()),
            plan: Some("plus".into()),
            token_expires_at: Some(at(NOW + 3_120)),
            last_refresh: Some(at(NOW - 3_600)),
            last_refresh_error: None,
        },
        limits: Some(Limits {
            families: vec![LimitFamily {
                id: DEFAULT_FAMILY.into(),
                name: None,
                primary: Some(Window {
                    used_percent: 34.0,
                    window_minutes: Some(300),
                    resets_at: Some(at(NOW + 7_860)),
                }),
                secondary: None,
                limit_reached: None,
            }],
            ..Limits::empty(at(NOW - 120), Source::Headers)
        }),
        cooldown: None,
        usage_endpoint: UsageEndpoint::default(),
        models_cache_age_seconds: Some(120),
        recent_turns: Vec::new(),
        usage_last_hour: Vec::new(),
        conversation_sockets: Vec::new(),
        client_version: Some(Chosen {
            version: "0.172.0".into(),
            source: VersionSource::Seen("codex_exec".into()),
        }),
    }
}

#[test]
fn a_healthy_daemon_is_described_line_by_line_and_is_fine() {
    let (lines, verdict) = render(&report(), at(NOW), &utc());
    assert_eq!(
        lines,
        vec![
            "codex-responses-proxy 1.2.3, listening on 127.0.0.1:8787 (socket-activated), up 2 h 11 min",
            "in flight: 2 request(s), 1 of them streamed",
            "login: dev@example.com, account acc-1, plan plus",
            "access token valid until 14:46 (in 52 min)",
            "last refresh: 12:54 (1 h ago)",
            "limits as of 13:52 (2 min ago)",
            "5-hour window: 34% used, resets 16:05 (in 2 h 11 min)",
            "model list: fetched 2 min ago",
            "client version: 0.172.0 (seen from codex_exec)",
        ]
    );
    assert_eq!(verdict, Verdict::Fine);
}

#[test]
fn the_last_hour_of_each_client_is_one_line_with_its_cache_share() {
    let mut report = report();
    let usage = Usage {
        input: 200,
        cached_input: 100,
        output: 6,
        reasoning: 2,
    };
    report.usage_last_hour = vec![
        ClientUsage {
            client: Client::CodexCli,
            turns: 3,
            turns_with_usage: 2,
            usage,
            cache_hit_ratio: Some(0.5),
        },
        ClientUsage {
            client: Client::Other,
            turns: 1,
            turns_with_usage: 0,
            usage: Usage::default(),
            cache_hit_ratio: None,
        },
    ];
    let (lines, _) = render(&report, at(NOW), &utc());
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "last hour, codex_cli: 3 turn(s), 200 tokens in (50% from the cache), 6 out",
            "last hour, other: 1 turn(s), 0 tokens in, 0 out",
        ]
    );
}

#[test]
fn a_cooldown_is_shown_with_its_reset_and_is_a_reached_limit() {
    let mut r = report();
    r.cooldown = Some(CooldownView {
        since: at(NOW - 60),
        resets_at: at(NOW + 660),
        refusals: 3,
        message: "You've hit your usage limit.".into(),
    });
    let (lines, verdict) = render(&r, at(NOW), &utc());
    assert!(
        lines.contains(
            &"limit reached: this login's requests are answered locally with 429 until 14:05 \
          (in 11 min), 3 so far: You've hit your usage limit."
                .to_owned()
        )
    );
    assert_eq!(verdict, Verdict::LimitReached);
}

#[test]
fn a_missing_or_dead_login_is_broken() {
    let mut r = report();
    r.login = Login {
        usable: false,
        error: Some("no Codex login found at /x/auth.json: run `codex login`".into()),
        ..Login::default()
    };
    r.limits = None;
    r.usage_endpoint.error = Some("the usage endpoint refused the login (HTTP 401)".into());
    let (lines, verdict) = render(&r, at(NOW), &utc());
    assert_eq!(
        lines[2..],
        [
            "login: not usable: no Codex login found at /x/auth.json: run `codex login`",
            "limits: none seen yet (no answer from the backend so far)",
            "usage endpoint: the usage endpoint refused the login (HTTP 401)",
            "model list: fetched 2 min ago",
            "client version: 0.172.0 (seen from codex_exec)",
        ]
    );
    assert_eq!(verdict, Verdict::LoginBroken);

    let mut r = report();
    r.login.last_refresh_error = Some(RefreshError {
        at: at(NOW - 60),
        message: "the Codex login can no longer be refreshed (refresh_token_reused)".into(),
        permanent: true,
    });
    let (lines, verdict) = render(&r, at(NOW), &utc());
    assert!(
        lines.contains(
            &"last refresh failed at 13:53: the Codex login can no longer be refreshed \
          (refresh_token_reused)"
                .to_owned()
        )
    );
    assert_eq!(verdict, Verdict::LoginBroken);
}

#[test]
fn a_report_reads_back_from_its_json_unchanged() {
    let r = report();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<StatusReport>(&json).unwrap(), r);
}

#[test]
fn open_conversation_sockets_are_counted_on_a_line_of_their_own() {
    let mut r = report();
    let socket = |turns, in_turn| crate::chain::SocketStatus {
        conversation: "0123456789abcdef".into(),
        age_seconds: 60,
        idle_seconds: 5,
        turns,
        in_turn,
    };
    r.conversation_sockets = vec![socket(3, true), socket(2, false)];
    let (lines, _) = render(&r, at(NOW), &utc());
    assert_eq!(
        lines.last().unwrap(),
        "incremental turns: 2 conversation socket(s) open, 1 in a turn, 5 turn(s) answered on them"
    );
}
