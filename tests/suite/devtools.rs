//! Headless Chromium driven over the DevTools protocol, for a page a test
//! must interact with (type into, click, read back while it runs), which
//! `--dump-dom` cannot do. Chromium picks its debugging port and writes it to
//! `DevToolsActivePort` in its profile; the test talks to the page's target
//! over a WebSocket. On a failure the page's screenshot is written first.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use common::wait_until;

/// Longest Chromium may take to start, or a condition on the page to hold.
const LIMIT: Duration = Duration::from_secs(60);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One Chromium with one page; the browser is killed when this is dropped.
pub(super) struct Page {
    browser: std::process::Child,
    socket: Socket,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.browser.kill();
        let _ = self.browser.wait();
    }
}

impl Page {
    /// Opens `url` in a new headless Chromium.
    pub(super) async fn open(chromium: &Path, url: &str) -> Page {
        let profile = tempfile::tempdir().unwrap();
        let browser = std::process::Command::new(chromium)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=360,1200",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let active = profile.path().join("DevToolsActivePort");
        let mut port = String::new();
        wait_until(LIMIT, "Chromium's DevToolsActivePort", || {
            port = std::fs::read_to_string(&active)
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            !port.is_empty()
        })
        .await;
        let list = format!("http://127.0.0.1:{port}/json/list");
        let targets: Value = reqwest::get(list).await.unwrap().json().await.unwrap();
        let target = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .unwrap_or_else(|| panic!("no page target in {targets}"));
        let address = target["webSocketDebuggerUrl"].as_str().unwrap();
        let (socket, _) = tokio_tungstenite::connect_async(address).await.unwrap();
        Page {
            browser,
            socket,
            next_id: 0,
            _profile: profile,
        }
    }

    /// Calls a DevTools `method`; its `result`.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"id": id, "method": method, "params": params});
        self.socket
            .send(Message::text(request.to_string()))
            .await
            .unwrap();
        loop {
            let message = tokio::time::timeout(LIMIT, self.socket.next()).await;
            let Ok(Some(Ok(Message::Text(text)))) = message else {
                panic!("DevTools closed or went quiet: {message:?}");
            };
            let answer: Value = serde_json::from_str(text.as_str()).unwrap();
            if answer["id"] == id {
                return answer["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    pub(super) async fn eval(&mut self, expression: &str) -> Value {
        let params = json!({"expression": expression, "returnByValue": true});
        self.call("Runtime.evaluate", params).await["result"]["value"].clone()
    }

    /// Waits until `expression` is `true` in the page; on a timeout the
    /// screenshot is written as `name.png` and the test fails.
    pub(super) async fn until(&mut self, expression: &str, name: &str) {
        let deadline = tokio::time::Instant::now() + LIMIT;
        while self.eval(expression).await != Value::Bool(true) {
            if tokio::time::Instant::now() >= deadline {
                let shot = self.screenshot(name).await;
                let body = self.eval("document.body.innerText").await;
                panic!("{expression} never held (screenshot {shot:?}); the page said:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Writes the page as it is now to `target/test-output/NAME.png`.
    async fn screenshot(&mut self, name: &str) -> PathBuf {
        let shot = self.call("Page.captureScreenshot", json!({})).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .unwrap_or_default();
        let dir = output_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

/// Where a failed browser test leaves its screenshot: `target/test-output/`.
pub(super) fn output_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("test-output")
}
