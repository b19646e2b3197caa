//! `STATUS=`: the line `systemctl status` shows, kept current. It carries
//! the daemon's activity and the login's own usage windows
//! (`ready · 2 in flight · 5h 34% · week 12%`), a reached limit's cooldown
//! and a broken login. It is recomputed when a request starts or ends or an
//! answer changes the limits (no timer while nothing happens), and sent only
//! when it changed, at most once a second.

use std::time::Duration;

use jiff::Timestamp;
use sd_notify::NotifyState;
use tokio::time::Instant;

use crate::Daemon;
use crate::auth::NO_ACCOUNT;
use crate::limits;

/// systemd keeps only the last `STATUS=`; sending it more often than this
/// would only cost wakeups on a busy daemon.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The line last sent, and when.
#[derive(Debug)]
pub(super) struct StatusLine {
    daemon: Daemon,
    last: String,
    sent_at: Option<Instant>,
    /// A change was noticed and is not sent yet.
    pending: bool,
}

impl StatusLine {
    pub(super) fn new(daemon: Daemon) -> Self {
        StatusLine {
            daemon,
            last: String::new(),
            sent_at: None,
            pending: false,
        }
    }

    /// The line as things stand.
    pub(super) fn current(&self) -> String {
        let now = Timestamp::now();
        let login = self.daemon.auth().summary();
        let account = match &login {
            Ok(s) => s.account_id.as_deref().unwrap_or(NO_ACCOUNT),
            Err(_) => NO_ACCOUNT,
        };
        let watch = self.daemon.limits();
        let view = watch.book().login(account, now);
        let in_flight = self.daemon.state().activity().in_flight();
        let mut line = limits::status_summary(
            in_flight,
            view.as_ref().and_then(|v| v.limits.as_ref()),
            now,
        );
        if let Some(cooldown) = view.and_then(|v| v.cooldown) {
            line.push_str(&format!(
                " · limit reached, resets {}",
                limits::clock(cooldown.resets_at, now, watch.time_zone())
            ));
        }
        if login.is_err() {
            line.push_str(" · no usable login");
        }
        line
    }

    /// Resolves once the line may have changed and a second has passed
    /// since the last one was sent. Cancel-safe: a change noticed before
    /// a cancellation is remembered.
    pub(super) async fn due(&mut self) {
        if !self.pending {
            self.daemon.limits().changed().notified().await;
            self.pending = true;
        }
        if let Some(at) = self.sent_at {
            tokio::time::sleep_until(at + MIN_INTERVAL).await;
        }
    }

    /// Sends `line` with `first` (READY=1 at start), or the current line if
    /// it changed.
    pub(super) fn send(&mut self, first: &[NotifyState<'_>]) {
        self.pending = false;
        let line = self.current();
        if line == self.last && first.is_empty() {
            return;
        }
        let mut states = first.to_vec();
        states.push(NotifyState::Status(&line));
        super::notify(&states);
        self.sent_at = Some(Instant::now());
        self.last = line;
    }
}
