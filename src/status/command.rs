//! `codex-responses-proxy status`: asks the daemon that runs with the same
//! configuration (its `listen` address, TCP or a Unix socket, and its client
//! key) for `GET /v1/status`, and prints the answer in plain words.
//!
//! Exit status: 0 when requests should work, 1 when the login is broken or a
//! usage limit is reached, 2 when the daemon could not be asked at all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use axum::http::{StatusCode, header};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{StatusReport, Verdict, render};
use crate::config::{Config, ConfigError, Flags, ListenAddr};

/// The daemon answers status from memory, save one usage call it bounds
/// itself; this is only for a daemon that does not answer at all.
const ASK_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the daemon could not be asked.
#[derive(Debug, thiserror::Error)]
enum AskError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read api_key_file {}: {source}", path.display())]
    Key {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start: {0}")]
    Start(String),
    #[error(
        "no daemon answers at {place} ({reason}); is it running? \
         (`systemctl --user status codex-responses-proxy`; `--listen` names another address)"
    )]
    Unreachable { place: String, reason: String },
    #[error("the daemon at {place} refused the client key: {message}")]
    Refused { place: String, message: String },
    #[error("the daemon at {place} answered HTTP {status}: {message}")]
    Status {
        place: String,
        status: u16,
        message: String,
    },
    #[error("the daemon at {place} did not answer with a status report ({reason}); is it older?")]
    NotReport { place: String, reason: String },
}

/// Runs the subcommand with the configuration `flags` select.
pub fn run(flags: &Flags) -> ExitCode {
    match ask(flags) {
        Ok(report) => {
            let (lines, verdict) = render(&report, Timestamp::now(), &TimeZone::system());
            for line in lines {
                println!("{line}");
            }
            match verdict {
                Verdict::Fine => ExitCode::SUCCESS,
                Verdict::LoginBroken | Verdict::LimitReached => ExitCode::FAILURE,
            }
        }
        Err(e) => {
            eprintln!("codex-responses-proxy status: {e}");
            ExitCode::from(2)
        }
    }
}

fn ask(flags: &Flags) -> Result<StatusReport, AskError> {
    let config = Config::load(flags)?.config;
    let key = match &config.api_key_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| AskError::Key {
                    path: path.clone(),
                    source,
                })?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    let place = config.listen.to_string();
    let (builder, url) = target(&config.listen);
    let client = builder
        .no_proxy()
        .timeout(ASK_TIMEOUT)
        .build()
        .map_err(|e| AskError::Start(crate::net::describe(&e)))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| AskError::Start(e.to_string()))?;
    runtime.block_on(async {
        let mut request = client.get(url);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| AskError::Unreachable {
            place: place.clone(),
            reason: crate::net::describe(&e),
        })?;
        read(response, place).await
    })
}

/// A client that reaches `listen`, and the status URL on it.
fn target(listen: &ListenAddr) -> (reqwest::ClientBuilder, String) {
    match listen {
        ListenAddr::Tcp(addr) => {
            // A daemon on every address answers on loopback too.
            let ip = match addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
                ip => ip,
            };
            let addr = SocketAddr::new(ip, addr.port());
            (
                reqwest::Client::builder(),
                format!("http://{addr}/v1/status"),
            )
        }
        ListenAddr::Unix(path) => (
            reqwest::Client::builder().unix_socket(path.clone()),
            "http://localhost/v1/status".to_owned(),
        ),
    }
}

async fn read(response: reqwest::Response, place: String) -> Result<StatusReport, AskError> {
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    let body = response.bytes().await.map_err(|e| AskError::Unreachable {
        place: place.clone(),
        reason: crate::net::describe(&e),
    })?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
        return Err(match status {
            StatusCode::UNAUTHORIZED => AskError::Refused { place, message },
            _ => AskError::Status {
                place,
                status: status.as_u16(),
                message,
            },
        });
    }
    if !json {
        return Err(AskError::NotReport {
            place,
            reason: "not JSON".into(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| AskError::NotReport {
        place,
        reason: e.to_string(),
    })
}
