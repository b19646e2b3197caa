//! Where a login stands against its usage windows. The backend says it in three
//! shapes (answer headers, the in-stream `codex.rate_limits` event, the usage
//! endpoint); they all become one [`Limits`] snapshot, the latest per login is
//! kept in a [`LimitsBook`], and a reached limit turns into a local cooldown so
//! the proxy stops asking a backend that will refuse.
//!
//! Everything here is pure: values in, values out. The clock and the time zone
//! are parameters, so every decision can be replayed in a test.
//!
//! - `parse`: headers, event and usage answer → [`Limits`]; a usage-limit
//!   refusal → [`UsageLimitReached`].
//! - `book`: the per-login [`LimitsBook`]: merge, threshold events, cooldown.
//! - `render`: plain words for people and the short `STATUS=` summary.

mod book;
mod parse;
mod render;

pub use self::book::{
    Cooldown, CooldownPolicy, CooldownView, DEFAULT_PROBE_EVERY, Level, LimitEvent, LimitsBook,
    LoginView,
};
pub use self::parse::{UsageBodyError, UsageLimitReached};
pub use self::render::{clock, describe, describe_window, plain_duration, status_summary};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The limit family every ChatGPT login has; its headers are `x-codex-*`.
pub const DEFAULT_FAMILY: &str = "codex";

/// What the backend last said about one login's allowance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// When the answer carrying this was seen.
    pub seen_at: Timestamp,
    /// Which shape it came in.
    pub source: Source,
    /// The subscription plan (`plus`, `pro`, …) when the backend named it.
    pub plan: Option<String>,
    /// One entry per limit family, [`DEFAULT_FAMILY`] first, then by id.
    pub families: Vec<LimitFamily>,
    pub credits: Option<Credits>,
    /// `x-codex-promo-message`: a sentence for people, shown as is.
    pub promo_message: Option<String>,
    /// `x-codex-rate-limit-reached-type`: set on the answer that hit a limit.
    pub reached_type: Option<String>,
}

/// The shape a snapshot came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Headers,
    Event,
    UsageEndpoint,
}

/// One metered limit (`codex`, or a per-model one such as `codex_bengalfox`)
/// with its short (primary) and long (secondary) windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitFamily {
    /// Lower case, `_` between words, as the backend's `metered_limit_name`.
    pub id: String,
    /// The display name the backend gave (`x-<id>-limit-name`, `limit_name`).
    pub name: Option<String>,
    pub primary: Option<Window>,
    pub secondary: Option<Window>,
    /// The usage endpoint's `limit_reached`; headers and events do not say.
    pub limit_reached: Option<bool>,
}

/// Which of a family's two windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Primary,
    Secondary,
}

/// One usage window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Percent of the window used; may exceed 100 on an overdrawn window.
    pub used_percent: f64,
    pub window_minutes: Option<u32>,
    /// When the window resets, absolute (relative forms are anchored when seen).
    pub resets_at: Option<Timestamp>,
}

/// Credits beside the subscription's windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credits {
    pub has_credits: bool,
    pub unlimited: bool,
    /// As the backend writes it (`"12.00"`): a display value, not arithmetic.
    pub balance: Option<String>,
}

impl Limits {
    /// A snapshot that says nothing yet.
    pub fn empty(seen_at: Timestamp, source: Source) -> Self {
        Limits {
            seen_at,
            source,
            plan: None,
            families: Vec::new(),
            credits: None,
            promo_message: None,
            reached_type: None,
        }
    }

    /// Nothing worth keeping: an answer without any limit header.
    pub fn is_empty(&self) -> bool {
        self.plan.is_none()
            && self.families.is_empty()
            && self.credits.is_none()
            && self.promo_message.is_none()
            && self.reached_type.is_none()
    }

    pub fn family(&self, id: &str) -> Option<&LimitFamily> {
        self.families.iter().find(|f| f.id == id)
    }

    /// The subscription's own windows, the ones people mean by "my limits".
    pub fn codex(&self) -> Option<&LimitFamily> {
        self.family(DEFAULT_FAMILY)
    }

    /// Takes what `newer` says and keeps what it does not: a window, a family,
    /// the plan or the credits missing from one answer stay as last seen.
    /// `reached_type` describes one answer, so it is always replaced.
    pub fn merge(&mut self, newer: Limits) {
        self.seen_at = newer.seen_at;
        self.source = newer.source;
        self.plan = newer.plan.or(self.plan.take());
        self.credits = newer.credits.or(self.credits.take());
        self.promo_message = newer.promo_message.or(self.promo_message.take());
        self.reached_type = newer.reached_type;
        for family in newer.families {
            match self.families.iter_mut().find(|f| f.id == family.id) {
                Some(old) => old.merge(family),
                None => self.families.push(family),
            }
        }
        sort_families(&mut self.families);
    }

