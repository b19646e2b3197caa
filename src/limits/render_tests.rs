use jiff::Timestamp;
use jiff::tz::{self, TimeZone};

use super::*;

/// Thursday 2025-10-09 09:54 UTC, 11:54 at +02:00.
const NOW: i64 = 1_760_003_640;
/// 2 h 11 min later: 14:05 at +02:00.
const IN_2H11: i64 = NOW + 2 * 3600 + 11 * 60;
/// 3 d 19 h 6 min later: Monday 2025-10-13 07:00 at +02:00.
const IN_3D19H: i64 = NOW + 3 * 86_400 + 19 * 3600 + 6 * 60;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn plus_two() -> TimeZone {
    TimeZone::fixed(tz::offset(2))
}

fn window(used_percent: f64, minutes: Option<u32>, resets_at: Option<i64>) -> Window {
    Window {
        used_percent,
        window_minutes: minutes,
        resets_at: resets_at.map(at),
    }
}

fn codex_limits(primary: Window, secondary: Window) -> Limits {
    Limits {
        families: vec![LimitFamily {
            id: DEFAULT_FAMILY.into(),
            name: None,
            primary: Some(primary),
            secondary: Some(secondary),
            limit_reached: None,
        }],
        ..Limits::empty(at(NOW), Source::Headers)
    }
}

#[test]
fn a_window_reads_as_used_share_reset_clock_and_time_left() {
    let tz = plus_two();
    let five_hours = window(34.0, Some(300), Some(IN_2H11));
    assert_eq!(
        describe_window("5-hour window", &five_hours, at(NOW), &tz),
        "5-hour window: 34% used, resets 14:05 (in 2 h 11 min)"
    );
    let weekly = window(12.5, Some(10080), Some(IN_3D19H));
    assert_eq!(
        describe_window("weekly window", &weekly, at(NOW), &tz),
        "weekly window: 12.5% used, resets Mon 13 Oct 07:00 (in 3 d 19 h)"
    );
    assert_eq!(
        describe_window("5-hour window", &window(7.0, None, None), at(NOW), &tz),
        "5-hour window: 7% used"
    );
    assert_eq!(
        describe_window("5-hour window", &five_hours, at(IN_2H11 + 60), &tz),
        "5-hour window: reset at 14:05 (34% used before)"
    );
}

#[test]
fn a_reset_after_the_change_to_winter_time_shows_the_winter_clock() {
    let berlin = TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
    // Friday 2025-10-24 12:00 summer time; the reset is 72 h later, after the change.
    let now = at(1_761_300_000);
    let weekly = window(50.0, Some(10080), Some(1_761_300_000 + 72 * 3600));
    assert_eq!(
        describe_window("weekly window", &weekly, now, &berlin),
        "weekly window: 50% used, resets Mon 27 Oct 11:00 (in 3 d)"
    );
}

#[test]
fn the_whole_snapshot_reads_one_line_per_fact() {
    let mut limits = codex_limits(
        window(34.0, Some(300), Some(IN_2H11)),
        window(12.0, Some(10080), Some(IN_3D19H)),
    );
    limits.seen_at = at(NOW - 120);
    limits.plan = Some("plus".into());
    limits.families.push(LimitFamily {
        id: "codex_bengalfox".into(),
        name: Some("gpt-5.2-codex-sonic".into()),
        primary: Some(window(80.5, Some(300), None)),
        secondary: None,
        limit_reached: None,
    });
    limits.families.push(LimitFamily {
        id: "codex_other".into(),
        name: None,
        primary: None,
        secondary: Some(window(3.0, None, None)),
        limit_reached: None,
    });
    limits.credits = Some(Credits {
        has_credits: true,
        unlimited: false,
        balance: Some("12.00".into()),
    });
    limits.promo_message = Some("Try Pro".into());
    assert_eq!(
        describe(&limits, at(NOW), &plus_two()),
        vec![
            "limits as of 11:52 (2 min ago), plan plus",
            "5-hour window: 34% used, resets 14:05 (in 2 h 11 min)",
            "weekly window: 12% used, resets Mon 13 Oct 07:00 (in 3 d 19 h)",
            "gpt-5.2-codex-sonic 5-hour window: 80.5% used",
            "codex_other secondary window: 3% used",
            "credits: 12.00",
            "Try Pro",
        ]
    );
}

