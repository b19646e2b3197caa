//! `codex-responses-proxy doctor`: checks the configuration, the login, the
//! network and systemd, and says in plain words what is wrong and how to fix it.
//!
//! Nothing here spends the login: the refresh token is never sent, and the
//! network checks are bare GET requests where any HTTP answer counts as reachable.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use crate::auth::file::{self, AuthFile};
use crate::auth::recover::{self, Hold, Stale, Verdict};
use crate::auth::refused;
use crate::config::{self, Config, Flags, Loaded};
use crate::net;

/// Longest wait for one reachability check, connection included.
const REACH_TIMEOUT: Duration = Duration::from_secs(15);

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Pass,
    /// Works, but worth fixing.
    Warn,
    /// Requests will not work until it is fixed.
    Fail,
}

impl Mark {
    fn symbol(self) -> &'static str {
        match self {
            Mark::Pass => "✓",
            Mark::Warn => "!",
            Mark::Fail => "✗",
        }
    }
}

/// The report as it is written.
#[derive(Debug, Default)]
struct Report {
    text: String,
    failures: usize,
    warnings: usize,
}

impl Report {
    fn section(&mut self, title: &str) {
        let _ = writeln!(self.text, "\n{title}");
    }

    fn check(&mut self, mark: Mark, line: impl AsRef<str>) {
        match mark {
            Mark::Pass => {}
            Mark::Warn => self.warnings += 1,
            Mark::Fail => self.failures += 1,
        }
        let _ = writeln!(self.text, "  {} {}", mark.symbol(), line.as_ref());
    }

    fn detail(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(self.text, "      {}", line.as_ref());
    }
}

/// Runs every check, prints the report, and fails when requests would not work.
pub fn run(flags: &Flags) -> ExitCode {
    let mut report = Report::default();
    match Config::load(flags) {
        Ok(loaded) => {
            configuration(&mut report, &loaded);
            login(&mut report, &loaded.config);
            network(&mut report, &loaded.config);
            activation(&mut report, &loaded.config);
        }
        Err(e) => {
            report.section("Configuration");
            report.check(Mark::Fail, format!("the configuration cannot be used: {e}"));
        }
    }
    let verdict = match (report.failures, report.warnings) {
        (0, 0) => "All checks passed.".to_owned(),
        (0, w) => format!("Requests should work; {w} warning(s) above are worth fixing."),
        (f, _) => format!("{f} problem(s) above will stop requests from working."),
    };
    println!("codex-responses-proxy doctor\n{}\n{verdict}", report.text);
    if report.failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn configuration(report: &mut Report, loaded: &Loaded) {
    report.section("Configuration");
    let file = match &loaded.file {
        Some(path) => format!("file {}", path.display()),
        None => "no configuration file; defaults, environment and flags only".into(),
    };
    report.check(Mark::Pass, format!("configuration is valid ({file})"));
    let value = match toml::Value::try_from(&loaded.config) {
        Ok(v) => v,
        Err(e) => {
            report.detail(format!("(cannot list the values: {e})"));
            return;
        }
    };
    let Some(table) = value.as_table() else {
        return;
    };
    for (key, value) in table {
        let origin = config::source_of(&loaded.figment, key);
        report.detail(format!("{key} = {value}    [{origin}]"));
    }
    if loaded.config.api_key_file.is_none() {
        report.detail("api_key_file = (unset: clients need no key)    [default]");
    }
    web_pages(report, &loaded.config);
}

/// What the Host and Origin checks let through, in words.
fn web_pages(report: &mut Report, config: &Config) {
    let hosts = &config.allowed_hosts;
    if hosts.iter().any(|h| h.trim() == "*") {
        report.check(
            Mark::Warn,
            "allowed_hosts contains \"*\": the Host check is off, so a web page on a domain \
             that resolves to this machine (DNS rebinding) can use the proxy and read its \
             answers; list the names you use instead",
        );
    } else if hosts.is_empty() {
        report.check(
            Mark::Pass,
            "Host check: only localhost, 127.0.0.0/8 and [::1] (allowed_hosts is empty)",
        );
    } else {
        report.check(
            Mark::Pass,
            format!(
                "Host check: localhost, 127.0.0.0/8, [::1] and {}",
                hosts.join(", ")
            ),
        );
    }
    if config.allowed_origins.is_empty() {
        report.check(
            Mark::Pass,
            "no web page may use the proxy (allowed_origins is empty)",
        );
    } else {
        report.check(
            Mark::Pass,
            format!(
                "web pages from these origins may use the proxy, with CORS: {}",
                config.allowed_origins.join(", ")
            ),
        );
        if config.api_key_file.is_none() {
            report.detail("they need no key: api_key_file is unset");
        }
    }
}

fn login(report: &mut Report, config: &Config) {
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

fn network(report: &mut Report, config: &Config) {
    report.section("Network");
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report.check(Mark::Fail, format!("cannot start the network checks: {e}"));
            return;
        }
    };
    let client = match net::client(net::Identity {
        client_version: &config.client_version,
        connect_timeout: config.connect_timeout,
        ca_file: config.ca_file.as_deref(),
    }) {
        Ok(c) => c,
        Err(e) => {
            report.check(Mark::Fail, format!("cannot build the HTTP client: {e}"));
            return;
        }
    };
    for (what, url) in [
        ("token endpoint", config.token_url.as_str()),
        ("Codex backend", config.upstream_url.as_str()),
    ] {
        // A GET without credentials: the answer's status does not matter,
        // only that an HTTP server answered.
        let result =
            runtime.block_on(async { client.get(url).timeout(REACH_TIMEOUT).send().await });
        match result {
            Ok(response) => report.check(
                Mark::Pass,
                format!(
                    "{what} reachable: {url} (answered HTTP {})",
                    response.status().as_u16()
                ),
            ),
            Err(e) => report.check(
                Mark::Fail,
                format!("{what} unreachable: {url}: {}", net::describe(&e)),
            ),
        }
    }
}

fn activation(report: &mut Report, config: &Config) {
    report.section("systemd");
    match std::env::var("LISTEN_FDS") {
        Ok(n) => {
            let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
            report.check(
                Mark::Pass,
                format!(
                    "socket activation: systemd passed {n} socket(s) {names}; `listen` is ignored"
                ),
            );
        }
        Err(_) => report.check(
            Mark::Pass,
            format!(
                "socket activation: not in use (LISTEN_FDS unset); the daemon binds {}",
                config.listen
            ),
        ),
    }
    if !config.idle_exit.is_zero() {
        report.detail(format!(
            "idle_exit = {}: applies only under socket activation",
            humantime::format_duration(config.idle_exit)
        ));
    }
}
