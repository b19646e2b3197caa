//! The login: the token source every request asks for credentials.
//!
//! - The file is parsed again only when its stamp (inode, size, mtime) changes.
//! - One refresh at a time in the process; requests that wait share its result.
//!   It runs in a task of its own: a request that goes away must not cancel
//!   it between the token endpoint's answer and the write-back.
//! - Across processes, the refresh lock (`lock`) and a guarded reload: under
//!   the lock the file is read again, and tokens another writer put there are
//!   adopted instead of spending the refresh token a second time.
//! - Every read of the file first finishes a write-back that a crash
//!   interrupted (`recover`), under the same lock.

mod credentials;
mod error;
pub mod file;
pub mod jwt;
pub mod lock;
pub mod recover;
pub mod refresh;
pub mod refused;
pub mod writeback;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use self::credentials::Login;
pub use self::credentials::{Credentials, NO_ACCOUNT};
pub use self::error::{AuthError, RefreshFailure};
use self::file::{NewTokens, Stamp};
use self::refresh::{RefreshError, Refresher};
use self::refused::Refusal;
use self::writeback::Pause;

#[derive(Debug, Default)]
struct State {
    /// The stamp of the file `current` was read from.
    stamp: Option<Stamp>,
    current: Option<Result<Arc<Login>, AuthError>>,
    /// A refresh token the endpoint refused for good; not offered again.
    dead_refresh_token: Option<String>,
    /// Refreshed tokens the disk refused; written again at the next chance.
    unsaved: Option<Map<String, Value>>,
    /// Why this process's last refresh failed; cleared by one that works.
    refresh_failure: Option<RefreshFailure>,
}

/// The token source. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    codex_home: PathBuf,
    lock_path: PathBuf,
    refresher: Refresher,
    state: Mutex<State>,
    /// Held for the whole of a refresh: one at a time in this process.
    refresh_gate: tokio::sync::Mutex<()>,
    /// The write-back's test hook, read once here.
    pause: Pause,
}

/// Whether the caller of a reload holds the refresh lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lock {
    Held,
    /// Recovery takes it if it is free, and waits for the next read if not.
    NotHeld,
}

/// Summary of the login for logs and sd-notify status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSummary {
    pub account_id: Option<String>,
    pub email: Option<String>,
    pub plan: Option<String>,
    pub access_expires: Option<SystemTime>,
    /// When the login was last refreshed, by this process or another.
    pub last_refresh: Option<SystemTime>,
    /// This process's last refresh, if it failed.
    pub refresh_failure: Option<RefreshFailure>,
}

