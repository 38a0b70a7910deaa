//! The writer thread: batches events into one transaction each.
//!
//! It runs on its own OS thread so a slow disk never stalls the async
//! runtime, let alone a relayed call: the call path only does a `try_send`.
//! A failed write keeps its rows for a retry (up to a bound, then the oldest
//! are dropped and counted) and is logged once until writes succeed again.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::{ActivityConfig, ActivityError, ActivityHealth};
use crate::consent::redact;
use crate::events::CallEvent;

/// Longest argument summary or error text the store keeps.
const MAX_TEXT_CHARS: usize = 2000;

pub enum Msg {
    Event(Box<CallEvent>),
    /// Write everything received so far, then reply.
    Flush(oneshot::Sender<()>),
    /// Apply retention now, then reply.
    Prune(oneshot::Sender<()>),
}

/// One row as it goes into the table; already redacted.
struct Row {
    at_ms: i64,
    agent: String,
    client_name: Option<String>,
    method: String,
    tool: Option<String>,
    args_summary: Option<String>,
    outcome: String,
    error: Option<String>,
    latency_ms: f64,
    bytes_in: i64,
    bytes_out: i64,
    consent: Option<String>,
    args_digest: Option<String>,
    /// JSON of [`crate::consent::AnsweredBy`].
    answered_by: Option<String>,
}

impl Row {
    fn from_event(e: CallEvent) -> Self {
        // Summaries arrive redacted; redacting again here is the store's own
        // guarantee that no credential reaches the file whoever emitted it.
        let text = |s: Option<String>| {
            s.map(|s| redact::truncate(&redact::redact_summary(&s), MAX_TEXT_CHARS))
        };
        Self {
            at_ms: to_ms(e.at),
            agent: e.agent.into_string(),
            client_name: e.client_name,
            method: e.method,
            tool: e.tool,
            args_summary: text(e.arguments_summary),
            outcome: super::name_of(&e.outcome),
            error: text(e.error),
            latency_ms: e.latency.as_secs_f64() * 1000.0,
            bytes_in: i64::try_from(e.bytes_in).unwrap_or(i64::MAX),
            bytes_out: i64::try_from(e.bytes_out).unwrap_or(i64::MAX),
            consent: e.consent.as_ref().map(super::name_of),
            args_digest: e.args_digest,
            answered_by: e
                .answered_by
                .as_ref()
                .and_then(|by| serde_json::to_string(by).ok()),
        }
    }
}

pub fn to_ms(t: SystemTime) -> i64 {
    crate::epoch::millis_i64(t)
}

pub struct Writer {
    /// `None` while the database cannot be opened (the disk was full or
    /// read-only at start-up): each write tries to open it again.
    pub conn: Option<Connection>,
    /// The database file, named in failure messages.
    pub path: PathBuf,
    pub config: ActivityConfig,
    pub health: Arc<Mutex<ActivityHealth>>,
    pub failing: bool,
}

