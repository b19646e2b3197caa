//! What the daemon says about itself: `GET /v1/status` (JSON, read back by
//! the `status` subcommand) and `GET /metrics` (OpenMetrics, when on). Both
//! sit behind the client key like every other route.

use std::time::SystemTime;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use crate::auth::{LoginSummary, NO_ACCOUNT};
use crate::backend::watch::UsageFetch;
use crate::error::{ApiError, Code, ErrorKind};
use crate::http::AppState;
use crate::metrics;
use crate::status::{Activation, InFlight, Login, RefreshError, StatusReport, UsageEndpoint};

/// `GET /v1/status`.
pub async fn show(State(state): State<AppState>) -> Response {
    axum::Json(report(&state).await).into_response()
}

/// `GET /metrics`: the counters, and each login's windows read from the book now.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let Some(metrics) = state.metrics() else {
        return ApiError::own(
            StatusCode::NOT_FOUND,
            ErrorKind::InvalidRequest,
            Code::UnknownUrl,
            "metrics are off: set `metrics = true`",
        )
        .into_response();
    };
    let book = state.inner.pipeline.upstream.limits().book();
    match metrics.encode(book, Timestamp::now()) {
        Ok(text) => ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Server,
            None,
            e.to_string(),
        )
        .into_response(),
    }
}

async fn report(state: &AppState) -> StatusReport {
    let inner = &state.inner;
    let watch = inner.pipeline.upstream.limits();
    let summary = inner.pipeline.upstream.auth().summary();
    let usage = match &summary {
        Ok(_) => watch.refresh_usage(&inner.pipeline.upstream).await,
        Err(_) => UsageFetch::default(),
    };
    let now = Timestamp::now();
    let account = match &summary {
        Ok(s) => s
            .account_id
            .clone()
            .unwrap_or_else(|| NO_ACCOUNT.to_owned()),
        Err(_) => NO_ACCOUNT.to_owned(),
    };
    let view = watch.book().login(&account, now);
    let serving = state.serving();
    let activity = &inner.activity;
    StatusReport {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        listeners: serving.listeners,
        activation: if serving.socket_activated {
            Activation::Socket
        } else {
            Activation::Own
        },
        started_at: now
            .checked_sub(jiff::SignedDuration::try_from(activity.uptime()).unwrap_or_default())
            .unwrap_or(now),
        uptime_seconds: activity.uptime().as_secs(),
        in_flight: InFlight {
            // This request is one of them.
            requests: activity.in_flight().saturating_sub(1),
            streams: activity.streams(),
        },
        login: login(summary),
        limits: view.as_ref().and_then(|v| v.limits.clone()),
        cooldown: view.and_then(|v| v.cooldown),
        usage_endpoint: UsageEndpoint {
            fetched_at: usage.fetched_at,
            error: usage.error,
        },
        models_cache_age_seconds: inner.pipeline.models.age().map(|age| age.as_secs()),
        recent_turns: inner.ledger.recent(),
        usage_last_hour: inner.ledger.last_hour(now),
        conversation_sockets: inner.pipeline.chain.status(),
        client_version: Some(inner.pipeline.upstream.version.current()),
    }
}

fn login(summary: Result<LoginSummary, crate::auth::AuthError>) -> Login {
    match summary {
        Ok(s) => Login {
            usable: true,
            error: None,
            account_id: s.account_id,
            email: s.email,
            plan: s.plan,
            token_expires_at: s.access_expires.and_then(timestamp),
            last_refresh: s.last_refresh.and_then(timestamp),
            last_refresh_error: s.refresh_failure.and_then(|f| {
                Some(RefreshError {
                    at: timestamp(f.at)?,
                    message: f.message,
                    permanent: f.permanent,
                })
            }),
        },
        Err(e) => Login {
            usable: false,
            error: Some(e.to_string()),
            ..Login::default()
        },
    }
}

fn timestamp(t: SystemTime) -> Option<Timestamp> {
    Timestamp::try_from(t).ok()
}
