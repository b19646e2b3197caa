//! Unit tests of `recover`: the decision for each kind of temporary, and the
//! finishing on disk.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use super::*;
use crate::auth::jwt;

/// The bytes of a login of `account` holding `refresh`, refreshed at
/// `last_refresh`, whose access token was issued at `iat`.
fn login(account: &str, refresh: &str, last_refresh: Option<&str>, iat: Option<i64>) -> Vec<u8> {
    let mut doc = json!({
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": jwt::fake(&json!({"email": "dev@example.com"})),
            "access_token": jwt::fake(&json!({"iat": iat, "exp": iat.map(|t| t + 3600)})),
            "refresh_token": refresh,
            "account_id": account
        },
        "unknown": {"kept": true}
    });
    if let Some(t) = last_refresh {
        doc["last_refresh"] = json!(t);
    }
    serde_json::to_vec_pretty(&doc).unwrap()
}

const T1: &str = "2026-11-01T10:00:00.000000Z";
const T2: &str = "2026-11-01T11:00:00.000000Z";
const T3: &str = "2026-11-01T12:00:00.000000Z";

fn parsed(bytes: &[u8]) -> AuthFile {
    file::parse(bytes).unwrap()
}

fn found(name: &str, bytes: Option<Vec<u8>>) -> Found {
    Found {
        path: PathBuf::from(name),
        bytes,
    }
}