impl Writer {
    pub fn run(mut self, rx: Receiver<Msg>) {
        let mut batch: Vec<Row> = Vec::new();
        let mut batch_due: Option<Instant> = None;
        let mut next_prune = Instant::now();
        loop {
            let now = Instant::now();
            if now >= next_prune {
                self.prune();
                next_prune = now + self.config.prune_interval;
            }
            let deadline = batch_due.map_or(next_prune, |due| due.min(next_prune));
            match rx.recv_timeout(deadline.saturating_duration_since(now)) {
                Ok(Msg::Event(event)) => {
                    batch_due.get_or_insert_with(|| Instant::now() + self.config.flush_interval);
                    batch.push(Row::from_event(*event));
                    // While writes fail, retry on the timer, not on every event.
                    if batch.len() >= self.config.batch_size && !self.failing {
                        self.write(&mut batch);
                        batch_due = (!batch.is_empty())
                            .then(|| Instant::now() + self.config.retry_interval);
                    }
                }
                Ok(Msg::Flush(ack)) => {
                    self.write(&mut batch);
                    batch_due =
                        (!batch.is_empty()).then(|| Instant::now() + self.config.retry_interval);
                    let _ = ack.send(());
                }
                Ok(Msg::Prune(ack)) => {
                    self.write(&mut batch);
                    batch_due =
                        (!batch.is_empty()).then(|| Instant::now() + self.config.retry_interval);
                    self.prune();
                    let _ = ack.send(());
                }
                Err(RecvTimeoutError::Timeout) => {
                    if batch_due.is_some_and(|due| Instant::now() >= due) {
                        self.write(&mut batch);
                        batch_due = (!batch.is_empty())
                            .then(|| Instant::now() + self.config.retry_interval);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.write(&mut batch);
                    if !batch.is_empty() {
                        self.update(|h| h.dropped += batch.len() as u64);
                        tracing::warn!(
                            lost = batch.len(),
                            "activity store closed with rows it could not write"
                        );
                    }
                    tracing::debug!("activity writer stopped");
                    return;
                }
            }
        }
    }

    /// Writes `batch` in one transaction; on failure keeps it (bounded) for a retry.
    fn write(&mut self, batch: &mut Vec<Row>) {
        if batch.is_empty() {
            return;
        }
        let result = match self.connection() {
            Ok(conn) => insert(conn, batch).map_err(WriteError::Sql),
            Err(e) => Err(WriteError::Open(e)),
        };
        match result {
            Ok(()) => {
                if self.failing {
                    tracing::info!(
                        path = %self.path.display(),
                        rows = batch.len(),
                        "the activity store writes again; the held-back rows are recorded"
                    );
                }
                self.failing = false;
                let n = batch.len() as u64;
                batch.clear();
                self.update(|h| {
                    h.ok = true;
                    h.written += n;
                    h.retrying = 0;
                    h.last_error = None;
                    h.cause = None;
                });
            }
            Err(e) => {
                let first = !self.failing;
                self.failing = true;
                if matches!(&e, WriteError::Sql(e) if is_full(e)) {
                    self.reclaim_wal(first);
                }
                let overflow = batch.len().saturating_sub(self.config.max_retry_rows);
                batch.drain(..overflow);
                let retrying = batch.len();
                let (cause, reason) = match &e {
                    WriteError::Sql(e) => failure(e, &self.path),
                    WriteError::Open(e) => open_failure(e, &self.path),
                };
                // Log the first failure of a run only: a full disk would
                // otherwise log once per retry for as long as it lasts.
                if first {
                    tracing::warn!(
                        error = %e,
                        path = %self.path.display(),
                        rows = retrying,
                        "{reason}; calls still go through and new rows are kept for a retry (up to {})",
                        self.config.max_retry_rows
                    );
                } else {
                    tracing::debug!(error = %e, rows = retrying, "activity store still cannot write");
                }
                self.update(|h| {
                    h.ok = false;
                    h.dropped += overflow as u64;
                    h.retrying = retrying;
                    h.last_error = Some(reason);
                    h.cause = Some(cause.to_owned());
                    h.failed_writes += 1;
                });
            }
        }
    }

    /// On a full disk, folds the write-ahead log into the database and
    /// truncates it: the log only shrinks at a checkpoint, which SQLite
    /// starts after a commit, so a disk that filled up while the log grew
    /// would otherwise never get that space back. Best effort: with no room
    /// at all the checkpoint fails too, and the timer tries again.
    fn reclaim_wal(&self, first: bool) {
        let Some(conn) = &self.conn else { return };
        let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
        });
        match result {
            Ok((0, frames)) if first => {
                tracing::debug!(frames, "checkpointed the activity log to free disk space");
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "cannot checkpoint the activity log"),
        }
    }

    /// The open connection, opening the database first when start-up could not.
    fn connection(&mut self) -> Result<&mut Connection, ActivityError> {
        if self.conn.is_none() {
            let conn = super::schema::open_writer(
                &self.path,
                self.config.busy_timeout,
                self.config.max_size_mb,
            )?;
            tracing::debug!(path = %self.path.display(), "opened the activity database");
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("set just above"))
    }

    fn prune(&mut self) {
        let Some(conn) = &self.conn else { return };
        match prune(conn, &self.config) {
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!(rows = n, "pruned old activity");
                self.update(|h| h.pruned += n);
            }
            Err(e) => tracing::warn!(error = %e, "cannot prune the activity store"),
        }
    }

    fn update(&self, f: impl FnOnce(&mut ActivityHealth)) {
        let mut health = self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut health);
    }
}

