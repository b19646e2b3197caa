//! The backend's three ways of telling a login's limits (answer headers, the
//! `codex.rate_limits` event, the usage endpoint), and its usage-limit refusal.
//!
//! Each value is read on its own: one that is missing or malformed loses that
//! value, never the rest of the snapshot. Relative reset times are anchored to
//! `now`, the moment the answer was seen.

use std::collections::BTreeMap;

use http::HeaderMap;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::{Credits, DEFAULT_FAMILY, LimitFamily, Limits, Slot, Source, Window, sort_families};

/// The header suffixes that announce a limit family (`x-<id>-primary-used-percent`).
const FAMILY_MARKERS: [&str; 2] = ["-primary-used-percent", "-secondary-used-percent"];

/// An answer of the usage endpoint that is not a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the usage endpoint's answer is not a JSON object")]
pub struct UsageBodyError;

/// The backend's `usage_limit_reached` refusal, read from its error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageLimitReached {
    /// `resets_at`, or `now + resets_in_seconds` in older answers.
    pub resets_at: Option<Timestamp>,
    pub message: Option<String>,
    pub plan: Option<String>,
}

impl Limits {
    /// The limits in one answer's headers: every family `x-<id>-…` that has a
    /// window, the credits, the promo message and the reached type.
    pub fn from_headers(headers: &HeaderMap, now: Timestamp) -> Limits {
        let mut families: Vec<LimitFamily> = family_prefixes(headers)
            .into_iter()
            .filter_map(|(id, prefix)| header_family(headers, id, &prefix, now))
            .collect();
        sort_families(&mut families);
        Limits {
            families,
            credits: header_credits(headers),
            promo_message: header_text(headers, "x-codex-promo-message"),
            reached_type: header_text(headers, "x-codex-rate-limit-reached-type"),
            ..Limits::empty(now, Source::Headers)
        }
    }

    /// The limits in a `codex.rate_limits` event (its JSON data, from an SSE
    /// event or a WebSocket frame); `None` for any other event or bad JSON.
    pub fn from_event(data: &str, now: Timestamp) -> Option<Limits> {
        let event: Value = serde_json::from_str(data).ok()?;
        if event.get("type").and_then(Value::as_str) != Some("codex.rate_limits") {
            return None;
        }
        let rate = event.get("rate_limits");
        let family = LimitFamily {
            id: text(&event, "metered_limit_name")
                .or_else(|| text(&event, "limit_name"))
                .map_or_else(|| DEFAULT_FAMILY.to_owned(), |n| normalize_id(&n)),
            name: text(&event, "metered_limit_name").and(text(&event, "limit_name")),
            primary: rate.and_then(|r| json_window(r.get("primary"), now)),
            secondary: rate.and_then(|r| json_window(r.get("secondary"), now)),
            limit_reached: None,
        };
        let has_window = family.primary.is_some() || family.secondary.is_some();
        Some(Limits {
            plan: text(&event, "plan_type"),
            families: if has_window { vec![family] } else { Vec::new() },
            credits: json_credits(event.get("credits")),
            ..Limits::empty(now, Source::Event)
        })
    }

    /// The usage endpoint's answer (`/wham/usage`): the main `rate_limit`,
    /// each of `additional_rate_limits`, the credits and the plan.
    pub fn from_usage(body: &[u8], now: Timestamp) -> Result<Limits, UsageBodyError> {
        let usage: Value = serde_json::from_slice(body).map_err(|_| UsageBodyError)?;
        if !usage.is_object() {
            return Err(UsageBodyError);
        }
        let main = usage_family(
            usage.get("rate_limit"),
            DEFAULT_FAMILY.to_owned(),
            None,
            now,
        );
        let additional = usage
            .get("additional_rate_limits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|extra| {
                let name = text(extra, "limit_name");
                let id = text(extra, "metered_feature").or_else(|| name.clone())?;
                usage_family(extra.get("rate_limit"), normalize_id(&id), name, now)
            });
        let mut families: Vec<LimitFamily> = main.into_iter().chain(additional).collect();
        sort_families(&mut families);
        families.dedup_by(|a, b| a.id == b.id);
        Ok(Limits {
            plan: text(&usage, "plan_type"),
            families,
            credits: json_credits(usage.get("credits")),
            ..Limits::empty(now, Source::UsageEndpoint)
        })
    }
}

