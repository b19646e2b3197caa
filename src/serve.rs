//! The accept loop: connections from every listener, a deadline for request
//! headers, and a graceful stop that lets requests in flight finish.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, UnixListener};
use tokio::runtime::Handle;
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;

use crate::boundary::ViaUnixSocket;
use crate::server::Activity;

/// How long a just-accepted connection is given to send its request before a
/// stop closes idle connections. Loopback clients send it within microseconds.
const ACCEPT_SETTLE: Duration = Duration::from_millis(250);

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
    /// Worker threads, each accepting on every listener.
    pub workers: usize,
    /// Less than every timeout armed per request (see `housekeeping`).
    pub housekeeping: Duration,
}

/// The worker threads' runtimes, for a liveness check from outside them.
#[derive(Debug, Default)]
pub struct Workers {
    handles: std::sync::Mutex<Vec<Handle>>,
}

impl Workers {
    /// Whether every worker runs a task within `within`: none is wedged.
    pub async fn respond(&self, within: Duration) -> bool {
        let handles = match self.handles.lock() {
            Ok(h) => h.clone(),
            Err(_) => return false,
        };
        let probes = handles.iter().map(|h| h.spawn(async {}));
        tokio::time::timeout(within, futures_util::future::join_all(probes))
            .await
            .is_ok_and(|done| done.iter().all(Result::is_ok))
    }
}

/// Serves `router` on every listener until `shutdown` resolves, then stops
/// accepting and waits up to the grace period for open connections.
///
/// Each worker thread runs its own single-threaded runtime and accepts on
/// every listener; a connection, its requests and the upstream connections
/// they borrow then stay on the thread that accepted it, like the worker
/// processes of nginx. A request costs no wake-up of another thread.
///
/// Returns early, after stopping the others, if a worker ends on its own.
pub async fn serve(
    listeners: Vec<Listener>,
    router: Router,
    activity: Arc<Activity>,
    workers: Arc<Workers>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) {
    let listeners: Vec<StdListener> =
        match listeners.into_iter().map(StdListener::try_from).collect() {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot hand the listeners to the workers");
                return;
            }
        };
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut ended = Vec::new();
    for n in 0..options.workers.max(1) {
        let (ended_tx, ended_rx) = oneshot::channel::<()>();
        let spawned = spawn_worker(
            n,
            &listeners,
            router.clone(),
            activity.clone(),
            &workers,
            options,
            stop_rx.clone(),
            ended_tx,
        );
        match spawned {
            Ok(()) => ended.push(ended_rx),
            Err(e) => {
                tracing::error!(error = %e, worker = n, "cannot start a worker thread");
                break;
            }
        }
    }
    // The workers hold their own copies of the listeners.
    drop(listeners);
    if !ended.is_empty() {
        let any_ended = futures_util::future::select_all(ended.iter_mut());
        tokio::select! {
            () = shutdown => {}
            _ = any_ended => tracing::error!("a worker thread ended on its own; stopping"),
        }
    }
    let _ = stop_tx.send(true);
    for worker in ended {
        let _ = worker.await;
    }
}

#[allow(clippy::too_many_arguments)]
fn spawn_worker(
    n: usize,
    listeners: &[StdListener],
    router: Router,
    activity: Arc<Activity>,
    workers: &Workers,
    options: ServeOptions,
    stop: watch::Receiver<bool>,
    ended: oneshot::Sender<()>,
) -> std::io::Result<()> {
    let listeners = listeners
        .iter()
        .map(StdListener::try_clone)
        .collect::<std::io::Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name(format!("worker-{n}"))
        .spawn(move || {
            runtime.block_on(worker(listeners, router, activity, options, stop));
            // Tasks still running past the grace period end with the runtime.
            drop(runtime);
            let _ = ended.send(());
        })?;
    // Only a runtime that has its thread is probed by the watchdog.
    if let Ok(mut handles) = workers.handles.lock() {
        handles.push(handle);
    }
    Ok(())
}

