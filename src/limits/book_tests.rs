use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::*;

const NOW: i64 = 1_760_003_640;
const HOUR: i64 = 3600;

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn no_probe() -> LimitsBook {
    LimitsBook::new(CooldownPolicy {
        enabled: true,
        probe_every: None,
    })
}

fn refusal(resets_at: i64) -> UsageLimitReached {
    UsageLimitReached {
        resets_at: Some(at(resets_at)),
        message: Some("You've hit your usage limit.".into()),
        plan: Some("plus".into()),
    }
}

fn window(used_percent: f64, resets_at: i64) -> Window {
    Window {
        used_percent,
        window_minutes: Some(300),
        resets_at: Some(at(resets_at)),
    }
}

/// Headers-shaped limits with the codex primary window at `used_percent`.
fn primary(seen: i64, used_percent: f64, resets_at: i64) -> Limits {
    Limits {
        families: vec![LimitFamily {
            id: DEFAULT_FAMILY.into(),
            name: None,
            primary: Some(window(used_percent, resets_at)),
            secondary: None,
            limit_reached: None,
        }],
        ..Limits::empty(at(seen), Source::Headers)
    }
}

fn levels(events: &[LimitEvent]) -> Vec<(Level, &str, Slot)> {
    events
        .iter()
        .map(|e| (e.level, e.family.as_str(), e.slot))
        .collect()
}

#[test]
fn a_reached_limit_is_answered_locally_with_a_falling_retry_after() {
    let book = no_probe();
    assert!(book.reached("acc", &refusal(NOW + 2 * HOUR), at(NOW)));
    assert_eq!(
        book.check("acc", at(NOW + 1)),
        Some(Cooldown {
            retry_after_secs: 7199,
            resets_at: at(NOW + 2 * HOUR),
            message: "You've hit your usage limit. (resets in 1 h 59 min)".into(),
            plan: Some("plus".into()),
            first_refusal: true,
        })
    );
    assert_eq!(
        book.check("acc", at(NOW + HOUR)),
        Some(Cooldown {
            retry_after_secs: 3600,
            resets_at: at(NOW + 2 * HOUR),
            message: "You've hit your usage limit. (resets in 1 h)".into(),
            plan: Some("plus".into()),
            first_refusal: false,
        })
    );
}

#[test]
fn the_last_second_before_the_reset_still_asks_for_one_second() {
    let book = no_probe();
    book.reached("acc", &refusal(NOW + 10), at(NOW));
    let almost = at(NOW + 9) + SignedDuration::from_millis(900);
    assert_eq!(
        book.check("acc", almost).map(|c| c.retry_after_secs),
        Some(1)
    );
}

#[test]
fn requests_go_through_again_once_the_reset_passes() {
    let book = no_probe();
    book.reached("acc", &refusal(NOW + HOUR), at(NOW));
    assert!(book.check("acc", at(NOW + HOUR - 1)).is_some());
    assert_eq!(book.check("acc", at(NOW + HOUR)), None);
    assert_eq!(book.login("acc", at(NOW + HOUR)).unwrap().cooldown, None);
    // The next refusal is a new window: logged again.
    assert!(book.reached("acc", &refusal(NOW + 6 * HOUR), at(NOW + HOUR + 5)));
    assert!(book.check("acc", at(NOW + HOUR + 6)).unwrap().first_refusal);
}

#[test]
fn another_login_is_not_held_back_by_the_first_ones_limit() {
    let book = no_probe();
    book.reached("old-account", &refusal(NOW + HOUR), at(NOW));
    assert_eq!(book.check("new-account", at(NOW + 1)), None);
    assert!(book.check("old-account", at(NOW + 1)).is_some());
}

#[test]
fn the_probe_interval_lets_one_request_through_to_ask_again() {
    let book = LimitsBook::new(CooldownPolicy {
        enabled: true,
        probe_every: Some(Duration::from_secs(300)),
    });
    book.reached("acc", &refusal(NOW + 2 * HOUR), at(NOW));
    assert!(book.check("acc", at(NOW + 299)).is_some());
    assert_eq!(book.check("acc", at(NOW + 300)), None, "the probe");
    assert!(book.check("acc", at(NOW + 301)).is_some());
    // The probe was refused again: the same cooldown goes on, not logged anew.
    assert!(!book.reached("acc", &refusal(NOW + 2 * HOUR), at(NOW + 302)));
    let again = book.check("acc", at(NOW + 303)).unwrap();
    assert!(!again.first_refusal);
    assert!(book.check("acc", at(NOW + 601)).is_some());
    assert_eq!(book.check("acc", at(NOW + 602)), None, "the next probe");
}

