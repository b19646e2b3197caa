//! `doctor`'s usage section: the login's windows, asked of the backend's
//! usage endpoint directly (the daemon need not run), in the same words as
//! `codex-responses-proxy status`. Reading usage spends nothing; an expired
//! access token is not refreshed here, since that would spend the refresh
//! token behind the daemon's back.

use std::time::SystemTime;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{Mark, REACH_TIMEOUT, Report};
use crate::auth::file;
use crate::backend::usage;
use crate::config::Config;
use crate::limits;
use crate::net;

pub(super) fn check(report: &mut Report, config: &Config) {
    report.section("Usage limits");
    let Ok((auth, _)) = file::load(&config.codex_home.join(file::AUTH_FILE)) else {
        report.check(
            Mark::Warn,
            "not asked: there is no usable login (see above)",
        );
        return;
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if auth
        .access_exp
        .is_some_and(|exp| u64::try_from(exp).is_ok_and(|exp| exp <= now))
    {
        report.check(
            Mark::Warn,
            "not asked: the access token has expired; the daemon refreshes it on the next \
             request, and `codex-responses-proxy status` then shows the limits",
        );
        return;
    }
    let url = usage::url(config.upstream_url.url());
    match ask(config, &url, &auth) {
        Ok(seen) => {
            let now = Timestamp::now();
            if seen.is_reached(now) {
                report.check(
                    Mark::Fail,
                    "a usage limit is reached: the backend refuses requests until it resets",
                );
            } else {
                report.check(Mark::Pass, format!("the usage endpoint answered: {url}"));
            }
            for line in limits::describe(&seen, now, &TimeZone::system()) {
                report.detail(line);
            }
        }
        Err(e) => report.check(Mark::Warn, format!("{e} ({url})")),
    }
}

/// One `GET` of the usage endpoint with the login's access token.
fn ask(
    config: &Config,
    url: &reqwest::Url,
    auth: &file::AuthFile,
) -> Result<limits::Limits, usage::UsageError> {
    let unreachable = |e: String| usage::UsageError::Unreachable(e);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| unreachable(e.to_string()))?;
    let client = net::client(net::Identity {
        client_version: &config.version_presented().current().version,
        connect_timeout: config.connect_timeout,
        ca_file: config.ca_file.as_deref(),
    })
    .map_err(|e| unreachable(e.to_string()))?;
    runtime.block_on(async {
        let mut request = client
            .get(url.clone())
            .bearer_auth(&auth.tokens.access_token)
            .timeout(REACH_TIMEOUT);
        if let Some(account) = &auth.tokens.account_id {
            request = request.header("chatgpt-account-id", account);
        }
        let response = request
            .send()
            .await
            .map_err(|e| unreachable(net::describe(&e)))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| unreachable(net::describe(&e)))?;
        usage::read(status, &body, Timestamp::now())
    })
}