#[test]
fn credits_read_as_a_balance_unlimited_none_or_available() {
    let line = |has_credits, unlimited, balance: Option<&str>| {
        let limits = Limits {
            credits: Some(Credits {
                has_credits,
                unlimited,
                balance: balance.map(str::to_owned),
            }),
            ..Limits::empty(at(NOW), Source::Headers)
        };
        describe(&limits, at(NOW), &plus_two()).pop().unwrap()
    };
    assert_eq!(line(true, false, Some("3.50")), "credits: 3.50");
    assert_eq!(line(true, true, Some("0")), "credits: unlimited");
    assert_eq!(line(false, false, Some("0")), "credits: none");
    assert_eq!(line(true, false, None), "credits: available");
}

#[test]
fn the_status_line_names_activity_and_the_subscription_windows() {
    let limits = codex_limits(
        window(34.0, Some(300), Some(IN_2H11)),
        window(12.0, Some(10080), Some(IN_3D19H)),
    );
    assert_eq!(
        status_summary(2, Some(&limits), at(NOW)),
        "ready · 2 in flight · 5h 34% · week 12%"
    );
    assert_eq!(
        status_summary(0, Some(&limits), at(IN_2H11)),
        "ready · idle · 5h reset · week 12%"
    );
    assert_eq!(status_summary(1, None, at(NOW)), "ready · 1 in flight");
    let unknown_lengths = codex_limits(window(99.5, None, None), window(40.0, Some(1440), None));
    assert_eq!(
        status_summary(0, Some(&unknown_lengths), at(NOW)),
        "ready · idle · primary 99.5% · 24h 40%"
    );
}

#[test]
fn threshold_events_read_as_one_sentence() {
    let tz = plus_two();
    let nearing = LimitEvent {
        level: Level::Nearing,
        account: "acc".into(),
        family: DEFAULT_FAMILY.into(),
        slot: Slot::Primary,
        window: window(91.0, Some(300), Some(IN_2H11)),
    };
    assert_eq!(
        nearing.describe(at(NOW), &tz),
        "the 5-hour window is 91% used, resets 14:05 (in 2 h 11 min)"
    );
    let reached = LimitEvent {
        level: Level::Reached,
        slot: Slot::Secondary,
        window: window(100.0, Some(10080), Some(IN_3D19H)),
        ..nearing.clone()
    };
    assert_eq!(
        reached.describe(at(NOW), &tz),
        "the weekly limit is reached (100% used), resets Mon 13 Oct 07:00 (in 3 d 19 h)"
    );
    let other = LimitEvent {
        family: "codex_bengalfox".into(),
        window: window(100.0, Some(300), None),
        ..reached
    };
    assert_eq!(
        other.describe(at(NOW), &tz),
        "the codex_bengalfox 5-hour limit is reached (100% used)"
    );
}

#[test]
fn durations_read_in_at_most_two_units_rounded_down() {
    let cases = [
        (-5, "0 s"),
        (0, "0 s"),
        (45, "45 s"),
        (60, "1 min"),
        (659, "10 min"),
        (3600, "1 h"),
        (7860, "2 h 11 min"),
        (86_400, "1 d"),
        (86_400 + 59 * 60, "1 d"),
        (327_960, "3 d 19 h"),
    ];
    for (seconds, words) in cases {
        assert_eq!(plain_duration(seconds), words, "{seconds}");
    }
}

#[test]
fn windows_are_named_by_their_length() {
    let cases = [
        (300, "5-hour", "5h"),
        (10080, "weekly", "week"),
        (60, "1-hour", "1h"),
        (90, "90-minute", "90m"),
        (1440, "24-hour", "24h"),
        (43_200, "30-day", "30d"),
        (0, "0-minute", "0m"),
    ];
    for (minutes, long, short) in cases {
        assert_eq!(
            (window_name(minutes), window_short_name(minutes)),
            (long.to_owned(), short.to_owned())
        );
    }
    let unknown = window(1.0, None, None);
    assert_eq!(
        (
            unknown.name(Slot::Secondary),
            unknown.short_name(Slot::Primary)
        ),
        ("secondary".to_owned(), "primary".to_owned())
    );
}

#[test]
fn a_limit_counts_as_reached_until_its_window_resets() {
    let full = codex_limits(
        window(100.0, Some(300), Some(IN_2H11)),
        window(50.0, Some(10080), None),
    );
    assert!(full.is_reached(at(NOW)));
    assert!(!full.is_reached(at(IN_2H11)));
    let said_so = Limits {
        reached_type: Some("usage_limit_reached".into()),
        ..Limits::empty(at(NOW), Source::Headers)
    };
    assert!(said_so.is_reached(at(NOW)));
    let fine = codex_limits(window(99.0, None, None), window(0.5, None, None));
    assert!(!fine.is_reached(at(NOW)));
}