#[test]
fn concurrent_requests_at_probe_time_let_exactly_one_through() {
    let book = Arc::new(LimitsBook::new(CooldownPolicy {
        enabled: true,
        probe_every: Some(Duration::from_secs(300)),
    }));
    book.reached("acc", &refusal(NOW + HOUR), at(NOW));
    let through: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let book = book.clone();
                scope.spawn(move || {
                    (0..50)
                        .filter(|_| book.check("acc", at(NOW + 300)).is_none())
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(through, 1);
    let view = book.login("acc", at(NOW + 300)).unwrap();
    assert_eq!(view.cooldown.unwrap().refusals, 8 * 50 - 1);
}

#[test]
fn a_successful_answer_lifts_the_cooldown() {
    let book = no_probe();
    book.reached("acc", &refusal(NOW + HOUR), at(NOW));
    book.lifted("acc");
    assert_eq!(book.check("acc", at(NOW + 1)), None);
}

#[test]
fn a_refusal_without_a_future_reset_starts_no_cooldown() {
    let book = no_probe();
    let unknown = UsageLimitReached {
        resets_at: None,
        message: None,
        plan: None,
    };
    assert!(!book.reached("acc", &unknown, at(NOW)));
    assert!(!book.reached("acc", &refusal(NOW - 1), at(NOW)));
    assert_eq!(book.check("acc", at(NOW)), None);
}

#[test]
fn with_cooldowns_off_every_request_goes_to_the_backend() {
    let book = LimitsBook::new(CooldownPolicy {
        enabled: false,
        probe_every: None,
    });
    assert!(!book.reached("acc", &refusal(NOW + HOUR), at(NOW)));
    assert_eq!(book.check("acc", at(NOW + 1)), None);
}

#[test]
fn a_refusal_without_a_message_still_says_what_happened() {
    let book = no_probe();
    let bare = UsageLimitReached {
        resets_at: Some(at(NOW + 90)),
        message: None,
        plan: None,
    };
    book.reached("acc", &bare, at(NOW));
    assert_eq!(
        book.check("acc", at(NOW)).unwrap().message,
        "the ChatGPT usage limit was reached (resets in 1 min)"
    );
}

#[test]
fn nearing_and_reaching_are_each_reported_once_per_window() {
    let book = no_probe();
    let reset = NOW + 5 * HOUR;
    assert_eq!(book.observe("acc", primary(NOW, 50.0, reset)), vec![]);
    assert_eq!(
        book.observe("acc", primary(NOW + 1, 91.0, reset)),
        vec![LimitEvent {
            level: Level::Nearing,
            account: "acc".into(),
            family: DEFAULT_FAMILY.into(),
            slot: Slot::Primary,
            window: window(91.0, reset),
        }]
    );
    assert_eq!(book.observe("acc", primary(NOW + 2, 95.0, reset)), vec![]);
    assert_eq!(
        levels(&book.observe("acc", primary(NOW + 3, 100.0, reset))),
        vec![(Level::Reached, "codex", Slot::Primary)]
    );
    assert_eq!(book.observe("acc", primary(NOW + 4, 100.0, reset)), vec![]);
    // The window resets; the next one fills up again.
    let next = reset + 5 * HOUR;
    assert_eq!(book.observe("acc", primary(reset + 1, 10.0, next)), vec![]);
    assert_eq!(
        levels(&book.observe("acc", primary(reset + 2, 92.0, next))),
        vec![(Level::Nearing, "codex", Slot::Primary)]
    );
}

#[test]
fn a_window_seen_full_again_after_its_reset_time_is_reported_again() {
    let book = no_probe();
    let reset = NOW + HOUR;
    assert_eq!(book.observe("acc", primary(NOW, 100.0, reset)).len(), 1);
    // No answer in between saw it low, but the reported window is over.
    assert_eq!(
        levels(&book.observe("acc", primary(reset + 60, 100.0, reset + 5 * HOUR))),
        vec![(Level::Reached, "codex", Slot::Primary)]
    );
}

#[test]
fn jitter_just_under_ninety_percent_does_not_report_twice() {
    let book = no_probe();
    let reset = NOW + HOUR;
    assert_eq!(book.observe("acc", primary(NOW, 90.0, reset)).len(), 1);
    assert_eq!(book.observe("acc", primary(NOW + 1, 89.5, reset)), vec![]);
    assert_eq!(book.observe("acc", primary(NOW + 2, 90.5, reset)), vec![]);
}

#[test]
fn windows_of_other_slots_families_and_logins_are_reported_apart() {
    let book = no_probe();
    let mut both = primary(NOW, 95.0, NOW + HOUR);
    both.families[0].secondary = Some(window(100.0, NOW + 100 * HOUR));
    both.families.push(LimitFamily {
        id: "codex_bengalfox".into(),
        name: None,
        primary: Some(window(90.0, NOW + HOUR)),
        secondary: None,
        limit_reached: None,
    });
    assert_eq!(
        levels(&book.observe("acc", both.clone())),
        vec![
            (Level::Nearing, "codex", Slot::Primary),
            (Level::Reached, "codex", Slot::Secondary),
            (Level::Nearing, "codex_bengalfox", Slot::Primary),
        ]
    );
    assert_eq!(book.observe("other", both).len(), 3);
}

#[test]
fn each_answer_is_merged_into_what_was_known_about_the_login() {
    let book = no_probe();
    let event = Limits {
        plan: Some("plus".into()),
        families: vec![LimitFamily {
            id: DEFAULT_FAMILY.into(),
            name: None,
            primary: Some(window(10.0, NOW + HOUR)),
            secondary: Some(window(30.0, NOW + 100 * HOUR)),
            limit_reached: None,
        }],
        credits: Some(Credits {
            has_credits: true,
            unlimited: false,
            balance: Some("5".into()),
        }),
        reached_type: Some("usage_limit_reached".into()),
        ..Limits::empty(at(NOW), Source::Event)
    };
    book.observe("acc", event.clone());
    book.observe("acc", primary(NOW + 60, 20.0, NOW + HOUR));
    // An answer without limit headers changes nothing, not even the time seen.
    book.observe("acc", Limits::empty(at(NOW + 120), Source::Headers));
    let mut expected = event;
    expected.seen_at = at(NOW + 60);
    expected.source = Source::Headers;
    expected.families[0].primary = Some(window(20.0, NOW + HOUR));
    expected.reached_type = None;
    assert_eq!(
        book.login("acc", at(NOW + 120)),
        Some(LoginView {
            account: "acc".into(),
            limits: Some(expected),
            cooldown: None,
        })
    );
}

#[test]
fn the_view_of_every_login_shows_limits_and_cooldowns_in_account_order() {
    let book = no_probe();
    book.observe("b", primary(NOW, 20.0, NOW + HOUR));
    book.reached("a", &refusal(NOW + HOUR), at(NOW));
    book.check("a", at(NOW + 1));
    assert_eq!(
        book.logins(at(NOW + 2)),
        vec![
            LoginView {
                account: "a".into(),
                limits: None,
                cooldown: Some(CooldownView {
                    since: at(NOW),
                    resets_at: at(NOW + HOUR),
                    refusals: 1,
                    message: "You've hit your usage limit.".into(),
                }),
            },
            LoginView {
                account: "b".into(),
                limits: Some(primary(NOW, 20.0, NOW + HOUR)),
                cooldown: None,
            },
        ]
    );
    // Past the reset the view no longer shows it, though no check cleared it.
    assert_eq!(book.logins(at(NOW + HOUR))[0].cooldown, None);
}

#[test]
fn the_summary_record_reads_the_used_share_of_each_own_window() {
    let book = no_probe();
    assert_eq!(book.codex_used_percent("a", at(NOW)), [None, None]);
    book.observe("a", primary(NOW, 34.0, NOW + HOUR));
    assert_eq!(book.codex_used_percent("a", at(NOW)), [Some(34.0), None]);
    // Past the reset the window counts as empty until an answer says otherwise.
    assert_eq!(
        book.codex_used_percent("a", at(NOW + HOUR)),
        [Some(0.0), None]
    );
    assert_eq!(book.codex_used_percent("b", at(NOW)), [None, None]);
}

#[test]
fn a_view_reads_back_from_its_json_unchanged() {
    let book = no_probe();
    book.observe("a", primary(NOW, 34.5, NOW + HOUR));
    book.reached("a", &refusal(NOW + HOUR), at(NOW));
    let view = book.login("a", at(NOW + 1)).unwrap();
    let json = serde_json::to_string(&view).unwrap();
    assert_eq!(serde_json::from_str::<LoginView>(&json).unwrap(), view);
}
