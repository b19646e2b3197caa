//! Opening the database: a private directory and file, the durability
//! settings, the schema, and a typed error for every way it can fail.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, MAIN_DB};

use super::options::{DB_FILE, StoreMode, StoreOptions, default_dir};
use super::schema::{self, SCHEMA_VERSION};

/// How long to wait for another process's write lock (a daemon still
/// draining while its successor starts) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// More than the store's distinct statements, so none is parsed twice.
const STATEMENT_CACHE: usize = 64;

/// The WAL is cut back to this after a checkpoint, so one large write does
/// not leave a large file behind.
const JOURNAL_SIZE_LIMIT: i64 = 16 * 1024 * 1024;

/// Only the user may enter the directory or read the files: they hold prompts.
const DIR_MODE: u32 = 0o700;
pub(super) const FILE_MODE: u32 = 0o600;

/// SQLite's companions of the database file, given the same mode.
const COMPANIONS: [&str; 2] = ["-wal", "-shm"];

/// Why the store could not be opened. The daemon serves on without state.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("store mode `off` opens no database")]
    Off,
    #[error(
        "no directory for the response store: none of STATE_DIRECTORY, \
         XDG_STATE_HOME or HOME is set, and no store directory is configured"
    )]
    NoDirectory,
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a usable response store ({source}); move it aside to start a new one", path.display())]
    Corrupt {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{} is read-only, and the response store must write", path.display())]
    ReadOnly { path: PathBuf },
    #[error(
        "{} has schema version {found}, newer than this version reads ({SCHEMA_VERSION})",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: i64 },
    #[error("cannot write the journal {} to the response store: {source}", path.display())]
    Journal {
        path: PathBuf,
        #[source]
        source: Box<super::StoreError>,
    },
    #[error("cannot open the response store {}: {source}", path.display())]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// A configured connection for `options`, and the file it is on (`None` in memory).
pub(super) fn connect(options: &StoreOptions) -> Result<(Connection, Option<PathBuf>), OpenError> {
    match options.mode {
        StoreMode::Off => Err(OpenError::Off),
        StoreMode::Memory => {
            let path = Path::new(":memory:");
            let conn = Connection::open_in_memory().map_err(|e| classify(path, e))?;
            prepare(&conn, path, false)?;
            Ok((conn, None))
        }
        StoreMode::Disk => {
            let dir = match &options.dir {
                Some(dir) => dir.clone(),
                None => default_dir().ok_or(OpenError::NoDirectory)?,
            };
            let path = dir.join(DB_FILE);
            make_private_dir(&dir, options.dir.is_none())?;
            make_private_files(&path)?;
            let conn = Connection::open(&path).map_err(|e| classify(&path, e))?;
            prepare(&conn, &path, true)?;
            Ok((conn, Some(path)))
        }
    }
}

/// Creates the directory (and missing parents) as 0700. An existing default
/// directory is ours and is tightened; a configured one is left as the user
/// set it (it may be shared), the files in it being private anyway.
fn make_private_dir(dir: &Path, ours: bool) -> Result<(), OpenError> {
    let io_err = |source| OpenError::Io {
        path: dir.to_path_buf(),
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(io_err)?;
    if ours {
        fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)).map_err(io_err)?;
    }
    Ok(())
}

/// Creates the database file as 0600 before SQLite does (SQLite then gives
/// its `-wal` and `-shm` files the database's mode), and tightens files left
/// by an earlier run. Opening for writing here also turns an unwritable file
/// into a plain I/O error instead of a silently read-only database.
fn make_private_files(path: &Path) -> Result<(), OpenError> {
    let io_err = |path: &Path, source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    };
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    fs::set_permissions(path, Permissions::from_mode(FILE_MODE)).map_err(|e| io_err(path, e))?;
    for suffix in COMPANIONS {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        let companion = PathBuf::from(companion);
        match fs::set_permissions(&companion, Permissions::from_mode(FILE_MODE)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&companion, e)),
            Ok(()) | Err(_) => {}
        }
    }
    Ok(())
}

/// Durability, privacy and the schema. `durable` is false in memory.
fn prepare(conn: &Connection, path: &Path, durable: bool) -> Result<(), OpenError> {
    let fail = |e| classify(path, e);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
    // Every statement the store runs stays prepared: a commit's few
    // statements cost more to parse than to run.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The first read of the file: a damaged header shows here.
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(fail)?;
    if found > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            path: path.to_path_buf(),
            found,
        });
    }
    if found == 0 {
        // Only takes effect before the first table: lets eviction hand
        // pages back to the file system.
        conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")
            .map_err(fail)?;
    }
    if durable {
        // WAL: readers never block the writer and a torn write is ignored on
        // the next open. NORMAL: a commit is written to the WAL (the page
        // cache, which outlives the process) without an fsync, so an answer
        // whose store call returned survives a crash of the process, and
        // kept answers do not queue behind one fsync each. The WAL is synced
        // at checkpoints only, so a power cut may lose the last moments'
        // commits (docs/RESILIENCE.md), never corrupt the file.
        let _mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)
            .map_err(fail)?;
    }
    // Deleted and evicted prompts are overwritten, not left in free pages.
    conn.pragma_update(None, "secure_delete", "ON")
        .map_err(fail)?;
    migrate(conn, path)?;
    if conn.is_readonly(MAIN_DB).map_err(fail)? {
        return Err(OpenError::ReadOnly {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// Creates or upgrades the tables in one write transaction; the version
/// is read again inside it, since another process may have migrated the
/// file since it was first read.
fn migrate(conn: &Connection, path: &Path) -> Result<(), OpenError> {
    let fail = |e| classify(path, e);
    conn.execute_batch("BEGIN IMMEDIATE").map_err(fail)?;
    let done = schema::version(conn).and_then(|found| {
        if found > SCHEMA_VERSION {
            return Ok(Some(found));
        }
        schema::migrate(conn, found)?;
        Ok(None)
    });
    let end = match done {
        Ok(None) => conn.execute_batch("COMMIT"),
        Ok(Some(_)) | Err(_) => conn.execute_batch("ROLLBACK"),
    };
    match done.map_err(fail)? {
        Some(found) => Err(OpenError::NewerSchema {
            path: path.to_path_buf(),
            found,
        }),
        None => end.map_err(fail),
    }
}

/// A damaged file is named as such; anything else is a database error.
pub(super) fn classify(path: &Path, source: rusqlite::Error) -> OpenError {
    let path = path.to_path_buf();
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            OpenError::Corrupt { path, source }
        }
        Some(ErrorCode::ReadOnly) => OpenError::ReadOnly { path },
        _ => OpenError::Database { path, source },
    }
}
