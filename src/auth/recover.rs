//! Finishing a write-back that a crash interrupted.
//!
//! The token endpoint spends the old refresh token when it answers, so a
//! process that dies after staging the new login (`file::stage`) and before
//! the rename leaves the only live refresh token in its temporary file.
//! Whoever reads the login next, holding the refresh lock, looks beside the
//! file for temporaries of our naming and finishes the newest one of the same
//! account; the rest hold nothing worth keeping and are removed. A temporary
//! whose writer still holds its lock (`file::Staged`) is a write-back in
//! progress and is left alone: the kernel drops that lock when the writer
//! dies, so the test cannot be fooled by a reused process id.

use std::fs::{self, File, TryLockError};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::file::{self, AuthFile};

/// What recovery does with one temporary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The newest login of the same account, newer than the file: renamed
    /// over it.
    Finish,
    /// Nothing in it is worth keeping: removed.
    Remove(Stale),
    /// Left alone.
    Keep(Hold),
}

/// Why a temporary holds nothing worth keeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// No bytes: the writer died before writing them.
    Empty,
    /// Cut short, or not a ChatGPT login.
    Unparsable,
    /// A login of another account than the file's.
    OtherAccount,
    /// Not newer than the login in the file.
    NotNewer,
    /// Newer than the file, but another temporary is newer still.
    Superseded,
}

/// Why a temporary is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// Its writer is alive and holds its lock: a write-back in progress.
    LiveWriter,
    /// There is no readable login file to compare it with; it may be the
    /// only copy of a login, and a missing file may mean a logout.
    NoLogin,
    /// Neither file says when it was refreshed or issued.
    Undecidable,
}

/// One temporary found beside the login file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    /// Its contents; `None` when its writer holds its lock.
    pub bytes: Option<Vec<u8>>,
}

/// Decides, for each of `found` in order, what to do with it given the login
/// in the file (`None` when there is no readable one).
pub fn judge(current: Option<&AuthFile>, found: &[Found]) -> Vec<Verdict> {
    let mut verdicts = Vec::with_capacity(found.len());
    // The newest candidate so far: its index and login.
    let mut best: Option<(usize, AuthFile)> = None;
    for (i, f) in found.iter().enumerate() {
        let candidate = match &f.bytes {
            None => Err(Verdict::Keep(Hold::LiveWriter)),
            Some(bytes) => judge_one(current, bytes),
        };
        let login = match candidate {
            Ok(login) => login,
            Err(verdict) => {
                verdicts.push(verdict);
                continue;
            }
        };
        match &best {
            Some((_, b)) if freshness(b) >= freshness(&login) => {
                verdicts.push(Verdict::Remove(Stale::Superseded));
            }
            _ => {
                if let Some((j, _)) = best.replace((i, login)) {
                    verdicts[j] = Verdict::Remove(Stale::Superseded);
                }
                verdicts.push(Verdict::Finish);
            }
        }
    }
    verdicts
}

/// The login in `bytes` when it is a newer one of the same account.
fn judge_one(current: Option<&AuthFile>, bytes: &[u8]) -> Result<AuthFile, Verdict> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Verdict::Remove(Stale::Empty));
    }
    let login = file::parse(bytes).map_err(|_| Verdict::Remove(Stale::Unparsable))?;
    let Some(current) = current else {
        return Err(Verdict::Keep(Hold::NoLogin));
    };
    if !same_account(&login, current) {
        return Err(Verdict::Remove(Stale::OtherAccount));
    }
    if login.tokens.refresh_token == current.tokens.refresh_token {
        return Err(Verdict::Remove(Stale::NotNewer));
    }
    match newer(&login, current) {
        Some(true) => Ok(login),
        Some(false) => Err(Verdict::Remove(Stale::NotNewer)),
        None => Err(Verdict::Keep(Hold::Undecidable)),
    }
}

/// The account ids agree, or, where neither file has one, the emails do.
fn same_account(a: &AuthFile, b: &AuthFile) -> bool {
    match (&a.tokens.account_id, &b.tokens.account_id) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.id_claims.email.is_some() && a.id_claims.email == b.id_claims.email,
        _ => false,
    }
}

/// Whether `a` is newer than `b`, by the first of `last_refresh`, the access
/// token's `iat`, its `exp` that both have; `None` when none is shared.
fn newer(a: &AuthFile, b: &AuthFile) -> Option<bool> {
    if let (Some(x), Some(y)) = (a.last_refresh, b.last_refresh) {
        return Some(x > y);
    }
    if let (Some(x), Some(y)) = (a.access_iat, b.access_iat) {
        return Some(x > y);
    }
    if let (Some(x), Some(y)) = (a.access_exp, b.access_exp) {
        return Some(x > y);
    }
    None
}

