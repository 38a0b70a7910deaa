//! The table: each number beside its target from issue #9, PASS or MISS.

use std::time::Duration;

/// Targets from the issue.
pub mod targets {
    /// Overhead over a direct connection at p50 and at p99.
    pub const P50_RATIO: f64 = 1.04;
    pub const P99_RATIO: f64 = 1.10;
    pub const SHIM_RSS_MIB: f64 = 10.0;
    pub const SHIM_START_MS: f64 = 50.0;
    pub const DAEMON_IDLE_MIB: f64 = 30.0;
    /// Relayed calls per second with 64 agent sessions.
    pub const CALLS_PER_SEC_64: f64 = 5000.0;
    pub const QUERY_MS: f64 = 5.0;
    /// The tray app with its WebKit processes, total PSS (issue #18).
    pub const TRAY_IDLE_PSS_MIB: f64 = 80.0;
    pub const TRAY_OPEN_PSS_MIB: f64 = 250.0;
    /// Issue #18: what any client library, in either protocol era, may
    /// pay per call through the daemon (p50), and beyond the stdio shim.
    pub const ADDED_P50_MS: f64 = 0.2;
    pub const BEYOND_SHIM_MS: f64 = 0.05;
    /// Issue #18: the daemon's own CPU per relayed call at 64 sessions, and
    /// the 64-session rate as a share of the direct ceiling.
    pub const DAEMON_CPU_PER_CALL_MS: f64 = 0.1;
    pub const THROUGHPUT_RATIO_64: f64 = 0.6;
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub metric: String,
    pub value: String,
    pub target: String,
    /// `None`: no target, the number is context.
    pub pass: Option<bool>,
}

#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Report {
    /// A number without a target. Printed at once too, so a long run shows progress.
    pub fn info(&mut self, metric: impl Into<String>, value: impl Into<String>) {
        self.push(Row {
            metric: metric.into(),
            value: value.into(),
            target: String::new(),
            pass: None,
        });
    }

    /// A number that must be at most `limit`.
    pub fn at_most(&mut self, metric: &str, value: f64, limit: f64, unit: Unit) {
        self.push(Row {
            metric: metric.to_owned(),
            value: unit.show(value),
            target: format!("≤ {}", unit.show(limit)),
            pass: Some(value <= limit),
        });
    }

    /// A number that must be at least `limit`.
    pub fn at_least(&mut self, metric: &str, value: f64, limit: f64, unit: Unit) {
        self.push(Row {
            metric: metric.to_owned(),
            value: unit.show(value),
            target: format!("≥ {}", unit.show(limit)),
            pass: Some(value >= limit),
        });
    }

    fn push(&mut self, row: Row) {
        eprintln!(
            "  {}: {}{}",
            row.metric,
            row.value,
            match row.pass {
                Some(p) => format!("  (target {}: {})", row.target, verdict(p)),
                None => String::new(),
            }
        );
        self.rows.push(row);
    }

    /// A footnote printed under the table.
    pub fn note(&mut self, text: String) {
        eprintln!("  note: {text}");
        self.notes.push(text);
    }

    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn misses(&self) -> usize {
        self.rows.iter().filter(|r| r.pass == Some(false)).count()
    }

    /// A Markdown table, pasteable into the README.
    pub fn render(&self) -> String {
        let mut out = String::from("| measurement | value | target | |\n|---|---:|---|---|\n");
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                r.metric,
                r.value,
                r.target,
                r.pass.map(verdict).unwrap_or("")
            ));
        }
        out
    }
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

/// How a number is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Ratio,
    Ms,
    MiB,
    PerSec,
}

impl Unit {
    pub fn show(self, v: f64) -> String {
        match self {
            Unit::Ratio => format!("{v:.3}×"),
            Unit::Ms if v < 1.0 => format!("{:.0} µs", v * 1000.0),
            Unit::Ms => format!("{v:.2} ms"),
            Unit::MiB => format!("{v:.1} MiB"),
            Unit::PerSec => format!("{}/s", thousands(v.round() as u64)),
        }
    }
}

/// `12345` → `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `bridged - direct`, as "+123 µs" (negative when noise wins).
pub fn added(bridged: Duration, direct: Duration) -> String {
    let d = ms(bridged) - ms(direct);
    let sign = if d < 0.0 { "−" } else { "+" };
    format!("{sign}{}", Unit::Ms.show(d.abs()))
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Nearest-rank percentile of a sorted slice (`p` in 0..=100).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of unsorted samples.
pub fn median(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort_unstable();
    percentile(&s, 50.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&s, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&s, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&s, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
        let odd = [3, 1, 2].map(Duration::from_millis);
        assert_eq!(median(&odd), Duration::from_millis(2));
    }

    #[test]
    fn targets_are_judged_both_ways_and_rendered() {
        let mut r = Report::default();
        r.at_most("p50 ratio", 1.03, targets::P50_RATIO, Unit::Ratio);
        r.at_most("p99 ratio", 1.2, targets::P99_RATIO, Unit::Ratio);
        r.at_least(
            "64 sessions",
            6000.0,
            targets::CALLS_PER_SEC_64,
            Unit::PerSec,
        );
        r.info("machine", "2 cores");
        assert_eq!(r.misses(), 1);
        let table = r.render();
        assert!(
            table.contains("| p50 ratio | 1.030× | ≤ 1.040× | PASS |"),
            "{table}"
        );
        assert!(
            table.contains("| p99 ratio | 1.200× | ≤ 1.100× | MISS |"),
            "{table}"
        );
        assert!(
            table.contains("| 64 sessions | 6,000/s | ≥ 5,000/s | PASS |"),
            "{table}"
        );
        assert!(table.contains("| machine | 2 cores |  |  |"), "{table}");
    }

    #[test]
    fn units_read_well() {
        assert_eq!(Unit::Ms.show(0.412), "412 µs");
        assert_eq!(Unit::Ms.show(12.345), "12.35 ms");
        assert_eq!(Unit::MiB.show(mib(10 * 1024 + 512)), "10.5 MiB");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        let (a, b) = (Duration::from_micros(700), Duration::from_micros(350));
        assert_eq!(added(a, b), "+350 µs");
        assert_eq!(added(b, a), "−350 µs");
    }
}
