//! `auth.json`: reading the Codex CLI's login, and writing it back atomically
//! with every key the proxy does not know kept as it was.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Map, Value};

use super::jwt;
pub use super::writeback::Pause;

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
    /// `iat` of the access token, when it is a JWT that has one.
    pub access_iat: Option<i64>,
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
    let access_claims = jwt::decode(&access_token).ok();
    let access_exp = access_claims.as_ref().and_then(|c| c.exp);
    let access_iat = access_claims.as_ref().and_then(|c| c.iat);
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
        access_iat,
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

/// The bytes of `doc` as Codex writes them: pretty-printed, one final newline.
pub fn encode(doc: &Map<String, Value>) -> Vec<u8> {
    // A map with string keys and JSON values always serializes; an empty
    // result would only fail the parse that follows every encode.
    let mut bytes = serde_json::to_vec_pretty(doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Replaces the file at `path` with `doc`: [`stage`], then [`Staged::commit`].
/// On any failure the old file is left as it was. Returns the new file's stamp.
pub fn write_atomic(path: &Path, doc: &Map<String, Value>) -> io::Result<Stamp> {
    stage(path, &encode(doc))?.commit(&Pause::default())
}

/// A new version of the login under its temporary name, not yet in place.
/// While it exists its writer holds an exclusive lock on it, which tells
/// recovery in any process that the writer is alive.
#[derive(Debug)]
pub struct Staged {
    target: PathBuf,
    tmp: PathBuf,
    file: File,
}

/// Writes `bytes` to a temporary file beside `path` (beside its target when
/// `path` is a symlink), mode 0600, locked, and flushed to disk.
pub fn stage(path: &Path, bytes: &[u8]) -> io::Result<Staged> {
    let staged = reserve(path)?;
    staged.write(bytes)?;
    staged.sync()?;
    Ok(staged)
}

/// Creates the temporary file, empty, mode 0600, locked: everything a
/// write-back needs before it has anything to write.
pub fn reserve(path: &Path) -> io::Result<Staged> {
    // A symlinked auth.json is updated where it points, not replaced by a file.
    let target = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let tmp = temp_path(&target);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    // From here on the temporary is removed on failure, by `Drop`.
    let staged = Staged { target, tmp, file };
    // Only a recovery looking at this very moment could hold it; it lets go at once.
    staged.file.lock()?;
    // The mode passed to open is filtered by the umask; make sure.
    staged
        .file
        .set_permissions(fs::Permissions::from_mode(0o600))?;
    Ok(staged)
}

impl Staged {
    /// The temporary file.
    pub fn temp(&self) -> &Path {
        &self.tmp
    }

    /// Writes the new login. Once this returns, the bytes outlive a crash of
    /// the process (though not yet a power cut), and recovery finds them.
    pub fn write(&self, bytes: &[u8]) -> io::Result<()> {
        (&self.file).write_all(bytes)
    }

    /// Flushes the written login to the disk.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    /// Renames the temporary over the target and makes the rename durable.
    /// The lock on the temporary is held until the rename is done.
    pub fn commit(self, pause: &Pause) -> io::Result<Stamp> {
        pause.before_rename(&self.tmp);
        let stamp = Stamp::of(&self.file.metadata()?);
        fs::rename(&self.tmp, &self.target)?;
        let dir = self.target.parent().unwrap_or(Path::new(".")).to_path_buf();
        // Dropping releases the lock; the name is gone, so nothing is removed.
        drop(self);
        // Without this a power cut could bring the old file back. Some file
        // systems cannot sync a folder; the rename has happened either way.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(stamp)
    }
}

impl Drop for Staged {
    /// A write-back that did not reach its rename leaves nothing behind. A
    /// crash runs no destructor: that temporary is recovery's to finish.
    fn drop(&mut self) {
        // Only our own file: after a recovery removed it, the name may be new.
        let ours = self.file.metadata().map(|m| m.ino()).ok();
        if fs::symlink_metadata(&self.tmp).is_ok_and(|m| Some(m.ino()) == ours) {
            let _ = fs::remove_file(&self.tmp);
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

/// The writer's process id when `name` is a write-back temporary, as
/// [`temp_path`] names them, of the file named `target`.
pub fn temp_writer(target: &str, name: &str) -> Option<u32> {
    let pid = name
        .strip_prefix('.')?
        .strip_prefix(target)?
        .strip_prefix('.')?
        .strip_suffix(".tmp")?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