/// Orders candidates that are all newer than the file.
fn freshness(f: &AuthFile) -> (Option<SystemTime>, Option<i64>, Option<i64>) {
    (f.last_refresh, f.access_iat, f.access_exp)
}

/// The temporaries beside the file `path` points to, with their verdicts.
#[derive(Debug)]
struct Scan {
    target: PathBuf,
    found: Vec<Found>,
    /// Each temporary's open file, locked, when its writer is gone: held
    /// until recovery is done with it.
    handles: Vec<Option<File>>,
}

/// Finds the write-back temporaries beside `path` (beside its target when it
/// is a symlink). `None` when the login file does not exist.
fn scan(path: &Path) -> io::Result<Option<Scan>> {
    let target = match fs::canonicalize(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let (Some(dir), Some(name)) = (target.parent(), target.file_name().and_then(|n| n.to_str()))
    else {
        return Ok(None);
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| file::temp_writer(name, n).is_some());
        // A directory or a link of that name is not ours to touch.
        if is_ours && entry.file_type()?.is_file() {
            paths.push(entry.path());
        }
    }
    paths.sort();
    let mut scan = Scan {
        target,
        found: Vec::with_capacity(paths.len()),
        handles: Vec::with_capacity(paths.len()),
    };
    for path in paths {
        let Some((bytes, handle)) = open_unless_busy(&path)? else {
            continue;
        };
        scan.found.push(Found { path, bytes });
        scan.handles.push(handle);
    }
    Ok(Some(scan))
}

/// Reads a temporary whose writer is gone, keeping it locked; `(None, None)`
/// when its writer holds it, `None` when it vanished meanwhile.
#[allow(clippy::type_complexity)]
fn open_unless_busy(path: &Path) -> io::Result<Option<(Option<Vec<u8>>, Option<File>)>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(Some((None, None))),
        Err(TryLockError::Error(e)) => return Err(e),
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Some((Some(bytes), Some(file))))
}

/// What recovery would do with each temporary beside `path`, without doing
/// it: for `doctor`.
pub fn survey(path: &Path) -> io::Result<Vec<(PathBuf, Verdict)>> {
    let Some(scan) = scan(path)? else {
        return Ok(Vec::new());
    };
    let current = file::load(&scan.target).ok().map(|(f, _)| f);
    let verdicts = judge(current.as_ref(), &scan.found);
    Ok(scan
        .found
        .into_iter()
        .map(|f| f.path)
        .zip(verdicts)
        .collect())
}

/// Finishes or removes the temporaries beside `path`, as [`judge`] decides.
/// The caller holds the refresh lock. Returns what was done with each.
pub fn recover(path: &Path) -> io::Result<Vec<(PathBuf, Verdict)>> {
    let Some(scan) = scan(path)? else {
        return Ok(Vec::new());
    };
    if scan.found.is_empty() {
        return Ok(Vec::new());
    }
    let current = file::load(&scan.target).ok().map(|(f, _)| f);
    let verdicts = judge(current.as_ref(), &scan.found);
    let mut done = Vec::with_capacity(verdicts.len());
    for ((found, handle), verdict) in scan.found.into_iter().zip(scan.handles).zip(verdicts) {
        let name = found.path.file_name().unwrap_or_default().to_string_lossy();
        match (verdict, handle) {
            (Verdict::Finish, Some(handle)) => {
                finish(&found.path, &handle, &scan.target)?;
                tracing::warn!(temporary = %name, file = %scan.target.display(),
                    "finished a write-back of the login that was interrupted");
            }
            (Verdict::Remove(why), Some(_handle)) => {
                fs::remove_file(&found.path)?;
                tracing::info!(temporary = %name, reason = ?why,
                    "removed a leftover write-back temporary");
            }
            (Verdict::Keep(why), _) => {
                tracing::debug!(temporary = %name, reason = ?why,
                    "left a write-back temporary alone");
            }
            // `judge` only keeps what it could not read.
            (Verdict::Finish | Verdict::Remove(_), None) => continue,
        }
        done.push((found.path, verdict));
    }
    Ok(done)
}

/// Makes the temporary durable (its writer may have died before its own
/// sync), renames it over `target`, and makes the rename durable.
fn finish(temp: &Path, handle: &File, target: &Path) -> io::Result<()> {
    handle.sync_all()?;
    fs::rename(temp, target)?;
    if let Some(dir) = target.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
#[path = "recover_tests.rs"]
mod tests;
