//! The login: the token source every request asks for credentials.
//!
//! - The file is parsed again only when its stamp (inode, size, mtime) changes.
//! - One refresh at a time in the process; requests that wait share its result.
//! - Across processes, an advisory lock on `auth.json.lock` and a guarded
//!   reload: under the lock the file is read again, and tokens another writer
//!   put there are adopted instead of spending the refresh token a second time.

pub mod file;
pub mod jwt;
pub mod refresh;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;
use serde_json::{Map, Value};

use self::file::{AuthFile, LoadError, Stamp};
use self::refresh::{RefreshError, Refresher};

/// Refresh this long before the access token expires, so that a request in
/// flight does not meet an expiry on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Without an `exp` claim, the Codex CLI refreshes a login older than this.
const MAX_LOGIN_AGE: Duration = Duration::from_secs(8 * 24 * 3600);

/// Another process holding the refresh lock longer than this is stuck.
const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// What a request needs to call the backend, with its headers prepared once.
#[derive(Debug)]
pub struct Credentials {
    pub access_token: String,
    pub account_id: Option<String>,
    /// `Bearer <access token>`, marked sensitive.
    pub authorization: HeaderValue,
    pub account_header: Option<HeaderValue>,
}

impl Credentials {
    fn new(tokens: &file::Tokens) -> Result<Self, AuthError> {
        let bad = |what: &str| {
            AuthError::Login(LoadError::Malformed {
                path: PathBuf::from(file::AUTH_FILE),
                reason: format!("{what} holds characters not allowed in a header"),
            })
        };
        let mut authorization = HeaderValue::try_from(format!("Bearer {}", tokens.access_token))
            .map_err(|_| bad("tokens.access_token"))?;
        authorization.set_sensitive(true);
        let account_header = match &tokens.account_id {
            Some(id) => {
                Some(HeaderValue::try_from(id.as_str()).map_err(|_| bad("tokens.account_id"))?)
            }
            None => None,
        };
        Ok(Credentials {
            access_token: tokens.access_token.clone(),
            account_id: tokens.account_id.clone(),
            authorization,
            account_header,
        })
    }
}

/// Why a request has no credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Login(#[from] LoadError),
    #[error(transparent)]
    Refresh(#[from] RefreshError),
}

/// A parsed login with credentials ready for requests.
#[derive(Debug)]
struct Login {
    file: AuthFile,
    credentials: Arc<Credentials>,
}

impl Login {
    fn new(file: AuthFile) -> Result<Arc<Self>, AuthError> {
        let credentials = Arc::new(Credentials::new(&file.tokens)?);
        Ok(Arc::new(Login { file, credentials }))
    }

    /// The access token expires within the margin, or an undated login is old.
    fn needs_refresh(&self, now: SystemTime) -> bool {
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        match self.file.access_exp {
            Some(exp) => exp - (EXPIRY_MARGIN.as_secs() as i64) <= now_secs,
            None => self
                .file
                .last_refresh
                .is_none_or(|t| now.duration_since(t).unwrap_or_default() > MAX_LOGIN_AGE),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// The stamp of the file `current` was read from.
    stamp: Option<Stamp>,
    current: Option<Result<Arc<Login>, AuthError>>,
    /// A refresh token the endpoint refused for good; not offered again.
    dead_refresh_token: Option<String>,
    /// Refreshed tokens the disk refused; written again at the next chance.
    unsaved: Option<Map<String, Value>>,
}

/// The token source. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    lock_path: PathBuf,
    refresher: Refresher,
    state: Mutex<State>,
    /// Held for the whole of a refresh: one at a time in this process.
    refresh_gate: tokio::sync::Mutex<()>,
}

/// Summary of the login for logs and sd-notify status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSummary {
    pub account_id: Option<String>,
    pub email: Option<String>,
    pub plan: Option<String>,
    pub access_expires: Option<SystemTime>,
}

