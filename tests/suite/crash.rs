//! A login is never lost to a crash: the real binary, on an expired login, is
//! killed with SIGKILL at many points around its refresh and started again.
//! After every round the login file holds either the old login, unspent, or
//! the new one; no temporary is left; the mode and unknown keys are kept.
//!
//! The only loss allowed is the one no client can prevent: the token endpoint
//! spent the old token and the process died before the answer reached the
//! disk. The test tells it apart by what was on disk at the moment of the
//! kill, and checks that it happens only where it can.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use codex_responses_proxy::auth::writeback::PAUSE_ENV;
use common::mock::{RefreshState, TokenHold};
use common::process::{Child, binary};
use common::{MockBackend, TestProxy, TokenAnswer, hello, mock, wait_until, write_auth};
use serde_json::{Value, json};

/// Where a round kills the first daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KillAt {
    /// This long after the request was sent, the token endpoint answering at
    /// once: before the refresh, while it is on its way, or after it.
    AfterRequest(Duration),
    /// While the token endpoint holds the request, before it spends the token.
    WhileHeld,
    /// This long after the token endpoint was let go: around its answer,
    /// the staging of the new login and the rename.
    AfterRelease(Duration),
    /// At the test hook: the new login staged and durable, not yet renamed.
    Staged,
    /// This long after the test hook let the rename go.
    AfterStaged(Duration),
    /// After the request was answered.
    Answered,
}

impl KillAt {
    fn holds_at_the_hook(self) -> bool {
        matches!(self, KillAt::Staged | KillAt::AfterStaged(_))
    }
}

/// How a round ended, judged by the token endpoint and the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// The old login is in the file and its refresh token unspent.
    OldUnspent,
    /// The new login is in the file, renamed by the daemon before it died.
    NewInPlace,
    /// The new login was in a temporary; the next start finished it.
    Recovered,
    /// The endpoint spent the old token and the daemon died before the new
    /// one reached the disk: the loss no client can prevent.
    LostInFlight,
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

/// Every kill point, each once; the ones around the answer at many delays.
fn rounds() -> Vec<(KillAt, bool)> {
    let mut rounds = vec![
        (KillAt::AfterRequest(Duration::ZERO), false),
        (KillAt::AfterRequest(us(3_000)), false),
        (KillAt::AfterRequest(us(10_000)), false),
        (KillAt::WhileHeld, false),
        (KillAt::WhileHeld, true),
        (KillAt::Staged, false),
        (KillAt::Staged, false),
        (KillAt::Staged, true),
        (KillAt::AfterStaged(Duration::ZERO), false),
        (KillAt::AfterStaged(us(200)), false),
        (KillAt::AfterStaged(us(1_000)), true),
        (KillAt::Answered, false),
        (KillAt::Answered, true),
    ];
    for delay in [
        0, 100, 200, 400, 700, 1_000, 1_500, 2_000, 3_000, 5_000, 8_000, 15_000,
    ] {
        rounds.push((KillAt::AfterRelease(us(delay)), false));
    }
    rounds
}

/// One round's folders: `codex` is CODEX_HOME; with `symlink`, its
/// auth.json links to `store/creds.json`.
struct Home {
    dir: tempfile::TempDir,
    /// The login file as the daemon is told of it.
    auth: PathBuf,
    /// The file the login is really in.
    real: PathBuf,
}

impl Home {
    fn new(login: &Value, symlink: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let codex = dir.path().join("codex");
        std::fs::create_dir(&codex).unwrap();
        let auth = codex.join("auth.json");
        let real = if symlink {
            std::fs::create_dir(dir.path().join("store")).unwrap();
            let real = dir.path().join("store").join("creds.json");
            std::os::unix::fs::symlink(&real, &auth).unwrap();
            real
        } else {
            auth.clone()
        };
        std::fs::write(&real, serde_json::to_vec_pretty(login).unwrap()).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
        Home { dir, auth, real }
    }

    fn marker(&self) -> PathBuf {
        self.dir.path().join("paused")
    }

