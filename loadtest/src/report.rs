//! The load test's report: settings, counts, rates, latency, the ramp's steps, the
//! reconciliation with the lake and the per-second timeline, as one JSON object; and the
//! lines a person reads on the terminal (pure formatting).

use serde::Serialize;

use crate::latency::{LatencySummary, SecondPoint};
use crate::ramp::RampReport;
use crate::reconcile::Reconciliation;
// Where they were defined before; the driver still takes them from here.
pub use crate::counts::{Counts, thousands};

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub stream: String,
    pub lake: String,
    pub table: String,
    pub rate: u32,
    pub duration_seconds: f64,
    pub record_bytes: usize,
    pub bad_rate: f64,
    /// Embedded stream only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shards: Option<usize>,
    pub flush_records: usize,
    pub flush_mb: usize,
    pub flush_interval_seconds: f64,
    pub target_latency_ms: u64,
    pub in_flight: usize,
    pub ramp: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rates {
    /// Records produced per second while producing.
    pub produced_per_s: f64,
    /// Rows plus rejected records made durable per second, from the start to the last file.
    pub durable_per_s: f64,
    pub producing_seconds: f64,
    /// From the start until the consumer had made everything durable.
    pub total_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub run_id: String,
    pub started_at: String,
    pub settings: Settings,
    pub counts: Counts,
    pub rates: Rates,
    pub latency_ms: LatencySummary,
    /// Whether the p99 latency stayed within the target.
    pub p99_within_target: bool,
    /// Times a remote consumer stopped idle before it had read everything and was started
    /// again from its checkpoints (a stalled stand-in; 0 normally).
    pub consumer_restarts: u64,
    /// A stop signal ended producing before the schedule did (what was sent was drained).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stopped_by_signal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp: Option<RampReport>,
    pub reconciliation: Reconciliation,
    /// The 1, 5 and 15 minute load averages at the end (the machine may be shared).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_average: Option<[f64; 3]>,
    pub cores: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    pub timeline: Vec<SecondPoint>,
}

/// The machine's load averages (Linux), if it tells.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// What the live display shows each second.
#[derive(Debug, Clone, Default)]
pub struct LiveStatus {
    pub elapsed_s: f64,
    pub target_rate: Option<u32>,
    pub produced: u64,
    pub produced_last_s: u64,
    pub records_in: u64,
    pub durable_rows: u64,
    pub rejected: u64,
    pub files: u64,
    pub latency: LatencySummary,
}

impl LiveStatus {
    pub fn line(&self) -> String {
        let target = self.target_rate.map_or_else(
            || "draining".to_string(),
            |r| format!("target {}/s", thousands(r as u64)),
        );
        format!(
            "{:>6.1}s  last second {:>9}/s ({target})  produced {}  in {}  rows {}  rejected {}  files {}  latency p50 {} p99 {} max {} ms  behind {}",
            self.elapsed_s,
            thousands(self.produced_last_s),
            thousands(self.produced),
            thousands(self.records_in),
            thousands(self.durable_rows),
            thousands(self.rejected),
            self.files,
            thousands(self.latency.p50),
            thousands(self.latency.p99),
            thousands(self.latency.max),
            thousands(self.produced.saturating_sub(self.records_in)),
        )
    }
}

