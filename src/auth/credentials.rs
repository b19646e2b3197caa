//! What a request carries to the backend from the login: the bearer token
//! and the account header, checked and prepared once per login, and when
//! the login needs refreshing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;

use super::AuthError;
use super::file::{self, AuthFile, LoadError};
use super::refresh::RefreshError;

/// Refresh this long before the access token expires, so that a request in
/// flight does not meet an expiry on the way.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Without an `exp` claim, the Codex CLI refreshes a login older than this.
const MAX_LOGIN_AGE: Duration = Duration::from_secs(8 * 24 * 3600);

/// The key of a login without an account id (an old `auth.json`).
pub const NO_ACCOUNT: &str = "unknown";

/// What a request needs to call the backend, with its headers prepared once.
#[derive(Debug)]
pub struct Credentials {
    pub access_token: String,
    pub account_id: Option<String>,
    /// What the login's usage limits are kept under: the account id, or
    /// [`NO_ACCOUNT`]. Shared, so a request takes it without a copy.
    pub account_key: Arc<str>,
    /// `Bearer <access token>`, marked sensitive.
    pub authorization: HeaderValue,
    pub account_header: Option<HeaderValue>,
}

impl Credentials {
    pub(super) fn new(tokens: &file::Tokens) -> Result<Self, AuthError> {
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
            account_key: Arc::from(tokens.account_id.as_deref().unwrap_or(NO_ACCOUNT)),
            authorization,
            account_header,
        })
    }
}

/// A parsed login with credentials ready for requests.
#[derive(Debug)]
pub(super) struct Login {
    pub(super) file: AuthFile,
    pub(super) credentials: Arc<Credentials>,
}

impl Login {
    /// The login in the bytes of a refreshed file, when its tokens are usable.
    pub(super) fn from_refreshed(bytes: &[u8]) -> Result<Arc<Self>, AuthError> {
        let file = file::parse(bytes).map_err(|e| {
            AuthError::Refresh(RefreshError::Transient {
                reason: format!("the token endpoint returned unusable tokens ({e:?})"),
                unavailable: false,
            })
        })?;
        Login::new(file)
    }

    pub(super) fn new(file: AuthFile) -> Result<Arc<Self>, AuthError> {
        let credentials = Arc::new(Credentials::new(&file.tokens)?);
        Ok(Arc::new(Login { file, credentials }))
    }

    /// The access token expires within the margin, or an undated login is old.
    pub(super) fn needs_refresh(&self, now: SystemTime) -> bool {
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
