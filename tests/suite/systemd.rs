//! The daemon as systemd runs it: the built binary as a child process, with
//! sockets passed by `systemd-socket-activate` (exactly as systemd passes
//! them), a notify socket the test binds, signals, idle exit, and `doctor`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::mock;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use serde_json::json;

use mock::{Answer, MockBackend};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_codex-responses-proxy");
/// Every wait in these tests ends after this, passed or not.
const PATIENCE: Duration = Duration::from_secs(15);

/// The text of every answer of the mock backend.
const ANSWER: &str = "Hello, world!";
/// Expiry of the test login's access token: 2096-10-02T07:06:40Z.
const ACCESS_EXP: i64 = 4_000_000_000;

/// A login file, a mock backend, and a folder for sockets and logs.
struct Fixture {
    dir: tempfile::TempDir,
    mock: MockBackend,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mock = MockBackend::start().await;
        mock.set_default_answer(answer(Duration::ZERO));
        let path = dir.path().join("auth.json");
        let login = mock.login(ACCESS_EXP);
        std::fs::write(&path, serde_json::to_vec_pretty(&login).unwrap()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        Fixture { dir, mock }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Flags pointing the daemon at the mock and the login.
    fn flags(&self) -> Vec<String> {
        vec![
            "--codex-home".into(),
            self.dir.path().display().to_string(),
            "--upstream-url".into(),
            self.mock.upstream_url(),
            "--token-url".into(),
            self.mock.token_url(),
            "--log-target".into(),
            "stderr".into(),
        ]
    }

    /// The daemon binding its own listener, stderr to `log`.
    fn spawn_own(&self, listen: &str, extra: &[&str], log: &str) -> Proc {
        let mut cmd = Command::new(BIN);
        cmd.args(self.flags())
            .arg("--listen")
            .arg(listen)
            .args(extra);
        self.spawn(cmd, log)
    }

    /// The daemon under `systemd-socket-activate`, which listens on `sockets`
    /// and execs the daemon (same pid) on the first connection.
    fn spawn_activated(&self, sockets: &[String], extra: &[&str], log: &str) -> Proc {
        let mut cmd = Command::new("systemd-socket-activate");
        for s in sockets {
            cmd.arg("-l").arg(s);
        }
        // `listen` points at a path that must stay unused.
        cmd.arg("--fdname=http")
            .arg(BIN)
            .args(self.flags())
            .arg("--listen")
            .arg(format!("unix:{}", self.path("not-used.sock").display()))
            .args(extra);
        self.spawn(cmd, log)
    }

    fn spawn(&self, mut cmd: Command, log: &str) -> Proc {
        let log = self.path(log);
        let file = std::fs::File::create(&log).unwrap();
        // A clean environment: no proxy variables, no user configuration file.
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        Proc {
            child: cmd.spawn().unwrap(),
            log,
        }
    }
}

/// A child process, killed if the test ends early.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The exit status, waiting at most `PATIENCE`.
    async fn exit(&mut self) -> ExitStatus {
        let child = &mut self.child;
        eventually("the daemon exits", || {
            let done = child.try_wait().unwrap();
            async move { done }
        })
        .await
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The address the daemon bound itself, read from its log.
    async fn own_address(&self) -> String {
        eventually("the daemon logs its address", || {
            let log = self.log();
            async move {
                let line = log
                    .lines()
                    .find(|l| l.contains("serving on our own listener"))?;
                let addr = line.split("listen=").nth(1)?;
                Some(addr.trim().to_owned())
            }
        })
        .await
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it gives a value, failing after `PATIENCE`.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn answer(pace: Duration) -> Answer {
    Answer::Events {
        events: mock::text_answer(ANSWER, 8),
        pace,
    }
}

/// A port that was free a moment ago, for `systemd-socket-activate -l`.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// `GET /healthz` over TCP, retried until it answers `ok`.
async fn healthy_tcp(addr: &str) {
    let url = format!("http://{addr}/healthz");
    eventually("the daemon answers on TCP", || {
        let request = client().get(&url).send();
        async move {
            let response = request.await.ok()?;
            (response.text().await.ok()? == "ok").then_some(())
        }
    })
    .await;
}

/// One request over a Unix socket; the whole response as text.
async fn http_unix(path: &Path, request: &str) -> std::io::Result<String> {
    let mut stream = tokio::net::UnixStream::connect(path).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut out = String::new();
    stream.read_to_string(&mut out).await?;
    Ok(out)
}

/// `GET /healthz` over a Unix socket, retried until it answers `ok`.
async fn healthy_unix(path: &Path) {
    eventually("the daemon answers on the Unix socket", || async {
        let text = http_unix(
            path,
            "GET /healthz HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n",
        )
        .await
        .ok()?;
        (text.starts_with("HTTP/1.1 200") && text.ends_with("ok")).then_some(())
    })
    .await;
}

fn stream_request() -> serde_json::Value {
    json!({"model": "gpt-5", "stream": true,
        "input": [{"role": "user", "content": "hello"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_socket_passed_by_systemd_is_served_and_listen_is_ignored() {
    let fx = Fixture::new().await;
    let addr = format!("127.0.0.1:{}", free_port());
    let mut daemon = fx.spawn_activated(std::slice::from_ref(&addr), &[], "daemon.log");
    healthy_tcp(&addr).await;
    let answer: serde_json::Value = client()
        .post(format!("http://{addr}/v1/responses"))
        .json(&json!({"model": "gpt-5", "input": "hi"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["output"][0]["content"][0]["text"], ANSWER);
    assert!(
        daemon
            .log()
            .contains("serving on the sockets systemd passed; `listen` is ignored"),
        "{}",
        daemon.log()
    );
    assert!(!fx.path("not-used.sock").exists());
    daemon.signal("TERM");
    assert!(daemon.exit().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_passed_sockets_tcp_and_unix_are_all_served() {
    let fx = Fixture::new().await;
    let addr = format!("127.0.0.1:{}", free_port());
    let sock = fx.path("proxy.sock");
    let mut daemon = fx.spawn_activated(
        &[addr.clone(), sock.display().to_string()],
        &[],
        "daemon.log",
    );
    healthy_unix(&sock).await;
    healthy_tcp(&addr).await;
    let log = daemon.log();
    assert!(
        log.contains(&format!("listen={addr}, unix:{}", sock.display())),
        "{log}"
    );
    daemon.signal("TERM");
    assert!(daemon.exit().await.success());
    assert!(
        sock.exists(),
        "a socket systemd passed must outlive the daemon"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_is_told_ready_status_watchdog_and_stopping() {
    let fx = Fixture::new().await;
    let notify_path = fx.path("notify");
    let notify = tokio::net::UnixDatagram::bind(&notify_path).unwrap();
    // WATCHDOG_PID must be the daemon's pid: the shell's, kept across exec.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            r#"export NOTIFY_SOCKET={} WATCHDOG_USEC=400000 WATCHDOG_PID=$$; exec "$@""#,
            notify_path.display()
        ))
        .arg("sh")
        .arg(BIN)
        .args(fx.flags())
        .args(["--listen", "127.0.0.1:0"]);
    let mut daemon = fx.spawn(cmd, "daemon.log");

    let mut buf = vec![0u8; 4096];
    // `STATUS=` updates while requests come and go are another test's.
    let mut next = async || -> String {
        loop {
            let n = tokio::time::timeout(PATIENCE, notify.recv(&mut buf))
                .await
                .expect("a notification in time")
                .unwrap();
            let message = String::from_utf8_lossy(&buf[..n]).trim_end().to_owned();
            if !message.starts_with("STATUS=ready") {
                return message;
            }
        }
    };
    let first = next().await;
    assert_eq!(first, "READY=1\nSTATUS=ready · idle");
    let addr = daemon.own_address().await;
    // The startup line stays in the journal's `ready` record.
    assert!(
        daemon.log().contains(&format!(
            "listening on {addr} (own listener); login dev@example.com (plus), \
             token valid until 2096-10-02T07:06:40Z"
        )),
        "{}",
        daemon.log()
    );
    healthy_tcp(&addr).await;
    assert_eq!(next().await, "WATCHDOG=1");
    assert_eq!(next().await, "WATCHDOG=1");
    daemon.signal("TERM");
    let mut stopping = next().await;
    while stopping == "WATCHDOG=1" {
        stopping = next().await;
    }
    assert_eq!(
        stopping,
        "STOPPING=1\nSTATUS=stopping (stop requested): 0 request(s) in flight"
    );
    assert!(daemon.exit().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_requests_and_limits_at_most_once_a_second() {
    let fx = Fixture::new().await;
    let notify_path = fx.path("notify");
    let notify = tokio::net::UnixDatagram::bind(&notify_path).unwrap();
    // The fixture clears the environment: set NOTIFY_SOCKET after that.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            r#"export NOTIFY_SOCKET={}; exec "$@""#,
            notify_path.display()
        ))
        .arg("sh")
        .arg(BIN)
        .args(fx.flags())
        .args(["--listen", "127.0.0.1:0"]);
    let mut daemon = fx.spawn(cmd, "daemon.log");
    let mut buf = vec![0u8; 4096];
    let mut sent = Vec::new();
    // Reads notifications until `wanted`, noting when each arrived.
    let mut until = async |wanted: &str| {
        loop {
            let n = tokio::time::timeout(PATIENCE, notify.recv(&mut buf))
                .await
                .unwrap_or_else(|_| panic!("no {wanted:?} in time; got {sent:?}"))
                .unwrap();
            let message = String::from_utf8_lossy(&buf[..n]).trim_end().to_owned();
            sent.push((tokio::time::Instant::now(), message.clone()));
            if message == wanted {
                return sent.clone();
            }
        }
    };
    until("READY=1\nSTATUS=ready · idle").await;
    let addr = daemon.own_address().await;
    let url = format!("http://{addr}/v1/responses");
    let answered = client()
        .post(&url)
        .json(&stream_request())
        .send()
        .await
        .unwrap();
    assert!(answered.text().await.unwrap().contains(ANSWER));
    // The mock's answers carry the login's windows: 12 % and 3 %.
    until("STATUS=ready · idle · 5h 12% · week 3%").await;

    fx.mock.push_answer(answer(Duration::from_millis(400)));
    let slow = tokio::spawn(client().post(&url).json(&stream_request()).send());
    until("STATUS=ready · 1 in flight · 5h 12% · week 3%").await;
    let slow = slow.await.unwrap().unwrap();
    assert!(slow.text().await.unwrap().contains(ANSWER));
    let sent = until("STATUS=ready · idle · 5h 12% · week 3%").await;
    for pair in sent.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        // Datagrams may queue a little on our side: allow for that, not more.
        assert!(
            gap >= Duration::from_millis(900),
            "{gap:?} between {pair:?}"
        );
    }
    daemon.signal("TERM");
    assert!(daemon.exit().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_stream_in_flight_finish_then_exits_zero() {
    let fx = Fixture::new().await;
    let mut daemon = fx.spawn_own("127.0.0.1:0", &[], "daemon.log");
    let addr = daemon.own_address().await;
    healthy_tcp(&addr).await;
    fx.mock.push_answer(answer(Duration::from_millis(300)));
    let mut response = client()
        .post(format!("http://{addr}/v1/responses"))
        .json(&stream_request())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("response.created"));

    daemon.signal("TERM");
    // New connections are refused once the stop began…
    eventually("the listener is closed", || {
        let refused = std::net::TcpStream::connect(&addr).is_err();
        async move { refused.then_some(()) }
    })
    .await;
    // …while the stream in flight runs to its end.
    let mut rest = String::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(rest.contains("response.completed"), "{rest}");
    let status = daemon.exit().await;
    assert!(status.success(), "{status:?}\n{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_activated_daemon_exits_cleanly_after_idle_exit_and_leaves_the_socket() {
    let fx = Fixture::new().await;
    let sock = fx.path("proxy.sock");
    let mut daemon = fx.spawn_activated(
        &[sock.display().to_string()],
        &["--idle-exit", "1s"],
        "daemon.log",
    );
    healthy_unix(&sock).await;
    let status = daemon.exit().await;
    assert!(status.success(), "{status:?}\n{}", daemon.log());
    assert!(
        daemon.log().contains("exiting after idle_exit"),
        "{}",
        daemon.log()
    );
    assert!(sock.exists(), "the socket stays for the next activation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_exit_is_ignored_when_the_daemon_bound_its_own_listener() {
    let fx = Fixture::new().await;
    let mut daemon = fx.spawn_own("127.0.0.1:0", &["--idle-exit", "1s"], "daemon.log");
    let addr = daemon.own_address().await;
    healthy_tcp(&addr).await;
    assert!(daemon.log().contains("idle_exit is ignored"));
    // Well past idle_exit, the daemon still runs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        assert!(daemon.running(), "{}", daemon.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    healthy_tcp(&addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_unix_socket_is_replaced_with_a_private_one() {
    let fx = Fixture::new().await;
    let sock = fx.path("proxy.sock");
    // What a crash leaves: a socket file nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let mut daemon = fx.spawn_own(&format!("unix:{}", sock.display()), &[], "daemon.log");
    healthy_unix(&sock).await;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(daemon.log().contains("replacing a stale socket"));
    daemon.signal("TERM");
    assert!(daemon.exit().await.success());
    assert!(!sock.exists(), "a socket the daemon created is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_unix_socket_is_left_alone_and_startup_fails() {
    let fx = Fixture::new().await;
    let sock = fx.path("proxy.sock");
    let _other = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut daemon = fx.spawn_own(&format!("unix:{}", sock.display()), &[], "daemon.log");
    let status = daemon.exit().await;
    assert!(!status.success());
    assert!(
        daemon.log().contains(&format!(
            "another process is listening on unix:{}",
            sock.display()
        )),
        "{}",
        daemon.log()
    );
    assert!(sock.exists());
}

/// Runs `doctor` with `flags`; its exit status and report.
async fn doctor(flags: Vec<String>) -> (ExitStatus, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(BIN)
            .arg("doctor")
            .args(&flags)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_with_a_valid_login_and_reachable_endpoints() {
    let fx = Fixture::new().await;
    let (status, report) = doctor(fx.flags()).await;
    assert!(status.success(), "{report}");
    for line in [
        "✓ file mode 0600",
        "✓ account: dev@example.com, plan plus, account id acc-test-1",
        "✓ access token valid until 2096-10-02T07:06:40Z",
        "✓ refresh token present",
        "✓ token endpoint reachable",
        "✓ Codex backend reachable",
        "✓ the usage endpoint answered: ",
        "limits as of ",
        ", plan plus\n",
        "5-hour window: 12% used, resets ",
        "credits: 12.00",
        "✓ socket activation: not in use",
        "[command-line flag]",
        "All checks passed.",
    ] {
        assert!(report.contains(line), "missing {line:?} in\n{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_fails_without_a_login_or_a_reachable_backend() {
    let fx = Fixture::new().await;
    std::fs::remove_file(fx.path("auth.json")).unwrap();
    let mut flags = fx.flags();
    let i = flags.iter().position(|f| f == "--upstream-url").unwrap();
    flags[i + 1] = format!("http://127.0.0.1:{}/backend-api/codex", free_port());
    let (status, report) = doctor(flags).await;
    assert_eq!(status.code(), Some(1), "{report}");
    assert!(report.contains("✗ no Codex login found at"), "{report}");
    assert!(report.contains("✗ Codex backend unreachable"), "{report}");
    assert!(report.contains("✓ token endpoint reachable"), "{report}");
    assert!(
        report.contains("! not asked: there is no usable login"),
        "{report}"
    );
    assert!(
        report.contains("2 problem(s) above will stop requests from working."),
        "{report}"
    );
}

/// Runs `env <client>` with `flags`: its exit status and the lines it printed.
async fn env_lines(client: &str, flags: Vec<String>) -> (ExitStatus, String) {
    let client = client.to_owned();
    tokio::task::spawn_blocking(move || {
        let out = Command::new(BIN)
            .arg("env")
            .arg(client)
            .args(&flags)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// `lines` checked by `bash -n`, then evaluated, and `names` read back.
fn evaluated(lines: &str, names: &[&str]) -> Vec<String> {
    let syntax = Command::new("bash")
        .args(["-n", "-c", lines])
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{lines}\n{syntax:?}");
    let echo: Vec<String> = names
        .iter()
        .map(|n| format!("printf '%s\\n' \"${n}\""))
        .collect();
    let script = format!("eval \"$LINES\"\n{}", echo.join("\n"));
    let out = Command::new("bash")
        .args(["-c", &script])
        .env_clear()
        .env("LINES", lines)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_claude_evaluates_to_the_daemons_address_and_the_mapped_models_window() {
    let fx = Fixture::new().await;
    let mut flags = fx.flags();
    flags.extend(["--listen".into(), "127.0.0.1:18787".into()]);
    let key = fx.path("client key");
    std::fs::write(&key, "it's-secret\n").unwrap();
    let (status, lines) = env_lines("claude", flags.clone()).await;
    assert!(status.success(), "{lines}");
    assert!(
        lines.contains("# claude-opus-* → gpt-5 (272000 tokens)"),
        "{lines}"
    );
    let names = [
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "CLAUDE_CODE_MAX_CONTEXT_TOKENS",
        "CLAUDE_CODE_AUTO_COMPACT_WINDOW",
    ];
    assert_eq!(
        evaluated(&lines, &names),
        ["http://127.0.0.1:18787", "unused", "272000", "272000"]
    );

    // With a client key, the lines read it from its file when evaluated.
    let toml = fx.path("config.toml");
    std::fs::write(
        &toml,
        format!("api_key_file = {:?}\n", key.display().to_string()),
    )
    .unwrap();
    let mut with_key = flags.clone();
    with_key.extend(["--config".into(), toml.display().to_string()]);
    let (_, lines) = env_lines("openai", with_key).await;
    assert!(!lines.contains("it's-secret"), "{lines}");
    assert_eq!(
        evaluated(&lines, &["OPENAI_BASE_URL", "OPENAI_API_KEY"]),
        ["http://127.0.0.1:18787/v1", "it's-secret"]
    );

    let (_, codex) = env_lines("codex", flags).await;
    assert!(codex.contains("# supports_websockets = true"), "{codex}");
    assert!(codex.contains("# name = \"OpenAI\""), "{codex}");
    evaluated(&codex, &[]);

    let (status, report) = doctor(fx.flags()).await;
    assert!(status.success(), "{report}");
    assert!(
        report.contains("✓ Claude Code: CLAUDE_CODE_MAX_CONTEXT_TOKENS=272000"),
        "{report}"
    );
    assert!(
        report.contains("✓ Codex CLI version presented to the backend: 0.171.0 (built-in;"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_claude_without_a_login_says_the_window_is_unknown_and_still_evaluates() {
    let fx = Fixture::new().await;
    std::fs::remove_file(fx.path("auth.json")).unwrap();
    let (status, lines) = env_lines("claude", fx.flags()).await;
    assert!(status.success(), "{lines}");
    assert!(
        lines.contains("# The backend's model list could not be read (no usable login"),
        "{lines}"
    );
    assert_eq!(
        evaluated(
            &lines,
            &["ANTHROPIC_BASE_URL", "CLAUDE_CODE_MAX_CONTEXT_TOKENS"]
        ),
        ["http://127.0.0.1:8787", ""]
    );
}
