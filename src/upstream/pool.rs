//! Connections to the Codex backend for the request path: HTTP/1.1 with
//! keep-alive, over TLS for `https`, pooled per worker thread.
//!
//! A request is served on one worker thread from accept to last byte
//! ([`crate::serve`]), so the connection it borrows is opened, driven and
//! pooled on that thread too. No hand-off to another thread happens on the
//! way, which is what a shared pool (one for the whole process) costs on
//! every request: a wake-up of whichever thread drives the connection.

use std::cell::RefCell;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, Request, Response, Uri, header};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use tower::Service;

/// Idle connections kept per worker thread.
const MAX_IDLE_PER_THREAD: usize = 128;
/// An idle connection older than this is closed rather than reused.
const IDLE_EXPIRY: Duration = Duration::from_secs(90);

type Stream = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
type Sender = SendRequest<Full<Bytes>>;

/// Why a request could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("timed out connecting")]
    ConnectTimeout,
    #[error("could not connect")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

impl SendError {
    /// The request was written on a pooled connection the server had
    /// already closed: it never reached the server, so sending it again on
    /// a new connection is safe.
    pub fn is_stale_connection(&self) -> bool {
        match self {
            SendError::Http(e) => e.is_canceled() || e.is_incomplete_message(),
            _ => false,
        }
    }
}

/// Opens and reuses connections to one backend.
#[derive(Debug, Clone)]
pub struct Pool {
    id: u64,
    route: Route,
    connect_timeout: Duration,
}

/// How connections reach the backend: straight, or through the HTTP proxy
/// the environment names (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, minus
/// `NO_PROXY`, read as curl and reqwest read them).
#[derive(Debug, Clone)]
enum Route {
    Direct(HttpsConnector<HttpConnector>),
    /// An `https` backend: a `CONNECT` tunnel through the proxy, TLS inside it.
    Tunnel(HttpsConnector<Tunnel<HttpConnector>>),
    /// An `http` backend: requests in absolute form, sent to the proxy.
    Forward {
        connector: HttpsConnector<HttpConnector>,
        proxy: Uri,
        auth: Option<HeaderValue>,
    },
}

struct Idle {
    pool: u64,
    since: Instant,
    sender: Sender,
}

thread_local! {
    /// This thread's idle connections, newest last.
    static IDLE: RefCell<Vec<Idle>> = const { RefCell::new(Vec::new()) };
}

impl Pool {
    /// A pool for `target`, through the environment's proxy if one applies.
    pub fn new(target: &Uri, connect_timeout: Duration, tls_config: rustls::ClientConfig) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let tls = || {
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls_config.clone())
                .https_or_http()
                .enable_http1()
        };
        let route = match Matcher::from_env().intercept(target) {
            None => Route::Direct(tls().wrap_connector(http)),
            Some(proxy) if target.scheme_str() == Some("https") => {
                tracing::debug!(proxy = %redact_userinfo(proxy.uri()), "reaching the backend through a CONNECT tunnel");
                let mut tunnel = Tunnel::new(proxy.uri().clone(), http);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                Route::Tunnel(tls().wrap_connector(tunnel))
            }
            Some(proxy) => {
                tracing::debug!(proxy = %redact_userinfo(proxy.uri()), "reaching the backend through a forward proxy");
                Route::Forward {
                    connector: tls().wrap_connector(http),
                    proxy: proxy.uri().clone(),
                    auth: proxy.basic_auth().cloned(),
                }
            }
        };
        Pool {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            route,
            connect_timeout,
        }
    }

    /// Sends `request` (origin-form URI, `Host` set) to `target` on a pooled
    /// connection, or a new one. The connection returns to this thread's pool
    /// once the answer's body has been read to its end.
    pub async fn send(
        &self,
        target: &Uri,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<PooledBody>, SendError> {
        let mut request = request;
        if let Route::Forward { auth, .. } = &self.route {
            *request.uri_mut() = target.clone();
            if let Some(auth) = auth {
                request
                    .headers_mut()
                    .insert(header::PROXY_AUTHORIZATION, auth.clone());
            }
        }
        let mut sender = match self.take_idle().await {
            Some(sender) => sender,
            None => self.connect(target).await?,
        };
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        Ok(Response::from_parts(
            parts,
            PooledBody {
                body,
                sender: Some(sender),
                pool: self.id,
            },
        ))
    }

    /// This thread's newest idle connection to this backend that is still
    /// open; ones found closed or expired on the way are dropped.
    async fn take_idle(&self) -> Option<Sender> {
        loop {
            let idle = IDLE.with(|idle| {
                let mut idle = idle.borrow_mut();
                // Several pools share a thread only in tests (several daemons
                // in one process); the newest is last.
                let at = idle.iter().rposition(|i| i.pool == self.id)?;
                Some(idle.remove(at))
            })?;
            if idle.since.elapsed() >= IDLE_EXPIRY || idle.sender.is_closed() {
                continue;
            }
            let mut sender = idle.sender;
            // Ready at once unless the connection is still finishing the
            // last answer's bookkeeping, or has just been closed.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self, target: &Uri) -> Result<Sender, SendError> {
        let connecting = async {
            match &self.route {
                Route::Direct(c) => c.clone().call(target.clone()).await,
                Route::Tunnel(c) => c.clone().call(target.clone()).await,
                Route::Forward {
                    connector, proxy, ..
                } => connector.clone().call(proxy.clone()).await,
            }
        };
        let io: Stream = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| SendError::ConnectTimeout)?
            .map_err(SendError::Connect)?;
        let (sender, connection) = http1::Builder::new().handshake(io).await?;
        // Spawned on this thread's runtime: it stays on this thread.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }
}

/// Closes this thread's idle connections that have expired or that the
/// server closed. Called periodically by each worker, so that connections
/// do not outlive `IDLE_EXPIRY` when no request comes to reuse them.
pub fn close_expired() {
    IDLE.with(|idle| {
        idle.borrow_mut()
            .retain(|i| i.since.elapsed() < IDLE_EXPIRY && !i.sender.is_closed());
    });
}

/// A proxy URL for logs, without its credentials.
fn redact_userinfo(uri: &Uri) -> String {
    let text = uri.to_string();
    match (text.find("://"), text.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}[redacted]{}", &text[..scheme + 3], &text[at..])
        }
        _ => text,
    }
}

fn put_back(pool: u64, sender: Sender) {
    if sender.is_closed() {
        return;
    }
    IDLE.with(|idle| {
        let mut idle = idle.borrow_mut();
        // The oldest are first: drop the expired and, past the bound, the oldest.
        let expired = idle
            .iter()
            .take_while(|i| i.since.elapsed() >= IDLE_EXPIRY)
            .count();
        idle.drain(..expired);
        if idle.len() >= MAX_IDLE_PER_THREAD {
            idle.remove(0);
        }
        idle.push(Idle {
            pool,
            since: Instant::now(),
            sender,
        });
    });
}

/// An answer's body; its connection goes back to the pool when the body has
/// been read to the end, and is closed if the body is dropped before.
#[derive(Debug)]
pub struct PooledBody {
    body: Incoming,
    sender: Option<Sender>,
    pool: u64,
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None) = polled
            && let Some(sender) = this.sender.take()
        {
            put_back(this.pool, sender);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
