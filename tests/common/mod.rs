//! Test fixtures: the mock backend, and the proxy itself on 127.0.0.1:0.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod mock;
pub mod process;
pub mod raw;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use codex_responses_proxy::Daemon;
use codex_responses_proxy::config::Config;
use codex_responses_proxy::http::Listener;
use serde_json::Value;
use tokio::sync::oneshot;

#[allow(unused_imports)]
pub use mock::{Answer, MockBackend, TokenAnswer};

/// A proxy serving on a free loopback port; stopped when dropped.
#[derive(Debug)]
pub struct TestProxy {
    pub addr: std::net::SocketAddr,
    pub home: tempfile::TempDir,
    /// Where the response store is kept, beside (not inside) CODEX_HOME.
    pub state: tempfile::TempDir,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestProxy {
    /// A proxy in front of `mock`, with a login that is valid for an hour.
    pub async fn start(mock: &MockBackend) -> Self {
        Self::start_with(mock, |_| {}).await
    }

    /// As [`TestProxy::start`], letting the test change the configuration.
    pub async fn start_with(mock: &MockBackend, adjust: impl FnOnce(&mut Config)) -> Self {
        let home = tempfile::tempdir().unwrap();
        write_auth(home.path(), &mock.login(mock::now_secs() + 3600));
        Self::start_in(mock, home, adjust).await
    }

    /// A proxy whose CODEX_HOME is `home`, as the test prepared it.
    pub async fn start_in(
        mock: &MockBackend,
        home: tempfile::TempDir,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = config_for(mock, home.path());
        let state = tempfile::tempdir().unwrap();
        config.store = codex_responses_proxy::store::StoreMode::Disk;
        config.store_dir = Some(state.path().to_path_buf());
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let daemon = Daemon::new(config).unwrap();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            daemon
                .serve(vec![Listener::Tcp(listener)], async {
                    let _ = stopped.await;
                })
                .await;
        });
        TestProxy {
            addr,
            home,
            state,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn auth_path(&self) -> PathBuf {
        self.home.path().join("auth.json")
    }

    pub fn read_auth(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.auth_path()).unwrap()).unwrap()
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// POSTs `body` as JSON to `path`.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Stops accepting and waits for the drain to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A configuration pointing at `mock`, with short timeouts for tests and
/// the response store in memory (never the user's state directory).
pub fn config_for(mock: &MockBackend, home: &Path) -> Config {
    Config {
        codex_home: home.to_path_buf(),
        store: codex_responses_proxy::store::StoreMode::Memory,
        upstream_url: mock.upstream_url().parse().unwrap(),
        token_url: mock.token_url().parse().unwrap(),
        connect_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(10),
        ..Config::default()
    }
}

/// Writes `doc` as auth.json the way Codex does: pretty-printed, mode 0600.
pub fn write_auth(home: &Path, doc: &Value) {
    let path = home.join("auth.json");
    std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A minimal valid Responses request.
pub fn hello(stream: bool) -> Value {
    serde_json::json!({
        "model": "gpt-5",
        "input": "Say hello",
        "stream": stream,
    })
}

/// A URL on a port that was free a moment ago: nothing listens there.
pub fn closed_url() -> String {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    format!("http://{addr}/backend-api/codex")
}

/// Polls `cond` every few milliseconds until it holds, failing after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Parses an SSE body into its JSON data payloads.
pub fn sse_data(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|frame| {
            let data: Vec<&str> = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data:").map(str::trim_start))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .filter_map(|d| serde_json::from_str(&d).ok())
        .collect()
}
