//! Limits in plain words: one line per window for `status` and `doctor`, a
//! sentence per threshold event for the journal, and the short summary that
//! `systemctl status` shows from `STATUS=`.
//!
//! Clock times are shown in the time zone the caller passes: the daemon reads
//! the system's once (`jiff::tz::TimeZone::system()`, which follows
//! `/etc/localtime` and `TZ` and knows daylight saving), tests pass a fixed
//! offset so the strings are the same on every machine.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{Credits, DEFAULT_FAMILY, Level, LimitEvent, LimitFamily, Limits, Slot, Window};

/// A clock time further than this from now also shows its day.
const CLOCK_ONLY_WITHIN_SECS: i64 = 24 * 3600;

/// Every window, the credits and the promo message of `limits`, one line each,
/// after a first line saying how old the snapshot is:
///
/// ```text
/// limits as of 13:52 (2 min ago), plan plus
/// 5-hour window: 34% used, resets 16:05 (in 2 h 11 min)
/// weekly window: 12% used, resets Thu 16 Oct 09:00 (in 3 d 19 h)
/// credits: 12.00
/// ```
pub fn describe(limits: &Limits, now: Timestamp, tz: &TimeZone) -> Vec<String> {
    let age = (now.as_second() - limits.seen_at.as_second()).max(0);
    let mut seen = format!(
        "limits as of {} ({} ago)",
        clock(limits.seen_at, now, tz),
        plain_duration(age)
    );
    if let Some(plan) = &limits.plan {
        seen.push_str(&format!(", plan {plan}"));
    }
    let mut lines = vec![seen];
    for family in &limits.families {
        for (slot, window) in family.windows() {
            let label = window_label(family_label(family), slot, window);
            lines.push(describe_window(&label, window, now, tz));
        }
    }
    lines.extend(limits.credits.as_ref().map(describe_credits));
    lines.extend(limits.promo_message.clone());
    lines
}

/// `5-hour window: 34% used, resets 14:05 (in 2 h 11 min)`; once the reset has
/// passed, `5-hour window: reset at 14:05 (34% used before)`.
pub fn describe_window(label: &str, window: &Window, now: Timestamp, tz: &TimeZone) -> String {
    let used = percent(window.used_percent);
    match window.resets_at {
        Some(at) if at <= now => {
            format!(
                "{label}: reset at {} ({used} used before)",
                clock(at, now, tz)
            )
        }
        Some(at) => format!(
            "{label}: {used} used, resets {} (in {})",
            clock(at, now, tz),
            plain_duration(at.as_second() - now.as_second())
        ),
        None => format!("{label}: {used} used"),
    }
}

/// `ready · 2 in flight · 5h 34% · week 12%`: the daemon, its activity and the
/// subscription's own windows (a window past its reset shows `reset`).
pub fn status_summary(in_flight: usize, limits: Option<&Limits>, now: Timestamp) -> String {
    let mut parts = vec!["ready".to_owned()];
    parts.push(match in_flight {
        0 => "idle".to_owned(),
        n => format!("{n} in flight"),
    });
    if let Some(family) = limits.and_then(Limits::codex) {
        for (slot, window) in family.windows() {
            let state = if window.has_reset(now) {
                "reset".to_owned()
            } else {
                percent(window.used_percent)
            };
            parts.push(format!("{} {state}", window.short_name(slot)));
        }
    }
    parts.join(" · ")
}

/// `45 s`, `11 min`, `2 h 11 min`, `3 d 4 h`: rounded down, two units at most.
pub fn plain_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let (days, hours, minutes) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

impl LimitEvent {
    /// One sentence for the journal: `the 5-hour window is 91% used, resets
    /// 14:05 (in 2 h 11 min)` or `the weekly limit is reached (100% used), …`.
    pub fn describe(&self, now: Timestamp, tz: &TimeZone) -> String {
        let family = (self.family != DEFAULT_FAMILY).then_some(self.family.as_str());
        let name = match family {
            Some(id) => format!("{id} {}", self.window.name(self.slot)),
            None => self.window.name(self.slot),
        };
        let used = percent(self.window.used_percent);
        let state = match self.level {
            Level::Nearing => format!("the {name} window is {used} used"),
            Level::Reached => format!("the {name} limit is reached ({used} used)"),
        };
        match self.window.resets_at {
            Some(at) if at > now => format!(
                "{state}, resets {} (in {})",
                clock(at, now, tz),
                plain_duration(at.as_second() - now.as_second())
            ),
            Some(_) | None => state,
        }
    }
}

/// The name a family is shown under, `None` for the subscription's own.
fn family_label(family: &LimitFamily) -> Option<&str> {
    (family.id != DEFAULT_FAMILY).then(|| family.name.as_deref().unwrap_or(&family.id))
}

fn window_label(family: Option<&str>, slot: Slot, window: &Window) -> String {
    match family {
        Some(family) => format!("{family} {} window", window.name(slot)),
        None => format!("{} window", window.name(slot)),
    }
}

fn describe_credits(credits: &Credits) -> String {
    match credits {
        Credits {
            unlimited: true, ..
        } => "credits: unlimited".to_owned(),
        Credits {
            has_credits: false, ..
        } => "credits: none".to_owned(),
        Credits {
            balance: Some(balance),
            ..
        } => format!("credits: {balance}"),
        Credits { balance: None, .. } => "credits: available".to_owned(),
    }
}

/// `34%`, `12.5%`: whole numbers without decimals, others with one.
fn percent(value: f64) -> String {
    if (value - value.round()).abs() < 0.05 {
        format!("{:.0}%", value.round())
    } else {
        format!("{value:.1}%")
    }
}

/// `14:05` within a day of `now`, `Thu 16 Oct 09:00` further away.
pub fn clock(at: Timestamp, now: Timestamp, tz: &TimeZone) -> String {
    let zoned = at.to_zoned_datetime(tz.clone());
    if (at.as_second() - now.as_second()).abs() < CLOCK_ONLY_WITHIN_SECS {
        zoned.strftime("%H:%M").to_string()
    } else {
        zoned.strftime("%a %-d %b %H:%M").to_string()
    }
}
