//! Unit tests of `systemd`, beside it to keep the module short.
use super::listeners::bind_unix;
use super::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn status_line_names_place_account_and_expiry() {
    let summary = LoginSummary {
        account_id: Some("acc".into()),
        email: Some("a@example.com".into()),
        plan: Some("plus".into()),
        access_expires: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000)),
        last_refresh: None,
        refresh_failure: None,
    };
    assert_eq!(
        status_line("127.0.0.1:8787", true, Ok(summary)),
        "listening on 127.0.0.1:8787 (socket-activated); login a@example.com (plus), \
         token valid until 2096-10-02T07:06:40Z"
    );
}

#[tokio::test]
async fn a_wedged_runtime_fails_the_liveness_probe_and_a_running_one_passes() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = runtime.handle().clone();
    let (release, wedged) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        runtime.block_on(async {
            // Blocks the runtime's only thread, as a stuck system call would.
            let _ = wedged.recv();
            std::future::pending::<()>().await;
        });
    });
    assert!(!responds(&handle, Duration::from_millis(100)).await);
    release.send(()).unwrap();
    assert!(responds(&handle, Duration::from_secs(10)).await);
    assert!(!thread.is_finished());
}

#[test]
fn stale_socket_is_replaced_and_live_one_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let live = bind_unix(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let err = bind_unix(&path).unwrap_err().to_string();
    assert!(err.contains("another process is listening on"), "{err}");
    drop(live);
}
