//! The login section of `doctor`: the file, its mode, the account, the
//! access token's expiry, a refused refresh token, and write-back files a
//! refresh left behind. Nothing here sends the refresh token anywhere.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{Mark, Report};
use crate::auth::file::{self, AuthFile};
use crate::auth::recover::{self, Hold, Stale, Verdict};
use crate::auth::refused;
use crate::config::Config;

pub(super) fn check(report: &mut Report, config: &Config) {
    report.section("Login");
    let path = config.codex_home.join(file::AUTH_FILE);
    leftovers(report, &path);
    let parsed = file::load(&path);
    let auth = match parsed {
        Ok((auth, _)) => {
            report.check(Mark::Pass, format!("login file found: {}", path.display()));
            auth
        }
        Err(e) => {
            report.check(Mark::Fail, e.to_string());
            return;
        }
    };
    file_mode(report, &path);
    account(report, &auth);
    expiry(report, &auth);
    refusal(report, config, &auth);
}

/// Only the user may read the login.
fn file_mode(report: &mut Report, path: &Path) {
    match std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777) {
        Ok(0o600) => report.check(Mark::Pass, "file mode 0600: only you can read it"),
        Ok(mode) => report.check(
            Mark::Warn,
            format!(
                "file mode {mode:04o}: others may read your login; run `chmod 600 {}`",
                path.display()
            ),
        ),
        Err(e) => report.check(Mark::Warn, format!("cannot read the file mode: {e}")),
    }
}

/// The login's mode and whose account it is.
fn account(report: &mut Report, auth: &AuthFile) {
    let mode = auth
        .doc
        .get("auth_mode")
        .and_then(|m| m.as_str())
        .unwrap_or("chatgpt (implied: no auth_mode key)");
    report.check(Mark::Pass, format!("login mode: {mode}"));
    let account = auth.tokens.account_id.as_deref().unwrap_or("(none)");
    let email = auth.id_claims.email.as_deref().unwrap_or("(no email)");
    let plan = auth
        .id_claims
        .openai
        .chatgpt_plan_type
        .as_deref()
        .unwrap_or("(unknown plan)");
    report.check(
        Mark::Pass,
        format!("account: {email}, plan {plan}, account id {account}"),
    );
}

/// When the access token runs out.
fn expiry(report: &mut Report, auth: &AuthFile) {
    let now = SystemTime::now();
    let expires = auth
        .access_exp
        .and_then(|e| u64::try_from(e).ok())
        .map(|e| SystemTime::UNIX_EPOCH + Duration::from_secs(e));
    match expires {
        Some(t) if t > now => report.check(
            Mark::Pass,
            format!(
                "access token valid until {}",
                humantime::format_rfc3339_seconds(t)
            ),
        ),
        Some(t) => report.check(
            Mark::Warn,
            format!(
                "access token expired at {}; the proxy refreshes it on the next request",
                humantime::format_rfc3339_seconds(t)
            ),
        ),
        None => report.check(
            Mark::Warn,
            "the access token carries no expiry; the proxy refreshes it when the backend refuses it",
        ),
    }
}

/// Whether the token endpoint already refused this login's refresh token.
fn refusal(report: &mut Report, config: &Config, auth: &AuthFile) {
    match refused::read(&config.codex_home) {
        Some(refusal) if refusal.is_for(auth) => report.check(
            Mark::Fail,
            format!(
                "the token endpoint refused this login's refresh token at {} ({}): a refresh \
                 token works once, and this one was already used (by another program sharing \
                 the login, or a copy of this file) or has run out, so the login cannot be \
                 renewed: run `codex login`",
                refusal.refused_at, refusal.reason
            ),
        ),
        // `load` refuses a file without one, so reaching here means it is there.
        _ => report.check(
            Mark::Pass,
            "refresh token present (not sent anywhere by this check)",
        ),
    }
}

/// Write-back files a refresh left beside the login, and what the proxy
/// will do with each the next time it reads the login.
fn leftovers(report: &mut Report, path: &Path) {
    let found = match recover::survey(path) {
        Ok(found) => found,
        Err(e) => {
            report.check(
                Mark::Warn,
                format!("cannot look for leftover write-back files beside the login: {e}"),
            );
            return;
        }
    };
    for (temp, verdict) in found {
        let name = temp.display();
        let (mark, line) = match verdict {
            Verdict::Finish => (
                Mark::Warn,
                format!(
                    "{name} holds a newer login than auth.json: a refresh was saved there and \
                     the program stopped before putting it in place; the proxy finishes it the \
                     next time it reads the login (when it starts, or on the next request)"
                ),
            ),
            Verdict::Remove(why) => (
                Mark::Pass,
                format!(
                    "{name} is a leftover write-back file {}; the proxy removes it the next \
                     time it reads the login",
                    stale_words(why)
                ),
            ),
            Verdict::Keep(Hold::LiveWriter) => (
                Mark::Pass,
                format!("{name}: a refresh is being saved right now"),
            ),
            Verdict::Keep(Hold::NoLogin) => (
                Mark::Warn,
                format!(
                    "{name} holds a login, but there is no readable auth.json to compare it \
                     with, so the proxy leaves it alone: unless you logged out on purpose, \
                     move it to {}",
                    path.display()
                ),
            ),
            Verdict::Keep(Hold::Undecidable) => (
                Mark::Warn,
                format!(
                    "{name} holds another login of this account, and neither file says when \
                     it was refreshed, so the proxy cannot tell which is newer and leaves it \
                     alone: keep the one that works and delete the other"
                ),
            ),
        };
        report.check(mark, line);
    }
}

fn stale_words(why: Stale) -> &'static str {
    match why {
        Stale::Empty => "with nothing in it (its program stopped before writing)",
        Stale::Unparsable => "that is cut short or not a ChatGPT login",
        Stale::OtherAccount => "of another account",
        Stale::NotNewer => "no newer than auth.json",
        Stale::Superseded => "older than another one beside it",
    }
}
