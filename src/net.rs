//! The one HTTP client for everything the daemon sends out: the backend's
//! `/responses` and `/models`, the token endpoint, and `doctor`'s checks,
//! with an HTTP/1.1-only twin for the handshake of the backend's WebSocket.
//! One TLS configuration (the system's trust store plus `ca_file`), one
//! proxy configuration (the environment's `HTTPS_PROXY`/`HTTP_PROXY`/
//! `ALL_PROXY`/`NO_PROXY`, read by reqwest), one set of default headers,
//! and transport failures told apart by the error's type.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The `originator` of the official client: an edge filter is reported to
/// challenge requests without it.
pub const ORIGINATOR: &str = "codex_cli_rs";

/// An idle pooled connection older than this is closed rather than reused.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why the client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read ca_file {path}: {source}")]
    ReadCaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ca_file {path} is not PEM: {source}")]
    NotPem {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("ca_file {path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("a certificate of ca_file cannot be trusted: {0}")]
    Untrusted(rustls::Error),
    #[error("no certificate can be trusted: the system has none and no ca_file is set")]
    NoRoots,
    #[error("building the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// What the client presents itself as, and how long it waits to connect.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub client_version: &'a str,
    pub connect_timeout: Duration,
    pub ca_file: Option<&'a Path>,
}

/// Which HTTP versions a client offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Versions {
    /// HTTP/2 where the server offers it, else HTTP/1.1.
    Any,
    /// HTTP/1.1 only: a WebSocket handshake is an HTTP/1.1 upgrade.
    Http1,
}

/// The client: a connect timeout but no total timeout (answers stream for
/// as long as the model thinks; the relay applies an idle timeout instead).
pub fn client(identity: Identity<'_>) -> Result<reqwest::Client, ClientError> {
    build(identity, Versions::Any)
}

/// The same client for the backend's Responses WebSocket: HTTP/1.1 only,
/// since the handshake is an HTTP/1.1 upgrade, with the same TLS trust,
/// proxy environment and default headers as [`client`].
pub fn upgrade_client(identity: Identity<'_>) -> Result<reqwest::Client, ClientError> {
    build(identity, Versions::Http1)
}

fn build(identity: Identity<'_>, versions: Versions) -> Result<reqwest::Client, ClientError> {
    let mut headers = identity_headers(identity.client_version);
    headers.insert("originator", HeaderValue::from_static(ORIGINATOR));
    let builder = reqwest::Client::builder();
    let builder = match versions {
        Versions::Any => builder,
        Versions::Http1 => builder.http1_only(),
    };
    Ok(builder
        .use_preconfigured_tls(tls_config(identity.ca_file, versions)?)
        .dns_resolver(Arc::new(Resolver))
        .default_headers(headers)
        .connect_timeout(identity.connect_timeout)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .build()?)
}

/// The headers that say which release the proxy presents itself as:
/// `version` and `User-Agent`. The client's defaults, and set again on each
/// call to the backend, since the version follows the user's CLI
/// ([`crate::models::client_version`]).
pub fn identity_headers(version: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::try_from(version) {
        headers.insert("version", v);
    }
    if let Ok(agent) = HeaderValue::try_from(user_agent(version)) {
        headers.insert(axum::http::header::USER_AGENT, agent);
    }
    headers
}

/// `codex_cli_rs/<version> (<os>; <arch>) codex-responses-proxy/<ours>`.
pub fn user_agent(version: &str) -> String {
    format!(
        "{ORIGINATOR}/{version} ({}; {}) codex-responses-proxy/{}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    )
}

/// The system's trust store (`SSL_CERT_FILE`, `SSL_CERT_DIR`, the
/// distribution's bundle; on Nix also `NIX_SSL_CERT_FILE`) and `ca_file`,
/// offering HTTP/2 and HTTP/1.1, or HTTP/1.1 alone.
fn tls_config(
    ca_file: Option<&Path>,
    versions: Versions,
) -> Result<rustls::ClientConfig, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "a system certificate could not be loaded");
    }
    let _ = roots.add_parsable_certificates(native.certs);
    if std::env::var_os("SSL_CERT_FILE").is_none()
        && let Some(nix) = std::env::var_os("NIX_SSL_CERT_FILE")
        && let Ok(certs) = read_pem(Path::new(&nix))
    {
        let _ = roots.add_parsable_certificates(certs);
    }
    if let Some(path) = ca_file {
        for cert in read_pem(path)? {
            roots.add(cert).map_err(ClientError::Untrusted)?;
        }
    }
    if roots.is_empty() {
        return Err(ClientError::NoRoots);
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(ClientError::Untrusted)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = match versions {
        Versions::Any => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        Versions::Http1 => vec![b"http/1.1".to_vec()],
    };
    Ok(config)
}

