//! The store's public value types: configuration, errors, health, rows and queries.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::events::{ConsentDecision, Outcome};

#[derive(Debug, Clone)]
pub struct ActivityConfig {
    /// Write a batch at most this long after its first event.
    pub flush_interval: Duration,
    /// Write a batch as soon as it has this many events.
    pub batch_size: usize,
    /// Events waiting for the writer; beyond this new events are dropped (and counted).
    pub queue_capacity: usize,
    /// Rows kept for a retry after a failed write; the oldest beyond are dropped.
    pub max_retry_rows: usize,
    /// How soon a failed write is retried.
    pub retry_interval: Duration,
    /// Keep at most this many rows (`None`: no limit).
    pub max_rows: Option<u64>,
    /// Keep rows at most this old (`None`: no limit).
    pub max_age: Option<Duration>,
    /// How often retention is applied.
    pub prune_interval: Duration,
    /// How long a statement waits for a lock held by another connection.
    pub busy_timeout: Duration,
    /// Cap on the database's size in MiB (SQLite's `max_page_count`); past
    /// it writes fail with "database or disk is full", as on a full disk.
    /// Default: [`crate::env::ACTIVITY_MAX_MB`], else no cap.
    pub max_size_mb: Option<u64>,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_millis(100),
            batch_size: 500,
            queue_capacity: 16_384,
            max_retry_rows: 10_000,
            retry_interval: Duration::from_secs(1),
            max_rows: Some(1_000_000),
            max_age: Some(Duration::from_secs(30 * 24 * 3600)),
            prune_interval: Duration::from_secs(300),
            busy_timeout: Duration::from_secs(2),
            max_size_mb: std::env::var(crate::env::ACTIVITY_MAX_MB)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .filter(|mb| *mb > 0),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActivityError {
    #[error("cannot open the activity database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the activity database has schema version {found}; this build knows up to {supported}")]
    NewerSchema { found: i64, supported: i64 },
    #[error("activity query failed: {0}")]
    Query(#[from] rusqlite::Error),
    #[error("the activity store is shut down")]
    Closed,
}

impl ActivityError {
    /// A stable code the UI and CLI can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Open { .. } => "activity_open",
            Self::Io { .. } => "activity_io",
            Self::NewerSchema { .. } => "activity_newer_schema",
            Self::Query(_) => "activity_query",
            Self::Closed => "activity_closed",
        }
    }
}

/// How the store is doing, for `status` and the UI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityHealth {
    /// The last write succeeded (or none failed yet).
    pub ok: bool,
    pub written: u64,
    /// Events lost: queue full, retry buffer full, or the broadcast lagged.
    pub dropped: u64,
    /// Rows waiting for a retry after a failed write.
    pub retrying: usize,
    pub failed_writes: u64,
    pub pruned: u64,
    /// Why writes fail, in words: the cause, the file and what to do.
    pub last_error: Option<String>,
    /// The same as a stable code: `disk_full`, `locked`, `read_only`, `io`
    /// or `other`; `None` while writes succeed.
    #[serde(default)]
    pub cause: Option<String>,
}

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityRow {
    /// Increasing; pass as `before` to page back.
    pub id: i64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub agent: String,
    pub client_name: Option<String>,
    pub method: String,
    pub tool: Option<String>,
    pub args_summary: Option<String>,
    pub outcome: Outcome,
    pub error: Option<String>,
    pub latency_ms: f64,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub consent: Option<ConsentDecision>,
    /// SHA-256 of the arguments as sent (schema 2; `None` in older rows).
    pub args_digest: Option<String>,
    /// Who answered the prompt or changed the policy (schema 2).
    pub answered_by: Option<crate::consent::AnsweredBy>,
}

/// Filters for [`ActivityStore::recent`]; newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecentQuery {
    /// At most this many rows (capped at [`MAX_LIMIT`]).
    pub limit: usize,
    pub agent: Option<String>,
    pub tool: Option<String>,
    pub outcome: Option<Outcome>,
    /// Only rows with an id below this (the last id of the previous page).
    pub before: Option<i64>,
}

impl Default for RecentQuery {
    fn default() -> Self {
        Self {
            limit: 100,
            agent: None,
            tool: None,
            outcome: None,
            before: None,
        }
    }
}
