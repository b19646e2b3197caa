//! `codex-responses-proxy doctor`: checks the configuration, the login, the
//! network, the usage limits and systemd, and says in plain words what is
//! wrong and how to fix it.
//!
//! Nothing here spends the login: the refresh token is never sent, the
//! network checks are bare GET requests where any HTTP answer counts as
//! reachable, and the usage endpoint only reads the login's windows.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use crate::config::{self, Config, Flags, Loaded};
use crate::{client_env, net};

mod login;
mod usage;

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
            login::check(&mut report, &loaded.config);
            network(&mut report, &loaded.config);
            usage::check(&mut report, &loaded.config);
            clients(&mut report, &loaded.config);
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
    let chosen = loaded.config.version_presented().current();
    report.check(
        Mark::Pass,
        format!(
            "Codex CLI version presented to the backend: {} ({}; the daemon also follows \
             newer Codex CLI clients unless `client_version` is set)",
            chosen.version, chosen.source
        ),
    );
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
        client_version: &config.version_presented().current().version,
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

/// What Claude Code needs told: the context window of the models its names
/// map to (it assumes 1M tokens for a model it does not know).
fn clients(report: &mut Report, config: &Config) {
    report.section("Clients");
    let models = match client_env::mapped(config) {
        Ok(models) => models,
        Err(e) => {
            report.check(
                Mark::Warn,
                format!("Claude Code's context window is not known: the model list: {e}"),
            );
            return;
        }
    };
    match client_env::max_context(&models) {
        Some(window) => report.check(
            Mark::Pass,
            format!(
                "Claude Code: CLAUDE_CODE_MAX_CONTEXT_TOKENS={window} and \
                 CLAUDE_CODE_AUTO_COMPACT_WINDOW={window}, so it compacts in time"
            ),
        ),
        None => report.check(
            Mark::Warn,
            "Claude Code: the model list gives no context window for the mapped models",
        ),
    }
    for m in &models {
        report.detail(m.describe());
    }
    report.detail(
        "eval \"$(codex-responses-proxy env claude)\" sets them (also: env openai, env codex)",
    );
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
