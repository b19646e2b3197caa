//! Running under systemd: the listening sockets systemd passes (or our own),
//! readiness and status through sd-notify, the watchdog, and idle exit.
//!
//! Without systemd every piece degrades to nothing: no `LISTEN_FDS` means we
//! bind `listen`, no `NOTIFY_SOCKET` means no notifications, no
//! `WATCHDOG_USEC` means no watchdog pings.

use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use sd_notify::NotifyState;
use tokio::sync::oneshot;

use crate::Daemon;
use crate::auth::LoginSummary;
use crate::config::Config;
mod listeners;
mod notify;
pub use self::listeners::{Inherited, Listeners};
use self::notify::StatusLine;

/// Why the daemon stopped serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Signal,
    Idle,
}

/// How often idle exit looks at the activity counters, at most.
const IDLE_CHECK_MAX: Duration = Duration::from_secs(5);
/// How often idle exit looks at the activity counters, at least: finer
/// checks would only cost wakeups.
const IDLE_CHECK_MIN: Duration = Duration::from_millis(100);

/// Serves until SIGTERM/SIGINT (or idle exit), keeping systemd informed.
/// Returns once requests in flight have finished or the grace period ran out.
///
/// Watchdog: a ping is sent every half `WATCHDOG_USEC`, and only while the
/// server is healthy: the serving task is still running (or draining after
/// a stop) and the runtime runs a probe task within a quarter of the
/// interval. A wedged runtime, which can no longer run this loop or the
/// probe, sends no ping; systemd then restarts the unit.
pub async fn run(
    daemon: Daemon,
    listeners: Listeners,
    watchdog: Option<Duration>,
) -> anyhow::Result<()> {
    let config = daemon.state().inner.pipeline.config.clone();
    let place = listeners.describe();
    let activated = listeners.socket_activated;
    let idle_exit = idle_exit(&config, &place, activated);
    // Before the first connection is served: a SIGTERM from then on stops
    // the daemon gracefully rather than killing it.
    let signals = shutdown_signal();

    let own_socket_file = listeners.own_socket_file.clone();
    daemon.state().set_serving(Vec::new(), activated);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let mut server = tokio::spawn(daemon.clone().serve(listeners.listeners, async move {
        let _ = stop_rx.await;
    }));

    let status = status_line(&place, activated, daemon.auth().summary());
    tracing::info!(status = %status, "ready");
    let mut summary = StatusLine::new(daemon.clone());
    summary.send(&[NotifyState::Ready]);

    let timers = Timers {
        watchdog,
        idle_exit,
    };
    let stop = match wait_for_stop(&daemon, &mut server, &mut summary, timers, signals).await {
        Ok(stop) => stop,
        Err(failure) => {
            notify(&[NotifyState::Stopping]);
            remove_socket_file(own_socket_file.as_deref());
            return Err(failure);
        }
    };
    announce_stop(stop, &daemon, config.idle_exit);
    let _ = stop_tx.send(());
    let joined = drain(&mut server, watchdog).await;
    remove_socket_file(own_socket_file.as_deref());
    joined.map_err(|e| anyhow::anyhow!("the server failed while stopping: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Says where the daemon serves; `idle_exit` when it applies (only under
/// socket activation, where systemd keeps the socket).
fn idle_exit(config: &Config, place: &str, activated: bool) -> Option<Duration> {
    if activated {
        tracing::info!(listen = %place, "serving on the sockets systemd passed; `listen` is ignored");
    } else {
        tracing::info!(listen = %place, "serving on our own listener");
    }
    match (activated, config.idle_exit.is_zero()) {
        (true, false) => Some(config.idle_exit),
        (false, false) => {
            tracing::info!(
                idle_exit = %humantime::format_duration(config.idle_exit),
                "idle_exit is ignored: it applies only under socket activation, where systemd \
                 keeps the socket and starts the daemon again on the next connection"
            );
            None
        }
        (_, true) => None,
    }
}

/// The periodic duties of the control loop; `None` turns one off.
#[derive(Debug, Clone, Copy)]
struct Timers {
    watchdog: Option<Duration>,
    idle_exit: Option<Duration>,
}

/// The control loop: pings the watchdog, updates `STATUS=`, and returns
/// why serving should stop, or an error if the server stopped by itself.
async fn wait_for_stop(
    daemon: &Daemon,
    server: &mut tokio::task::JoinHandle<()>,
    summary: &mut StatusLine,
    Timers {
        watchdog,
        idle_exit,
    }: Timers,
    signals: impl Future<Output = ()>,
) -> anyhow::Result<Stop> {
    // `STATUS=` follows activity and limits only when systemd listens.
    let notifying = std::env::var_os("NOTIFY_SOCKET").is_some();
    let hour = Duration::from_secs(3600);
    let mut watchdog_tick = tokio::time::interval(watchdog.map_or(hour, |w| w / 2));
    let idle_check = idle_exit.map_or(hour, |d| (d / 4).clamp(IDLE_CHECK_MIN, IDLE_CHECK_MAX));
    let mut idle_tick = tokio::time::interval(idle_check);
    tokio::pin!(signals);
    loop {
        tokio::select! {
            () = &mut signals => return Ok(Stop::Signal),
            () = summary.due(), if notifying => summary.send(&[]),
            _ = watchdog_tick.tick(), if watchdog.is_some() => {
                let probe = watchdog.unwrap_or_default() / 4;
                if !server.is_finished() && responds(&tokio::runtime::Handle::current(), probe).await {
                    notify(&[NotifyState::Watchdog]);
                }
            }
            _ = idle_tick.tick(), if idle_exit.is_some() => {
                let activity = daemon.state().activity();
                if let Some(limit) = idle_exit
                    && activity.in_flight() == 0
                    && activity.idle_for() >= limit
                {
                    return Ok(Stop::Idle);
                }
            }
            joined = &mut *server => {
                // The accept loops end only when told to; this is a failure.
                return Err(match joined {
                    Ok(()) => anyhow::anyhow!("the server stopped on its own"),
                    Err(e) => anyhow::anyhow!("the server failed: {e}"),
                });
            }
        }
    }
}

/// Waits for the server to let its requests in flight finish, feeding the
/// watchdog meanwhile while the runtime still responds: a long answer being
/// drained is not a hang.
async fn drain(
    server: &mut tokio::task::JoinHandle<()>,
    watchdog: Option<Duration>,
) -> Result<(), tokio::task::JoinError> {
    let Some(watchdog) = watchdog else {
        return server.await;
    };
    let mut tick = tokio::time::interval(watchdog / 2);
    loop {
        tokio::select! {
            joined = &mut *server => return joined,
            _ = tick.tick() => {
                if responds(&tokio::runtime::Handle::current(), watchdog / 4).await {
                    notify(&[NotifyState::Watchdog]);
                }
            }
        }
    }
}

/// Logs why the daemon stops and tells systemd.
fn announce_stop(stop: Stop, daemon: &Daemon, idle_exit: Duration) {
    let in_flight = daemon.state().activity().in_flight();
    let why = match stop {
        Stop::Signal => "stop requested",
        Stop::Idle => "idle",
    };
    let status = format!("stopping ({why}): {in_flight} request(s) in flight");
    match stop {
        Stop::Signal => {
            tracing::info!(
                in_flight,
                "stopping: no new connections; letting requests in flight finish"
            );
        }
        Stop::Idle => tracing::info!(
            idle_exit = %humantime::format_duration(idle_exit),
            "exiting after idle_exit without requests; systemd starts the daemon again on the next connection"
        ),
    }
    notify(&[NotifyState::Stopping, NotifyState::Status(&status)]);
}

/// Whether `runtime` runs a new task within `within`: its worker threads
/// are not all wedged (a stuck system call, a blocking loop).
async fn responds(runtime: &tokio::runtime::Handle, within: Duration) -> bool {
    tokio::time::timeout(within, runtime.spawn(async {}))
        .await
        .is_ok_and(|joined| joined.is_ok())
}

/// Sends `states` to systemd when it listens (`NOTIFY_SOCKET`); otherwise nothing.
fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

fn remove_socket_file(path: Option<&Path>) {
    if let Some(path) = path
        && let Err(e) = std::fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "cannot remove our socket file");
    }
}

/// One line for `systemctl status`: where we listen and the login's state.
/// Reads only the login file, never the network.
fn status_line(
    place: &str,
    activated: bool,
    login: Result<LoginSummary, crate::auth::AuthError>,
) -> String {
    let how = if activated {
        "socket-activated"
    } else {
        "own listener"
    };
    let login = match login {
        Ok(s) => {
            let who = s
                .email
                .or(s.account_id)
                .unwrap_or_else(|| "unknown account".into());
            let plan = s.plan.map(|p| format!(" ({p})")).unwrap_or_default();
            match s.access_expires {
                Some(t) if t > SystemTime::now() => format!(
                    "login {who}{plan}, token valid until {}",
                    humantime::format_rfc3339_seconds(t)
                ),
                Some(t) => format!(
                    "login {who}{plan}, token expired {} (refreshed on the next request)",
                    humantime::format_rfc3339_seconds(t)
                ),
                None => format!("login {who}{plan}"),
            }
        }
        Err(e) => {
            let text = e.to_string();
            let first = text.split(':').next().unwrap_or(&text);
            format!("no usable login ({first})")
        }
    };
    format!("listening on {place} ({how}); {login}")
}

/// Resolves on SIGTERM or SIGINT.
/// Listens for SIGTERM and SIGINT from the moment it is called (not from
/// the first poll, as an `async fn` would): the returned future ends at the
/// first of them.
fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let listening = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = listening else {
            tracing::warn!("cannot listen for SIGTERM/SIGINT; stop the daemon with SIGKILL");
            std::future::pending::<()>().await;
            return;
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
}

#[cfg(test)]
mod tests;
