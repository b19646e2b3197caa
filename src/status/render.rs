//! A status report in plain words, one fact a line, and whether it shows a
//! problem the `status` subcommand should exit non-zero for.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{Activation, InFlight, Login, StatusReport};
use crate::accounting::ClientUsage;
use crate::limits::{self, plain_duration};

/// What the report means for whoever runs `status` from a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Requests should work.
    Fine,
    /// No usable login, or one the token endpoint refused for good.
    LoginBroken,
    /// A usage limit is reached: requests are refused until it resets.
    LimitReached,
}

/// The report as lines, and its verdict. Times are shown in `tz`.
pub fn render(report: &StatusReport, now: Timestamp, tz: &TimeZone) -> (Vec<String>, Verdict) {
    let how = match report.activation {
        Activation::Socket => "socket-activated",
        Activation::Own => "own listener",
    };
    let mut lines = vec![
        format!(
            "codex-responses-proxy {}, listening on {} ({how}), up {}",
            report.version,
            report.listeners.join(", "),
            plain_duration(i64::try_from(report.uptime_seconds).unwrap_or(i64::MAX))
        ),
        in_flight(report.in_flight),
    ];
    lines.extend(login(&report.login, now, tz));
    match &report.limits {
        Some(seen) => lines.extend(limits::describe(seen, now, tz)),
        None => lines.push("limits: none seen yet (no answer from the backend so far)".into()),
    }
    if let Some(cooldown) = &report.cooldown {
        lines.push(format!(
            "limit reached: this login's requests are answered locally with 429 until {} \
             (in {}), {} so far: {}",
            limits::clock(cooldown.resets_at, now, tz),
            plain_duration(cooldown.resets_at.as_second() - now.as_second()),
            cooldown.refusals,
            cooldown.message
        ));
    }
    if let Some(error) = &report.usage_endpoint.error {
        lines.push(format!("usage endpoint: {error}"));
    }
    lines.push(match report.models_cache_age_seconds {
        Some(age) => format!(
            "model list: fetched {} ago",
            plain_duration(i64::try_from(age).unwrap_or(i64::MAX))
        ),
        None => "model list: not fetched yet".into(),
    });
    if let Some(chosen) = &report.client_version {
        lines.push(format!(
            "client version: {} ({})",
            chosen.version, chosen.source
        ));
    }
    lines.extend(report.usage_last_hour.iter().map(spent));
    let sockets = &report.conversation_sockets;
    if !sockets.is_empty() {
        let in_turn = sockets.iter().filter(|s| s.in_turn).count();
        let turns: u64 = sockets.iter().map(|s| s.turns).sum();
        lines.push(format!(
            "incremental turns: {} conversation socket(s) open, {in_turn} in a turn, {turns} turn(s) answered on them",
            sockets.len()
        ));
    }
    (lines, verdict(report, now))
}

fn verdict(report: &StatusReport, now: Timestamp) -> Verdict {
    let refused_for_good = report
        .login
        .last_refresh_error
        .as_ref()
        .is_some_and(|e| e.permanent);
    if !report.login.usable || refused_for_good {
        return Verdict::LoginBroken;
    }
    let reached = report.limits.as_ref().is_some_and(|l| l.is_reached(now));
    if report.cooldown.is_some() || reached {
        return Verdict::LimitReached;
    }
    Verdict::Fine
}

/// One client family's last hour: `last hour, codex_cli: 3 turns, 200 tokens
/// in (50% from the cache), 6 out`.
fn spent(c: &ClientUsage) -> String {
    let cached = match c.cache_hit_ratio {
        Some(ratio) => format!(" ({:.0}% from the cache)", ratio * 100.0),
        None => String::new(),
    };
    format!(
        "last hour, {}: {} turn(s), {} tokens in{cached}, {} out",
        c.client.as_str(),
        c.turns,
        c.usage.input,
        c.usage.output
    )
}

fn in_flight(n: InFlight) -> String {
    match (n.requests, n.streams) {
        (0, _) => "in flight: nothing".into(),
        (r, 0) => format!("in flight: {r} request(s)"),
        (r, s) => format!("in flight: {r} request(s), {s} of them streamed"),
    }
}

fn login(login: &Login, now: Timestamp, tz: &TimeZone) -> Vec<String> {
    if !login.usable {
        let why = login.error.as_deref().unwrap_or("unknown reason");
        return vec![format!("login: not usable: {why}")];
    }
    let who = login
        .email
        .as_deref()
        .or(login.account_id.as_deref())
        .unwrap_or("unknown account");
    let mut first = format!("login: {who}");
    if let (Some(_), Some(account)) = (&login.email, &login.account_id) {
        first.push_str(&format!(", account {account}"));
    }
    if let Some(plan) = &login.plan {
        first.push_str(&format!(", plan {plan}"));
    }
    let mut lines = vec![first];
    lines.push(match login.token_expires_at {
        Some(at) if at > now => format!(
            "access token valid until {} (in {})",
            limits::clock(at, now, tz),
            plain_duration(at.as_second() - now.as_second())
        ),
        Some(at) => format!(
            "access token expired at {}: refreshed on the next request",
            limits::clock(at, now, tz)
        ),
        None => "access token: no expiry given; refreshed when the backend refuses it".into(),
    });
    if let Some(at) = login.last_refresh {
        lines.push(format!(
            "last refresh: {} ({} ago)",
            limits::clock(at, now, tz),
            plain_duration(now.as_second() - at.as_second())
        ));
    }
    if let Some(e) = &login.last_refresh_error {
        lines.push(format!(
            "last refresh failed at {}: {}",
            limits::clock(e.at, now, tz),
            e.message
        ));
    }
    lines
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
