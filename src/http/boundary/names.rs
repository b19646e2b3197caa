//! Parsing and matching the names the boundary compares: `Host` entries,
//! loopback names and origins.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A name from `allowed_hosts`; without a port it matches every port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HostEntry {
    pub(super) name: String,
    pub(super) port: Option<u16>,
}

/// Splits `name[:port]` or `[v6][:port]`; the name lowercased, an IPv6
/// address in its canonical form. `None` for anything else.
pub(super) fn host_entry(text: &str) -> Option<HostEntry> {
    let (name, after) = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        let address: Ipv6Addr = inside.parse().ok()?;
        (format!("[{address}]"), after)
    } else {
        let name = text.split(':').next().unwrap_or_default();
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
        if name.is_empty() || !name.chars().all(plain) {
            return None;
        }
        (name.to_ascii_lowercase(), &text[name.len()..])
    };
    let port = match after {
        "" => None,
        rest => {
            let digits = rest.strip_prefix(':')?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(digits.parse().ok()?)
        }
    };
    Some(HostEntry { name, port })
}

/// `localhost`, 127.0.0.0/8, or `[::1]` (also as an IPv4-mapped loopback).
pub(super) fn is_loopback(name: &str) -> bool {
    if name == "localhost" {
        return true;
    }
    if let Ok(v4) = name.parse::<Ipv4Addr>() {
        return v4.is_loopback();
    }
    name.strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .and_then(|n| n.parse::<Ipv6Addr>().ok())
        .is_some_and(|v6| {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        })
}

/// Origins compare case-insensitively, with or without a trailing slash.
pub(super) fn normal_origin(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    match lower.strip_suffix('/') {
        Some(bare) => bare.to_owned(),
        None => lower,
    }
}

/// `scheme://host[:port]` and nothing more (no path, query or user).
pub(super) fn is_origin(normal: &str) -> bool {
    let Some((scheme, rest)) = normal.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && scheme
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'));
    scheme_ok
        && !rest.is_empty()
        && !rest
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '/' | '?' | '#' | '@'))
}
