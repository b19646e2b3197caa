//! Unit tests of `file`: parsing, the refreshed document, the atomic write-back.

use super::*;
use serde_json::json;

fn login(extra: Value) -> Value {
    let mut doc = json!({
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": jwt::fake(&json!({"https://api.openai.com/auth": {"chatgpt_account_id": "from-claim"}})),
            "access_token": jwt::fake(&json!({"exp": 2_000_000_000})),
            "refresh_token": "rt-1",
            "account_id": "acc-1"
        },
        "last_refresh": "2026-04-22T10:00:00.123456Z"
    });
    if let (Value::Object(d), Value::Object(e)) = (&mut doc, extra) {
        d.extend(e);
    }
    doc
}

#[test]
fn parses_a_chatgpt_login() {
    let f = parse(login(json!({})).to_string().as_bytes()).unwrap();
    assert_eq!(f.tokens.refresh_token, "rt-1");
    assert_eq!(f.tokens.account_id.as_deref(), Some("acc-1"));
    assert_eq!(f.access_exp, Some(2_000_000_000));
    assert_eq!(
        f.last_refresh,
        Some(humantime::parse_rfc3339("2026-04-22T10:00:00.123456Z").unwrap())
    );
}

#[test]
fn account_id_falls_back_to_the_id_token_claim() {
    let mut doc = login(json!({}));
    doc["tokens"]["account_id"] = Value::Null;
    let f = parse(doc.to_string().as_bytes()).unwrap();
    assert_eq!(f.tokens.account_id.as_deref(), Some("from-claim"));
}

#[test]
fn api_key_logins_and_broken_files_are_refused() {
    assert_eq!(
        parse(br#"{"OPENAI_API_KEY":"sk-x"}"#),
        Err(ParseError::ApiKey)
    );
    assert_eq!(
        parse(login(json!({"auth_mode":"apikey"})).to_string().as_bytes()),
        Err(ParseError::ApiKey)
    );
    assert!(matches!(parse(b"{"), Err(ParseError::Invalid(_))));
    assert!(matches!(parse(b"[]"), Err(ParseError::Invalid(_))));
    let mut doc = login(json!({}));
    doc["tokens"]["id_token"] = json!("not-a-jwt");
    assert!(
        matches!(parse(doc.to_string().as_bytes()), Err(ParseError::Invalid(m)) if m.contains("id_token"))
    );
}

#[test]
fn refreshed_replaces_only_the_given_tokens_and_keeps_unknown_keys() {
    let f = parse(
        login(json!({"agent_identity": {"x": 1}}))
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let now = humantime::parse_rfc3339("2026-11-23T12:00:00Z").unwrap();
    let doc = f.refreshed(
        &NewTokens {
            access_token: Some("new-at".into()),
            refresh_token: Some("rt-2".into()),
            id_token: None,
        },
        now,
    );
    let mut want = login(json!({"agent_identity": {"x": 1}}));
    want["tokens"]["access_token"] = json!("new-at");
    want["tokens"]["refresh_token"] = json!("rt-2");
    want["last_refresh"] = json!("2026-11-23T12:00:00.000000Z");
    assert_eq!(Value::Object(doc), want);
}

#[test]
fn write_atomic_leaves_a_0600_file_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUTH_FILE);
    fs::write(&path, "{}").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let doc = login(json!({}));
    write_atomic(&path, doc.as_object().unwrap()).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let back: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(back, doc);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_failed_write_leaves_the_old_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUTH_FILE);
    fs::write(&path, "old").unwrap();
    // Something already occupies the temporary name: the write cannot start.
    fs::create_dir(temp_path(&path)).unwrap();
    assert!(write_atomic(&path, login(json!({})).as_object().unwrap()).is_err());
    assert_eq!(fs::read_to_string(&path).unwrap(), "old");
}

#[test]
fn a_missing_file_names_the_keyring_when_codex_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUTH_FILE);
    assert!(matches!(load(&path), Err(LoadError::Missing { .. })));
    fs::write(
        dir.path().join("config.toml"),
        "cli_auth_credentials_store = \"keyring\"\n",
    )
    .unwrap();
    let err = load(&path).unwrap_err();
    assert!(matches!(err, LoadError::Keyring { .. }));
    assert!(err.to_string().contains("keyring"));
}

#[test]
fn a_symlinked_login_is_written_where_it_points_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("store").join("creds.json");
    fs::create_dir(target.parent().unwrap()).unwrap();
    fs::write(&target, "{}").unwrap();
    let link = dir.path().join(AUTH_FILE);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let doc = login(json!({}));
    write_atomic(&link, doc.as_object().unwrap()).unwrap();
    assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(fs::read_link(&link).unwrap(), target);
    let back: Value = serde_json::from_slice(&fs::read(&target).unwrap()).unwrap();
    assert_eq!(back, doc);
    assert_eq!(fs::read_dir(target.parent().unwrap()).unwrap().count(), 1);
}

#[test]
fn a_staged_login_is_durable_locked_and_0600_until_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUTH_FILE);
    fs::write(&path, "old").unwrap();
    let staged = stage(&path, b"new").unwrap();
    let temp = staged.temp().to_path_buf();
    assert_eq!(temp, temp_path(&path));
    assert_eq!(fs::read(&temp).unwrap(), b"new");
    assert_eq!(
        fs::metadata(&temp).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let other = File::open(&temp).unwrap();
    assert!(matches!(
        other.try_lock(),
        Err(std::fs::TryLockError::WouldBlock)
    ));
    assert_eq!(fs::read_to_string(&path).unwrap(), "old");

    let stamp = staged.commit(&Pause::default()).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "new");
    assert_eq!(Stamp::of(&fs::metadata(&path).unwrap()), stamp);
    assert!(!temp.exists());
    // The lock went with the commit.
    other.try_lock().unwrap();
}

#[test]
fn a_staged_login_dropped_before_its_commit_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUTH_FILE);
    fs::write(&path, "old").unwrap();
    drop(stage(&path, b"new").unwrap());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    assert_eq!(fs::read_to_string(&path).unwrap(), "old");
}

#[test]
fn temporaries_are_told_apart_by_their_exact_name() {
    assert_eq!(temp_writer("auth.json", ".auth.json.4242.tmp"), Some(4242));
    let name = temp_path(Path::new("/h/auth.json"));
    let name = name.file_name().unwrap().to_str().unwrap();
    assert_eq!(temp_writer("auth.json", name), Some(std::process::id()));
    for other in [
        "auth.json.4242.tmp",
        ".auth.json..tmp",
        ".auth.json.42a.tmp",
        ".auth.json.4242.tmp~",
        ".other.json.4242.tmp",
        ".auth.json.-1.tmp",
    ] {
        assert_eq!(temp_writer("auth.json", other), None, "{other}");
    }
}