    fn start(&self, mock: &MockBackend, hook: bool) -> Child {
        let mut command = binary(self.dir.path());
        command
            .args(["--listen", "127.0.0.1:0", "--log-target", "stderr"])
            .arg("--codex-home")
            .arg(self.auth.parent().unwrap())
            .args(["--upstream-url", &mock.upstream_url()])
            .args(["--token-url", &mock.token_url()]);
        if hook {
            command.env(PAUSE_ENV, self.marker());
        }
        Child::spawn(command)
    }

    /// The write-back temporaries beside the real file, by name.
    fn temporaries(&self) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(self.real.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_str().unwrap().ends_with(".tmp"))
            .collect();
        found.sort();
        found
    }

    /// The refresh tokens on disk: the login file's, then each parsable
    /// temporary's.
    fn refresh_tokens(&self) -> (String, Vec<String>) {
        let of = |path: &Path| -> Option<String> {
            let doc: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
            doc["tokens"]["refresh_token"].as_str().map(str::to_owned)
        };
        let temps = self.temporaries().iter().filter_map(|p| of(p)).collect();
        (of(&self.real).unwrap(), temps)
    }
}

/// Kills the daemon at `at` during its first request.
async fn kill_during_refresh(mock: &MockBackend, home: &Home, at: KillAt) {
    let hold = TokenHold::new();
    // A hold nobody took would stall the next start's refresh.
    if !matches!(at, KillAt::AfterRequest(_)) {
        mock.push_token_answer(TokenAnswer::Hold(hold.clone()));
    }
    let daemon = home.start(mock, at.holds_at_the_hook());
    let url = format!("http://{}/v1/responses", daemon.address().await);
    let mut request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&hello(false))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let arrived = || hold.arrived();
    match at {
        KillAt::AfterRequest(d) => std::thread::sleep(d),
        KillAt::WhileHeld => wait_until(Duration::from_secs(20), "the refresh", arrived).await,
        KillAt::AfterRelease(d) => {
            wait_until(Duration::from_secs(20), "the refresh", arrived).await;
            hold.release();
            std::thread::sleep(d);
        }
        KillAt::Staged | KillAt::AfterStaged(_) => {
            wait_until(Duration::from_secs(20), "the refresh", arrived).await;
            hold.release();
            let marker = home.marker();
            wait_until(Duration::from_secs(20), "the staged login", || {
                marker.exists()
            })
            .await;
            if let KillAt::AfterStaged(d) = at {
                std::fs::remove_file(&marker).unwrap();
                std::thread::sleep(d);
            }
        }
        KillAt::Answered => {
            hold.release();
            assert_eq!((&mut request).await.unwrap().unwrap(), 200);
        }
    }
    let log = daemon.kill();
    request.abort();
    let _ = std::fs::remove_file(home.marker());
    assert!(!log.contains("panicked"), "{log}");
}

/// Plays one round and returns how it ended; asserts every promise on the way.
async fn round(at: KillAt, symlink: bool) -> Outcome {
    let mock = MockBackend::start().await;
    let mut login = mock.login(mock::now_secs() - 10);
    login["agent_identity"] = json!({"kept": true});
    let home = Home::new(&login, symlink);
    let context = format!("{at:?}, symlink {symlink}");

    kill_during_refresh(&mock, &home, at).await;
    // What reached the disk before the kill.
    let on_disk = home.refresh_tokens();
    if at == KillAt::Staged {
        let (passed, report) = doctor(home.auth.parent().unwrap(), &mock).await;
        let temp = home.temporaries()[0].display().to_string();
        let line = format!("! {temp} holds a newer login than auth.json");
        assert!(passed && report.contains(&line), "{report}");
    }

    let daemon = home.start(&mock, false);
    let base = format!("http://{}", daemon.address().await);
    // Ready comes after the login was first read, and with it recovered.
    daemon.wait_for_log(" ready").await;
    let old = login["tokens"]["refresh_token"].as_str().unwrap();
    let outcome = judge_the_restart(&home, &mock, old, &on_disk, &context);
    assert_eq!(
        outcome == Outcome::Recovered,
        daemon
            .log()
            .contains("finished a write-back of the login that was interrupted"),
        "{context}: {}",
        daemon.log()
    );

    let status = reqwest::Client::new()
        .post(format!("{base}/v1/responses"))
        .json(&hello(false))
        .send()
        .await
        .unwrap()
        .status();
    if outcome == Outcome::LostInFlight {
        assert_eq!(status, 401, "{context}");
    } else {
        assert_eq!(status, 200, "{context}");
        assert_eq!(mock.refresh_reuses(), 0, "{context}");
    }
    let log = daemon.stop().await;
    assert!(!log.contains(old), "{context}: a token in the log");
    outcome
}

