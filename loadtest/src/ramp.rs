//! Rate schedules (pure): a constant rate, or a ramp that steps the rate up by a factor until
//! a step breaks the target latency (or the producer cannot reach the step's rate), and the
//! verdict on each step from the records it produced.

use serde::Serialize;

use crate::counts::thousands;
use crate::latency::{LatencySummary, WindowStats};

/// How the rate moves during a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// One rate for the whole duration.
    Constant {
        rate: u32,
        secs: u64,
    },
    Ramp(RampPlan),
}

impl Schedule {
    /// The rate during second `t` of the run, or `None` once the schedule is over.
    pub fn rate_at(&self, t: u64) -> Option<u32> {
        match self {
            Schedule::Constant { rate, secs } => (t < *secs).then_some(*rate),
            Schedule::Ramp(p) => {
                let k = (t / p.step_secs) as usize;
                (k < p.steps()).then(|| p.rate_of_step(k))
            }
        }
    }

    pub fn total_secs(&self) -> u64 {
        match self {
            Schedule::Constant { secs, .. } => *secs,
            Schedule::Ramp(p) => p.steps() as u64 * p.step_secs,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RampPlan {
    pub start_rate: u32,
    /// Each step's rate is the previous one's times this (> 1).
    pub factor: f64,
    pub step_secs: u64,
    /// The ramp stops after this long even if no step broke.
    pub max_secs: u64,
    /// A step breaks when more than 1% of its rows (its p99) take longer than this.
    pub target_ms: u64,
    /// A step breaks when the producer reaches less than this share of its rate.
    pub min_achieved: f64,
}

impl RampPlan {
    pub fn steps(&self) -> usize {
        ((self.max_secs / self.step_secs.max(1)) as usize).max(1)
    }

    pub fn rate_of_step(&self, k: usize) -> u32 {
        let r = self.start_rate as f64 * self.factor.powi(k as i32);
        r.round().clamp(1.0, u32::MAX as f64) as u32
    }

    /// The produced seconds of step `k`: `from..to`.
    pub fn window(&self, k: usize) -> (usize, usize) {
        let s = self.step_secs as usize;
        (k * s, (k + 1) * s)
    }

    /// Step `k`'s verdict from its records so far, `since_end_ms` after the step ended.
    pub fn judge(&self, k: usize, w: &WindowStats, since_end_ms: i64) -> Verdict {
        let rate = self.rate_of_step(k);
        let achieved = w.produced as f64 / self.step_secs.max(1) as f64;
        if achieved < self.min_achieved * rate as f64 {
            return Verdict::Breaks(format!(
                "the producer reached {} of {} records/s (the stream held it back)",
                thousands(achieved as u64),
                thousands(rate as u64)
            ));
        }
        let pending = w.produced_good.saturating_sub(w.durable_rows);
        if pending > 0 && since_end_ms <= self.target_ms as i64 {
            return Verdict::Pending;
        }
        // Rows not durable by now were produced before the step ended, more than the target
        // ago: they are late whenever they arrive.
        let late = w.over_target + pending;
        let allowed = w.produced_good / 100;
        if late > allowed {
            Verdict::Breaks(format!(
                "{} of {} rows took longer than {} ms (p99 over the target)",
                thousands(late),
                thousands(w.produced_good),
                thousands(self.target_ms)
            ))
        } else {
            Verdict::Holds
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Some of its rows are not durable yet, and may still be in time.
    Pending,
    Holds,
    Breaks(String),
}

/// One step of a ramp, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    pub step: usize,
    pub target_rate: u32,
    pub achieved_rate: f64,
    pub produced: u64,
    pub durable_rows: u64,
    pub latency_ms: LatencySummary,
    /// holds | breaks | not judged (the run ended first)
    pub verdict: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StepReport {
    pub fn new(plan: &RampPlan, k: usize, w: &WindowStats, verdict: &Verdict) -> StepReport {
        let (verdict, reason) = match verdict {
            Verdict::Pending => ("not judged", None),
            Verdict::Holds => ("holds", None),
            Verdict::Breaks(r) => ("breaks", Some(r.clone())),
        };
        StepReport {
            step: k,
            target_rate: plan.rate_of_step(k),
            achieved_rate: (w.produced as f64 / plan.step_secs.max(1) as f64).round(),
            produced: w.produced,
            durable_rows: w.durable_rows,
            latency_ms: w.latency.clone(),
            verdict: verdict.into(),
            reason,
        }
    }
}

/// What a ramp found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RampReport {
    pub start_rate: u32,
    pub factor: f64,
    pub step_seconds: u64,
    pub target_latency_ms: u64,
    pub steps: Vec<StepReport>,
    /// The rate of the last step that held (none: not even the first).
    pub sustainable_rate: Option<u32>,
    /// The first step's rate that broke (none: the ramp ended before one did).
    pub broke_at_rate: Option<u32>,
}

impl RampReport {
    pub fn new(plan: &RampPlan, steps: Vec<StepReport>) -> RampReport {
        let first_break = steps.iter().position(|s| s.verdict == "breaks");
        let held = steps[..first_break.unwrap_or(steps.len())]
            .iter()
            .rev()
            .find(|s| s.verdict == "holds");
        RampReport {
            start_rate: plan.start_rate,
            factor: plan.factor,
            step_seconds: plan.step_secs,
            target_latency_ms: plan.target_ms,
            sustainable_rate: held.map(|s| s.target_rate),
            broke_at_rate: first_break.map(|i| steps[i].target_rate),
            steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> RampPlan {
        RampPlan {
            start_rate: 1000,
            factor: 2.0,
            step_secs: 10,
            max_secs: 45,
            target_ms: 2000,
            min_achieved: 0.95,
        }
    }

    fn stats(produced: u64, good: u64, durable: u64, over: u64) -> WindowStats {
        WindowStats {
            produced,
            produced_good: good,
            durable_rows: durable,
            over_target: over,
            latency: LatencySummary::default(),
        }
    }

    #[test]
    fn schedules() {
        let p = plan();
        assert_eq!(p.steps(), 4);
        let s = Schedule::Ramp(p.clone());
        assert_eq!(s.rate_at(0), Some(1000));
        assert_eq!(s.rate_at(19), Some(2000));
        assert_eq!(s.rate_at(39), Some(8000));
        assert_eq!(s.rate_at(40), None);
        assert_eq!(s.total_secs(), 40);
        assert_eq!(p.window(2), (20, 30));
        let c = Schedule::Constant { rate: 5, secs: 3 };
        assert_eq!((c.rate_at(2), c.rate_at(3)), (Some(5), None));
    }

    #[test]
    fn verdicts() {
        let p = plan();
        // 10 s at 2000/s: 20000 records, 19600 good.
        assert_eq!(
            p.judge(1, &stats(20_000, 19_600, 19_600, 196), 0),
            Verdict::Holds
        );
        assert!(matches!(
            p.judge(1, &stats(20_000, 19_600, 19_600, 197), 0),
            Verdict::Breaks(_)
        ));
        // Not all durable yet: wait until the target has passed, then count them late.
        assert_eq!(
            p.judge(1, &stats(20_000, 19_600, 19_000, 0), 1500),
            Verdict::Pending
        );
        assert!(matches!(
            p.judge(1, &stats(20_000, 19_600, 19_000, 0), 2001),
            Verdict::Breaks(_)
        ));
        assert_eq!(
            p.judge(1, &stats(20_000, 19_600, 19_500, 0), 2001),
            Verdict::Holds
        );
        // The producer fell short of the rate.
        let v = p.judge(1, &stats(18_000, 17_640, 17_640, 0), 0);
        assert!(
            matches!(v, Verdict::Breaks(ref r) if r.contains("1,800 of 2,000")),
            "{v:?}"
        );
    }

    #[test]
    fn sustainable_rate_is_the_last_step_before_the_break() {
        let p = plan();
        let ok = stats(10_000, 10_000, 10_000, 0);
        let steps = vec![
            StepReport::new(&p, 0, &ok, &Verdict::Holds),
            StepReport::new(&p, 1, &ok, &Verdict::Holds),
            StepReport::new(&p, 2, &ok, &Verdict::Breaks("late".into())),
            StepReport::new(&p, 3, &ok, &Verdict::Pending),
        ];
        let r = RampReport::new(&p, steps);
        assert_eq!(r.sustainable_rate, Some(2000));
        assert_eq!(r.broke_at_rate, Some(4000));
        let first_breaks = RampReport::new(
            &p,
            vec![StepReport::new(&p, 0, &ok, &Verdict::Breaks("x".into()))],
        );
        assert_eq!(first_breaks.sustainable_rate, None);
        let never = RampReport::new(&p, vec![StepReport::new(&p, 0, &ok, &Verdict::Holds)]);
        assert_eq!(
            (never.sustainable_rate, never.broke_at_rate),
            (Some(1000), None)
        );
    }
}
