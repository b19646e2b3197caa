//! What a request carries to the backend from the login: the bearer token
//! and the account header, checked and prepared once per login.

use std::path::PathBuf;

use axum::http::HeaderValue;

use super::AuthError;
use super::file::{self, LoadError};

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
            authorization,
            account_header,
        })
    }
}
