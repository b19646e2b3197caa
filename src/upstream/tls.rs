//! Whom the backend and the token endpoint are trusted on: the built-in web
//! roots, and the certificates of `ca_file` (a TLS-inspecting proxy, a
//! private backend).

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The certificates of `ca_file`, if any.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    extra: Vec<CertificateDer<'static>>,
    pem: Vec<u8>,
}

impl Trust {
    /// Reads `ca_file`: it must hold at least one PEM certificate.
    pub fn load(ca_file: Option<&Path>) -> Result<Self, String> {
        let Some(path) = ca_file else {
            return Ok(Trust::default());
        };
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read ca_file {}: {e}", path.display()))?;
        let extra = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("ca_file {} is not PEM: {e}", path.display()))?;
        if extra.is_empty() {
            return Err(format!(
                "ca_file {} holds no PEM certificate",
                path.display()
            ));
        }
        Ok(Trust { extra, pem })
    }

    /// The TLS configuration of the request path's connections.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in &self.extra {
            roots
                .add(cert.clone())
                .map_err(|e| format!("a certificate of ca_file cannot be trusted: {e}"))?;
        }
        Ok(rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth())
    }

    /// The same trust for reqwest (the token endpoint, `/models`, `doctor`).
    pub fn apply(
        &self,
        builder: reqwest::ClientBuilder,
    ) -> reqwest::Result<reqwest::ClientBuilder> {
        if self.pem.is_empty() {
            return Ok(builder);
        }
        let mut builder = builder;
        for cert in reqwest::Certificate::from_pem_bundle(&self.pem)? {
            builder = builder.add_root_certificate(cert);
        }
        Ok(builder)
    }
}
