//! The listening sockets: those systemd passed (`LISTEN_FDS`), or our own
//! bound from `listen`, Unix sockets private to the user.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::config::ListenAddr;
use crate::http::Listener;

/// What systemd handed this process through its environment.
pub struct Inherited {
    fds: listenfd::ListenFd,
    watchdog: Option<Duration>,
}

impl std::fmt::Debug for Inherited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inherited")
            .field("sockets", &self.fds.len())
            .field("watchdog", &self.watchdog)
            .finish()
    }
}

impl Inherited {
    /// Takes the passed sockets (`LISTEN_FDS`) and the watchdog interval
    /// (`WATCHDOG_USEC`). Both readers clear the variables they read, which
    /// is only sound while the process has a single thread: call this first
    /// thing in `main`, before the runtime starts.
    pub fn take() -> Self {
        let fds = listenfd::ListenFd::from_env();
        let mut usec = 0;
        let watchdog = sd_notify::watchdog_enabled(true, &mut usec)
            .then(|| Duration::from_micros(usec))
            .filter(|d| !d.is_zero());
        Inherited { fds, watchdog }
    }

    /// systemd passed at least one socket.
    pub fn socket_activated(&self) -> bool {
        self.fds.len() > 0
    }

    /// The interval systemd expects watchdog pings within, if it asked for them.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// The passed sockets, as listeners of the running runtime.
    fn listeners(&mut self) -> anyhow::Result<Vec<Listener>> {
        let mut listeners = Vec::with_capacity(self.fds.len());
        for idx in 0..self.fds.len() {
            // A TCP socket first; what is not one may be a Unix stream socket.
            let listener = match self.fds.take_tcp_listener(idx) {
                Ok(Some(l)) => {
                    l.set_nonblocking(true)?;
                    Listener::Tcp(tokio::net::TcpListener::from_std(l)?)
                }
                Ok(None) => continue,
                Err(tcp_err) => match self.fds.take_unix_listener(idx) {
                    Ok(Some(l)) => {
                        l.set_nonblocking(true)?;
                        Listener::Unix(tokio::net::UnixListener::from_std(l)?)
                    }
                    Ok(None) => continue,
                    Err(_) => {
                        return Err(tcp_err).with_context(|| {
                            format!(
                                "socket #{idx} passed by systemd is neither a TCP nor a Unix \
                                 stream socket: use ListenStream= in the socket unit"
                            )
                        });
                    }
                },
            };
            listeners.push(listener);
        }
        Ok(listeners)
    }
}

/// The sockets the daemon serves on, and who owns them.
#[derive(Debug)]
pub struct Listeners {
    pub(super) listeners: Vec<Listener>,
    pub(super) socket_activated: bool,
    /// A Unix socket file we created, removed again at exit.
    pub(super) own_socket_file: Option<PathBuf>,
}

impl Listeners {
    /// The sockets systemd passed, or else `listen` bound here. Must run
    /// inside the runtime.
    pub fn open(inherited: &mut Inherited, listen: &ListenAddr) -> anyhow::Result<Self> {
        if inherited.socket_activated() {
            return Ok(Listeners {
                listeners: inherited.listeners()?,
                socket_activated: true,
                own_socket_file: None,
            });
        }
        let (listener, own_socket_file) = match listen {
            ListenAddr::Tcp(addr) => {
                let l = std::net::TcpListener::bind(addr)
                    .with_context(|| format!("cannot listen on {addr}"))?;
                l.set_nonblocking(true)?;
                (Listener::Tcp(tokio::net::TcpListener::from_std(l)?), None)
            }
            ListenAddr::Unix(path) => {
                let l = bind_unix(path)?;
                l.set_nonblocking(true)?;
                (
                    Listener::Unix(tokio::net::UnixListener::from_std(l)?),
                    Some(path.clone()),
                )
            }
        };
        Ok(Listeners {
            listeners: vec![listener],
            socket_activated: false,
            own_socket_file,
        })
    }

    /// The sockets came from systemd.
    pub fn socket_activated(&self) -> bool {
        self.socket_activated
    }

    /// Where the daemon listens, for logs and the status line.
    pub fn describe(&self) -> String {
        let places: Vec<String> = self.listeners.iter().map(Listener::describe).collect();
        places.join(", ")
    }
}

/// Binds a Unix socket at `path` with mode 0600. A socket file nobody
/// listens on (left by a crash) is replaced; a live one is not.
pub(super) fn bind_unix(path: &Path) -> anyhow::Result<std::os::unix::net::UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            anyhow::bail!(
                "cannot listen on unix:{}: the path exists and is not a socket",
                path.display()
            );
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => anyhow::bail!(
                "another process is listening on unix:{}; stop it or choose another `listen`",
                path.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!(path = %path.display(), "replacing a stale socket nobody listens on");
                std::fs::remove_file(path)
                    .with_context(|| format!("removing the stale socket {}", path.display()))?;
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot tell whether {} is still in use", path.display())
                });
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("cannot listen on unix:{}", path.display()))?;
    // Whoever can connect can spend the login: only the owner may.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("setting mode 0600 on {}", path.display()))?;
    Ok(listener)
}
