//! A Messages request the backend refused as past its model's window,
//! answered in Anthropic's words ([`crate::dialect::messages::overflow`]):
//! the window from the backend's catalogue, the request counted only when
//! the refusal comes, on a blocking thread (the tokenizer is CPU work).
//! Where the window is unknown, the backend's wording stays.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::dialect::messages::{Catalogue, MessagesError, count_translated, overflow};
use crate::error::ApiError;

/// What a refusal for size is told with: the backend model's window and
/// the request sent (kept only when the window is known).
#[derive(Debug, Clone)]
pub struct Overflow {
    sent: Option<(u64, Arc<Map<String, Value>>)>,
}

impl Overflow {
    /// For `body`, the Responses request sent to the backend.
    pub fn new(catalogue: &Catalogue, body: &Arc<Map<String, Value>>) -> Self {
        let window = body
            .get("model")
            .and_then(Value::as_str)
            .and_then(|slug| catalogue.context_window(slug));
        Overflow {
            sent: window.map(|w| (w, body.clone())),
        }
    }

    /// `e` (the proxy's error for the backend's answer) in Anthropic's
    /// words when it is an overflow, else as `plain` makes it.
    pub async fn error_for(
        &self,
        e: ApiError,
        plain: impl FnOnce(ApiError) -> MessagesError,
    ) -> MessagesError {
        if overflow::is_overflow(e.code.as_deref(), &e.message) {
            self.told(plain(e)).await
        } else {
            plain(e)
        }
    }

    /// `backend`, the backend's overflow error, with the numbers when the
    /// window is known.
    pub async fn told(&self, backend: MessagesError) -> MessagesError {
        let Some((window, body)) = &self.sent else {
            return backend;
        };
        let body = body.clone();
        let counted = tokio::task::spawn_blocking(move || count_translated(&body))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(0);
        overflow::too_long(counted, *window)
    }
}