impl Auth {
    pub fn new(codex_home: &Path, refresher: Refresher) -> Self {
        let path = codex_home.join(file::AUTH_FILE);
        let lock_path = codex_home.join(format!("{}.lock", file::AUTH_FILE));
        Auth {
            inner: Arc::new(Inner {
                path,
                lock_path,
                refresher,
                state: Mutex::new(State::default()),
                refresh_gate: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// Path of `auth.json`.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Credentials for one request, refreshed first when they are about to expire.
    pub async fn credentials(&self) -> Result<Arc<Credentials>, AuthError> {
        let login = self.current()?;
        if login.needs_refresh(SystemTime::now()) {
            return self.refresh(&login.credentials.access_token).await;
        }
        Ok(login.credentials.clone())
    }

    /// The backend refused `rejected` with a 401: reload the file, and refresh
    /// unless somebody already has.
    pub async fn after_unauthorized(
        &self,
        rejected: &Credentials,
    ) -> Result<Arc<Credentials>, AuthError> {
        self.refresh(&rejected.access_token).await
    }

    /// The login as it stands, without refreshing or calling anything.
    pub fn summary(&self) -> Result<LoginSummary, AuthError> {
        let login = self.current()?;
        Ok(LoginSummary {
            account_id: login.file.tokens.account_id.clone(),
            email: login.file.id_claims.email.clone(),
            plan: login.file.id_claims.openai.chatgpt_plan_type.clone(),
            access_expires: login
                .file
                .access_exp
                .and_then(|e| u64::try_from(e).ok())
                .map(|e| UNIX_EPOCH + Duration::from_secs(e)),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The login, read again only when the file changed.
    fn current(&self) -> Result<Arc<Login>, AuthError> {
        let stamp = std::fs::metadata(&self.inner.path)
            .ok()
            .map(|m| Stamp::of(&m));
        let mut state = self.state();
        if stamp.is_some() && stamp == state.stamp {
            if state.unsaved.is_some() {
                self.retry_unsaved(&mut state);
            }
            if let Some(current) = &state.current {
                return current.clone();
            }
        }
        self.reload(&mut state)
    }

    /// Reads the file whatever its stamp, and makes it current.
    fn reload(&self, state: &mut State) -> Result<Arc<Login>, AuthError> {
        let loaded = file::load(&self.inner.path)
            .map_err(AuthError::from)
            .and_then(|(file, stamp)| Ok((Login::new(file)?, stamp)));
        let result = match loaded {
            Ok((login, stamp)) => {
                if state.stamp != Some(stamp) {
                    // Another writer replaced the file: its tokens win over ours.
                    state.unsaved = None;
                }
                state.stamp = Some(stamp);
                if state.unsaved.is_some() {
                    // The disk still holds the tokens we could not replace.
                    if let Some(Ok(mine)) = &state.current {
                        return Ok(mine.clone());
                    }
                }
                if login.file.tokens.access_token
                    != state
                        .current
                        .as_ref()
                        .and_then(|c| c.as_ref().ok())
                        .map_or("", |l| l.credentials.access_token.as_str())
                {
                    tracing::info!(path = %self.inner.path.display(), "login loaded");
                }
                Ok(login)
            }
            Err(e) => {
                state.stamp = None;
                Err(e)
            }
        };
        state.current = Some(result.clone());
        result
    }

    /// Refreshes unless the access token in use is no longer `seen`.
    async fn refresh(&self, seen: &str) -> Result<Arc<Credentials>, AuthError> {
        let _gate = self.inner.refresh_gate.lock().await;
        // While this request waited, another one may have refreshed.
        let login = self.current()?;
        if login.credentials.access_token != seen && !login.needs_refresh(SystemTime::now()) {
            return Ok(login.credentials.clone());
        }
        let _lock = self.lock_across_processes().await;
        // Guarded reload: another process may have refreshed while we had no lock.
        let login = {
            let mut state = self.state();
            if state.unsaved.is_some() {
                state
                    .current
                    .clone()
                    .unwrap_or_else(|| self.reload(&mut state))?
            } else {
                self.reload(&mut state)?
            }
        };
        if login.credentials.access_token != seen && !login.needs_refresh(SystemTime::now()) {
            tracing::info!("adopted tokens refreshed by another process");
            return Ok(login.credentials.clone());
        }
        let refresh_token = &login.file.tokens.refresh_token;
        if self.state().dead_refresh_token.as_deref() == Some(refresh_token.as_str()) {
            return Err(RefreshError::Permanent {
                reason: "the token endpoint already refused this refresh token".into(),
            }
            .into());
        }
        tracing::info!("refreshing the Codex login");
        let new = match self.inner.refresher.refresh(refresh_token).await {
            Ok(new) => new,
            Err(e) => {
                if let RefreshError::Permanent { .. } = &e {
                    self.state().dead_refresh_token = Some(refresh_token.clone());
                }
                tracing::warn!(error = %e, "refresh failed");
                return Err(e.into());
            }
        };
        let doc = login.file.refreshed(&new, SystemTime::now());
        let refreshed = file::parse(&serde_json::to_vec(&doc).unwrap_or_default())
            .map_err(|e| {
                AuthError::Refresh(RefreshError::Transient {
                    reason: format!("the token endpoint returned unusable tokens ({e:?})"),
                    unavailable: false,
                })
            })
            .and_then(Login::new)?;
        let path = self.inner.path.clone();
        let write_doc = doc.clone();
        let written = tokio::task::spawn_blocking(move || file::write_atomic(&path, &write_doc))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        let mut state = self.state();
        match written {
            Ok(stamp) => {
                state.stamp = Some(stamp);
                state.unsaved = None;
                tracing::info!(path = %self.inner.path.display(), "login refreshed and saved");
            }
            Err(e) => {
                // The old file stays intact; the new tokens live on here and are
                // written as soon as the disk lets us.
                tracing::error!(path = %self.inner.path.display(), error = %e,
                    "login refreshed but could not be saved; will retry");
                state.unsaved = Some(doc);
            }
        }
        state.current = Some(Ok(refreshed.clone()));
        Ok(refreshed.credentials.clone())
    }

    fn retry_unsaved(&self, state: &mut State) {
        let Some(doc) = &state.unsaved else { return };
        match file::write_atomic(&self.inner.path, doc) {
            Ok(stamp) => {
                tracing::info!(path = %self.inner.path.display(), "refreshed login saved");
                state.stamp = Some(stamp);
                state.unsaved = None;
            }
            Err(e) => tracing::debug!(error = %e, "saving the refreshed login failed again"),
        }
    }

    /// An exclusive advisory lock on `auth.json.lock`, held until dropped. When
    /// the lock cannot be had (read-only folder, stuck holder), the refresh goes
    /// on without it: the guarded reload still protects against most races.
    async fn lock_across_processes(&self) -> Option<File> {
        let path = self.inner.lock_path.clone();
        let task = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(&path)?;
            file.lock()?;
            Ok(file)
        });
        match tokio::time::timeout(LOCK_TIMEOUT, task).await {
            Ok(Ok(Ok(file))) => Some(file),
            Ok(Ok(Err(e))) => {
                tracing::warn!(path = %self.inner.lock_path.display(), error = %e,
                    "cannot take the refresh lock; refreshing without it");
                None
            }
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(path = %self.inner.lock_path.display(),
                    "the refresh lock is held too long by another process; refreshing without it");
                None
            }
        }
    }
}