impl Auth {
    pub fn new(codex_home: &Path, refresher: Refresher) -> Self {
        Auth {
            inner: Arc::new(Inner {
                path: codex_home.join(file::AUTH_FILE),
                codex_home: codex_home.to_path_buf(),
                lock_path: lock::path(codex_home),
                refresher,
                state: Mutex::new(State::default()),
                refresh_gate: tokio::sync::Mutex::new(()),
                pause: Pause::from_env(),
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
        let refresh_failure = self.state().refresh_failure.clone();
        Ok(LoginSummary {
            account_id: login.file.tokens.account_id.clone(),
            email: login.file.id_claims.email.clone(),
            plan: login.file.id_claims.openai.chatgpt_plan_type.clone(),
            access_expires: login
                .file
                .access_exp
                .and_then(|e| u64::try_from(e).ok())
                .map(|e| UNIX_EPOCH + Duration::from_secs(e)),
            last_refresh: login.file.last_refresh,
            refresh_failure,
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
        self.reload(&mut state, Lock::NotHeld)
    }

    /// Finishes an interrupted write-back, if the refresh lock can be had.
    fn recover(&self, lock: Lock) {
        let _lock = match lock {
            Lock::Held => None,
            Lock::NotHeld => match lock::try_acquire(&self.inner.lock_path) {
                Some(file) => Some(file),
                // Its holder is writing or recovering; the next read looks again.
                None => return,
            },
        };
        if let Err(e) = recover::recover(&self.inner.path) {
            tracing::warn!(path = %self.inner.path.display(), error = %e,
                "cannot finish an interrupted write-back of the login");
        }
    }

    /// Reads the file whatever its stamp, and makes it current.
    fn reload(&self, state: &mut State, lock: Lock) -> Result<Arc<Login>, AuthError> {
        self.recover(lock);
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
        let (this, seen) = (self.clone(), seen.to_owned());
        tokio::spawn(async move { this.refresh_detached(&seen).await })
            .await
            .unwrap_or_else(|e| {
                Err(AuthError::Refresh(RefreshError::Transient {
                    reason: format!("the refresh stopped: {e}"),
                    unavailable: false,
                }))
            })
    }

    async fn refresh_detached(&self, seen: &str) -> Result<Arc<Credentials>, AuthError> {
        let _gate = self.inner.refresh_gate.lock().await;
        // While this request waited, another one may have refreshed.
        let login = self.current()?;
        if login.credentials.access_token != seen && !login.needs_refresh(SystemTime::now()) {
            return Ok(login.credentials.clone());
        }
        // Held until the write-back is done; dropped at the end of this function.
        let lock_file = lock::acquire(&self.inner.lock_path).await;
        let lock = match lock_file {
            Some(_) => Lock::Held,
            None => Lock::NotHeld,
        };
        let login = self.guarded_reload(lock)?;
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
        let prepared = writeback::prepare(&self.inner.path);
        let exchanged = self.inner.refresher.refresh(refresh_token).await;
        self.state().refresh_failure = exchanged.as_ref().err().map(|e| RefreshFailure {
            at: SystemTime::now(),
            message: e.to_string(),
            permanent: matches!(e, RefreshError::Permanent { .. }),
        });
        match exchanged {
            Ok(new) => self.save(&login, &new, prepared).await,
            Err(e) => {
                // Removed before recovery looks beside the file again.
                drop(prepared);
                self.refused(&login, e, lock)
            }
        }
    }

    /// Under the refresh lock, the file as it is now; or, while refreshed
    /// tokens wait to be saved, those.
    fn guarded_reload(&self, lock: Lock) -> Result<Arc<Login>, AuthError> {
        let mut state = self.state();
        if state.unsaved.is_some()
            && let Some(mine) = state.current.clone()
        {
            return mine;
        }
        self.reload(&mut state, lock)
    }

    /// Writes the refreshed login back, then makes it current.
    async fn save(
        &self,
        login: &Login,
        new: &NewTokens,
        prepared: std::io::Result<file::Staged>,
    ) -> Result<Arc<Credentials>, AuthError> {
        // The token endpoint has spent the old refresh token: until the new
        // login is written a crash loses it, so nothing else comes first, and
        // the write happens here rather than after a hop to another thread.
        let doc = login.file.refreshed(new, SystemTime::now());
        let (bytes, staged) = writeback::put(prepared, &doc);
        let pause = self.inner.pause.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let saved = writeback::complete(staged, &bytes, &pause, Login::from_refreshed);
            (doc, saved)
        })
        .await;
        let (doc, saved) = joined.map_err(|e| {
            AuthError::Refresh(RefreshError::Transient {
                reason: format!("the write-back stopped: {e}"),
                unavailable: false,
            })
        })?;
        let (refreshed, written) = saved?;
        let saved = written.is_ok();
        {
            let mut state = self.state();
            match written {
                Ok(stamp) => {
                    state.stamp = Some(stamp);
                    state.unsaved = None;
                }
                Err(e) => {
                    // The old file stays intact; the new tokens live on here and
                    // are written as soon as the disk lets us.
                    tracing::error!(path = %self.inner.path.display(), error = %e,
                        "login refreshed but could not be saved; will retry");
                    state.unsaved = Some(doc);
                }
            }
            state.current = Some(Ok(refreshed.clone()));
        }
        if saved {
            tracing::info!(path = %self.inner.path.display(), "login refreshed and saved");
            refused::clear(&self.inner.codex_home);
        }
        Ok(refreshed.credentials.clone())
    }

    /// A refresh failed. When the token endpoint refused the refresh token for
    /// good, the disk may know a newer login (a write-back a crash
    /// interrupted, another program's refresh): it is read again before
    /// giving up, and a refusal of the login still there is noted for `doctor`.
    fn refused(
        &self,
        login: &Login,
        e: RefreshError,
        lock: Lock,
    ) -> Result<Arc<Credentials>, AuthError> {
        tracing::warn!(error = %e, "refresh failed");
        let RefreshError::Permanent { reason } = &e else {
            return Err(e.into());
        };
        let spent = &login.file.tokens.refresh_token;
        self.state().dead_refresh_token = Some(spent.clone());
        let reread = {
            let mut state = self.state();
            self.reload(&mut state, lock)
        };
        match reread {
            Ok(disk) if &disk.file.tokens.refresh_token != spent => {
                if !disk.needs_refresh(SystemTime::now()) {
                    tracing::info!("adopted a newer login found on disk after the refusal");
                    return Ok(disk.credentials.clone());
                }
                // Otherwise the next request refreshes with the newer token.
            }
            Ok(_) | Err(_) => {
                let refusal = Refusal::new(&login.file, reason, SystemTime::now());
                if let Err(e) = refused::record(&self.inner.codex_home, &refusal) {
                    tracing::debug!(error = %e, "cannot note the refusal for doctor");
                }
            }
        }
        Err(e.into())
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
}
