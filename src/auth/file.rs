//! `auth.json`: reading the Codex CLI's login, and writing it back atomically
//! with every key the proxy does not know kept as it was.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::jwt;

/// The login file's name inside `codex_home`.
pub const AUTH_FILE: &str = "auth.json";

/// What identifies one version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl Stamp {
    pub fn of(meta: &fs::Metadata) -> Self {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

/// The tokens of a ChatGPT login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: String,
    pub account_id: Option<String>,
}

/// A parsed login file: the tokens, and the whole document for writing back.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthFile {
    pub doc: Map<String, Value>,
    pub tokens: Tokens,
    pub id_claims: jwt::Claims,
    /// `exp` of the access token, when it is a JWT that has one.
    pub access_exp: Option<i64>,
    pub last_refresh: Option<SystemTime>,
}

/// Why there is no usable login; each message names the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error(
        "no Codex login found at {path}: run `codex login` (with CODEX_HOME set to {home} if you \
         use another folder); the proxy picks the file up without a restart"
    )]
    Missing { path: PathBuf, home: PathBuf },
    #[error(
        "the Codex CLI keeps its login in the system keyring (cli_auth_credentials_store = \
         \"keyring\" in {config}), so there is no {path} to read: set \
         cli_auth_credentials_store = \"file\" there and run `codex login` again"
    )]
    Keyring { path: PathBuf, config: PathBuf },
    #[error("cannot read {path}: {reason}; check its owner and mode, or run `codex login` again")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{path} is not a valid Codex login ({reason}): run `codex login` to write it again")]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "{path} holds an API-key login; this proxy needs a ChatGPT login: run `codex login` and \
         sign in with ChatGPT"
    )]
    ApiKeyMode { path: PathBuf },
}

/// Reads and parses the file at `path`, returning it with the stamp it had.
pub fn load(path: &Path) -> Result<(AuthFile, Stamp), LoadError> {
    let unreadable = |e: io::Error| LoadError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing(path)),
        Err(e) => return Err(unreadable(e)),
    };
    let stamp = Stamp::of(&file.metadata().map_err(unreadable)?);
    let mut bytes = Vec::new();
    io::Read::read_to_end(&mut file, &mut bytes).map_err(unreadable)?;
    let parsed = parse(&bytes).map_err(|reason| match reason {
        ParseError::ApiKey => LoadError::ApiKeyMode {
            path: path.to_path_buf(),
        },
        ParseError::Invalid(reason) => LoadError::Malformed {
            path: path.to_path_buf(),
            reason,
        },
    })?;
    Ok((parsed, stamp))
}

fn missing(path: &Path) -> LoadError {
    let home = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let config = home.join("config.toml");
    let keyring = fs::read_to_string(&config)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| {
            t.get("cli_auth_credentials_store")?
                .as_str()
                .map(str::to_owned)
        })
        .is_some_and(|store| store == "keyring");
    if keyring {
        LoadError::Keyring {
            path: path.to_path_buf(),
            config,
        }
    } else {
        LoadError::Missing {
            path: path.to_path_buf(),
            home,
        }
    }
}

/// Why bytes are not a ChatGPT login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    ApiKey,
    Invalid(String),
}

/// Parses the file's bytes.
pub fn parse(bytes: &[u8]) -> Result<AuthFile, ParseError> {
    let invalid = |s: &str| ParseError::Invalid(s.to_owned());
    let doc: Map<String, Value> = match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(invalid("not a JSON object")),
        Err(e) => return Err(ParseError::Invalid(format!("not JSON: {e}"))),
    };
    let has_api_key = doc.get("OPENAI_API_KEY").is_some_and(|v| !v.is_null());
    match doc.get("auth_mode").map(|m| m.as_str()) {
        None if has_api_key => return Err(ParseError::ApiKey),
        Some(Some("apikey")) => return Err(ParseError::ApiKey),
        None | Some(Some("chatgpt" | "chatgptAuthTokens")) => {}
        Some(Some(other)) => {
            return Err(ParseError::Invalid(format!(
                "login mode {other:?} is not a ChatGPT login"
            )));
        }
        Some(None) => return Err(invalid("auth_mode is not a string")),
    }
    let tokens = doc
        .get("tokens")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("no tokens"))?;
    let text = |key: &str| -> Result<String, ParseError> {
        match tokens.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            _ => Err(ParseError::Invalid(format!("tokens.{key} is missing"))),
        }
    };
    let id_token = text("id_token")?;
    let access_token = text("access_token")?;
    let refresh_token = text("refresh_token")?;
    let id_claims = jwt::decode(&id_token)
        .map_err(|e| ParseError::Invalid(format!("tokens.id_token is {e}")))?;
    let account_id = match tokens.get("account_id") {
        Some(Value::String(s)) => Some(s.clone()),
        None | Some(Value::Null) => id_claims.openai.chatgpt_account_id.clone(),
        Some(_) => return Err(invalid("tokens.account_id is not a string")),
    };
    let access_exp = jwt::decode(&access_token).ok().and_then(|c| c.exp);
    let last_refresh = doc
        .get("last_refresh")
        .and_then(Value::as_str)
        .and_then(|s| humantime::parse_rfc3339(s).ok());
    Ok(AuthFile {
        tokens: Tokens {
            id_token,
            access_token,
            refresh_token,
            account_id,
        },
        doc,
        id_claims,
        access_exp,
        last_refresh,
    })
}

/// Tokens from a refresh; only those present replace the old ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTokens {
    pub id_token: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
}

