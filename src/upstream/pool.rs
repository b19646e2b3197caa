//! Connections to the Codex backend for the request path, kept per worker
//! thread: over TLS for `https`, HTTP/2 when the backend offers it (one
//! connection per thread, shared by its requests), else HTTP/1.1 with
//! keep-alive (a pool of idle connections per thread).
//!
//! A request is served on one worker thread from accept to last byte
//! ([`crate::serve`]), so the connection it borrows is opened, driven and
//! pooled on that thread too. No hand-off to another thread happens on the
//! way, which is what a shared pool (one for the whole process) costs on
//! every request: a wake-up of whichever thread drives the connection.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::http::{HeaderValue, Request, Response, Uri, header};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::client::conn::http2;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connection as _, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::Notify;
use tower::Service;

/// Idle connections kept per worker thread.
const MAX_IDLE_PER_THREAD: usize = 128;
/// An idle connection older than this is closed rather than reused.
const IDLE_EXPIRY: Duration = Duration::from_secs(90);

type Stream = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
type Sender = SendRequest<Full<Bytes>>;
type SharedSender = http2::SendRequest<Full<Bytes>>;

/// A connection to send one request on.
enum Conn {
    H1(Sender),
    H2(SharedSender),
}

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
    /// TLS to the backend, which may offer HTTP/2: until it has answered
    /// with HTTP/1.1 once, a request waits for a connection being opened
    /// on its thread rather than opening another.
    may_share: Arc<AtomicBool>,
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
    /// This thread's idle HTTP/1.1 connections, newest last.
    static IDLE: RefCell<Vec<Idle>> = const { RefCell::new(Vec::new()) };
    /// This thread's HTTP/2 connection to each backend, shared by its requests.
    static SHARED: RefCell<Vec<(u64, SharedSender)>> = const { RefCell::new(Vec::new()) };
    /// Backends a connection is being opened to on this thread.
    static OPENING: RefCell<Vec<(u64, Arc<Notify>)>> = const { RefCell::new(Vec::new()) };
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
                .enable_all_versions()
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
            may_share: Arc::new(AtomicBool::new(target.scheme_str() == Some("https"))),
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
        let conn = loop {
            if let Some(shared) = self.shared() {
                break Conn::H2(shared);
            }
            if let Some(sender) = self.take_idle().await {
                break Conn::H1(sender);
            }
            match self.opening() {
                Opening::Elsewhere(done) => done.await,
                Opening::Here(_opening) => break self.connect(target).await?,
            }
        };
        let (response, sender) = match conn {
            Conn::H1(mut sender) => (sender.send_request(request).await?, Some(sender)),
            Conn::H2(mut shared) => {
                // HTTP/2 takes the scheme and authority from the URI, not `Host`.
                *request.uri_mut() = target.clone();
                request.headers_mut().remove(header::HOST);
                shared.ready().await?;
                (shared.send_request(request).await?, None)
            }
        };
        let (parts, body) = response.into_parts();
        Ok(Response::from_parts(
            parts,
            PooledBody {
                body,
                sender,
                pool: self.id,
            },
        ))
    }

    /// Whether a connection to this backend is being opened on this thread,
    /// and may turn out shareable; if not, this request opens one.
    fn opening(&self) -> Opening {
        if !self.may_share.load(Ordering::Relaxed) {
            return Opening::Here(None);
        }
        OPENING.with(|opening| {
            let mut opening = opening.borrow_mut();
            match opening.iter().find(|(pool, _)| *pool == self.id) {
                Some((_, done)) => {
                    let done = done.clone();
                    Opening::Elsewhere(Box::pin(async move { done.notified().await }))
                }
                None => {
                    opening.push((self.id, Arc::new(Notify::new())));
                    Opening::Here(Some(OpeningGuard { pool: self.id }))
                }
            }
        })
    }

    /// This thread's open HTTP/2 connection to this backend, if any.
    fn shared(&self) -> Option<SharedSender> {
        SHARED.with(|shared| {
            let mut shared = shared.borrow_mut();
            shared.retain(|(_, s)| !s.is_closed());
            shared
                .iter()
                .find(|(pool, _)| *pool == self.id)
                .map(|(_, s)| s.clone())
        })
    }

    /// This thread's newest idle connection to this backend that is still
    /// open; ones found closed or expired on the way are dropped.
    async fn take_idle(&self) -> Option<Sender> {
        loop {
            let idle = IDLE.with(|idle| {
                let mut idle = idle.borrow_mut();
                // The newest is last. A thread serves one daemon; the pool id
                // keeps apart any others a process might hold.
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

    async fn connect(&self, target: &Uri) -> Result<Conn, SendError> {
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
        if io.connected().is_negotiated_h2() {
            let (shared, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await?;
            // Spawned on this thread's runtime, like the streams it runs.
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "upstream HTTP/2 connection ended with an error");
                }
            });
            SHARED.with(|s| s.borrow_mut().push((self.id, shared.clone())));
            return Ok(Conn::H2(shared));
        }
        if self.may_share.load(Ordering::Relaxed) {
            // HTTP/1.1 over TLS: concurrent requests need connections of their own.
            self.may_share.store(false, Ordering::Relaxed);
        }
        let (sender, connection) = http1::Builder::new().handshake(io).await?;
        // Spawned on this thread's runtime: it stays on this thread.
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(Conn::H1(sender))
    }
}

/// A connection being opened, for a request about to open one.
enum Opening {
    /// By another request on this thread: wait for it, then look again.
    Elsewhere(Pin<Box<dyn Future<Output = ()> + Send>>),
    /// By this request; the guard, if any, tells the waiting ones when done.
    Here(Option<OpeningGuard>),
}

/// Ends an opening (on success, failure or cancellation) and wakes the
/// requests that waited for it.
struct OpeningGuard {
    pool: u64,
}

impl Drop for OpeningGuard {
    fn drop(&mut self) {
        OPENING.with(|opening| {
            let mut opening = opening.borrow_mut();
            if let Some(at) = opening.iter().position(|(pool, _)| *pool == self.pool) {
                let (_, done) = opening.remove(at);
                done.notify_waiters();
            }
        });
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
    SHARED.with(|shared| shared.borrow_mut().retain(|(_, s)| !s.is_closed()));
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

/// An answer's body. Over HTTP/1.1 its connection goes back to the pool when
/// the body has been read to the end, and is closed if the body is dropped
/// before; over HTTP/2 dropping it resets only its stream.
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
