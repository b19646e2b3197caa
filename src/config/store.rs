//! The store's settings as configuration values (`store`, `store_dir`,
//! `store_max_bytes`, `store_ttl`), and where the store lives by default.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The directory name under the state directory.
pub const APP_DIR: &str = "codex-responses-proxy";

/// The database file inside the store's directory.
pub const DB_FILE: &str = "responses.sqlite3";

/// The journal beside it: short answers on their way into the database.
pub const JOURNAL_FILE: &str = "responses.journal";

/// Stored JSON kept at most, by default. Turns are stored as deltas (each
/// response holds only its own new input and output), so this holds a great
/// many conversations; the file can be somewhat larger (indexes, free pages).
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// How long an unused response is kept, by default: the public API keeps
/// stored responses for 30 days.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// Where stored responses are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreMode {
    /// A SQLite file under the state directory; survives restarts.
    #[default]
    Disk,
    /// In memory, gone when the daemon exits (or idles out).
    Memory,
    /// Nothing is stored; `previous_response_id` and retrieval answer an error.
    Off,
}

/// Everything the store needs to open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreOptions {
    /// `disk`, `memory` or `off`.
    pub mode: StoreMode,
    /// The directory of the database; `None` is [`default_dir`].
    pub dir: Option<PathBuf>,
    /// Stored JSON bytes kept at most; the least recently used go first.
    pub max_bytes: u64,
    /// A response unused (neither written nor chained from) for this long is dropped.
    #[serde(with = "super::duration")]
    pub ttl: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            mode: StoreMode::Disk,
            dir: None,
            max_bytes: DEFAULT_MAX_BYTES,
            ttl: DEFAULT_TTL,
        }
    }
}

/// The default directory, from the process environment: see [`default_dir_from`].
pub fn default_dir() -> Option<PathBuf> {
    default_dir_from(|key| std::env::var_os(key))
}

/// `$STATE_DIRECTORY` (systemd's `StateDirectory=`, already the app's own
/// directory), else `$XDG_STATE_HOME/codex-responses-proxy`, else
/// `~/.local/state/codex-responses-proxy`. Empty values count as unset, and
/// of several `StateDirectory=` entries the first is ours.
pub fn default_dir_from(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let set = |key: &str| env(key).filter(|v| !v.is_empty());
    if let Some(dirs) = set("STATE_DIRECTORY") {
        let first = dirs.to_string_lossy().split(':').next().map(PathBuf::from);
        if let Some(first) = first.filter(|p| p.is_absolute()) {
            return Some(first);
        }
    }
    if let Some(state) = set("XDG_STATE_HOME").map(PathBuf::from)
        && state.is_absolute()
    {
        return Some(state.join(APP_DIR));
    }
    set("HOME").map(|home| PathBuf::from(home).join(".local/state").join(APP_DIR))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_default_directory_follows_systemd_then_xdg_then_home() {
        type Vars = &'static [(&'static str, &'static str)];
        let cases: &[(Vars, Option<&str>)] = &[
            (
                &[("STATE_DIRECTORY", "/var/lib/a:/var/lib/b"), ("HOME", "/h")],
                Some("/var/lib/a"),
            ),
            (
                &[("XDG_STATE_HOME", "/x"), ("HOME", "/h")],
                Some("/x/codex-responses-proxy"),
            ),
            (
                &[("XDG_STATE_HOME", ""), ("HOME", "/h")],
                Some("/h/.local/state/codex-responses-proxy"),
            ),
            (
                &[("XDG_STATE_HOME", "relative"), ("HOME", "/h")],
                Some("/h/.local/state/codex-responses-proxy"),
            ),
            (&[], None),
        ];
        for (vars, want) in cases {
            assert_eq!(
                default_dir_from(env(vars)),
                want.map(PathBuf::from),
                "{vars:?}"
            );
        }
    }

    #[test]
    fn options_read_from_toml_with_humantime_ttl_and_defaults_for_the_rest() {
        let read: StoreOptions = toml::from_str("mode = \"memory\"\nttl = \"12h\"").unwrap();
        assert_eq!(
            read,
            StoreOptions {
                mode: StoreMode::Memory,
                ttl: Duration::from_secs(12 * 3600),
                ..StoreOptions::default()
            }
        );
        let seconds: StoreOptions = toml::from_str("ttl = 60").unwrap();
        assert_eq!(seconds.ttl, Duration::from_secs(60));
        assert!(toml::from_str::<StoreOptions>("mode = \"cloud\"").is_err());
        let round = toml::to_string(&StoreOptions::default()).unwrap();
        assert_eq!(
            toml::from_str::<StoreOptions>(&round).unwrap(),
            StoreOptions::default()
        );
    }
}
