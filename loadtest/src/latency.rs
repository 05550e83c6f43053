//! Produced -> durable latency, per run and per second of the run (pure). Every record carries
//! its produce time; when a data file is durable, each of its rows adds `durable - produced`
//! to an HDR histogram of the whole run and to one of the second it was produced in, so the
//! chart shows latency over time and a ramp step can be judged on the records it produced.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded up to an hour; anything later counts as an hour.
const MAX_MS: u64 = 3_600_000;

fn histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MS, sigfig).expect("valid histogram bounds")
}

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    /// Exact, not rounded to the histogram's precision.
    pub max: u64,
    pub mean: f64,
}

impl LatencySummary {
    fn of(h: &Histogram<u64>, max: u64) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary::default();
        }
        // A quantile is reported as the highest value of its bucket, which may exceed the
        // exact maximum: no percentile is shown above it.
        let q = |x: f64| h.value_at_quantile(x).min(max);
        LatencySummary {
            count: h.len(),
            p50: q(0.50),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max,
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

#[derive(Debug, Clone)]
struct Second {
    /// Records produced in this second (good and bad).
    produced: u64,
    /// Of those, the good ones: rows the lake should get.
    produced_good: u64,
    /// Rows produced in this second that are durable.
    durable_rows: u64,
    /// Of those, rows whose latency exceeded the target.
    over_target: u64,
    max_ms: u64,
    latency: Option<Histogram<u64>>,
    /// Rows that became durable during this second (whenever they were produced).
    durable_now: u64,
}

impl Second {
    fn new() -> Second {
        Second {
            produced: 0,
            produced_good: 0,
            durable_rows: 0,
            over_target: 0,
            max_ms: 0,
            latency: None,
            durable_now: 0,
        }
    }
}

/// The totals of a window of produced seconds (a ramp step).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowStats {
    pub produced: u64,
    pub produced_good: u64,
    pub durable_rows: u64,
    pub over_target: u64,
    pub latency: LatencySummary,
}

/// One second of the run, for the chart and the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecondPoint {
    /// Seconds since the start.
    pub t: u64,
    /// Records produced in this second.
    pub produced: u64,
    /// Rows that became durable in this second.
    pub durable: u64,
    /// Latency of the rows produced in this second (none yet durable: all 0).
    pub p50_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
}

/// Everything measured during a run, second by second.
#[derive(Debug, Clone)]
pub struct Timeline {
    t0_ms: i64,
    target_ms: u64,
    overall: Histogram<u64>,
    max_ms: u64,
    durable_rows: u64,
    /// When rows last became durable (epoch ms; 0 before any).
    last_durable_ms: i64,
    seconds: Vec<Second>,
}

impl Timeline {
    /// A timeline starting at `t0_ms` (epoch ms); `target_ms` is the latency that counts as
    /// late.
    pub fn new(t0_ms: i64, target_ms: u64) -> Timeline {
        Timeline {
            t0_ms,
            target_ms,
            overall: histogram(3),
            max_ms: 0,
            durable_rows: 0,
            last_durable_ms: 0,
            seconds: Vec::new(),
        }
    }

    pub fn t0_ms(&self) -> i64 {
        self.t0_ms
    }

    /// Start the run's clock at `t0_ms` (later than the old start): what was recorded before
    /// (a warm-up record) counts in the first second.
    pub fn rebase(&mut self, t0_ms: i64) {
        self.t0_ms = t0_ms;
        let old = std::mem::take(&mut self.seconds);
        let mut first = Second::new();
        for s in old {
            first.produced += s.produced;
            first.produced_good += s.produced_good;
            first.durable_rows += s.durable_rows;
            first.over_target += s.over_target;
            first.max_ms = first.max_ms.max(s.max_ms);
            first.durable_now += s.durable_now;
            if let Some(h) = s.latency {
                first
                    .latency
                    .get_or_insert_with(|| histogram(2))
                    .add(&h)
                    .expect("same bounds");
            }
        }
        self.seconds.push(first);
    }

    /// The second of the run `at_ms` falls in (before the start: the first).
    pub fn second_of(&self, at_ms: i64) -> usize {
        ((at_ms - self.t0_ms).max(0) / 1000) as usize
    }

    fn second(&mut self, index: usize) -> &mut Second {
        if self.seconds.len() <= index {
            self.seconds.resize_with(index + 1, Second::new);
        }
        &mut self.seconds[index]
    }

    /// `all` records (`good` of them good) were made at `produced_at`.
    pub fn produced(&mut self, produced_at: i64, all: u64, good: u64) {
        let s = self.second(self.second_of(produced_at));
        s.produced += all;
        s.produced_good += good;
    }

