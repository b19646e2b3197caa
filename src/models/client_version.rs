//! Which Codex CLI release the proxy presents itself as to the backend
//! (`version` header, `User-Agent`, the model list's `client_version`).
//!
//! The backend lists a model only to a client at least as new as the
//! model's `minimal_client_version`, and refuses it to older ones
//! (PROTOCOL.md §6); the CLI ships every week or two, the proxy far less
//! often. So unless the user pins a version, the proxy follows the newest
//! it knows of: its built-in default, the release the CLI on this machine
//! recorded in `$CODEX_HOME/version.json`, and the newest release a Codex
//! CLI client has sent through this daemon. The choice is pure
//! ([`choose`]); [`ClientVersion`] keeps what was seen and re-reads the file
//! at most once per [`FILE_TTL`].

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The file the Codex CLI records the newest release it has seen in.
pub const VERSION_FILE: &str = "version.json";

/// `version.json` changes when the CLI checks for updates (daily at most):
/// reading it once a minute costs nothing and follows it closely enough.
pub const FILE_TTL: Duration = Duration::from_secs(60);

/// A release number, `major.minor.patch` with an optional pre-release
/// (`0.172.0-alpha.3`), ordered as semver orders them (build metadata is
/// ignored; pre-releases compare as text, enough for the CLI's own tags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    numbers: [u64; 3],
    pre: Option<String>,
    text: String,
}

impl Release {
    /// Parses `x.y.z[-pre][+build]`; anything else is `None`.
    pub fn parse(text: &str) -> Option<Release> {
        let text = text.trim();
        let core = text.split('+').next()?;
        let (numbers, pre) = match core.split_once('-') {
            Some((numbers, pre)) if !pre.is_empty() => (numbers, Some(pre.to_owned())),
            Some(_) => return None,
            None => (core, None),
        };
        let mut parts = numbers.split('.');
        let mut next = || -> Option<u64> {
            let part = parts.next()?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            part.parse().ok()
        };
        let numbers = [next()?, next()?, next()?];
        if parts.next().is_some() {
            return None;
        }
        Some(Release {
            numbers,
            pre,
            text: text.to_owned(),
        })
    }

    /// The release as it was written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Ord for Release {
    fn cmp(&self, other: &Self) -> Ordering {
        self.numbers
            .cmp(&other.numbers)
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl PartialOrd for Release {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Where the version in use came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "client")]
pub enum Source {
    /// `client_version` is set: pinned, nothing else is looked at.
    Configured,
    /// The proxy's own default.
    BuiltIn,
    /// `$CODEX_HOME/version.json`'s `latest_version`.
    VersionJson,
    /// A Codex CLI client sent it through this daemon (its `originator`).
    Seen(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Configured => f.write_str("configured"),
            Source::BuiltIn => f.write_str("built-in"),
            Source::VersionJson => f.write_str("version.json"),
            Source::Seen(originator) => write!(f, "seen from {originator}"),
        }
    }
}

/// The version presented to the backend and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chosen {
    pub version: String,
    pub source: Source,
}

/// The newest of the built-in default, the file's and the one seen from a
/// CLI client; on a tie the earlier of those wins (the plainer source).
pub fn choose(
    builtin: &Release,
    file: Option<&Release>,
    seen: Option<&(Release, String)>,
) -> Chosen {
    let mut best = (builtin, Source::BuiltIn);
    if let Some(file) = file.filter(|f| *f > best.0) {
        best = (file, Source::VersionJson);
    }
    if let Some((release, originator)) = seen.filter(|(r, _)| r > best.0) {
        best = (release, Source::Seen(originator.clone()));
    }
    Chosen {
        version: best.0.as_str().to_owned(),
        source: best.1,
    }
}

/// Why `version.json` told nothing.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not JSON with a `latest_version`: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

/// `latest_version` of a `version.json` document.
pub fn read_file(path: &Path) -> Result<Option<Release>, FileError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FileError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let malformed = |reason: String| FileError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let doc: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| malformed(e.to_string()))?;
    let latest = doc
        .get("latest_version")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| malformed("no `latest_version` string".to_owned()))?;
    Release::parse(latest)
        .map(Some)
        .ok_or_else(|| malformed(format!("`{latest}` is not a release number")))
}

/// The version in use for a running daemon: cheap to clone, shared by every
/// call to the backend.
#[derive(Debug, Clone)]
pub struct ClientVersion {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    configured: Option<String>,
    builtin: Release,
    file: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    read_at: Option<Instant>,
    from_file: Option<Release>,
    seen: Option<(Release, String)>,
}

impl ClientVersion {
    /// `configured` pins the version; else the newest of `builtin`, the
    /// file in `codex_home` and what CLI clients send.
    pub fn new(configured: Option<&str>, builtin: &str, codex_home: &Path) -> Self {
        let builtin = Release::parse(builtin).unwrap_or(Release {
            numbers: [0, 0, 0],
            pre: None,
            text: builtin.to_owned(),
        });
        ClientVersion {
            inner: Arc::new(Inner {
                configured: configured.map(str::to_owned),
                builtin,
                file: codex_home.join(VERSION_FILE),
                state: Mutex::default(),
            }),
        }
    }

