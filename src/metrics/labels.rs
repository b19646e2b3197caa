//! The label values of the daemon's metrics. Closed sets are enums so a call
//! site cannot invent a value; each has the snake_case name a dashboard
//! filters on.

use std::fmt;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use crate::accounting::Client;
use crate::limits::Slot;

/// The route a request was answered on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    Responses,
    ResponsesWebSocket,
    /// The legacy `POST /v1/responses/compact`.
    Compact,
    ChatCompletions,
    Messages,
    CountTokens,
    Models,
    Status,
    /// The status page, `/` and `/status`.
    Page,
    Metrics,
    Health,
    /// No route matched (404, 405).
    Other,
}

/// The API shape a request spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Responses,
    Chat,
    Messages,
    /// Not a model request (models list, status, health, metrics).
    None,
}

/// Why a call to the backend failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamErrorKind {
    /// No connection: DNS, TCP, TLS or the HTTP proxy failed.
    Connect,
    /// Connected, but no answer head in time.
    Timeout,
    /// 401 or 403: the login was refused.
    Unauthorized,
    /// 429: a rate or usage limit.
    RateLimited,
    /// 503 `server_is_overloaded` / `slow_down`.
    Overloaded,
    /// Any other 5xx.
    ServerError,
    /// Any other 4xx: the backend refused what it was sent.
    Refused,
    /// No event for the idle timeout.
    IdleTimeout,
    /// The stream broke mid-way.
    StreamBroken,
    /// The stream ended without a terminal event.
    StreamIncomplete,
    /// One event exceeded the size limit.
    EventTooLarge,
    /// `response.failed` inside a 200 stream.
    ResponseFailed,
}

/// How a turn went to the backend: its whole input, or only what is new
/// after the previous answer on the conversation's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TurnMode {
    Incremental,
    Whole,
}

/// How a token refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefreshOutcome {
    Refreshed,
    /// The endpoint failed this time; a later refresh may succeed.
    Transient,
    /// The login is dead until `codex login`.
    Permanent,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct RequestLabels {
    pub(super) route: Route,
    pub(super) dialect: Dialect,
    pub(super) status: u16,
    pub(super) stream: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct DurationLabels {
    pub(super) route: Route,
    pub(super) stream: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct DialectLabels {
    pub(super) dialect: Dialect,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct UpstreamErrorLabels {
    pub(super) kind: UpstreamErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct RefreshLabels {
    pub(super) outcome: RefreshOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct TurnLabels {
    pub(super) mode: TurnMode,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ClientLabels {
    pub(super) client: Client,
    pub(super) dialect: Dialect,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct TokenLabels {
    pub(super) client: Client,
    pub(super) dialect: Dialect,
    /// `input`, `cached_input`, `output`, `reasoning`: see [`crate::accounting::Usage::kinds`].
    pub(super) kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct AccountLabels {
    pub(super) account: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct WindowLabels {
    pub(super) account: String,
    pub(super) limit: String,
    pub(super) window: Slot,
}

impl Route {
    /// The API shape spoken on this route.
    pub fn dialect(self) -> Dialect {
        match self {
            Route::Responses | Route::ResponsesWebSocket | Route::Compact => Dialect::Responses,
            Route::ChatCompletions => Dialect::Chat,
            Route::Messages | Route::CountTokens => Dialect::Messages,
            Route::Models
            | Route::Status
            | Route::Page
            | Route::Metrics
            | Route::Health
            | Route::Other => Dialect::None,
        }
    }
}

impl UpstreamErrorKind {
    /// The kind of an error status from the backend; `None` for a success.
    /// A 503 is [`Overloaded`](Self::Overloaded) only when its body says so,
    /// which the caller knows and this does not: here it is a server error.
    pub fn from_status(status: u16) -> Option<Self> {
        match status {
            401 | 403 => Some(Self::Unauthorized),
            429 => Some(Self::RateLimited),
            400..=499 => Some(Self::Refused),
            500..=599 => Some(Self::ServerError),
            _ => None,
        }
    }
}

/// Label values are the snake_case names a dashboard filters on.
macro_rules! label_values {
    ($($ty:ty { $($variant:ident => $name:literal),* $(,)? })*) => {$(
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
        }
        impl EncodeLabelValue for $ty {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
                fmt::Write::write_str(encoder, self.as_str())
            }
        }
    )*};
}

label_values! {
    Route {
        Responses => "responses", ResponsesWebSocket => "responses_websocket", Compact => "compact",
        ChatCompletions => "chat_completions", Messages => "messages",
        CountTokens => "count_tokens", Models => "models", Status => "status", Page => "page",
        Metrics => "metrics", Health => "health", Other => "other",
    }
    Dialect { Responses => "responses", Chat => "chat", Messages => "messages", None => "none" }
    UpstreamErrorKind {
        Connect => "connect", Timeout => "timeout", Unauthorized => "unauthorized",
        RateLimited => "rate_limited", Overloaded => "overloaded", ServerError => "server_error",
        Refused => "refused", IdleTimeout => "idle_timeout", StreamBroken => "stream_broken",
        StreamIncomplete => "stream_incomplete", EventTooLarge => "event_too_large",
        ResponseFailed => "response_failed",
    }
    RefreshOutcome { Refreshed => "refreshed", Transient => "transient", Permanent => "permanent" }
    TurnMode { Incremental => "incremental", Whole => "whole" }
}

impl EncodeLabelValue for Client {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        fmt::Write::write_str(encoder, self.as_str())
    }
}

impl EncodeLabelValue for Slot {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        fmt::Write::write_str(encoder, self.as_str())
    }
}