/// After the restart: the files as promised, and how the round ended given
/// the refresh tokens that were `on_disk` (file, temporaries) at the kill.
fn judge_the_restart(
    home: &Home,
    mock: &MockBackend,
    old: &str,
    (in_file, in_temps): &(String, Vec<String>),
    context: &str,
) -> Outcome {
    assert_eq!(home.temporaries(), Vec::<PathBuf>::new(), "{context}");
    let saved: Value = serde_json::from_slice(&std::fs::read(&home.auth).unwrap()).unwrap();
    let meta = std::fs::metadata(&home.real).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{context}");
    assert_eq!(saved["agent_identity"], json!({"kept": true}), "{context}");
    let is_link = std::fs::symlink_metadata(&home.auth).unwrap().is_symlink();
    assert_eq!(is_link, home.real != home.auth, "{context}");
    // Nothing has spent a token since the kill but the dead daemon's last
    // request, if it was still on its way: a token that reached the disk
    // and is still live is the one the file must hold.
    let live_on_disk: Vec<&String> = std::iter::once(in_file)
        .chain(in_temps)
        .filter(|t| mock.refresh_state(t) == RefreshState::Live)
        .collect();
    assert!(live_on_disk.len() <= 1, "{context}: {live_on_disk:?}");
    let now = saved["tokens"]["refresh_token"].as_str().unwrap();
    match live_on_disk.first() {
        Some(live) => {
            assert_eq!(now, live.as_str(), "{context}: the live login was kept");
            if now == old {
                Outcome::OldUnspent
            } else if in_file == now {
                Outcome::NewInPlace
            } else {
                Outcome::Recovered
            }
        }
        None => {
            assert_eq!(now, old, "{context}");
            assert_eq!(mock.refresh_state(old), RefreshState::Used, "{context}");
            Outcome::LostInFlight
        }
    }
}

/// The whole crash test stays well under this on 2 busy cores (a run took 12 s).
const BUDGET: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_survives_a_kill_at_any_point_after_its_new_tokens_reached_the_disk() {
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for (at, symlink) in rounds() {
        let outcome = round(at, symlink).await;
        match at {
            KillAt::WhileHeld => assert_eq!(outcome, Outcome::OldUnspent, "{at:?}"),
            KillAt::Staged => assert_eq!(outcome, Outcome::Recovered, "{at:?}"),
            KillAt::AfterStaged(_) => assert!(
                matches!(outcome, Outcome::Recovered | Outcome::NewInPlace),
                "{at:?}: {outcome:?}"
            ),
            KillAt::Answered => assert_eq!(outcome, Outcome::NewInPlace, "{at:?}"),
            // Only here can the endpoint's answer be lost with the process.
            KillAt::AfterRequest(_) | KillAt::AfterRelease(_) => {}
        }
        outcomes.push((at, outcome));
    }
    eprintln!(
        "{} rounds in {:.1} s: {outcomes:?}",
        outcomes.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(started.elapsed() < BUDGET, "{:?}", started.elapsed());
}

/// Runs `doctor` on the login in `codex_home`; whether it passed, and its report.
async fn doctor(codex_home: &Path, mock: &MockBackend) -> (bool, String) {
    let mut command = binary(codex_home);
    command
        .arg("doctor")
        .arg("--codex-home")
        .arg(codex_home)
        .args(["--upstream-url", &mock.upstream_url()])
        .args(["--token-url", &mock.token_url()]);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), report)
}

