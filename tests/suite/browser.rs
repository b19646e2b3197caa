//! A real browser against the real daemon: headless Chromium opens a page
//! served from another local port (another origin), whose script tries a
//! JSON `fetch` and a WebSocket to the daemon and writes what it saw into
//! `document.title`. Refused both by default; with the page's origin in
//! `allowed_origins`, the fetch and the WebSocket both get the model's answer.
//!
//! Needs Debian's `chromium` (`.ci/run` installs it): without it the tests
//! fail when `CI` is set and say they were skipped otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use common::process::{Child, binary};
use common::{MockBackend, mock, wait_until};
use tokio::sync::Notify;

/// Longest a browser run may take, start to DOM dump, on a busy machine.
const BROWSER_LIMIT: Duration = Duration::from_secs(120);

/// Longest the page server holds the page's `/hold` request.
const HOLD: Duration = Duration::from_secs(60);

/// The page: its script reads the daemon's address from the query string.
///
/// Chromium dumps the DOM once the page has loaded and its virtual time
/// budget is spent; neither waits for a WebSocket, and on a busy machine the
/// budget ran out before the answers came. So the page's load waits for an
/// image, `/hold`, which the page server answers once the page asked for
/// `/done` after writing its title (or after `HOLD`, and the title says
/// "pending").
const PAGE: &str = r#"<!doctype html>
<html><head><title>pending</title></head><body><script>
const daemon = new URLSearchParams(location.search).get("daemon");
const seen = {};
function report(what, result) {
  if (what in seen) return;
  seen[what] = result;
  if ("fetch" in seen && "ws" in seen) {
    document.title = "fetch=" + seen.fetch + " ws=" + seen.ws;
    fetch("/done").catch(() => {});
  }
}
fetch("http://" + daemon + "/v1/responses", {
  method: "POST",
  headers: {"content-type": "application/json"},
  body: JSON.stringify({model: "gpt-5", input: "Say hello", stream: false}),
})
  .then(r => r.json().then(b => "status:" + r.status + ":" +
    ((b.output && b.output[0] && b.output[0].content[0].text) || "no-text")))
  .catch(e => "refused:" + e.name)
  .then(result => report("fetch", result));
try {
  const ws = new WebSocket("ws://" + daemon + "/v1/responses");
  let text = "";
  ws.onopen = () => ws.send(JSON.stringify({type: "response.create", model: "gpt-5",
    input: [{type: "message", role: "user", content: [{type: "input_text", text: "Say hello"}]}]}));
  ws.onmessage = m => {
    const event = JSON.parse(m.data);
    if (event.type === "response.output_text.delta") text += event.delta;
    if (event.type === "response.completed") { report("ws", "answer:" + text); ws.close(); }
    if (event.type === "error") report("ws", "wrapped-error:" + event.status);
  };
  ws.onerror = () => report("ws", "error");
  ws.onclose = e => report("ws", "closed:" + e.code);
} catch (e) {
  report("ws", "throw:" + e.name);
}
</script><img src="/hold" alt=""></body></html>
"#;

/// Debian's chromium, if installed; else `None` after saying so (a failure under CI).
pub(super) fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is not installed, and CI is set: install it (apt-get install -y chromium)"
        );
        eprintln!("skipped: chromium is not installed (apt-get install -y chromium)");
    }
    found
}

/// Serves `PAGE` on a port of its own: an origin other than the daemon's.
async fn serve_page() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let done = Arc::new(Notify::new());
    let released = done.clone();
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/hold",
            get(|| async move {
                // Bounded: a page that never gets its results is dumped as "pending".
                let _ = tokio::time::timeout(HOLD, released.notified()).await;
                axum::http::StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/done",
            get(|| async move {
                // A permit is kept if `/hold` is not waiting yet.
                done.notify_one();
                "ok"
            }),
        );
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (origin, task)
}

