//! The per-login gauges, built afresh for each scrape from the book's view so
//! that a reset time or a cooldown that passed between answers shows as such.

use std::sync::atomic::AtomicU64;

use jiff::Timestamp;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::PREFIX;
use super::labels::{AccountLabels, WindowLabels};
use crate::limits::LoginView;

type FloatGauge = Gauge<f64, AtomicU64>;

/// A registry built for one scrape from the book's view of every login.
pub(super) fn login_registry(logins: &[LoginView], now: Timestamp) -> Registry {
    let gauges = LoginGauges::default();
    for login in logins {
        gauges.fill(login, now);
    }
    gauges.register()
}

#[derive(Default)]
struct LoginGauges {
    used: Family<WindowLabels, FloatGauge>,
    reset_after: Family<WindowLabels, Gauge>,
    length: Family<WindowLabels, Gauge>,
    seen: Family<AccountLabels, Gauge>,
    cooling: Family<AccountLabels, Gauge>,
    cooldown_left: Family<AccountLabels, Gauge>,
}

impl LoginGauges {
    /// Every login gets its cooldown gauges (0 when none), and one series per
    /// window it has reported.
    fn fill(&self, login: &LoginView, now: Timestamp) {
        let account = AccountLabels {
            account: login.account.clone(),
        };
        let cooldown = login.cooldown.as_ref();
        self.cooling
            .get_or_create(&account)
            .set(i64::from(cooldown.is_some()));
        self.cooldown_left
            .get_or_create(&account)
            .set(cooldown.map_or(0, |c| (c.resets_at.as_second() - now.as_second()).max(0)));
        let Some(limits) = &login.limits else {
            return;
        };
        self.seen
            .get_or_create(&account)
            .set(limits.seen_at.as_second());
        for family in &limits.families {
            for (slot, window) in family.windows() {
                let labels = WindowLabels {
                    account: login.account.clone(),
                    limit: family.id.clone(),
                    window: slot,
                };
                self.used
                    .get_or_create(&labels)
                    .set(window.used_percent_at(now));
                if let Some(left) = window.seconds_to_reset(now) {
                    self.reset_after.get_or_create(&labels).set(left);
                }
                if let Some(minutes) = window.window_minutes {
                    self.length
                        .get_or_create(&labels)
                        .set(i64::from(minutes) * 60);
                }
            }
        }
    }

    fn register(self) -> Registry {
        let mut registry = Registry::with_prefix(PREFIX);
        let percent = Unit::Other("percent".to_owned());
        let help = "Share of a usage window used (0 once it has reset)";
        registry.register_with_unit("limit_used", help, percent, self.used);
        let help = "Time until a usage window resets";
        registry.register_with_unit("limit_reset_after", help, Unit::Seconds, self.reset_after);
        let help = "Length of a usage window";
        registry.register_with_unit("limit_window", help, Unit::Seconds, self.length);
        let help = "When the backend last reported a login's limits";
        registry.register_with_unit("limits_seen_timestamp", help, Unit::Seconds, self.seen);
        let help = "1 while a reached limit is answered locally with 429";
        registry.register("cooldown_active", help, self.cooling);
        let help = "Time until a login's cooldown ends";
        registry.register_with_unit(
            "cooldown_remaining",
            help,
            Unit::Seconds,
            self.cooldown_left,
        );
        registry
    }
}
