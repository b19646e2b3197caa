//! Where things are by default: `CODEX_HOME`, the configuration file, and
//! `~` in a configured path.

use std::path::{Path, PathBuf};

pub(super) fn default_codex_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CODEX_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    home_dir().unwrap_or_default().join(".codex")
}

pub(super) fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$XDG_CONFIG_HOME/codex-responses-proxy/config.toml`, else under `~/.config`.
pub(super) fn default_config_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".config")))?;
    Some(base.join("codex-responses-proxy").join("config.toml"))
}

pub(super) fn expand_tilde(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), home_dir()) {
        (Ok(rest), Some(home)) => home.join(rest),
        _ => path.to_path_buf(),
    }
}
