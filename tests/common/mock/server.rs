//! Where the mock listens: plain HTTP on a loopback port, or TLS with a CA
//! of its own (HTTP/2 offered or not), and the routes it serves there.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::Request;
use axum::routing::{get, post};
use axum::serve::ListenerExt;

use super::{MockBackend, MockState, http, new_state, tokens, ws};

fn router(state: Arc<MockState>) -> Router {
    Router::new()
        .route(
            "/backend-api/codex/responses",
            post(http::responses).get(ws::upgrade),
        )
        .route("/backend-api/codex/responses/compact", post(http::compact))
        .route("/backend-api/codex/models", get(http::models))
        // The usage endpoint beside `/codex`, as for any base under
        // `/backend-api` (PROTOCOL.md §13); only there, so a client that
        // picks the place by host name instead finds nothing.
        .route("/backend-api/wham/usage", get(http::usage))
        .route("/oauth/token", post(tokens::token))
        .with_state(state)
}

impl MockBackend {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener).await
    }

    pub async fn start_on(listener: tokio::net::TcpListener) -> Self {
        let state = new_state();
        let addr = listener.local_addr().unwrap();
        let app = router(state.clone());
        let counter = state.clone();
        let listener = listener.tap_io(move |tcp| {
            counter.connections.fetch_add(1, Ordering::SeqCst);
            // Events are small writes: without this, Nagle's algorithm and
            // the peer's delayed ACK hold them for tens of milliseconds.
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockBackend {
            addr,
            state,
            task,
            base: format!("http://{addr}"),
        }
    }

    /// The same backend over TLS at `https://localhost:PORT`, with a
    /// certificate from a CA of its own, whose PEM is returned (for `ca_file`).
    /// It offers HTTP/2 by ALPN if `http2`, else only HTTP/1.1.
    pub async fn start_tls(http2: bool) -> (Self, String) {
        let (acceptor, ca_pem) = tls_acceptor(http2);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = new_state();
        let versions = state.clone();
        let app = router(state.clone()).layer(axum::middleware::from_fn(
            move |request: Request, next: axum::middleware::Next| {
                versions.versions.lock().unwrap().push(request.version());
                next.run(request)
            },
        ));
        let counter = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                counter.connections.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    // With upgrades, so `wss://` works as `ws://` does.
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
                });
            }
        });
        let mock = MockBackend {
            addr,
            state,
            task,
            base: format!("https://localhost:{}", addr.port()),
        };
        (mock, ca_pem)
    }
}

/// A TLS acceptor for `localhost` and the PEM of the CA that signed it.
fn tls_acceptor(http2: bool) -> (tokio_rustls::TlsAcceptor, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "mock backend CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca_cert, &ca_key)
        .unwrap();
    let mut server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    server.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        ca_cert.pem(),
    )
}