impl Report {
    /// The summary a person reads at the end.
    pub fn text(&self) -> String {
        let c = &self.counts;
        let l = &self.latency_ms;
        let mut s = format!(
            "firelake loadtest {run}: {stream} -> {lake} (table {table})\n\
             \x20 rate          {tr}/s asked{from}, {pr}/s produced over {ps:.1} s, {dr}/s durable (all done in {ts:.1} s)\n\
             \x20 records       produced {prod}  published {publ}  undelivered {und}  consumer in {rin}\n\
             \x20 out           rows {rows}  rejected {rej}  files {files} + {rfiles} rejected-record files, {bytes} bytes\n\
             \x20 latency       produced -> durable: p50 {p50} ms  p95 {p95} ms  p99 {p99} ms  max {max} ms  ({n} rows; target {target} ms: {verdict})\n",
            run = self.run_id,
            stream = self.settings.stream,
            lake = self.settings.lake,
            table = self.settings.table,
            tr = thousands(self.settings.rate as u64),
            from = if self.ramp.is_some() {
                " first (ramp)"
            } else {
                ""
            },
            pr = thousands(self.rates.produced_per_s as u64),
            ps = self.rates.producing_seconds,
            dr = thousands(self.rates.durable_per_s as u64),
            ts = self.rates.total_seconds,
            prod = thousands(c.produced),
            publ = thousands(c.published),
            und = thousands(c.undelivered),
            rin = thousands(c.records_in),
            rows = thousands(c.rows_out),
            rej = thousands(c.rejected),
            files = c.files,
            rfiles = c.rejected_files,
            bytes = thousands(c.bytes_written),
            p50 = thousands(l.p50),
            p95 = thousands(l.p95),
            p99 = thousands(l.p99),
            max = thousands(l.max),
            n = thousands(l.count),
            target = thousands(self.settings.target_latency_ms),
            verdict = if self.p99_within_target {
                "p99 within"
            } else {
                "p99 OVER"
            },
        );
        if let Some(r) = &self.ramp {
            s.push_str(&ramp_text(r));
        }
        if self.stopped_by_signal {
            s.push_str(
                "  stopped       by a signal: producing ended early; what was sent was drained\n",
            );
        }
        if self.consumer_restarts > 0 {
            s.push_str(&format!(
                "  consumer      stopped idle while behind and was started again {} times (from its checkpoints)\n",
                self.consumer_restarts
            ));
        }
        let rc = &self.reconciliation;
        s.push_str(&format!(
            "  reconcile     {}: lake holds {} rows in {} files and {} rejected records in {} files\n",
            if rc.ok { "OK" } else { "MISMATCH" },
            thousands(rc.lake.rows),
            rc.lake.data_files,
            thousands(rc.lake.rejected),
            rc.lake.rejected_files,
        ));
        for c in rc.checks.iter().filter(|c| !c.ok) {
            let vals: Vec<String> = c.values.iter().map(|(n, v)| format!("{n} {v}")).collect();
            s.push_str(&format!("    {} differ: {}\n", c.what, vals.join(", ")));
        }
        if let Some(la) = self.load_average {
            s.push_str(&format!(
                "  machine       {} cores, load average {:.2} {:.2} {:.2}\n",
                self.cores, la[0], la[1], la[2]
            ));
        }
        if let Some(chart) = &self.chart {
            s.push_str(&format!("  chart         {chart}\n"));
        }
        s
    }
}

/// The ramp's lines of the summary: the verdict, then one line per step.
fn ramp_text(r: &RampReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "  ramp          x{} every {} s from {}/s: ",
        r.factor,
        r.step_seconds,
        thousands(r.start_rate as u64)
    ));
    match (r.sustainable_rate, r.broke_at_rate) {
        (Some(ok), Some(bad)) => s.push_str(&format!(
            "sustainable {}/s (broke at {}/s)\n",
            thousands(ok as u64),
            thousands(bad as u64)
        )),
        (Some(ok), None) => s.push_str(&format!(
            "held up to {}/s, the last step (no limit found)\n",
            thousands(ok as u64)
        )),
        (None, Some(bad)) => s.push_str(&format!(
            "not even the first step held (broke at {}/s)\n",
            thousands(bad as u64)
        )),
        (None, None) => s.push_str("no step was judged\n"),
    }
    for st in &r.steps {
        s.push_str(&format!(
            "    step {:>2}  {:>9}/s asked  {:>9}/s produced  p99 {:>6} ms  max {:>6} ms  {}{}\n",
            st.step,
            thousands(st.target_rate as u64),
            thousands(st.achieved_rate as u64),
            thousands(st.latency_ms.p99),
            thousands(st.latency_ms.max),
            st.verdict,
            st.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn live_line_names_the_figures() {
        let l = LiveStatus {
            elapsed_s: 3.0,
            target_rate: Some(100_000),
            produced: 300_000,
            produced_last_s: 100_000,
            records_in: 290_000,
            ..Default::default()
        };
        let line = l.line();
        assert!(line.contains("100,000/s (target 100,000/s)"), "{line}");
        assert!(line.contains("behind 10,000"), "{line}");
    }
}