/// One worker: accept loops on every listener, then a graceful stop.
async fn worker(
    listeners: Vec<StdListener>,
    router: Router,
    activity: Arc<Activity>,
    options: ServeOptions,
    stop_rx: watch::Receiver<bool>,
) {
    let graceful = Arc::new(GracefulShutdown::new());
    let housekeeping = tokio::spawn(housekeeping(options.housekeeping));
    let mut accept_loops = Vec::new();
    for listener in listeners {
        let listener = match listener.register() {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "cannot register a listener");
                continue;
            }
        };
        let router = router.clone();
        let graceful = graceful.clone();
        let mut stop = stop_rx.clone();
        let activity = activity.clone();
        accept_loops.push(tokio::spawn(async move {
            loop {
                let io = tokio::select! {
                    biased;
                    _ = stop.changed() => break,
                    accepted = accept(&listener) => match accepted {
                        Ok(io) => io,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        Err(e) => {
                            // Out of descriptors and the like: wait a moment and go on.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                activity.connection_accepted();
                // No browser reaches a Unix socket: its requests skip the Host check.
                let unix = matches!(io, EitherIo::Unix(_));
                let service = TowerToHyperService::new(router.clone().map_request(
                    move |mut request: Request<Incoming>| {
                        if unix {
                            request.extensions_mut().insert(ViaUnixSocket);
                        }
                        request
                    },
                ));
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
        }));
    }
    for handle in accept_loops {
        let _ = handle.await;
    }
    housekeeping.abort();
    // The listeners are dropped once their loops end. A Unix socket file
    // stays: one systemd passed must outlive us (the next connection starts
    // the daemon again), and one we bound is removed by whoever created it.
    //
    // A connection accepted just before the stop may not have sent its
    // request yet, and the graceful stop would close it as idle: give it the
    // moment it needs to start its request, which is then served to the end.
    let quiet = activity.quiet_for();
    if quiet < ACCEPT_SETTLE {
        tokio::time::sleep(ACCEPT_SETTLE - quiet).await;
    }
    // Every accept loop has ended, so this is the last reference.
    let Ok(graceful) = Arc::try_unwrap(graceful) else {
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

/// A worker's periodic chores: closing expired idle upstream connections,
/// and keeping a timer due before any request timer can be.
///
/// The second is for speed. tokio wakes its time driver (an eventfd write
/// and one more turn of the event loop, on this very thread) when a timer is
/// armed earlier than the driver's next planned wake-up, or when none is
/// planned. Every request arms two (the header read timeout for the next
/// request, the idle timeout of the answer), usually while nothing else is
/// pending: two needless wake-ups per request. With this timer pending, the
/// driver always has a wake-up planned within `period`, and timers of at
/// least `period` arm silently. It costs one wake-up per `period`.
async fn housekeeping(period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        crate::upstream::close_expired();
    }
}

/// A listener between runtimes: handed to each worker, which registers its copy.
#[derive(Debug)]
enum StdListener {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl TryFrom<Listener> for StdListener {
    type Error = std::io::Error;

    fn try_from(listener: Listener) -> std::io::Result<Self> {
        Ok(match listener {
            Listener::Tcp(l) => StdListener::Tcp(l.into_std()?),
            Listener::Unix(l) => StdListener::Unix(l.into_std()?),
        })
    }
}

impl StdListener {
    fn try_clone(&self) -> std::io::Result<Self> {
        Ok(match self {
            StdListener::Tcp(l) => StdListener::Tcp(l.try_clone()?),
            StdListener::Unix(l) => StdListener::Unix(l.try_clone()?),
        })
    }

    /// With the current runtime; the socket is already non-blocking.
    fn register(self) -> std::io::Result<Listener> {
        Ok(match self {
            StdListener::Tcp(l) => Listener::Tcp(TcpListener::from_std(l)?),
            StdListener::Unix(l) => Listener::Unix(UnixListener::from_std(l)?),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wedged_worker_fails_the_liveness_probe_and_a_running_one_passes() {
        let workers = Workers::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        workers
            .handles
            .lock()
            .unwrap()
            .push(runtime.handle().clone());
        let (release, wedged) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async {
                // Blocks the worker's only thread, as a stuck system call would.
                let _ = wedged.recv();
                std::future::pending::<()>().await;
            });
        });
        assert!(!workers.respond(Duration::from_millis(100)).await);
        release.send(()).unwrap();
        assert!(workers.respond(Duration::from_secs(10)).await);
        assert!(!thread.is_finished());
    }
}
