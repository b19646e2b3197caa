//! The parsed values the configuration holds (listen addresses, URLs,
//! durations) and how they are read from and written as text.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why an address or URL in the configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("unix socket path must be absolute, got {0:?}")]
    RelativeSocket(String),
    #[error("bad port in {0:?}")]
    BadPort(String),
    #[error("expected HOST:PORT or unix:/PATH, got {0:?}")]
    NotAnAddress(String),
    #[error("expected an http(s) URL, got {0:?}")]
    NotHttpUrl(String),
}

/// An absolute `http` or `https` URL with a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(reqwest::Url);

impl HttpUrl {
    pub(super) fn from_static(url: &'static str) -> Self {
        // Only for the built-in defaults, which are valid; a test checks them.
        HttpUrl(reqwest::Url::parse(url).unwrap_or_else(|_| unreachable!("default URL {url}")))
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl std::str::FromStr for HttpUrl {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        reqwest::Url::parse(s)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .map(HttpUrl)
            .ok_or_else(|| ValueError::NotHttpUrl(s.to_owned()))
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// Where the daemon listens when systemd passes no socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl ListenAddr {
    /// Parses `HOST:PORT` (an IP address or `localhost`) or `unix:/PATH`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        if let Some(path) = s.strip_prefix("unix:") {
            let path = Path::new(path);
            if !path.is_absolute() {
                return Err(ValueError::RelativeSocket(s.to_owned()));
            }
            return Ok(ListenAddr::Unix(path.to_path_buf()));
        }
        if let Some(port) = s.strip_prefix("localhost:") {
            let port: u16 = port
                .parse()
                .map_err(|_| ValueError::BadPort(s.to_owned()))?;
            return Ok(ListenAddr::Tcp(SocketAddr::from(([127, 0, 0, 1], port))));
        }
        s.parse::<SocketAddr>()
            .map(ListenAddr::Tcp)
            .map_err(|_| ValueError::NotAnAddress(s.to_owned()))
    }

    /// Only this machine can reach it.
    pub fn is_local(&self) -> bool {
        match self {
            ListenAddr::Tcp(addr) => addr.ip().is_loopback(),
            ListenAddr::Unix(_) => true,
        }
    }
}

impl std::str::FromStr for ListenAddr {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, ValueError> {
        ListenAddr::parse(s)
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Values kept parsed and written as text: addresses and URLs.
pub(super) mod text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.trim().parse().map_err(serde::de::Error::custom)
    }
}

/// Durations as humantime strings ("30s", "15m"); a bare number is seconds.
pub(crate) mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        if d.is_zero() {
            return s.serialize_str("0s");
        }
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Seconds(n) => Ok(Duration::from_secs(n)),
            Raw::Text(t) => humantime::parse_duration(t.trim()).map_err(|e| {
                serde::de::Error::custom(format!(
                    "{e} (expected a duration such as \"30s\" or \"15m\")"
                ))
            }),
        }
    }
}

/// Lists of strings: a TOML array, or from the environment either figment's
/// array syntax (`[a, "b"]`) or one string of comma-separated entries.
pub(super) mod list {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Text(String),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::List(list) => list,
            Raw::Text(text) => text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// `model_aliases`: a TOML table, or from the environment either figment's
/// dict syntax (`{gpt-5="gpt-5.5"}`) or one string of comma-separated
/// `ALIAS=MODEL` pairs, as the repeatable `--model-alias` flag gives them.
pub(super) mod aliases {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, String>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Table(BTreeMap<String, String>),
            Text(String),
        }
        let map = match Raw::deserialize(d)? {
            Raw::Table(map) => map,
            Raw::Text(text) => parse(&text).map_err(serde::de::Error::custom)?,
        };
        match map
            .iter()
            .find(|(k, v)| k.trim().is_empty() || v.trim().is_empty())
        {
            Some((k, v)) => Err(serde::de::Error::custom(format!(
                "an alias and its model must both be non-empty, got {k:?} = {v:?}"
            ))),
            None => Ok(map),
        }
    }

    /// A pair that is not `ALIAS=MODEL`.
    #[derive(Debug, thiserror::Error)]
    #[error("expected ALIAS=MODEL, got {0:?}")]
    pub struct NotAPair(pub String);

    /// `a=b, c=d` as a map.
    pub fn parse(text: &str) -> Result<BTreeMap<String, String>, NotAPair> {
        text.split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((alias, model)) => Ok((alias.trim().to_owned(), model.trim().to_owned())),
                None => Err(NotAPair(pair.to_owned())),
            })
            .collect()
    }
}