#[test]
fn each_kind_of_temporary_gets_its_verdict() {
    let current = parsed(&login("acc", "rt-1", Some(T2), None));
    let temps = [
        found("empty", Some(Vec::new())),
        found("blank", Some(b"\n".to_vec())),
        found(
            "cut",
            Some(login("acc", "rt-2", Some(T3), None)[..40].to_vec()),
        ),
        found("apikey", Some(br#"{"OPENAI_API_KEY":"sk-x"}"#.to_vec())),
        found("other", Some(login("acc-2", "rt-2", Some(T3), None))),
        found("older", Some(login("acc", "rt-0", Some(T1), None))),
        found("same", Some(login("acc", "rt-1", Some(T3), None))),
        found("busy", None),
        found("newer", Some(login("acc", "rt-2", Some(T3), None))),
    ];
    assert_eq!(
        judge(Some(&current), &temps),
        vec![
            Verdict::Remove(Stale::Empty),
            Verdict::Remove(Stale::Empty),
            Verdict::Remove(Stale::Unparsable),
            Verdict::Remove(Stale::Unparsable),
            Verdict::Remove(Stale::OtherAccount),
            Verdict::Remove(Stale::NotNewer),
            Verdict::Remove(Stale::NotNewer),
            Verdict::Keep(Hold::LiveWriter),
            Verdict::Finish,
        ]
    );
}

#[test]
fn of_two_newer_temporaries_the_newest_is_finished_in_either_order() {
    let current = parsed(&login("acc", "rt-1", Some(T1), None));
    let mid = || found("mid", Some(login("acc", "rt-2", Some(T2), None)));
    let new = || found("new", Some(login("acc", "rt-3", Some(T3), None)));
    assert_eq!(
        judge(Some(&current), &[mid(), new()]),
        vec![Verdict::Remove(Stale::Superseded), Verdict::Finish]
    );
    assert_eq!(
        judge(Some(&current), &[new(), mid()]),
        vec![Verdict::Finish, Verdict::Remove(Stale::Superseded)]
    );
}

#[test]
fn without_last_refresh_the_access_tokens_issue_time_decides() {
    let current = parsed(&login("acc", "rt-1", None, Some(1_000)));
    let temps = [
        found("later", Some(login("acc", "rt-2", None, Some(2_000)))),
        found("earlier", Some(login("acc", "rt-0", None, Some(500)))),
        found("undated", Some(login("acc", "rt-3", None, None))),
    ];
    assert_eq!(
        judge(Some(&current), &temps),
        vec![
            Verdict::Finish,
            Verdict::Remove(Stale::NotNewer),
            Verdict::Keep(Hold::Undecidable),
        ]
    );
}

#[test]
fn without_a_login_file_a_login_is_kept_and_an_empty_file_removed() {
    let temps = [
        found("login", Some(login("acc", "rt-2", Some(T3), None))),
        found("empty", Some(Vec::new())),
    ];
    assert_eq!(
        judge(None, &temps),
        vec![Verdict::Keep(Hold::NoLogin), Verdict::Remove(Stale::Empty)]
    );
}

/// A folder holding auth.json (refreshed at T2) and `temps` by name.
fn folder(temps: &[(&str, Vec<u8>)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file::AUTH_FILE);
    fs::write(&path, login("acc", "rt-1", Some(T2), None)).unwrap();
    for (name, bytes) in temps {
        fs::write(dir.path().join(name), bytes).unwrap();
        fs::set_permissions(dir.path().join(name), fs::Permissions::from_mode(0o600)).unwrap();
    }
    (dir, path)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn recovery_finishes_the_newer_write_back_and_removes_the_rest() {
    let newer = login("acc", "rt-2", Some(T3), None);
    let (dir, path) = folder(&[
        (".auth.json.100.tmp", newer.clone()),
        (".auth.json.101.tmp", Vec::new()),
        (".auth.json.102.tmp", login("acc", "rt-0", Some(T1), None)),
        // Not of our naming: someone else's.
        (".auth.json.x1.tmp", Vec::new()),
        ("auth.json.tmp", Vec::new()),
    ]);
    fs::create_dir(dir.path().join(".auth.json.103.tmp")).unwrap();

    let done = recover(&path).unwrap();
    let at = |n: &str| dir.path().join(n);
    assert_eq!(
        done,
        vec![
            (at(".auth.json.100.tmp"), Verdict::Finish),
            (at(".auth.json.101.tmp"), Verdict::Remove(Stale::Empty)),
            (at(".auth.json.102.tmp"), Verdict::Remove(Stale::NotNewer)),
        ]
    );
    assert_eq!(fs::read(&path).unwrap(), newer);
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let kept: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(kept["unknown"], json!({"kept": true}));
    assert_eq!(
        names(dir.path()),
        vec![
            ".auth.json.103.tmp",
            ".auth.json.x1.tmp",
            "auth.json",
            "auth.json.tmp"
        ]
    );
    assert_eq!(recover(&path).unwrap(), Vec::new(), "nothing left to do");
}

#[test]
fn a_temporary_whose_writer_holds_its_lock_is_left_alone() {
    let newer = login("acc", "rt-2", Some(T3), None);
    let (dir, path) = folder(&[(".auth.json.100.tmp", newer.clone())]);
    let temp = dir.path().join(".auth.json.100.tmp");
    let writer = File::open(&temp).unwrap();
    writer.lock().unwrap();
    let before = fs::read(&path).unwrap();

    assert_eq!(
        survey(&path).unwrap(),
        vec![(temp.clone(), Verdict::Keep(Hold::LiveWriter))]
    );
    assert_eq!(
        recover(&path).unwrap(),
        vec![(temp.clone(), Verdict::Keep(Hold::LiveWriter))]
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(fs::read(&temp).unwrap(), newer);

    // The writer died: its lock went with it.
    drop(writer);
    assert_eq!(recover(&path).unwrap(), vec![(temp, Verdict::Finish)]);
    assert_eq!(fs::read(&path).unwrap(), newer);
}

#[test]
fn survey_changes_nothing() {
    let (dir, path) = folder(&[
        (".auth.json.100.tmp", login("acc", "rt-2", Some(T3), None)),
        (".auth.json.101.tmp", Vec::new()),
    ]);
    let before = names(dir.path());
    let at = |n: &str| dir.path().join(n);
    assert_eq!(
        survey(&path).unwrap(),
        vec![
            (at(".auth.json.100.tmp"), Verdict::Finish),
            (at(".auth.json.101.tmp"), Verdict::Remove(Stale::Empty)),
        ]
    );
    assert_eq!(names(dir.path()), before);
}

#[test]
fn a_symlinked_login_is_recovered_beside_its_target_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("store");
    fs::create_dir(&real).unwrap();
    let (home, target) = (dir.path().join("home"), real.join("creds.json"));
    fs::create_dir(&home).unwrap();
    fs::write(&target, login("acc", "rt-1", Some(T2), None)).unwrap();
    let link = home.join(file::AUTH_FILE);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let newer = login("acc", "rt-2", Some(T3), None);
    fs::write(real.join(".creds.json.77.tmp"), &newer).unwrap();

    assert_eq!(
        recover(&link).unwrap(),
        vec![(real.join(".creds.json.77.tmp"), Verdict::Finish)]
    );
    assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(fs::read(&link).unwrap(), newer);
    assert_eq!(names(&real), vec!["creds.json"]);
}

#[test]
fn a_missing_login_file_means_nothing_to_recover() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".auth.json.1.tmp"), b"x").unwrap();
    let path = dir.path().join(file::AUTH_FILE);
    assert_eq!(recover(&path).unwrap(), Vec::new());
    assert_eq!(names(dir.path()), vec![".auth.json.1.tmp"]);
}
