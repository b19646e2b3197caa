//! The serve loop: connections from every listener (TCP or Unix, passed by
//! systemd or bound here), a deadline for request headers, HTTP/1.1 with
//! upgrades, and a graceful stop that lets requests in flight finish.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::watch;
use tokio_util::either::Either;
use tokio_util::task::TaskTracker;

use axum::http::Request;
use hyper::body::Incoming;
use tower::ServiceExt;

use super::Activity;
use super::boundary::ViaUnixSocket;

/// How long a just-accepted connection is given to send its request before a
/// stop closes idle connections. Loopback clients send it within microseconds.
const ACCEPT_SETTLE: Duration = Duration::from_millis(250);

/// After a failed accept (out of descriptors and the like), the pause before
/// the next, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// A socket the daemon accepts connections on.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// A connection from either kind of listener.
type Connection = Either<TcpStream, UnixStream>;

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

    async fn accept(&self) -> std::io::Result<Connection> {
        match self {
            Listener::Tcp(l) => {
                let (stream, _) = l.accept().await?;
                let _ = stream.set_nodelay(true);
                Ok(Either::Left(stream))
            }
            Listener::Unix(l) => Ok(Either::Right(l.accept().await?.0)),
        }
    }
}

/// Limits of the serve loop, and the counters it keeps for idle exit.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A client that has not sent its headers by then is disconnected.
    pub header_read_timeout: Duration,
    /// How long requests in flight may run on after the stop signal.
    pub shutdown_grace: Duration,
    pub activity: Arc<Activity>,
}

/// Serves `app` on every listener until `shutdown` resolves, then stops
/// accepting and waits up to the grace period for open connections.
pub async fn serve(
    listeners: Vec<Listener>,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let connections = TaskTracker::new();
    let (stop_tx, stop) = watch::channel(false);
    let accepting = TaskTracker::new();
    for listener in listeners {
        accepting.spawn(accept_loop(
            listener,
            app.clone(),
            options.clone(),
            stop.clone(),
            connections.clone(),
        ));
    }
    accepting.close();
    shutdown.await;
    // Stop accepting first; a connection accepted just before the stop may
    // not have sent its request yet, and would be closed as idle: give it
    // the moment it needs to start its request, which is then served.
    let _ = stop_tx.send(true);
    accepting.wait().await;
    let quiet = options.activity.quiet_for();
    if quiet < ACCEPT_SETTLE {
        tokio::time::sleep(ACCEPT_SETTLE - quiet).await;
    }
    connections.close();
    if !connections.is_empty() {
        tracing::info!(
            open = connections.len(),
            "waiting for open connections to finish"
        );
    }
    if tokio::time::timeout(options.shutdown_grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(grace = %humantime::format_duration(options.shutdown_grace),
            "grace period over; closing the connections still open");
    }
}

/// Accepts on one listener until the stop, serving each connection in a
/// task of its own, tracked by `connections`.
async fn accept_loop(
    listener: Listener,
    app: Router,
    options: ServeOptions,
    mut stop: watch::Receiver<bool>,
    connections: TaskTracker,
) {
    loop {
        let io = tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(io) => io,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        options.activity.connection_accepted();
        connections.spawn(connection(io, app.clone(), options.clone(), stop.clone()));
    }
}

/// One connection: HTTP/1.1 with keep-alive and upgrades, closed gracefully
/// (after the request in flight) once the stop begins.
async fn connection(
    io: Connection,
    app: Router,
    options: ServeOptions,
    mut stop: watch::Receiver<bool>,
) {
    // No browser reaches a Unix socket: its requests skip the Host check.
    let unix = matches!(io, Either::Right(_));
    let app = app.map_request(move |mut request: Request<Incoming>| {
        if unix {
            request.extensions_mut().insert(ViaUnixSocket);
        }
        request
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(app))
        .with_upgrades();
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        () = stopped(&mut stop) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Resolves once the stop has begun.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
