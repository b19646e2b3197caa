//! Why a request has no credentials, and a refresh that failed, as the
//! status report tells it.

use std::time::SystemTime;

use super::file::LoadError;
use super::refresh::RefreshError;

/// Why a request has no credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Login(#[from] LoadError),
    #[error(transparent)]
    Refresh(#[from] RefreshError),
}

/// A refresh that failed, for `/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshFailure {
    pub at: SystemTime,
    /// In plain words, with what to do about it.
    pub message: String,
    /// The login is dead until `codex login`.
    pub permanent: bool,
}