fn reused() -> String {
    json!({"error": {"code": "refresh_token_reused", "message": "Your refresh token has already been used"}})
        .to_string()
}

/// A proxy on an expired login whose refresh the token endpoint holds, with
/// a request under way that waits for it.
async fn held_refresh(
    mock: &MockBackend,
) -> (
    TestProxy,
    std::sync::Arc<TokenHold>,
    tokio::task::JoinHandle<u16>,
) {
    let home = tempfile::tempdir().unwrap();
    write_auth(home.path(), &mock.login(mock::now_secs() - 10));
    let hold = TokenHold::new();
    mock.push_token_answer(TokenAnswer::Hold(hold.clone()));
    let proxy = TestProxy::start_in(mock, home, |_| {}).await;
    let url = proxy.url("/v1/responses");
    let request = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let response = client.post(url).json(&hello(false)).send().await;
        response.unwrap().status().as_u16()
    });
    wait_until(Duration::from_secs(20), "the refresh", || hold.arrived()).await;
    (proxy, hold, request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_hanging_up_during_a_refresh_does_not_cost_the_rotated_login() {
    let mock = MockBackend::start().await;
    let (proxy, hold, request) = held_refresh(&mock).await;
    let old = proxy.read_auth()["tokens"]["refresh_token"].clone();
    request.abort();
    assert!(request.await.unwrap_err().is_cancelled());
    hold.release();

    let path = proxy.auth_path();
    let saved = || -> Value { serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap() };
    wait_until(Duration::from_secs(20), "the new login on disk", || {
        saved()["tokens"]["refresh_token"] != old
    })
    .await;
    let new = saved()["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(mock.refresh_state(&new), RefreshState::Live);
    assert_eq!(
        proxy.post("/v1/responses", &hello(false)).await.status(),
        200
    );
    assert_eq!((mock.refresh_calls(), mock.refresh_reuses()), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_first_finishes_a_write_back_left_beside_the_login() {
    let mock = MockBackend::start().await;
    let (proxy, hold, request) = held_refresh(&mock).await;
    // Meanwhile another of our processes refreshed this login and died
    // before its rename; the endpoint then refuses the spent token.
    let mut newer = mock.login(mock::now_secs() + 3600);
    newer["last_refresh"] = json!(humantime::format_rfc3339_micros(SystemTime::now()).to_string());
    let temp = proxy.home.path().join(".auth.json.1.tmp");
    std::fs::write(&temp, serde_json::to_vec_pretty(&newer).unwrap()).unwrap();
    hold.release_with(401, reused());

    assert_eq!(request.await.unwrap(), 200);
    assert_eq!(proxy.read_auth(), newer);
    assert!(!temp.exists());
    let (passed, report) = doctor(proxy.home.path(), &mock).await;
    assert!(
        passed,
        "no refusal noted for the login in the file: {report}"
    );
    assert_eq!(mock.refresh_calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_in_plain_words_that_the_token_endpoint_refused_the_login() {
    let mock = MockBackend::start().await;
    let (proxy, hold, request) = held_refresh(&mock).await;
    hold.release_with(401, reused());
    assert_eq!(request.await.unwrap(), 401);

    let (passed, report) = doctor(proxy.home.path(), &mock).await;
    assert!(!passed, "{report}");
    let words = "(refresh_token_reused: Your refresh token has already been used): a refresh \
                 token works once, and this one was already used";
    assert!(
        report.contains("✗ the token endpoint refused this login's refresh token at ")
            && report.contains(words)
            && report.contains("run `codex login`"),
        "{report}"
    );

    // After `codex login` the note no longer applies.
    write_auth(proxy.home.path(), &mock.login(mock::now_secs() + 3600));
    let (passed, report) = doctor(proxy.home.path(), &mock).await;
    assert!(
        passed && report.contains("✓ refresh token present"),
        "{report}"
    );
}