impl AuthFile {
    /// The document with `new` tokens and `last_refresh` set to `now`; every other
    /// key, `account_id` included, stays as it was.
    pub fn refreshed(&self, new: &NewTokens, now: SystemTime) -> Map<String, Value> {
        let mut doc = self.doc.clone();
        if let Some(Value::Object(tokens)) = doc.get_mut("tokens") {
            for (key, value) in [
                ("id_token", &new.id_token),
                ("access_token", &new.access_token),
                ("refresh_token", &new.refresh_token),
            ] {
                if let Some(v) = value {
                    tokens.insert(key.into(), Value::String(v.clone()));
                }
            }
        }
        doc.insert(
            "last_refresh".into(),
            Value::String(humantime::format_rfc3339_micros(now).to_string()),
        );
        doc
    }
}

/// Replaces the file at `path` with `doc`: a temporary file in the same
/// folder, mode 0600, flushed to disk, then renamed over the old one. On any
/// failure the old file is left as it was. Returns the new file's stamp.
pub fn write_atomic(path: &Path, doc: &Map<String, Value>) -> io::Result<Stamp> {
    // A symlinked auth.json is updated where it points, not replaced by a file.
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_path(&path);
    let result = (|| {
        let mut bytes = serde_json::to_vec_pretty(doc).map_err(io::Error::other)?;
        bytes.push(b'\n');
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The mode passed to open is filtered by the umask; make sure.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        let stamp = Stamp::of(&file.metadata()?);
        fs::rename(&tmp, &path)?;
        Ok(stamp)
    })();
    match result {
        Ok(stamp) => {
            // The rename is durable once the folder is.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(stamp)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The temporary file beside `path` for this process's write-back. Writes are
/// serialized by the refresh lock, so one name per process is enough.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| AUTH_FILE.into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn login(extra: Value) -> Value {
        let mut doc = json!({
            "OPENAI_API_KEY": null,
            "tokens": {
                "id_token": jwt::fake(&json!({"https://api.openai.com/auth": {"chatgpt_account_id": "from-claim"}})),
                "access_token": jwt::fake(&json!({"exp": 2_000_000_000})),
                "refresh_token": "rt-1",
                "account_id": "acc-1"
            },
            "last_refresh": "2026-04-22T10:00:00.123456Z"
        });
        if let (Value::Object(d), Value::Object(e)) = (&mut doc, extra) {
            d.extend(e);
        }
        doc
    }

    #[test]
    fn parses_a_chatgpt_login() {
        let f = parse(login(json!({})).to_string().as_bytes()).unwrap();
        assert_eq!(f.tokens.refresh_token, "rt-1");
        assert_eq!(f.tokens.account_id.as_deref(), Some("acc-1"));
        assert_eq!(f.access_exp, Some(2_000_000_000));
        assert_eq!(
            f.last_refresh,
            Some(humantime::parse_rfc3339("2026-04-22T10:00:00.123456Z").unwrap())
        );
    }

    #[test]
    fn account_id_falls_back_to_the_id_token_claim() {
        let mut doc = login(json!({}));
        doc["tokens"]["account_id"] = Value::Null;
        let f = parse(doc.to_string().as_bytes()).unwrap();
        assert_eq!(f.tokens.account_id.as_deref(), Some("from-claim"));
    }

    #[test]
    fn api_key_logins_and_broken_files_are_refused() {
        assert_eq!(
            parse(br#"{"OPENAI_API_KEY":"sk-x"}"#),
            Err(ParseError::ApiKey)
        );
        assert_eq!(
            parse(login(json!({"auth_mode":"apikey"})).to_string().as_bytes()),
            Err(ParseError::ApiKey)
        );
        assert!(matches!(parse(b"{"), Err(ParseError::Invalid(_))));
        assert!(matches!(parse(b"[]"), Err(ParseError::Invalid(_))));
        let mut doc = login(json!({}));
        doc["tokens"]["id_token"] = json!("not-a-jwt");
        assert!(
            matches!(parse(doc.to_string().as_bytes()), Err(ParseError::Invalid(m)) if m.contains("id_token"))
        );
    }

    #[test]
    fn refreshed_replaces_only_the_given_tokens_and_keeps_unknown_keys() {
        let f = parse(
            login(json!({"agent_identity": {"x": 1}}))
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let now = humantime::parse_rfc3339("2026-11-23T12:00:00Z").unwrap();
        let doc = f.refreshed(
            &NewTokens {
                access_token: Some("new-at".into()),
                refresh_token: Some("rt-2".into()),
                id_token: None,
            },
            now,
        );
        let mut want = login(json!({"agent_identity": {"x": 1}}));
        want["tokens"]["access_token"] = json!("new-at");
        want["tokens"]["refresh_token"] = json!("rt-2");
        want["last_refresh"] = json!("2026-11-23T12:00:00.000000Z");
        assert_eq!(Value::Object(doc), want);
    }

    #[test]
    fn write_atomic_leaves_a_0600_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUTH_FILE);
        fs::write(&path, "{}").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let doc = login(json!({}));
        write_atomic(&path, doc.as_object().unwrap()).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let back: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(back, doc);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUTH_FILE);
        fs::write(&path, "old").unwrap();
        // Something already occupies the temporary name: the write cannot start.
        fs::create_dir(temp_path(&path)).unwrap();
        assert!(write_atomic(&path, login(json!({})).as_object().unwrap()).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "old");
    }

    #[test]
    fn a_missing_file_names_the_keyring_when_codex_uses_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(AUTH_FILE);
        assert!(matches!(load(&path), Err(LoadError::Missing { .. })));
        fs::write(
            dir.path().join("config.toml"),
            "cli_auth_credentials_store = \"keyring\"\n",
        )
        .unwrap();
        let err = load(&path).unwrap_err();
        assert!(matches!(err, LoadError::Keyring { .. }));
        assert!(err.to_string().contains("keyring"));
    }
}
