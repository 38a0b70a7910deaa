//! The activity record: every call the bridge relayed, in SQLite.
//!
//! Events arrive on the broadcast channel ([`crate::events`]); a pump task
//! hands them to a dedicated writer thread that inserts them in batches, one
//! transaction each (every ~100 ms or 500 events). The call path never waits
//! for the disk, and a failing disk never fails a call: the store logs once,
//! keeps retrying and reports itself in [`ActivityStore::health`].

mod query;
mod schema;
mod types;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use rusqlite::Connection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;

use crate::events::{CallEvent, EventSender};

pub use self::query::{GroupStats, MAX_LIMIT, Stats, percentile};
pub use self::types::{ActivityConfig, ActivityError, ActivityHealth, ActivityRow, RecentQuery};
use self::writer::{Msg, Writer};

/// The database's file name inside the data directory.
pub const FILE_NAME: &str = "activity.db";

/// The store. Cheap to clone; clones share the writer and the reader.
#[derive(Debug, Clone)]
pub struct ActivityStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    tx: Mutex<Option<SyncSender<Msg>>>,
    /// Opened on first use when the database could not be opened at start.
    reader: Arc<Mutex<Option<Connection>>>,
    busy_timeout: Duration,
    health: Arc<Mutex<ActivityHealth>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Stops the pump tasks started by [`ActivityStore::subscribe_to`].
    cancel: CancellationToken,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The pumps hold only a sender; cancelling them lets the writer see
        // the channel close, write what it has and end.
        self.cancel.cancel();
    }
}

impl ActivityStore {
    /// Opens `<data_dir>/activity.db` with the default configuration.
    pub fn open_default() -> Result<Self, ActivityError> {
        Self::open(
            crate::paths::data_dir().join(FILE_NAME),
            ActivityConfig::default(),
        )
    }

