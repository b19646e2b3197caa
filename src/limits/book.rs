//! The latest limits of each login, the two events a dashboard should see once
//! per window (nearly used up, reached), and the local cooldown after a
//! reached limit.
//!
//! # Cooldown
//! Once the backend refuses a login with `usage_limit_reached` and a reset
//! time ([`LimitsBook::reached`]), [`LimitsBook::check`] answers for that login
//! with a [`Cooldown`] (a 429 to give locally, `Retry-After` falling with the
//! clock) instead of letting the request reach the backend, until:
//! - the reset time passes (the cooldown is dropped at the first check after);
//! - the login changes: the book is keyed by account id, so another login has
//!   no cooldown, and the old one's stays with the old login;
//! - a successful answer for the login arrives ([`LimitsBook::lifted`]), as
//!   after a plan upgrade or bought credits;
//! - the probe interval ([`CooldownPolicy::probe_every`]) has passed since the
//!   cooldown began or since the last probe: then exactly one request goes
//!   through to ask the backend. If it is refused again, [`LimitsBook::reached`]
//!   extends the same cooldown (no new "first refusal"); if it succeeds, the
//!   caller calls [`LimitsBook::lifted`].
//!
//! A refusal without a reset time starts no cooldown: not knowing when to ask
//! again, the proxy keeps asking the backend.
//!
//! The book is one mutex over a small map: each update or check holds it for
//! a lookup and a few field writes, never across I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::render::plain_duration;
use super::{Limits, Slot, UsageLimitReached, Window};

/// Probing every five minutes finds a limit lifted early (credits bought, a
/// plan upgraded) within minutes, while costing the backend one refused
/// request per five minutes instead of one per client retry.
pub const DEFAULT_PROBE_EVERY: Duration = Duration::from_secs(300);

/// A window this full is reported once as nearly used up.
const NEARING_PERCENT: f64 = 90.0;
/// A window this full is reported once as reached.
const REACHED_PERCENT: f64 = 100.0;
/// Below this a reported window counts as a new one (a reset the proxy did
/// not see, or an early reset by the backend). Under [`NEARING_PERCENT`] so
/// that small jitter around 90 % does not report twice.
const REARM_BELOW_PERCENT: f64 = 85.0;

/// How the book answers for a login whose limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooldownPolicy {
    /// Off: every request goes to the backend, refused or not.
    pub enabled: bool,
    /// Let one request through this often during a cooldown; `None`: never.
    pub probe_every: Option<Duration>,
}

impl Default for CooldownPolicy {
    fn default() -> Self {
        CooldownPolicy {
            enabled: true,
            probe_every: Some(DEFAULT_PROBE_EVERY),
        }
    }
}

/// Answer this request locally with a 429.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cooldown {
    /// For `Retry-After`: whole seconds to the reset, at least 1.
    pub retry_after_secs: u64,
    pub resets_at: Timestamp,
    /// The backend's message with the time left, for the error body.
    pub message: String,
    pub plan: Option<String>,
    /// The first refusal of this cooldown: the one to log.
    pub first_refusal: bool,
}

/// A cooldown as status and metrics show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CooldownView {
    pub since: Timestamp,
    pub resets_at: Timestamp,
    /// Requests answered locally so far.
    pub refusals: u64,
    pub message: String,
}

/// What the book knows about one login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginView {
    pub account: String,
    pub limits: Option<Limits>,
    pub cooldown: Option<CooldownView>,
}

/// How full a window got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// At or above 90 %.
    Nearing,
    /// At or above 100 %.
    Reached,
}

impl Level {
    /// `nearing` or `reached`, as the journal's `LIMIT_LEVEL` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Nearing => "nearing",
            Level::Reached => "reached",
        }
    }
}

/// A window crossed a level: worth one `WARNING` record in the journal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitEvent {
    pub level: Level,
    pub account: String,
    /// The family id (`codex`, …).
    pub family: String,
    pub slot: Slot,
    pub window: Window,
}

/// Every login's latest limits and cooldown. Cheap to clone (one `Arc`).
#[derive(Debug, Clone, Default)]
pub struct LimitsBook {
    logins: Arc<Mutex<HashMap<String, Login>>>,
    policy: CooldownPolicy,
}

#[derive(Debug, Default)]
struct Login {
    limits: Option<Limits>,
    reached: Option<Reached>,
    /// Per window, the level already reported and the reset it was for.
    reported: HashMap<(String, Slot), Reported>,
}

#[derive(Debug, Clone)]
struct Reached {
    since: Timestamp,
    resets_at: Timestamp,
    message: String,
    plan: Option<String>,
    /// When a request last went to the backend: the start, or the last probe.
    last_through: Timestamp,
    refusals: u64,
}

#[derive(Debug, Clone, Copy)]
struct Reported {
    level: Level,
    resets_at: Option<Timestamp>,
}

impl LimitsBook {
    pub fn new(policy: CooldownPolicy) -> Self {
        LimitsBook {
            logins: Arc::default(),
            policy,
        }
    }

    pub fn policy(&self) -> CooldownPolicy {
        self.policy
    }

    /// Keeps what `update` says about `account` (merged into what was known,
    /// see [`Limits::merge`]) and returns the levels it crosses for the first
    /// time in their window. An empty update changes nothing.
    pub fn observe(&self, account: &str, update: Limits) -> Vec<LimitEvent> {
        if update.is_empty() {
            return Vec::new();
        }
        let mut logins = self.lock();
        let login = logins.entry(account.to_owned()).or_default();
        let events = login.crossings(account, &update);
        match &mut login.limits {
            Some(limits) => limits.merge(update),
            None => login.limits = Some(update),
        }
        events
    }