/// The real daemon in front of `mock`, with extra flags; its address.
pub(super) async fn daemon(mock: &MockBackend, home: &Path, flags: &[&str]) -> (Child, String) {
    let codex_home = home.join("codex");
    std::fs::create_dir(&codex_home).unwrap();
    common::write_auth(&codex_home, &mock.login(mock::now_secs() + 3600));
    let mut command = binary(home);
    command
        .args(["--listen", "127.0.0.1:0", "--log-target", "stderr"])
        .arg("--codex-home")
        .arg(&codex_home)
        .args(["--upstream-url", &mock.upstream_url()])
        .args(["--token-url", &mock.token_url()])
        .args(flags);
    let child = Child::spawn(command);
    let address = child.address().await;
    (child, address)
}

/// Opens `url` in headless Chromium and returns the page's final title.
async fn title_after_scripts(chromium: &Path, url: &str) -> String {
    let (dom, log) = dom_after_scripts(chromium, url, &[]).await;
    let title = dom
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(title, _)| title.to_owned());
    title.unwrap_or_else(|| panic!("no title in the page:\n{dom}\nchromium's log:\n{log}"))
}

/// Runs headless Chromium on `url` with `extra` flags (`--dump-dom` with a
/// virtual time budget unless `extra` says otherwise) until it exits: what
/// it wrote, and its log.
pub(super) async fn dom_after_scripts(
    chromium: &Path,
    url: &str,
    extra: &[&str],
) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let dom = dir.path().join("dom.html");
    let log = dir.path().join("chromium.log");
    let output = if extra.is_empty() {
        &["--virtual-time-budget=10000", "--dump-dom"][..]
    } else {
        extra
    };
    let mut browser = std::process::Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .args(output)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&dom).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut exited = None;
    let waited = tokio::time::timeout(
        BROWSER_LIMIT,
        wait_until(BROWSER_LIMIT, "chromium to exit", || {
            exited = browser.try_wait().unwrap();
            exited.is_some()
        }),
    )
    .await;
    if waited.is_err() || exited.is_none() {
        let _ = browser.kill();
        let _ = browser.wait();
    }
    let dom = std::fs::read_to_string(&dom).unwrap_or_default();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        exited.is_some_and(|status| status.success()),
        "chromium did not finish well ({exited:?}); its log:\n{log}"
    );
    (dom, log)
}

#[tokio::test]
async fn a_page_of_another_origin_is_refused_both_fetch_and_websocket_by_default() {
    let Some(chromium) = chromium() else {
        return;
    };
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    let (daemon, address) = daemon(&mock, home.path(), &[]).await;
    let (page, _server) = serve_page().await;

    let title = title_after_scripts(&chromium, &format!("{page}/?daemon={address}")).await;
    assert_eq!(title, "fetch=refused:TypeError ws=error");
    assert_eq!(mock.responses_calls(), 0);
    assert_eq!(mock.connections(), 0);
    // Both were refused by the Origin check, not for another reason: the
    // JSON fetch at its preflight, the WebSocket at its handshake.
    let log = daemon.stop().await;
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused a request a web page may have sent"))
        .collect();
    for (method, path) in [("OPTIONS", "/v1/responses"), ("GET", "/v1/responses")] {
        assert!(
            refusals
                .iter()
                .any(|l| l.contains(&format!("method={method}"))
                    && l.contains(&format!("path={path}"))
                    && l.contains("code=\"origin_not_allowed\"")
                    && l.contains(&page)),
            "no refusal of {method} {path} in:\n{log}"
        );
    }
}

#[tokio::test]
async fn a_page_of_an_allowed_origin_gets_the_models_answer_over_fetch_and_websocket() {
    let Some(chromium) = chromium() else {
        return;
    };
    let mock = MockBackend::start().await;
    let home = tempfile::tempdir().unwrap();
    let (page, _server) = serve_page().await;
    let (daemon, address) = daemon(&mock, home.path(), &["--allowed-origin", &page]).await;

    let title = title_after_scripts(&chromium, &format!("{page}/?daemon={address}")).await;
    assert_eq!(
        title,
        "fetch=status:200:Hello from the mock. ws=answer:Hello from the mock."
    );
    assert_eq!(mock.responses_calls(), 1);
    assert_eq!(mock.ws_connections(), 1);
    let log = daemon.stop().await;
    assert!(
        !log.contains("refused a request a web page may have sent"),
        "{log}"
    );
}