/// The certificates of a PEM file: at least one.
fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    let pem = std::fs::read(path).map_err(|source| ClientError::ReadCaFile {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ClientError::NotPem {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(ClientError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// A host name that did not resolve: its own type, so a failure can be
/// named without reading error texts.
#[derive(Debug, thiserror::Error)]
#[error("the host name {host} could not be resolved: {source}")]
struct NameNotResolved {
    host: String,
    source: std::io::Error,
}

/// The system resolver (as reqwest's own), with its failures typed.
struct Resolver;

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match tokio::net::lookup_host((host.clone(), 0)).await {
                Ok(addrs) => {
                    let addrs: Vec<SocketAddr> = addrs.collect();
                    Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
                }
                Err(source) => {
                    Err(Box::new(NameNotResolved { host, source })
                        as Box<dyn StdError + Send + Sync>)
                }
            }
        })
    }
}

/// What went wrong on the way to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    TimedOut,
    Refused,
    NameNotResolved,
    Tls,
    Reset,
    Other,
}

impl Failure {
    /// Reads the failure from the error's chain of sources, by type.
    pub fn of(e: &(dyn StdError + 'static)) -> Failure {
        let connecting = chain(e).any(|s| {
            s.downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_connect)
        });
        chain(e)
            .find_map(|s| Failure::of_one(s, connecting))
            .unwrap_or(Failure::Other)
    }

    fn of_one(e: &(dyn StdError + 'static), connecting: bool) -> Option<Failure> {
        if e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
        {
            return Some(Failure::TimedOut);
        }
        if e.is::<NameNotResolved>() {
            return Some(Failure::NameNotResolved);
        }
        if e.is::<rustls::Error>() {
            return Some(Failure::Tls);
        }
        let io = e.downcast_ref::<std::io::Error>()?;
        match io.kind() {
            std::io::ErrorKind::TimedOut => Some(Failure::TimedOut),
            std::io::ErrorKind::ConnectionRefused => Some(Failure::Refused),
            std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::BrokenPipe => Some(Failure::Reset),
            // While connecting, only the TLS handshake reads from the server.
            std::io::ErrorKind::UnexpectedEof if connecting => Some(Failure::Tls),
            _ => None,
        }
    }
}

/// An error and its sources. An `io::Error` wrapping another error is
/// followed into that error (its own `source` skips it).
fn chain<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |&s: &&'a (dyn StdError + 'static)| match s
        .downcast_ref::<std::io::Error>()
    {
        Some(io) => io
            .get_ref()
            .map(|inner| inner as &'a (dyn StdError + 'static)),
        None => s.source(),
    })
}

/// Plain words for a transport error: refused, name not found, TLS, timeout.
pub fn describe(e: &(dyn StdError + 'static)) -> String {
    match Failure::of(e) {
        Failure::TimedOut => "timed out".into(),
        Failure::Refused => "connection refused".into(),
        Failure::NameNotResolved => "the host name could not be resolved".into(),
        Failure::Tls => "the TLS handshake failed".into(),
        Failure::Reset => "the connection was reset".into(),
        Failure::Other => chain(e)
            .last()
            .map_or_else(|| e.to_string(), ToString::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_named_from_the_error_types_in_the_chain() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(Failure::of(&refused), Failure::Refused);
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(Failure::of(&tls), Failure::Tls);
        let dns = NameNotResolved {
            host: "nowhere.invalid".into(),
            source: std::io::Error::other("lookup failed"),
        };
        assert_eq!(Failure::of(&dns), Failure::NameNotResolved);
        assert_eq!(describe(&std::io::Error::other("odd")), "odd");
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = tls_config(Some(&path), Versions::Any).unwrap_err();
        assert!(matches!(err, ClientError::NoCertificate { .. }), "{err}");
    }
}