    /// Rows produced at the given instants became durable at `durable_ms`.
    pub fn durable(&mut self, durable_ms: i64, produced_at: impl IntoIterator<Item = i64>) {
        let now = self.second_of(durable_ms);
        let mut n = 0;
        for p in produced_at {
            let ms = (durable_ms - p).max(0) as u64;
            n += 1;
            self.overall.saturating_record(ms);
            self.max_ms = self.max_ms.max(ms);
            let target = self.target_ms;
            let s = self.second(self.second_of(p));
            s.durable_rows += 1;
            s.over_target += (ms > target) as u64;
            s.max_ms = s.max_ms.max(ms);
            s.latency
                .get_or_insert_with(|| histogram(2))
                .saturating_record(ms);
        }
        self.durable_rows += n;
        self.last_durable_ms = self.last_durable_ms.max(durable_ms);
        self.second(now).durable_now += n;
    }

    /// When rows last became durable (epoch ms; 0 before any).
    pub fn last_durable_ms(&self) -> i64 {
        self.last_durable_ms
    }

    /// Rows durable so far.
    pub fn durable_rows(&self) -> u64 {
        self.durable_rows
    }

    /// Latency of every durable row so far.
    pub fn summary(&self) -> LatencySummary {
        LatencySummary::of(&self.overall, self.max_ms)
    }

    /// Totals over the produced seconds `from..to`.
    pub fn window(&self, from: usize, to: usize) -> WindowStats {
        let mut h = histogram(2);
        let mut w = WindowStats {
            produced: 0,
            produced_good: 0,
            durable_rows: 0,
            over_target: 0,
            latency: LatencySummary::default(),
        };
        let mut max = 0;
        for s in self.seconds.iter().take(to).skip(from) {
            w.produced += s.produced;
            w.produced_good += s.produced_good;
            w.durable_rows += s.durable_rows;
            w.over_target += s.over_target;
            max = max.max(s.max_ms);
            if let Some(l) = &s.latency {
                h.add(l).expect("same bounds");
            }
        }
        w.latency = LatencySummary::of(&h, max);
        w
    }

    /// Seconds with anything in them, from the first to the last.
    pub fn series(&self) -> Vec<SecondPoint> {
        self.seconds
            .iter()
            .enumerate()
            .map(|(t, s)| {
                let l = s
                    .latency
                    .as_ref()
                    .map(|h| LatencySummary::of(h, s.max_ms))
                    .unwrap_or_default();
                SecondPoint {
                    t: t as u64,
                    produced: s.produced,
                    durable: s.durable_now,
                    p50_ms: l.p50,
                    p99_ms: l.p99,
                    max_ms: l.max,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_windows() {
        let t0 = 1_000_000;
        let mut t = Timeline::new(t0, 1500);
        // Second 0: 100 records, 98 good; durable at t0 + 1200 (latencies 1200..=1101).
        t.produced(t0, 60, 59);
        t.produced(t0 + 999, 40, 39);
        t.durable(t0 + 1200, (0..98).map(|i| t0 + i));
        // Second 1: 10 good records produced at t0 + 1000, durable 2 s later.
        t.produced(t0 + 1000, 10, 10);
        t.durable(t0 + 3000, std::iter::repeat_n(t0 + 1000, 10));

        let s = t.summary();
        assert_eq!(s.count, 108);
        assert_eq!(s.max, 2000);
        assert!(s.p50 >= 1140 && s.p50 <= 1160, "{s:?}");
        assert!(s.p99 >= 2000 - 2 && s.p99 <= 2000, "{s:?}");
        assert!(s.p50 <= s.p95 && s.p95 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max);

        let w0 = t.window(0, 1);
        assert_eq!(
            (w0.produced, w0.produced_good, w0.durable_rows),
            (100, 98, 98)
        );
        assert_eq!(w0.over_target, 0);
        assert_eq!(w0.latency.max, 1200);
        let w1 = t.window(1, 2);
        assert_eq!((w1.produced, w1.durable_rows, w1.over_target), (10, 10, 10));
        let all = t.window(0, 10);
        assert_eq!(all.durable_rows, 108);

        let series = t.series();
        assert_eq!(series.len(), 4);
        assert_eq!(series[0].produced, 100);
        assert_eq!(series[1].durable, 98, "durable during second 1");
        assert_eq!(series[3].durable, 10);
        assert_eq!(series[1].max_ms, 2000);
        assert_eq!(series[2].produced, 0);
        assert_eq!(t.last_durable_ms(), t0 + 3000);
    }

    #[test]
    fn rebase_keeps_what_was_recorded_in_the_first_second() {
        let mut t = Timeline::new(1000, 100);
        t.produced(1000, 1, 1);
        t.durable(3500, [1000]);
        t.rebase(3000);
        t.produced(3100, 5, 5);
        assert_eq!(t.window(0, 1).produced, 6);
        assert_eq!(t.window(0, 1).durable_rows, 1);
        assert_eq!(t.window(0, 1).over_target, 1);
        assert_eq!(t.summary().count, 1);
        assert_eq!(t.second_of(4100), 1);
    }

    #[test]
    fn empty_and_clock_skew() {
        let mut t = Timeline::new(5000, 100);
        assert_eq!(t.summary(), LatencySummary::default());
        // A row "produced" after it was durable (clock step) counts as 0 ms, in second 0.
        t.produced(4000, 1, 1);
        t.durable(4500, [4600]);
        assert_eq!(t.summary().max, 0);
        assert_eq!(t.window(0, 1).durable_rows, 1);
    }
}