impl UsageLimitReached {
    /// Reads `{"error":{"type":"usage_limit_reached", "resets_at"|"resets_in_seconds", …}}`;
    /// `None` when the body is another error.
    pub fn from_error_body(body: &Value, now: Timestamp) -> Option<UsageLimitReached> {
        let error = body.get("error").filter(|e| e.is_object()).unwrap_or(body);
        let is_usage_limit = ["type", "code"]
            .iter()
            .any(|key| error.get(key).and_then(Value::as_str) == Some("usage_limit_reached"));
        if !is_usage_limit {
            return None;
        }
        Some(UsageLimitReached {
            resets_at: number(error, "resets_at")
                .and_then(epoch)
                .or_else(|| number(error, "resets_in_seconds").and_then(|s| after(now, s))),
            message: text(error, "message"),
            plan: text(error, "plan_type"),
        })
    }
}

/// Each family's normalized id with the header prefix it was seen under.
fn family_prefixes(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut prefixes = BTreeMap::new();
    for name in headers.keys() {
        let name = name.as_str();
        let prefix = FAMILY_MARKERS
            .iter()
            .find_map(|marker| name.strip_suffix(marker));
        if let Some(prefix) = prefix
            && let Some(id) = prefix.strip_prefix("x-").filter(|id| !id.is_empty())
        {
            prefixes
                .entry(normalize_id(id))
                .or_insert_with(|| prefix.to_owned());
        }
    }
    prefixes
}

fn header_family(
    headers: &HeaderMap,
    id: String,
    prefix: &str,
    now: Timestamp,
) -> Option<LimitFamily> {
    let primary = header_window(headers, prefix, Slot::Primary, now);
    let secondary = header_window(headers, prefix, Slot::Secondary, now);
    if primary.is_none() && secondary.is_none() {
        return None;
    }
    Some(LimitFamily {
        id,
        name: header_text(headers, &format!("{prefix}-limit-name")),
        primary,
        secondary,
        limit_reached: None,
    })
}

fn header_window(headers: &HeaderMap, prefix: &str, slot: Slot, now: Timestamp) -> Option<Window> {
    // Every answer carries these: one buffer names them all.
    let mut name = String::with_capacity(prefix.len() + 32);
    let mut number = |field: &str| {
        name.clear();
        name.extend([prefix, "-", slot.as_str(), "-", field]);
        header_str(headers, &name).and_then(parse_number)
    };
    let used_percent = number("used-percent")?;
    let resets_at = number("reset-at")
        .and_then(epoch)
        .or_else(|| number("reset-after-seconds").and_then(|s| after(now, s)));
    reported_window(
        used_percent,
        number("window-minutes").and_then(whole),
        resets_at,
    )
}

fn header_credits(headers: &HeaderMap) -> Option<Credits> {
    let has = header_str(headers, "x-codex-credits-has-credits").and_then(parse_bool);
    let unlimited = header_str(headers, "x-codex-credits-unlimited").and_then(parse_bool);
    credits(
        has,
        unlimited,
        header_text(headers, "x-codex-credits-balance"),
    )
}

/// A header's value, trimmed; `None` when absent, empty or not visible ASCII.
fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then_some(value)
}

/// [`header_str`], owned.
fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    header_str(headers, name).map(str::to_owned)
}

fn usage_family(
    rate: Option<&Value>,
    id: String,
    name: Option<String>,
    now: Timestamp,
) -> Option<LimitFamily> {
    let rate = rate.filter(|r| r.is_object())?;
    let family = LimitFamily {
        id,
        name,
        primary: json_window(rate.get("primary_window"), now),
        secondary: json_window(rate.get("secondary_window"), now),
        limit_reached: rate.get("limit_reached").and_then(Value::as_bool),
    };
    let says_something =
        family.primary.is_some() || family.secondary.is_some() || family.limit_reached.is_some();
    says_something.then_some(family)
}

