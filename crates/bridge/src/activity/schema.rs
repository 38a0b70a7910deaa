//! The activity database: connection settings and the table.
//!
//! WAL so that readers (the UI's queries) never wait for the writer and a
//! crash loses at most the last unsynced batch, never the file;
//! `synchronous=NORMAL` because an activity log may lose its last moments on
//! power loss but must not slow every batch with an fsync.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use super::ActivityError;

/// Bumped when the table changes; `PRAGMA user_version` holds it.
/// 2 added `args_digest` and `answered_by`.
const SCHEMA_VERSION: i64 = 2;

const CREATE: &str = "
CREATE TABLE IF NOT EXISTS calls (
    id           INTEGER PRIMARY KEY,
    at_ms        INTEGER NOT NULL,
    agent        TEXT    NOT NULL,
    client_name  TEXT,
    method       TEXT    NOT NULL,
    tool         TEXT,
    args_summary TEXT,
    outcome      TEXT    NOT NULL,
    error        TEXT,
    latency_ms   REAL    NOT NULL,
    bytes_in     INTEGER NOT NULL,
    bytes_out    INTEGER NOT NULL,
    consent      TEXT,
    args_digest  TEXT,
    answered_by  TEXT
);
-- Each index also holds the rowid, so `WHERE agent = ? ORDER BY id DESC`
-- walks the index in order without sorting.
CREATE INDEX IF NOT EXISTS calls_at ON calls (at_ms);
CREATE INDEX IF NOT EXISTS calls_agent ON calls (agent);
CREATE INDEX IF NOT EXISTS calls_tool ON calls (tool);
CREATE INDEX IF NOT EXISTS calls_outcome ON calls (outcome);
";

/// Opens (creating when needed) the database at `path` for the writer:
/// creates the directory and the table, switches to WAL.
pub fn open_writer(
    path: &Path,
    busy_timeout: Duration,
    max_size_mb: Option<u64>,
) -> Result<Connection, ActivityError> {
    // Argument summaries are redacted, but what an agent did is still the
    // user's business alone. SQLite gives `-wal`/`-shm` the database's mode.
    crate::private_files::prepare_database(path).map_err(|source| ActivityError::Io {
        path: path.to_owned(),
        source,
    })?;
    let open_err = |source| ActivityError::Open {
        path: path.to_owned(),
        source,
    };
    let conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(busy_timeout).map_err(open_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "activity database is not in WAL mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(open_err)?;
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(open_err)?;
    if version > SCHEMA_VERSION {
        return Err(ActivityError::NewerSchema {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if let Some(mb) = max_size_mb {
        let page_size: i64 = conn
            .pragma_query_value(None, "page_size", |row| row.get(0))
            .map_err(open_err)?;
        let bytes = i64::try_from(mb.saturating_mul(1 << 20)).unwrap_or(i64::MAX);
        let pages = (bytes / page_size.max(512)).max(1);
        conn.pragma_update(None, "max_page_count", pages)
            .map_err(open_err)?;
    }
    conn.execute_batch(CREATE).map_err(open_err)?;
    if version == 1 {
        migrate_from_1(&conn).map_err(open_err)?;
    }
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(open_err)?;
    Ok(conn)
}

/// Version 1 had no digest or answerer: old rows keep `NULL` in both. The
/// columns go in one transaction, so a crash leaves version 1 intact.
fn migrate_from_1(conn: &Connection) -> rusqlite::Result<()> {
    let has = |column: &str| -> rusqlite::Result<bool> {
        let mut stmt = conn.prepare("SELECT 1 FROM pragma_table_info('calls') WHERE name = ?1")?;
        stmt.exists([column])
    };
    let mut sql = String::from("BEGIN;");
    for column in ["args_digest", "answered_by"] {
        if !has(column)? {
            sql.push_str(&format!("ALTER TABLE calls ADD COLUMN {column} TEXT;"));
        }
    }
    sql.push_str("PRAGMA user_version = 2; COMMIT;");
    conn.execute_batch(&sql)
}

/// Whether opening failed because the file is not a database or is corrupt
/// (as opposed to a lock, a permission or a full disk, which may pass).
pub fn is_unreadable(e: &ActivityError) -> bool {
    let ActivityError::Open { source, .. } = e else {
        return false;
    };
    matches!(
        source.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

/// Whether opening failed because of the machine rather than the file: a
/// full or read-only disk, missing permissions, an I/O error, a lock. The
/// store then starts without the file and keeps trying.
pub fn is_environmental(e: &ActivityError) -> bool {
    use rusqlite::ErrorCode as C;
    match e {
        ActivityError::Io { .. } => true,
        ActivityError::Open { source, .. } => matches!(
            source.sqlite_error_code(),
            Some(
                C::DiskFull
                    | C::CannotOpen
                    | C::ReadOnly
                    | C::PermissionDenied
                    | C::SystemIoFailure
                    | C::DatabaseBusy
                    | C::DatabaseLocked
            )
        ),
        _ => false,
    }
}

/// Renames the database and its WAL files to `<name>.damaged-<ms>`; returns
/// the new name of the database.
pub fn set_aside(path: &Path) -> Result<PathBuf, ActivityError> {
    let stamp = super::writer::to_ms(std::time::SystemTime::now());
    let renamed = |suffix: &str| {
        let mut name = path.file_name().unwrap_or_default().to_owned();
        name.push(suffix);
        path.with_file_name(name)
    };
    let aside = renamed(&format!(".damaged-{stamp}"));
    for suffix in ["-wal", "-shm"] {
        let from = renamed(suffix);
        if from.exists() {
            let mut to = aside.as_os_str().to_owned();
            to.push(suffix);
            // Best effort: a stale WAL left beside a new database would be
            // replayed into it, so remove what cannot be moved.
            if std::fs::rename(&from, &to).is_err() {
                let _ = std::fs::remove_file(&from);
            }
        }
    }
    std::fs::rename(path, &aside).map_err(|source| ActivityError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(aside)
}

/// Opens a connection for queries only.
pub fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, ActivityError> {
    let open_err = |source| ActivityError::Open {
        path: path.to_owned(),
        source,
    };
    // Never create a file here: a reader of a database that does not exist
    // gets an error, not an empty file without a table.
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(busy_timeout).map_err(open_err)?;
    conn.pragma_update(None, "query_only", true)
        .map_err(open_err)?;
    Ok(conn)
}