    /// The version to present now, re-reading `version.json` when it was
    /// last read more than [`FILE_TTL`] ago.
    pub fn current(&self) -> Chosen {
        let inner = &self.inner;
        if let Some(version) = &inner.configured {
            return Chosen {
                version: version.clone(),
                source: Source::Configured,
            };
        }
        let mut state = inner.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.read_at.is_none_or(|at| at.elapsed() >= FILE_TTL) {
            state.read_at = Some(Instant::now());
            state.from_file = read_file(&inner.file).unwrap_or_else(|e| {
                tracing::debug!(error = %e, "version.json ignored");
                None
            });
        }
        choose(
            &inner.builtin,
            state.from_file.as_ref(),
            state.seen.as_ref(),
        )
    }

    /// The model list's query for the version in use.
    pub fn query(&self) -> [(&'static str, String); 1] {
        [("client_version", self.current().version)]
    }

    /// A Codex CLI client (`originator`) sent `release` through the daemon.
    pub fn saw(&self, originator: &str, release: &str) {
        if self.inner.configured.is_some() {
            return;
        }
        let Some(release) = Release::parse(release) else {
            return;
        };
        let mut state = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.seen.as_ref().is_none_or(|(r, _)| release > *r) {
            state.seen = Some((release, originator.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(text: &str) -> Release {
        Release::parse(text).unwrap()
    }

    #[test]
    fn releases_are_ordered_as_semver_orders_them() {
        assert!(release("0.171.0") > release("0.169.0"));
        assert!(release("0.100.0") > release("0.99.9"));
        assert!(release("1.0.0") > release("0.999.0"));
        assert!(release("0.172.0-alpha.1") < release("0.172.0"));
        assert!(release("0.172.0-alpha.1") > release("0.171.0"));
        assert_eq!(
            release("0.171.0+build.5").cmp(&release("0.171.0")),
            Ordering::Equal
        );
        for bad in [
            "",
            "0.171",
            "0.171.0.1",
            "v0.171.0",
            "0.171.x",
            "0.171.0-",
            "latest",
        ] {
            assert_eq!(Release::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_newest_of_builtin_file_and_seen_is_chosen_with_its_source() {
        let builtin = release("0.171.0");
        let chosen = |file: Option<&str>, seen: Option<&str>| {
            let file = file.map(release);
            let seen = seen.map(|s| (release(s), "codex_exec".to_owned()));
            let c = choose(&builtin, file.as_ref(), seen.as_ref());
            (c.version, c.source.to_string())
        };
        let pair = |v: &str, s: &str| (v.to_owned(), s.to_owned());
        assert_eq!(chosen(None, None), pair("0.171.0", "built-in"));
        assert_eq!(chosen(Some("0.170.0"), None), pair("0.171.0", "built-in"));
        assert_eq!(chosen(Some("0.171.0"), None), pair("0.171.0", "built-in"));
        assert_eq!(
            chosen(Some("0.172.0"), None),
            pair("0.172.0", "version.json")
        );
        assert_eq!(
            chosen(Some("0.172.0"), Some("0.173.1")),
            pair("0.173.1", "seen from codex_exec")
        );
        assert_eq!(
            chosen(Some("0.174.0"), Some("0.173.1")),
            pair("0.174.0", "version.json")
        );
        assert_eq!(chosen(None, Some("0.160.0")), pair("0.171.0", "built-in"));
    }

    #[test]
    fn version_json_gives_its_latest_version_and_a_malformed_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VERSION_FILE);
        assert!(read_file(&path).unwrap().is_none());
        let doc = r#"{"latest_version": "0.172.0", "last_checked_at": "2026-12-01T00:00:00Z", "dismissed_version": null}"#;
        std::fs::write(&path, doc).unwrap();
        assert_eq!(read_file(&path).unwrap(), Some(release("0.172.0")));
        for bad in [
            "{",
            r#"{"latest_version": 172}"#,
            r#"{"latest_version": "soon"}"#,
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(
                matches!(read_file(&path), Err(FileError::Malformed { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_daemon_follows_the_file_and_cli_clients_unless_the_version_is_configured() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(VERSION_FILE),
            r#"{"latest_version":"0.172.0"}"#,
        )
        .unwrap();
        let following = ClientVersion::new(None, "0.171.0", dir.path());
        assert_eq!(following.current().source, Source::VersionJson);
        following.saw("codex_exec", "0.173.0");
        following.saw("codex_cli_rs", "0.172.5");
        following.saw("codex_exec", "not-a-release");
        assert_eq!(
            following.current(),
            Chosen {
                version: "0.173.0".into(),
                source: Source::Seen("codex_exec".into())
            }
        );
        let pinned = ClientVersion::new(Some("0.150.0"), "0.171.0", dir.path());
        pinned.saw("codex_exec", "0.180.0");
        assert_eq!(
            pinned.current(),
            Chosen {
                version: "0.150.0".into(),
                source: Source::Configured
            }
        );
        // A malformed file is passed over for the built-in default.
        std::fs::write(dir.path().join(VERSION_FILE), "{").unwrap();
        let broken = ClientVersion::new(None, "0.171.0", dir.path());
        assert_eq!(broken.current().source, Source::BuiltIn);
    }
}