    /// Opens (creating when needed) the database at `path` and starts its writer thread.
    pub fn open(path: impl Into<PathBuf>, config: ActivityConfig) -> Result<Self, ActivityError> {
        let path = path.into();
        let mut health = ActivityHealth {
            ok: true,
            ..ActivityHealth::default()
        };
        let conn = match schema::open_writer(&path, config.busy_timeout, config.max_size_mb) {
            Err(e) if schema::is_unreadable(&e) => {
                // A damaged log must not keep the daemon from starting: set
                // it aside (for a bug report) and begin a new one.
                let aside = schema::set_aside(&path)?;
                tracing::warn!(error = %e, kept = %aside.display(), "the activity database was damaged; starting a new one");
                Some(schema::open_writer(
                    &path,
                    config.busy_timeout,
                    config.max_size_mb,
                )?)
            }
            Err(e) if schema::is_environmental(&e) => {
                // Nor must a full or read-only disk: calls are relayed and
                // held for the record, and the writer opens the file as
                // soon as it can.
                let (cause, reason) = writer::open_failure(&e, &path);
                tracing::warn!(
                    error = %e,
                    "{reason}; calls still go through and are kept for the record (up to {}) until it opens",
                    config.max_retry_rows
                );
                health = ActivityHealth {
                    ok: false,
                    cause: Some(cause.to_owned()),
                    last_error: Some(reason),
                    ..ActivityHealth::default()
                };
                None
            }
            other => Some(other?),
        };
        let reader = match conn {
            Some(_) => Some(schema::open_reader(&path, config.busy_timeout)?),
            None => None,
        };
        let failing = conn.is_none();
        let health = Arc::new(Mutex::new(health));
        let (tx, rx) = std::sync::mpsc::sync_channel(config.queue_capacity.max(1));
        let busy_timeout = config.busy_timeout;
        let writer = Writer {
            conn,
            path: path.clone(),
            config,
            health: health.clone(),
            failing,
        };
        let thread = std::thread::Builder::new()
            .name("activity-writer".to_owned())
            .spawn(move || writer.run(rx))
            .map_err(|source| ActivityError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                tx: Mutex::new(Some(tx)),
                reader: Arc::new(Mutex::new(reader)),
                busy_timeout,
                health,
                thread: Mutex::new(Some(thread)),
                cancel: CancellationToken::new(),
            }),
        })
    }

    /// Opens an existing database for queries only: no writer, no retention
    /// pass, nothing created (`coder-bridge activity` with no daemon running).
    /// Recorded events are dropped.
    pub fn open_read_only(path: impl Into<PathBuf>) -> Result<Self, ActivityError> {
        let path = path.into();
        let busy_timeout = ActivityConfig::default().busy_timeout;
        let reader = schema::open_reader(&path, busy_timeout)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path,
                tx: Mutex::new(None),
                reader: Arc::new(Mutex::new(Some(reader))),
                busy_timeout,
                health: Arc::new(Mutex::new(ActivityHealth {
                    ok: true,
                    ..ActivityHealth::default()
                })),
                thread: Mutex::new(None),
                cancel: CancellationToken::new(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Queues one event for writing. Never blocks; a full queue drops the
    /// event and counts it in [`ActivityHealth::dropped`].
    pub fn record(&self, event: CallEvent) {
        match self.sender() {
            Some(tx) => send_event(&tx, &self.inner.health, event),
            None => {
                bump_dropped(&self.inner.health, 1);
            }
        }
    }

    /// Records every event sent on `events` until the store is shut down or
    /// the channel closes.
    pub fn subscribe_to(&self, events: &EventSender) -> tokio::task::JoinHandle<()> {
        let mut rx = events.subscribe();
        let tx = self.sender();
        let health = self.inner.health.clone();
        let cancel = self.inner.cancel.clone();
        tokio::spawn(async move {
            let Some(tx) = tx else { return };
            loop {
                let event = tokio::select! {
                    () = cancel.cancelled() => return,
                    event = rx.recv() => event,
                };
                match event {
                    Ok(event) => send_event(&tx, &health, event),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "activity store fell behind the event stream");
                        bump_dropped(&health, n);
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    }

    /// Waits until every event recorded before this call is written (or its
    /// write failed and it waits for a retry: see [`ActivityStore::health`]).
    pub async fn flush(&self) -> Result<(), ActivityError> {
        self.request(Msg::Flush).await
    }

    /// Applies retention now instead of waiting for the next periodic prune.
    pub async fn prune_now(&self) -> Result<(), ActivityError> {
        self.request(Msg::Prune).await
    }

    /// Stops the pumps, writes what is queued and ends the writer thread.
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        let tx = self
            .inner
            .tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(tx);
        let thread = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // The pumps' senders are gone once they see the cancellation, so
            // the thread sees the channel close and returns.
            if tokio::task::spawn_blocking(move || thread.join())
                .await
                .is_err()
            {
                tracing::warn!("activity writer thread could not be joined");
            }
        }
    }

    pub fn health(&self) -> ActivityHealth {
        self.inner
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Recent calls, newest first.
    pub async fn recent(&self, query: RecentQuery) -> Result<Vec<ActivityRow>, ActivityError> {
        self.read(move |conn| query::recent(conn, &query)).await
    }

    /// Calls, errors and latency percentiles per tool and per agent over the last `window`.
    pub async fn stats(&self, window: Duration) -> Result<Stats, ActivityError> {
        let since = SystemTime::now()
            .checked_sub(window)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.stats_since(since).await
    }

    pub async fn stats_since(&self, since: SystemTime) -> Result<Stats, ActivityError> {
        let since_ms = writer::to_ms(since);
        self.read(move |conn| query::stats(conn, since_ms)).await
    }

    /// How many rows the table holds.
    pub async fn count(&self) -> Result<u64, ActivityError> {
        self.read(|conn| conn.query_row("SELECT count(*) FROM calls", [], |r| r.get::<_, i64>(0)))
            .await
            .map(|n| u64::try_from(n).unwrap_or_default())
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ActivityError> {
        let reader = self.inner.reader.clone();
        let path = self.inner.path.clone();
        let busy_timeout = self.inner.busy_timeout;
        tokio::task::spawn_blocking(move || {
            let mut conn = reader
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let conn = match &mut *conn {
                Some(conn) => conn,
                // The writer could not open the file at start-up; it may
                // have since.
                slot @ None => slot.insert(schema::open_reader(&path, busy_timeout)?),
            };
            f(conn).map_err(ActivityError::from)
        })
        .await
        .map_err(|_| ActivityError::Closed)?
    }

    async fn request(
        &self,
        msg: impl FnOnce(oneshot::Sender<()>) -> Msg,
    ) -> Result<(), ActivityError> {
        let tx = self.sender().ok_or(ActivityError::Closed)?;
        let (ack, done) = oneshot::channel();
        let msg = msg(ack);
        // A full queue blocks this caller (not the call path) until there is room.
        tokio::task::spawn_blocking(move || tx.send(msg))
            .await
            .map_err(|_| ActivityError::Closed)?
            .map_err(|_| ActivityError::Closed)?;
        done.await.map_err(|_| ActivityError::Closed)
    }

    fn sender(&self) -> Option<SyncSender<Msg>> {
        self.inner
            .tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

fn send_event(tx: &SyncSender<Msg>, health: &Mutex<ActivityHealth>, event: CallEvent) {
    match tx.try_send(Msg::Event(Box::new(event))) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            let first = bump_dropped(health, 1) == 1;
            if first {
                tracing::warn!(
                    "activity queue is full; dropping events until the writer catches up"
                );
            }
        }
        Err(TrySendError::Disconnected(_)) => {
            bump_dropped(health, 1);
        }
    }
}

/// Adds to the dropped count; returns the new total.
fn bump_dropped(health: &Mutex<ActivityHealth>, n: u64) -> u64 {
    let mut h = health
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    h.dropped += n;
    h.dropped
}

/// The serde name of a unit enum value (`tool_error`, `allowed_once`): the
/// same words the JSON API uses.
fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

fn parse_name<T: DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}