    /// A limit is known to be reached and its window has not reset yet.
    pub fn is_reached(&self, now: Timestamp) -> bool {
        self.reached_type.is_some()
            || self.families.iter().any(|f| {
                f.limit_reached == Some(true)
                    || f.windows()
                        .any(|(_, w)| w.used_percent >= 100.0 && !w.has_reset(now))
            })
    }
}

impl LimitFamily {
    pub fn window(&self, slot: Slot) -> Option<&Window> {
        match slot {
            Slot::Primary => self.primary.as_ref(),
            Slot::Secondary => self.secondary.as_ref(),
        }
    }

    /// The windows it has, primary first.
    pub fn windows(&self) -> impl Iterator<Item = (Slot, &Window)> {
        [Slot::Primary, Slot::Secondary]
            .into_iter()
            .filter_map(|slot| self.window(slot).map(|w| (slot, w)))
    }

    fn merge(&mut self, newer: LimitFamily) {
        self.name = newer.name.or(self.name.take());
        self.primary = newer.primary.or(self.primary);
        self.secondary = newer.secondary.or(self.secondary);
        self.limit_reached = newer.limit_reached.or(self.limit_reached);
    }
}

impl Window {
    /// Whole seconds until the reset, 0 once it has passed; `None` when unknown.
    pub fn seconds_to_reset(&self, now: Timestamp) -> Option<i64> {
        self.resets_at
            .map(|at| (at.as_second() - now.as_second()).max(0))
    }

    /// The reset time is known and has passed: what was seen is history.
    pub fn has_reset(&self, now: Timestamp) -> bool {
        self.resets_at.is_some_and(|at| at <= now)
    }

    /// The share used as far as is known at `now`: a window whose reset has
    /// passed counts as empty until an answer says otherwise.
    pub fn used_percent_at(&self, now: Timestamp) -> f64 {
        if self.has_reset(now) {
            0.0
        } else {
            self.used_percent
        }
    }

    /// `5-hour`, `weekly`, …; the slot's name when the length is unknown.
    pub fn name(&self, slot: Slot) -> String {
        match self.window_minutes {
            Some(minutes) => window_name(minutes),
            None => slot.as_str().to_owned(),
        }
    }

    /// `5h`, `week`, …, for the one-line `STATUS=`.
    pub fn short_name(&self, slot: Slot) -> String {
        match self.window_minutes {
            Some(minutes) => window_short_name(minutes),
            None => slot.as_str().to_owned(),
        }
    }
}

impl Slot {
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Primary => "primary",
            Slot::Secondary => "secondary",
        }
    }
}

const MINUTES_PER_HOUR: u32 = 60;
const MINUTES_PER_DAY: u32 = 24 * MINUTES_PER_HOUR;
const MINUTES_PER_WEEK: u32 = 7 * MINUTES_PER_DAY;

/// A window's name from its length: 300 → `5-hour`, 10080 → `weekly`, else
/// `N-day` beyond a day, `N-hour` in whole hours, `N-minute`.
pub fn window_name(minutes: u32) -> String {
    match minutes {
        MINUTES_PER_WEEK => "weekly".to_owned(),
        m if m > MINUTES_PER_DAY && m % MINUTES_PER_DAY == 0 => {
            format!("{}-day", m / MINUTES_PER_DAY)
        }
        m if m > 0 && m % MINUTES_PER_HOUR == 0 => format!("{}-hour", m / MINUTES_PER_HOUR),
        m => format!("{m}-minute"),
    }
}

/// The short form of [`window_name`]: `5h`, `week`, `30d`, `90m`.
pub fn window_short_name(minutes: u32) -> String {
    match minutes {
        MINUTES_PER_WEEK => "week".to_owned(),
        m if m > MINUTES_PER_DAY && m % MINUTES_PER_DAY == 0 => {
            format!("{}d", m / MINUTES_PER_DAY)
        }
        m if m > 0 && m % MINUTES_PER_HOUR == 0 => format!("{}h", m / MINUTES_PER_HOUR),
        m => format!("{m}m"),
    }
}

/// [`DEFAULT_FAMILY`] first, the others by id, so output is stable.
fn sort_families(families: &mut [LimitFamily]) {
    families.sort_by(|a, b| (a.id != DEFAULT_FAMILY, &a.id).cmp(&(b.id != DEFAULT_FAMILY, &b.id)));
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod parse_tests;

#[cfg(test)]
#[path = "book_tests.rs"]
mod book_tests;

#[cfg(test)]
#[path = "render_tests.rs"]
mod render_tests;
