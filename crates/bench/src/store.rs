//! The activity store, in process: the sustained rate of `record()` through
//! the writer thread, and the UI's "last 1000" query on a large database.

use std::{
    path::Path,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context, ensure};
use bridge::{
    activity::{ActivityConfig, ActivityStore, RecentQuery},
    events::{CallEvent, ConsentDecision, Outcome},
};

/// Events queued between flushes; below the writer's queue capacity, so
/// nothing is dropped and the rate is what the disk takes.
const CHUNK: usize = 10_000;

#[derive(Debug)]
pub struct StoreResult {
    pub rows: u64,
    pub inserts_per_sec: f64,
    /// Per query, "last 1000, newest first".
    pub query_times: Vec<Duration>,
    pub db_bytes: u64,
}

fn event(i: usize) -> CallEvent {
    let agent = ["cursor", "claude-desktop", "vscode", "zed"][i % 4];
    CallEvent {
        at: SystemTime::now(),
        agent: agent.into(),
        client_name: Some(format!("{agent}-client")),
        method: "tools/call".to_owned(),
        tool: Some(format!("coder_tool_{}", i % 17)),
        arguments_summary: Some(r#"{"workspace":"dev","path":"/home/coder/src/main.rs"}"#.into()),
        outcome: if i.is_multiple_of(50) {
            Outcome::ToolError
        } else {
            Outcome::Ok
        },
        error: (i.is_multiple_of(50)).then(|| "workspace is stopped".to_owned()),
        latency: Duration::from_micros((i % 5000) as u64 * 100),
        bytes_in: 180,
        bytes_out: 2048,
        consent: Some(ConsentDecision::Allowed),
        args_digest: None,
        answered_by: None,
    }
}

/// Inserts `rows` events, then runs the last-1000 query `queries` times.
pub async fn activity(dir: &Path, rows: usize, queries: usize) -> anyhow::Result<StoreResult> {
    let path = dir.join(bridge::activity::FILE_NAME);
    let store = ActivityStore::open(
        &path,
        ActivityConfig {
            // Retention would delete while we insert; the bench wants all rows.
            max_rows: None,
            ..ActivityConfig::default()
        },
    )
    .context("cannot open the activity store")?;
    let started = Instant::now();
    let mut i = 0;
    while i < rows {
        let n = CHUNK.min(rows - i);
        for k in i..i + n {
            store.record(event(k));
        }
        store.flush().await.context("flushing the activity store")?;
        i += n;
    }
    let inserts_per_sec = rows as f64 / started.elapsed().as_secs_f64();
    let health = store.health();
    ensure!(
        health.written == rows as u64 && health.dropped == 0,
        "the store wrote {} and dropped {} of {rows} events",
        health.written,
        health.dropped
    );

    let last_1000 = RecentQuery {
        limit: 1000,
        ..RecentQuery::default()
    };
    // One untimed query: the first one reads the pages from disk.
    store.recent(last_1000.clone()).await?;
    let mut query_times = Vec::with_capacity(queries);
    for _ in 0..queries {
        let t = Instant::now();
        let got = store.recent(last_1000.clone()).await?;
        query_times.push(t.elapsed());
        ensure!(
            got.len() == 1000.min(rows),
            "the query returned {} rows",
            got.len()
        );
    }
    store.shutdown().await;
    let db_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok(StoreResult {
        rows: rows as u64,
        inserts_per_sec,
        query_times,
        db_bytes,
    })
}
