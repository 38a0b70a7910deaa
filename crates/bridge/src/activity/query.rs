//! Reading the activity: recent calls with filters, and stats over a window.

use std::collections::BTreeMap;

use rusqlite::Connection;
use rusqlite::types::Value;
use serde::{Deserialize, Serialize};

use super::{ActivityRow, RecentQuery};
use crate::events::Outcome;

/// Most rows one `recent` query returns.
pub const MAX_LIMIT: usize = 10_000;

pub fn recent(conn: &Connection, q: &RecentQuery) -> rusqlite::Result<Vec<ActivityRow>> {
    // A reader may open a schema-1 file no writer has migrated yet (the CLI
    // reading the file while no daemon runs): its rows have no digest.
    let schema_2 = conn
        .prepare_cached("SELECT 1 FROM pragma_table_info('calls') WHERE name = 'answered_by'")?
        .exists([])?;
    let added = if schema_2 {
        "args_digest, answered_by"
    } else {
        "NULL, NULL"
    };
    let mut sql = format!(
        "SELECT id, at_ms, agent, client_name, method, tool, args_summary, outcome, error,
                latency_ms, bytes_in, bytes_out, consent, {added}
         FROM calls WHERE 1 = 1"
    );
    let mut args: Vec<Value> = Vec::new();
    let mut filter = |clause: &str, value: Value| {
        sql.push_str(clause);
        args.push(value);
    };
    if let Some(agent) = &q.agent {
        filter(" AND agent = ?", Value::Text(agent.clone()));
    }
    if let Some(tool) = &q.tool {
        filter(" AND tool = ?", Value::Text(tool.clone()));
    }
    if let Some(outcome) = &q.outcome {
        filter(" AND outcome = ?", Value::Text(super::name_of(outcome)));
    }
    if let Some(before) = q.before {
        filter(" AND id < ?", Value::Integer(before));
    }
    let limit = q.limit.clamp(1, MAX_LIMIT);
    sql.push_str(" ORDER BY id DESC LIMIT ?");
    args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));

    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok(ActivityRow {
            id: r.get(0)?,
            at_ms: r.get(1)?,
            agent: r.get(2)?,
            client_name: r.get(3)?,
            method: r.get(4)?,
            tool: r.get(5)?,
            args_summary: r.get(6)?,
            outcome: super::parse_name(&r.get::<_, String>(7)?).unwrap_or(Outcome::Failed),
            error: r.get(8)?,
            latency_ms: r.get(9)?,
            bytes_in: r.get(10)?,
            bytes_out: r.get(11)?,
            consent: r
                .get::<_, Option<String>>(12)?
                .and_then(|c| super::parse_name(&c)),
            args_digest: r.get(13)?,
            answered_by: r
                .get::<_, Option<String>>(14)?
                .and_then(|by| serde_json::from_str(&by).ok()),
        })
    })?;
    rows.collect()
}

/// Calls, errors and latency percentiles for one agent or one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    pub name: String,
    pub calls: u64,
    /// `tool_error` and `failed` outcomes.
    pub errors: u64,
    /// Denied by the user or policy, or timed out waiting for consent.
    pub denied: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// Activity over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub since_ms: i64,
    pub calls: u64,
    pub errors: u64,
    pub denied: u64,
    /// Tool calls only, busiest first.
    pub per_tool: Vec<GroupStats>,
    /// Every request, busiest first.
    pub per_agent: Vec<GroupStats>,
}

#[derive(Default)]
struct Acc {
    calls: u64,
    errors: u64,
    denied: u64,
    latencies: Vec<f64>,
}

impl Acc {
    fn add(&mut self, outcome: &str, latency: f64) {
        self.calls += 1;
        match outcome {
            "tool_error" | "failed" => self.errors += 1,
            "denied" | "timed_out" => self.denied += 1,
            _ => {}
        }
        self.latencies.push(latency);
    }

    fn finish(mut self, name: String) -> GroupStats {
        self.latencies.sort_by(f64::total_cmp);
        GroupStats {
            name,
            calls: self.calls,
            errors: self.errors,
            denied: self.denied,
            p50_ms: percentile(&self.latencies, 0.50),
            p95_ms: percentile(&self.latencies, 0.95),
        }
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<Option<&'r str>> {
    row.get_ref(i)?.as_str_or_null().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn group_of<'m>(map: &'m mut BTreeMap<String, Acc>, key: &str) -> &'m mut Acc {
    if !map.contains_key(key) {
        map.insert(key.to_owned(), Acc::default());
    }
    map.get_mut(key).expect("inserted just above")
}

pub fn stats(conn: &Connection, since_ms: i64) -> rusqlite::Result<Stats> {
    let mut stmt = conn
        .prepare_cached("SELECT agent, tool, outcome, latency_ms FROM calls WHERE at_ms >= ?1")?;
    let mut rows = stmt.query([since_ms])?;
    let mut total = Acc::default();
    let mut tools: BTreeMap<String, Acc> = BTreeMap::new();
    let mut agents: BTreeMap<String, Acc> = BTreeMap::new();
    while let Some(r) = rows.next()? {
        // Borrow the text in place: a window may hold a million rows, and
        // two allocations per row would dominate the time.
        let agent = text(r, 0)?.unwrap_or_default();
        let tool = text(r, 1)?;
        let outcome = text(r, 2)?.unwrap_or_default();
        let latency: f64 = r.get(3)?;
        // Totals count calls, not latencies: skip the sample vector.
        total.calls += 1;
        match outcome {
            "tool_error" | "failed" => total.errors += 1,
            "denied" | "timed_out" => total.denied += 1,
            _ => {}
        }
        group_of(&mut agents, agent).add(outcome, latency);
        if let Some(tool) = tool {
            group_of(&mut tools, tool).add(outcome, latency);
        }
    }
    let group = |map: BTreeMap<String, Acc>| {
        let mut out: Vec<GroupStats> = map.into_iter().map(|(k, a)| a.finish(k)).collect();
        out.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.name.cmp(&b.name)));
        out
    };
    Ok(Stats {
        since_ms,
        calls: total.calls,
        errors: total.errors,
        denied: total.denied,
        per_tool: group(tools),
        per_agent: group(agents),
    })
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 0.5), 0.0);
        assert_eq!(percentile(&[7.0], 0.95), 7.0);
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.50), 10.0);
        assert_eq!(percentile(&v, 0.95), 19.0);
        assert_eq!(percentile(&v, 1.0), 20.0);
    }
}