/// A window object of the event (`window_minutes`, `reset_at`) or of the usage
/// endpoint (`limit_window_seconds`, `reset_after_seconds`).
fn json_window(window: Option<&Value>, now: Timestamp) -> Option<Window> {
    let window = window.filter(|w| w.is_object())?;
    let used_percent = number(window, "used_percent")?;
    let minutes = number(window, "window_minutes")
        .or_else(|| number(window, "limit_window_seconds").map(|s| s / 60.0))
        .and_then(whole);
    let resets_at = ["reset_at", "resets_at"]
        .iter()
        .find_map(|key| number(window, key).and_then(epoch))
        .or_else(|| {
            ["reset_after_seconds", "resets_in_seconds"]
                .iter()
                .find_map(|key| number(window, key).and_then(|s| after(now, s)))
        });
    reported_window(used_percent, minutes, resets_at)
}

fn json_credits(value: Option<&Value>) -> Option<Credits> {
    let value = value.filter(|v| v.is_object())?;
    let flag = |key: &str| {
        value.get(key).and_then(|v| match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) => parse_bool(s),
            _ => None,
        })
    };
    let balance = match value.get("balance") {
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => text(value, "balance"),
    };
    credits(flag("has_credits"), flag("unlimited"), balance)
}

/// Credits need at least one of the two flags; unlimited credits are credits.
fn credits(has: Option<bool>, unlimited: Option<bool>, balance: Option<String>) -> Option<Credits> {
    if has.is_none() && unlimited.is_none() {
        return None;
    }
    let unlimited = unlimited.unwrap_or(false);
    Some(Credits {
        has_credits: has.unwrap_or(unlimited),
        unlimited,
        balance,
    })
}

/// A window, unless it says nothing at all (0 %, no length, no reset): the
/// backend sends such zeros for a family that has no such window.
fn reported_window(
    used_percent: f64,
    window_minutes: Option<u32>,
    resets_at: Option<Timestamp>,
) -> Option<Window> {
    if used_percent < 0.0 {
        return None;
    }
    let says_something =
        used_percent != 0.0 || window_minutes.is_some_and(|m| m != 0) || resets_at.is_some();
    says_something.then_some(Window {
        used_percent,
        window_minutes,
        resets_at,
    })
}

/// A JSON string, trimmed and non-empty.
fn text(value: &Value, key: &str) -> Option<String> {
    let s = value.get(key)?.as_str()?.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// A finite JSON number, or a string holding one.
fn number(value: &Value, key: &str) -> Option<f64> {
    match value.get(key)? {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => parse_number(s),
        _ => None,
    }
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|f| f.is_finite())
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        v if v.eq_ignore_ascii_case("true") || v == "1" => Some(true),
        v if v.eq_ignore_ascii_case("false") || v == "0" => Some(false),
        _ => None,
    }
}

/// A non-negative whole number that fits a `u32`.
fn whole(value: f64) -> Option<u32> {
    let rounded = value.round();
    (rounded >= 0.0 && rounded <= f64::from(u32::MAX)).then_some(rounded as u32)
}

/// Unix seconds → a time; 0 and negatives are not reset times.
fn epoch(seconds: f64) -> Option<Timestamp> {
    if seconds <= 0.0 {
        return None;
    }
    Timestamp::from_second(seconds.round() as i64).ok()
}

/// `now` plus a relative delay in seconds.
fn after(now: Timestamp, seconds: f64) -> Option<Timestamp> {
    if seconds < 0.0 {
        return None;
    }
    now.checked_add(SignedDuration::from_secs(seconds.round() as i64))
        .ok()
}

/// `codex-bengalfox` → `codex_bengalfox`, as the backend names metered limits.
fn normalize_id(id: &str) -> String {
    id.trim().to_ascii_lowercase().replace('-', "_")
}
