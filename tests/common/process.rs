//! The real binary as a child process, with a clean environment and its
//! stderr collected.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::wait_until;

pub const BIN: &str = env!("CARGO_BIN_EXE_codex-responses-proxy");

/// The binary with a clean environment, so that no setting of the machine
/// running the tests leaks in.
pub fn binary(home: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

/// The real binary as a child process, its stderr collected.
pub struct Child {
    child: std::process::Child,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Child {
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Child {
            child,
            log,
            reader: Some(reader),
        }
    }

    /// The address from the "listening" line.
    pub async fn address(&self) -> String {
        let mut addr = None;
        wait_until(Duration::from_secs(20), "the listening line", || {
            addr = self
                .log
                .lock()
                .unwrap()
                .split("listen=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned);
            addr.is_some()
        })
        .await;
        addr.unwrap()
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the daemon has logged `needle`.
    pub async fn wait_for_log(&self, needle: &str) {
        wait_until(Duration::from_secs(20), needle, || {
            self.log.lock().unwrap().contains(needle)
        })
        .await;
    }

    /// Kills the daemon with SIGKILL, as a crash would, waits until it is
    /// gone, and returns everything it logged.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.reader.take().unwrap().join().unwrap();
        self.log.lock().unwrap().clone()
    }

    /// Stops the daemon with SIGTERM and returns everything it logged.
    pub async fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut exited = None;
        wait_until(Duration::from_secs(20), "the daemon to exit", || {
            exited = self.child.try_wait().unwrap();
            exited.is_some()
        })
        .await;
        assert!(exited.unwrap().success());
        self.reader.take().unwrap().join().unwrap();
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
