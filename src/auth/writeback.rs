//! Writing a refreshed login back, in the order that keeps a crash from losing
//! it. The token endpoint spent the old refresh token when it answered, so
//! the new one is put on disk before anything else is done with it; once it
//! is there, a crash at any later point is finished by recovery (`recover`).

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::AuthError;
use super::file::{self, Staged, Stamp};

/// The environment variable that turns on the [`Pause`] test hook: the path
/// of a marker file.
pub const PAUSE_ENV: &str = "CODEX_PROXY_TEST_PAUSE_BEFORE_RENAME";

/// How often a paused write-back looks whether its marker is gone.
const PAUSE_POLL: Duration = Duration::from_millis(1);

/// Test hook: a pause between a staged write-back and its rename, so that a
/// test can kill the process exactly there. It is read once, when the token
/// source is built; unset (as it always is outside tests) it costs one
/// `None` check per write-back.
#[derive(Debug, Clone, Default)]
pub struct Pause {
    marker: Option<PathBuf>,
}

impl Pause {
    /// The hook as [`PAUSE_ENV`] sets it.
    pub fn from_env() -> Self {
        Pause {
            marker: std::env::var_os(PAUSE_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }

    /// With the hook set: writes the temporary's path into the marker file,
    /// then waits until the marker is removed.
    pub(crate) fn before_rename(&self, temp: &Path) {
        let Some(marker) = &self.marker else { return };
        if std::fs::write(marker, temp.as_os_str().as_bytes()).is_err() {
            return;
        }
        while marker.exists() {
            std::thread::sleep(PAUSE_POLL);
        }
    }
}

/// Before the token endpoint is asked: the temporary file made ready
/// (created, 0600, locked), so that its answer meets an open file. A crash
/// from here until [`put`] leaves an empty temporary, which recovery removes.
pub(crate) fn prepare(path: &Path) -> io::Result<Staged> {
    file::reserve(path)
}

/// Right after the answer: the new login's bytes into the prepared file, a
/// single write to the page cache, which outlives a crash of the process.
/// Returns the bytes, and the file unless the write failed (then the tokens
/// live on only in memory and the old file is intact).
pub(crate) fn put(
    prepared: io::Result<Staged>,
    doc: &Map<String, Value>,
) -> (Vec<u8>, io::Result<Staged>) {
    let bytes = file::encode(doc);
    let staged = prepared.and_then(|s| s.write(&bytes).map(|()| s));
    (bytes, staged)
}

/// The rest, which may block: flushes the file to disk, has `accept` check
/// the bytes, and renames them into place. Returns what `accept` made of
/// them, and how the disk took them (on `Err` the old file is intact); when
/// `accept` refuses, nothing is kept.
pub(crate) fn complete<T>(
    staged: io::Result<Staged>,
    bytes: &[u8],
    pause: &Pause,
    accept: impl FnOnce(&[u8]) -> Result<T, AuthError>,
) -> Result<(T, io::Result<Stamp>), AuthError> {
    let staged = staged.and_then(|s| s.sync().map(|()| s));
    // Refused tokens: dropping the staged file removes it.
    let accepted = accept(bytes)?;
    let written = staged.and_then(|s| s.commit(pause));
    Ok((accepted, written))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::refresh::RefreshError;

    #[test]
    fn a_refused_document_leaves_neither_a_temporary_nor_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file::AUTH_FILE);
        std::fs::write(&path, "old").unwrap();
        let (bytes, staged) = put(prepare(&path), &Map::new());
        let refused: Result<((), _), _> = complete(staged, &bytes, &Pause::default(), |_| {
            Err(AuthError::Refresh(RefreshError::Permanent {
                reason: "test".into(),
            }))
        });
        assert!(refused.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_prepared_file_holds_the_document_as_soon_as_it_is_put() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file::AUTH_FILE);
        std::fs::write(&path, "old").unwrap();
        let prepared = prepare(&path).unwrap();
        let temp = prepared.temp().to_path_buf();
        assert_eq!(std::fs::read(&temp).unwrap(), b"");
        let mut doc = Map::new();
        doc.insert("k".into(), Value::from(1));
        let (bytes, staged) = put(Ok(prepared), &doc);
        // What a crash right now would leave for recovery.
        assert_eq!(std::fs::read(&temp).unwrap(), bytes);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        drop(staged);
        assert!(!temp.exists());
    }

    #[test]
    fn an_accepted_document_replaces_the_file_and_accept_sees_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file::AUTH_FILE);
        std::fs::write(&path, "old").unwrap();
        let mut doc = Map::new();
        doc.insert("k".into(), Value::from(1));
        let (bytes, staged) = put(prepare(&path), &doc);
        let (seen, written) =
            complete(staged, &bytes, &Pause::default(), |b| Ok(b.to_vec())).unwrap();
        assert!(written.is_ok());
        assert_eq!(seen, b"{\n  \"k\": 1\n}\n");
        assert_eq!(std::fs::read(&path).unwrap(), seen);
    }

    #[test]
    fn the_pause_writes_its_marker_and_waits_until_it_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("paused");
        let pause = Pause {
            marker: Some(marker.clone()),
        };
        let waiter = std::thread::spawn(move || pause.before_rename(Path::new("/x/.a.1.tmp")));
        while !marker.exists() {
            std::thread::yield_now();
        }
        assert!(!waiter.is_finished());
        std::fs::remove_file(&marker).unwrap();
        waiter.join().unwrap();
    }
}
