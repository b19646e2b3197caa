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

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use codex_responses_proxy::auth::writeback::PAUSE_ENV;
use common::mock::{RefreshState, TokenHold};
use common::process::{Child, binary};
use common::{MockBackend, TokenAnswer, hello, mock, wait_until};
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
async fn kill_during_refresh(mock: &MockBackend, home: &Home, at: KillAt) -> String {
    let hold = TokenHold::new();
    // A hold nobody took would stall the next start's refresh.
    if !matches!(at, KillAt::AfterRequest(_)) {
        mock.push_token_answer(TokenAnswer::Hold(hold.clone()));
    }
    let daemon = home.start(mock, at.holds_at_the_hook());
    let url = format!("http://{}/v1/responses", daemon.address().await);
    let request = tokio::spawn(async move {
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
            assert_eq!(request.await.unwrap().unwrap(), 200);
        }
    }
    let log = daemon.kill();
    let _ = std::fs::remove_file(home.marker());
    log
}

/// Plays one round and returns how it ended; asserts every promise on the way.
async fn round(at: KillAt, symlink: bool) -> Outcome {
    let mock = MockBackend::start().await;
    let mut login = mock.login(mock::now_secs() - 10);
    login["agent_identity"] = json!({"kept": true});
    let old = login["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let home = Home::new(&login, symlink);
    let context = format!("{at:?}, symlink {symlink}");

    kill_during_refresh(&mock, &home, at).await;
    // What reached the disk before the kill.
    let (in_file, in_temps) = home.refresh_tokens();

    let daemon = home.start(&mock, false);
    let base = format!("http://{}", daemon.address().await);
    // Ready comes after the login was first read, and with it recovered.
    daemon.wait_for_log(" ready").await;
    assert_eq!(home.temporaries(), Vec::<PathBuf>::new(), "{context}");
    let saved: Value = serde_json::from_slice(&std::fs::read(&home.auth).unwrap()).unwrap();
    let meta = std::fs::metadata(&home.real).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{context}");
    assert_eq!(saved["agent_identity"], json!({"kept": true}), "{context}");
    assert_eq!(
        std::fs::symlink_metadata(&home.auth).unwrap().is_symlink(),
        symlink
    );
    // Nothing has spent a token since the kill but the dead daemon's last
    // request, if it was still on its way: a token that reached the disk
    // and is still live is the one the file must hold.
    let live_on_disk: Vec<&String> = std::iter::once(&in_file)
        .chain(&in_temps)
        .filter(|t| mock.refresh_state(t) == RefreshState::Live)
        .collect();
    assert!(live_on_disk.len() <= 1, "{context}: {live_on_disk:?}");
    let now = saved["tokens"]["refresh_token"].as_str().unwrap();
    let outcome = match live_on_disk.first() {
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
            assert_eq!(mock.refresh_state(&old), RefreshState::Used, "{context}");
            Outcome::LostInFlight
        }
    };
    let log = daemon.log();
    assert_eq!(
        outcome == Outcome::Recovered,
        log.contains("finished a write-back of the login that was interrupted"),
        "{context}: {log}"
    );
    assert!(!log.contains(now), "{context}: a token in the log");

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
    daemon.stop().await;
    outcome
}

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
}
