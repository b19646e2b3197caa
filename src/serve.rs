//! The accept loop: connections from every listener, a deadline for request
//! headers, and a graceful stop that lets requests in flight finish.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

/// A socket the daemon accepts connections on.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Where it listens, for logs and status lines.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| "tcp".into()),
            Listener::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix".into()),
        }
    }

    /// The path of a Unix socket, if it is one.
    pub fn unix_path(&self) -> Option<PathBuf> {
        match self {
            Listener::Unix(l) => l.local_addr().ok()?.as_pathname().map(PathBuf::from),
            Listener::Tcp(_) => None,
        }
    }
}

/// Limits of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// A client that has not sent its headers by then is disconnected.
    pub header_read_timeout: Duration,
    /// How long requests in flight may run on after the stop signal.
    pub shutdown_grace: Duration,
}

/// Serves `router` on every listener until `shutdown` resolves, then stops
/// accepting and waits up to the grace period for open connections.
pub async fn serve(
    listeners: Vec<Listener>,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = std::sync::Arc::new(GracefulShutdown::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accept_loops = Vec::new();
    for listener in listeners {
        let router = router.clone();
        let graceful = graceful.clone();
        let mut stop = stop_rx.clone();
        accept_loops.push(tokio::spawn(async move {
            loop {
                let io = tokio::select! {
                    biased;
                    _ = stop.changed() => break,
                    accepted = accept(&listener) => match accepted {
                        Ok(io) => io,
                        Err(e) => {
                            // Out of descriptors and the like: wait a moment and go on.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let service = TowerToHyperService::new(router.clone());
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(options.header_read_timeout)
                    .keep_alive(true)
                    .serve_connection(io, service);
                let conn = graceful.watcher().watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            listener
        }));
    }
    shutdown.await;
    let _ = stop_tx.send(true);
    // The listeners are dropped once their loops end: no new connections.
    // A Unix socket file stays: one systemd passed must outlive us (the next
    // connection starts the daemon again), and one we bound is removed by
    // whoever created it.
    for handle in accept_loops {
        let _ = handle.await;
    }
    // Every accept loop has ended, so this is the last reference.
    let Ok(graceful) = std::sync::Arc::try_unwrap(graceful) else {
        return;
    };
    let open = graceful.count();
    if open > 0 {
        tracing::info!(open, "waiting for open connections to finish");
    }
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(grace = %humantime::format_duration(options.shutdown_grace),
            "grace period over; closing the connections still open");
    }
}

async fn accept(listener: &Listener) -> std::io::Result<EitherIo> {
    match listener {
        Listener::Tcp(l) => {
            let (stream, _) = l.accept().await?;
            let _ = stream.set_nodelay(true);
            Ok(EitherIo::Tcp(TokioIo::new(stream)))
        }
        Listener::Unix(l) => {
            let (stream, _) = l.accept().await?;
            Ok(EitherIo::Unix(TokioIo::new(stream)))
        }
    }
}

/// A connection from either kind of listener, as one I/O type for hyper.
enum EitherIo {
    Tcp(TokioIo<tokio::net::TcpStream>),
    Unix(TokioIo<tokio::net::UnixStream>),
}

impl hyper::rt::Read for EitherIo {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            EitherIo::Tcp(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            EitherIo::Unix(s) => std::pin::Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for EitherIo {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            EitherIo::Tcp(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            EitherIo::Unix(s) => std::pin::Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            EitherIo::Tcp(s) => std::pin::Pin::new(s).poll_flush(cx),
            EitherIo::Unix(s) => std::pin::Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            EitherIo::Tcp(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            EitherIo::Unix(s) => std::pin::Pin::new(s).poll_shutdown(cx),
        }
    }
}
