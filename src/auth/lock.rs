//! The refresh lock: an exclusive advisory lock (`flock`) on `auth.json.lock`
//! beside the login. Every refresh with its write-back, and every recovery of
//! an interrupted write-back, happens while holding it, so that two of our
//! processes never spend the same refresh token nor finish the same write-back.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Another process holding the refresh lock longer than this is stuck.
const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// The lock file's path for the login at `codex_home`.
pub fn path(codex_home: &Path) -> PathBuf {
    codex_home.join(format!("{}.lock", super::file::AUTH_FILE))
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
}

/// The lock, held until the file is dropped; waits for another holder. When
/// the lock cannot be had (read-only folder, stuck holder), `None`: a refresh
/// goes on without it, and the guarded reload still protects against most races.
pub async fn acquire(path: &Path) -> Option<File> {
    let owned = path.to_path_buf();
    let task = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
        let file = open(&owned)?;
        file.lock()?;
        Ok(file)
    });
    match tokio::time::timeout(LOCK_TIMEOUT, task).await {
        Ok(Ok(Ok(file))) => Some(file),
        Ok(Ok(Err(e))) => {
            tracing::warn!(path = %path.display(), error = %e,
                "cannot take the refresh lock; refreshing without it");
            None
        }
        Ok(Err(_)) | Err(_) => {
            tracing::warn!(path = %path.display(),
                "the refresh lock is held too long by another process; refreshing without it");
            None
        }
    }
}

/// The lock if it is free now; `None` when another holder has it or it
/// cannot be had. For work that can wait for the next chance.
pub fn try_acquire(path: &Path) -> Option<File> {
    let file = open(path).ok()?;
    match file.try_lock() {
        Ok(()) => Some(file),
        Err(TryLockError::WouldBlock | TryLockError::Error(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_lock_is_not_had_again_until_it_is_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = path(dir.path());
        let held = acquire(&path).await.unwrap();
        assert!(try_acquire(&path).is_none());
        drop(held);
        assert!(try_acquire(&path).is_some());
    }
}
