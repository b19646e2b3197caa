//! `allowed_hosts` and `allowed_origins`, parsed once into the names the
//! HTTP boundary compares requests with, and the parsing and matching of
//! `Host` names, loopback names and origins it shares with it.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A name from `allowed_hosts`; without a port it matches every port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub name: String,
    pub port: Option<u16>,
}

/// Splits `name[:port]` or `[v6][:port]`; the name lowercased, an IPv6
/// address in its canonical form. `None` for anything else.
pub fn host_entry(text: &str) -> Option<HostEntry> {
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
pub fn is_loopback(name: &str) -> bool {
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
pub fn normal_origin(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    match lower.strip_suffix('/') {
        Some(bare) => bare.to_owned(),
        None => lower,
    }
}

/// `scheme://host[:port]` and nothing more (no path, query or user).
pub fn is_origin(normal: &str) -> bool {
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

/// Both settings, parsed: what the boundary lets through.
#[derive(Debug, Clone, Default)]
pub struct Names {
    pub hosts: Hosts,
    /// Lowercase, without a trailing slash.
    pub origins: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Hosts {
    /// `*`: the check is off.
    Any,
    /// Loopback names, plus these.
    Listed(Vec<HostEntry>),
}

impl Default for Hosts {
    fn default() -> Self {
        Hosts::Listed(Vec::new())
    }
}

/// An `allowed_hosts` or `allowed_origins` entry that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("{0:?} is not a host name, an IP address (IPv6 in brackets) or NAME:PORT")]
    Host(String),
    #[error("{0:?} is not an origin: write scheme://host[:port], e.g. http://localhost:3000")]
    Origin(String),
    #[error(
        "{0:?} cannot be allowed: list the exact origins (scheme://host[:port]) of the pages \
         you trust; a wildcard would let every web page spend the subscription"
    )]
    OriginWildcard(String),
}

impl EntryError {
    /// The configuration key the entry belongs to.
    pub fn key(&self) -> &'static str {
        match self {
            EntryError::Host(_) => "allowed_hosts",
            EntryError::Origin(_) | EntryError::OriginWildcard(_) => "allowed_origins",
        }
    }
}

/// Parses every entry of both settings; the first that cannot be used is
/// the error, naming its key.
pub fn parse(allowed_hosts: &[String], allowed_origins: &[String]) -> Result<Names, EntryError> {
    let mut listed = Vec::new();
    let mut any = false;
    for host in allowed_hosts.iter().map(|h| h.trim()) {
        if host == "*" {
            any = true;
            continue;
        }
        listed.push(host_entry(host).ok_or_else(|| EntryError::Host(host.to_owned()))?);
    }
    let mut origins = Vec::new();
    for origin in allowed_origins.iter().map(|o| o.trim()) {
        if origin == "*" || origin.eq_ignore_ascii_case("null") {
            return Err(EntryError::OriginWildcard(origin.to_owned()));
        }
        let normal = normal_origin(origin);
        if !is_origin(&normal) {
            return Err(EntryError::Origin(origin.to_owned()));
        }
        origins.push(normal);
    }
    let hosts = if any {
        Hosts::Any
    } else {
        Hosts::Listed(listed)
    };
    Ok(Names { hosts, origins })
}