/// Why a batch was not written: the insert failed, or the database could
/// not be opened at all.
enum WriteError {
    Sql(rusqlite::Error),
    Open(ActivityError),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sql(e) => e.fmt(f),
            Self::Open(e) => e.fmt(f),
        }
    }
}

/// [`failure`] for an error opening the database (or creating its folder).
pub fn open_failure(e: &ActivityError, path: &std::path::Path) -> (&'static str, String) {
    match e {
        ActivityError::Open { source, .. } => failure(source, path),
        ActivityError::Io { path: dir, source } => {
            let dir = dir.display();
            match source.kind() {
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => (
                    "disk_full",
                    format!(
                        "the disk holding {dir} is full ({source}): free some space and recording resumes"
                    ),
                ),
                std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => (
                    "read_only",
                    format!(
                        "{dir} cannot be written ({source}): make it writable, or point XDG_DATA_HOME elsewhere"
                    ),
                ),
                _ => ("io", format!("cannot create {dir}: {source}")),
            }
        }
        other => ("other", other.to_string()),
    }
}

/// Whether SQLite failed for lack of space (a full disk or a size cap).
fn is_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// Why a write failed: a stable cause the UI can branch on (`disk_full`,
/// `locked`, `read_only`, `io`, `other`) and what the user reads in the
/// log, `status` and the UI: the cause in words, the file, what to do.
fn failure(e: &rusqlite::Error, path: &std::path::Path) -> (&'static str, String) {
    use rusqlite::ErrorCode as C;
    let path = path.display();
    match e.sqlite_error_code() {
        Some(C::DiskFull) => (
            "disk_full",
            format!(
                "the activity database {path} or the disk holding it is full ({e}): free some space (or raise {}) and recording resumes",
                crate::env::ACTIVITY_MAX_MB
            ),
        ),
        Some(C::DatabaseBusy | C::DatabaseLocked) => (
            "locked",
            format!(
                "another program holds the activity database {path} locked ({e}): recording resumes once it lets go"
            ),
        ),
        Some(C::ReadOnly | C::PermissionDenied | C::CannotOpen) => (
            "read_only",
            format!(
                "the activity database {path} cannot be written ({e}): check the permissions of the file and its folder"
            ),
        ),
        Some(C::SystemIoFailure) => (
            "io",
            format!(
                "the disk failed while writing the activity database {path} ({e}): check the disk; writes are retried"
            ),
        ),
        _ => (
            "other",
            format!("the activity database {path} cannot be written: {e}"),
        ),
    }
}

fn insert(conn: &mut Connection, rows: &[Row]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO calls (at_ms, agent, client_name, method, tool, args_summary, outcome,
                                error, latency_ms, bytes_in, bytes_out, consent,
                                args_digest, answered_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )?;
        for r in rows {
            stmt.execute(params![
                r.at_ms,
                r.agent,
                r.client_name,
                r.method,
                r.tool,
                r.args_summary,
                r.outcome,
                r.error,
                r.latency_ms,
                r.bytes_in,
                r.bytes_out,
                r.consent,
                r.args_digest,
                r.answered_by,
            ])?;
        }
    }
    tx.commit()
}

/// Deletes rows older than `max_age` and beyond the newest `max_rows`.
fn prune(conn: &Connection, config: &ActivityConfig) -> rusqlite::Result<u64> {
    let mut deleted = 0;
    if let Some(max_age) = config.max_age {
        let cutoff = to_ms(SystemTime::now().checked_sub(max_age).unwrap_or(UNIX_EPOCH));
        deleted += conn.execute("DELETE FROM calls WHERE at_ms < ?1", [cutoff])?;
    }
    if let Some(max_rows) = config.max_rows {
        let keep = i64::try_from(max_rows).unwrap_or(i64::MAX);
        deleted += conn.execute(
            "DELETE FROM calls WHERE id <= (SELECT id FROM calls ORDER BY id DESC LIMIT 1 OFFSET ?1)",
            [keep],
        )?;
    }
    Ok(deleted as u64)
}