    /// The backend refused `account` with a usage limit. Returns true when this
    /// starts a cooldown, false when it extends the current one or starts none
    /// (no reset time, a reset already past, or cooldowns off).
    pub fn reached(&self, account: &str, refusal: &UsageLimitReached, now: Timestamp) -> bool {
        let Some(resets_at) = refusal.resets_at.filter(|at| *at > now) else {
            return false;
        };
        if !self.policy.enabled {
            return false;
        }
        let message = refusal
            .message
            .clone()
            .unwrap_or_else(|| "the ChatGPT usage limit was reached".to_owned());
        let mut logins = self.lock();
        let login = logins.entry(account.to_owned()).or_default();
        if let Some(current) = login.reached.as_mut().filter(|r| r.resets_at > now) {
            current.resets_at = resets_at;
            current.message = message;
            current.plan = refusal.plan.clone().or(current.plan.take());
            current.last_through = now;
            return false;
        }
        login.reached = Some(Reached {
            since: now,
            resets_at,
            message,
            plan: refusal.plan.clone(),
            last_through: now,
            refusals: 0,
        });
        true
    }

    /// Whether to answer a request for `account` locally; see the module
    /// documentation for when it stops. Lets a probe through as a side effect.
    pub fn check(&self, account: &str, now: Timestamp) -> Option<Cooldown> {
        if !self.policy.enabled {
            return None;
        }
        let mut logins = self.lock();
        let login = logins.get_mut(account)?;
        let reached = login.reached.as_mut()?;
        if reached.resets_at <= now {
            login.reached = None;
            return None;
        }
        let probe_due = self
            .policy
            .probe_every
            .and_then(|every| SignedDuration::try_from(every).ok())
            .is_some_and(|every| now.duration_since(reached.last_through) >= every);
        if probe_due {
            reached.last_through = now;
            return None;
        }
        reached.refusals += 1;
        let left = (reached.resets_at.as_second() - now.as_second()).max(1);
        Some(Cooldown {
            retry_after_secs: left.unsigned_abs(),
            resets_at: reached.resets_at,
            message: format!("{} (resets in {})", reached.message, plain_duration(left)),
            plan: reached.plan.clone(),
            first_refusal: reached.refusals == 1,
        })
    }

    /// A request for `account` succeeded: whatever limit there was has lifted.
    pub fn lifted(&self, account: &str) {
        if let Some(login) = self.lock().get_mut(account) {
            login.reached = None;
        }
    }

    /// What is known about `account`, without side effects.
    pub fn login(&self, account: &str, now: Timestamp) -> Option<LoginView> {
        self.lock()
            .get(account)
            .map(|login| login.view(account, now))
    }

    /// The used share of `account`'s own windows (primary, secondary) at
    /// `now`, `None` where unknown; read without copying the snapshot, for
    /// the summary record every request writes.
    pub fn codex_used_percent(&self, account: &str, now: Timestamp) -> [Option<f64>; 2] {
        let logins = self.lock();
        let family = logins
            .get(account)
            .and_then(|login| login.limits.as_ref())
            .and_then(Limits::codex);
        [Slot::Primary, Slot::Secondary].map(|slot| {
            family
                .and_then(|f| f.window(slot))
                .map(|w| w.used_percent_at(now))
        })
    }

    /// Every login seen, by account id, without side effects.
    pub fn logins(&self, now: Timestamp) -> Vec<LoginView> {
        let mut views: Vec<LoginView> = self
            .lock()
            .iter()
            .map(|(account, login)| login.view(account, now))
            .collect();
        views.sort_by(|a, b| a.account.cmp(&b.account));
        views
    }

    /// A panic elsewhere while holding the lock leaves plain data behind that
    /// is still consistent field by field: keep serving it.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Login>> {
        self.logins.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Login {
    fn view(&self, account: &str, now: Timestamp) -> LoginView {
        LoginView {
            account: account.to_owned(),
            limits: self.limits.clone(),
            cooldown: self
                .reached
                .as_ref()
                .filter(|r| r.resets_at > now)
                .map(|r| CooldownView {
                    since: r.since,
                    resets_at: r.resets_at,
                    refusals: r.refusals,
                    message: r.message.clone(),
                }),
        }
    }

    /// The levels `update`'s windows reach that were not yet reported in
    /// their window; records them as reported.
    fn crossings(&mut self, account: &str, update: &Limits) -> Vec<LimitEvent> {
        let now = update.seen_at;
        let mut events = Vec::new();
        for family in &update.families {
            for (slot, window) in family.windows() {
                let key = (family.id.clone(), slot);
                if let Some(done) = self.reported.get(&key)
                    && (window.used_percent < REARM_BELOW_PERCENT
                        || done.resets_at.is_some_and(|at| at <= now))
                {
                    self.reported.remove(&key);
                }
                let Some(level) = level_of(window.used_percent) else {
                    continue;
                };
                if self
                    .reported
                    .get(&key)
                    .is_some_and(|done| done.level >= level)
                {
                    continue;
                }
                self.reported.insert(
                    key,
                    Reported {
                        level,
                        resets_at: window.resets_at,
                    },
                );
                events.push(LimitEvent {
                    level,
                    account: account.to_owned(),
                    family: family.id.clone(),
                    slot,
                    window: *window,
                });
            }
        }
        events
    }
}

fn level_of(used_percent: f64) -> Option<Level> {
    if used_percent >= REACHED_PERCENT {
        Some(Level::Reached)
    } else if used_percent >= NEARING_PERCENT {
        Some(Level::Nearing)
    } else {
        None
    }
}
