//! A note beside `auth.json` that the token endpoint refused its refresh token
//! for good (`refresh_token_reused` and its kind). `doctor` runs in a process
//! of its own and never spends the login, so this note is how it learns that
//! the login in the file is dead. It names the login by what identifies it
//! without a token, and is ignored once the file holds another login.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::file::{AUTH_FILE, AuthFile};

/// The note's path inside `codex_home`.
pub fn path(codex_home: &Path) -> PathBuf {
    codex_home.join(format!("{AUTH_FILE}.refused"))
}

/// Which login was refused, without any of its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginId {
    pub account_id: Option<String>,
    /// `last_refresh` as the file has it.
    pub last_refresh: Option<String>,
    /// The access token's `exp` and `iat`.
    pub access_exp: Option<i64>,
    pub access_iat: Option<i64>,
}

impl LoginId {
    pub fn of(file: &AuthFile) -> Self {
        LoginId {
            account_id: file.tokens.account_id.clone(),
            last_refresh: file
                .doc
                .get("last_refresh")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            access_exp: file.access_exp,
            access_iat: file.access_iat,
        }
    }
}

/// The token endpoint's refusal of a login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub login: LoginId,
    /// The endpoint's words, e.g. `refresh_token_reused: …`.
    pub reason: String,
    /// RFC 3339.
    pub refused_at: String,
}

impl Refusal {
    pub fn new(file: &AuthFile, reason: &str, now: SystemTime) -> Self {
        Refusal {
            login: LoginId::of(file),
            reason: reason.to_owned(),
            refused_at: humantime::format_rfc3339_seconds(now).to_string(),
        }
    }

    /// Whether this refusal is of the login in `file`.
    pub fn is_for(&self, file: &AuthFile) -> bool {
        self.login == LoginId::of(file)
    }
}

/// Writes the note, mode 0600 like the login beside it.
pub fn record(codex_home: &Path, refusal: &Refusal) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(refusal).map_err(io::Error::other)?;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path(codex_home))?;
    file.write_all(&bytes)
}

/// The note, when there is a readable one.
pub fn read(codex_home: &Path) -> Option<Refusal> {
    serde_json::from_slice(&fs::read(path(codex_home)).ok()?).ok()
}

/// Removes the note: the login was refreshed since.
pub fn clear(codex_home: &Path) {
    let _ = fs::remove_file(path(codex_home));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{file, jwt};
    use serde_json::json;

    fn login(last_refresh: &str) -> AuthFile {
        let doc = json!({
            "tokens": {
                "id_token": jwt::fake(&json!({})),
                "access_token": jwt::fake(&json!({"exp": 2_000, "iat": 1_000})),
                "refresh_token": "rt-secret",
                "account_id": "acc"
            },
            "last_refresh": last_refresh
        });
        file::parse(doc.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn a_recorded_refusal_names_its_login_without_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let refused = login("2026-11-01T10:00:00Z");
        let now = humantime::parse_rfc3339("2026-12-01T10:00:00Z").unwrap();
        let refusal = Refusal::new(&refused, "refresh_token_reused: used", now);
        record(dir.path(), &refusal).unwrap();
        assert!(
            !fs::read_to_string(path(dir.path()))
                .unwrap()
                .contains("secret")
        );
        let back = read(dir.path()).unwrap();
        assert_eq!(
            back,
            Refusal {
                login: LoginId {
                    account_id: Some("acc".into()),
                    last_refresh: Some("2026-11-01T10:00:00Z".into()),
                    access_exp: Some(2_000),
                    access_iat: Some(1_000),
                },
                reason: "refresh_token_reused: used".into(),
                refused_at: "2026-12-01T10:00:00Z".into(),
            }
        );
        assert!(back.is_for(&refused));
        assert!(!back.is_for(&login("2026-11-02T10:00:00Z")));
        clear(dir.path());
        assert_eq!(read(dir.path()), None);
    }
}
