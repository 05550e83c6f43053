//! One load test: the producer at the scheduled rate (a `governor` limiter, several publishes
//! in flight), the consumer in this process writing the lake, an observer on its writer
//! measuring produced -> durable latency for every row, a monitor that shows the figures each
//! second and judges ramp steps, and at the end the reconciliation with the lake, the chart
//! and the report.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampMillisecondType;
use bytes::Bytes;
use firelake_core::catalog::{Catalog, LocalCatalog, MemoryCatalog};
use firelake_core::stream::now_ms;
use firelake_core::{Cleaner, Lake, SourceDef, time};
use firelake_producer::{OutgoingRecord, PublishError, Publisher};
use firelake_stream_consumer::writer::DurableObserver;
use firelake_stream_consumer::{ConsumerMetrics, FlushLimits, LakeWriter};
use governor::{Quota, RateLimiter};
use tokio::task::JoinSet;

use crate::LoadtestError;
use crate::chart::{ChartInput, svg};
use crate::latency::Timeline;
use crate::ramp::{RampPlan, RampReport, Schedule, StepReport, Verdict};
use crate::reconcile::{Snapshot, count_new, reconcile};
use crate::record::{Quality, RecordMaker};
use crate::report::{Counts, LiveStatus, Rates, Report, Settings, load_average, thousands};
use crate::target::{Ends, EndsConfig, StreamSpec, open};

pub struct LoadtestConfig {
    pub stream: StreamSpec,
    pub lake: Lake,
    /// Database of the local catalog (a lake that is not local gets an in-memory catalog).
    pub database: String,
    /// The `loadtest` source definition (or one shaped like it).
    pub def: Arc<SourceDef>,
    pub schedule: Schedule,
    pub record_bytes: usize,
    pub bad_rate: f64,
    /// Embedded stream shards.
    pub shards: usize,
    pub limits: FlushLimits,
    pub target_latency_ms: u64,
    /// Publish calls under way at once.
    pub in_flight: usize,
    /// How long the consumer may take to finish after the producer stopped.
    pub drain_timeout: Duration,
    pub chart: Option<PathBuf>,
    pub run_id: String,
    /// Create the remote stream for the run (with `shards` shards) and delete it after.
    pub create_stream: bool,
    /// Set by SIGINT/SIGTERM: producing stops, what was sent is drained and reported.
    pub stop: Option<Arc<AtomicBool>>,
}

/// A run id: the start time, e.g. `20250601T120000123Z`.
pub fn run_id(now_ms: i64) -> String {
    let mut iso = String::new();
    time::format_ms(now_ms, &mut iso); // 2025-06-01T12:00:00.123Z
    iso.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

/// Feeds the timeline from every data file the consumer makes durable.
struct LatencyObserver {
    timeline: Arc<Mutex<Timeline>>,
}

impl DurableObserver for LatencyObserver {
    fn data_durable(&self, key: &str, rows: &RecordBatch) {
        let now = now_ms();
        let Some(col) = rows.column_by_name("produced_at") else {
            tracing::warn!(
                key,
                "data file without produced_at: no latency for its rows"
            );
            return;
        };
        let Some(values) = col.as_primitive_opt::<TimestampMillisecondType>() else {
            tracing::warn!(key, "produced_at is not a millisecond timestamp");
            return;
        };
        self.timeline
            .lock()
            .unwrap()
            .durable(now, values.iter().flatten());
    }
}

#[derive(Default)]
struct ProducerCounters {
    produced: AtomicU64,
    published: AtomicU64,
    undelivered: AtomicU64,
    good: AtomicU64,
    bad: AtomicU64,
    /// Records produced in the last whole second, for the live display.
    last_second: AtomicU64,
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

/// Records per publish: about a hundredth of a second's worth, at most a PutRecords call.
fn batch_size(rate: u32) -> u32 {
    (rate / 100).clamp(1, 500)
}

async fn publish(
    publisher: Arc<dyn Publisher>,
    records: Vec<OutgoingRecord>,
    counters: Arc<ProducerCounters>,
) -> Result<(), LoadtestError> {
    let n = records.len() as u64;
    match publisher.publish(records).await {
        Ok(()) => {
            counters.published.fetch_add(n, Ordering::Relaxed);
            Ok(())
        }
        // Kept in the dead-letter location with the reason: counted, and the run goes on.
        Err(PublishError::Undelivered { count, .. }) => {
            let count = count as u64;
            counters.undelivered.fetch_add(count, Ordering::Relaxed);
            counters
                .published
                .fetch_add(n.saturating_sub(count), Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The producer side of a run.
struct Producer {
    schedule: Schedule,
    maker: RecordMaker,
    first_seq: u64,
    publisher: Arc<dyn Publisher>,
    in_flight: usize,
    t0: i64,
    timeline: Arc<Mutex<Timeline>>,
    counters: Arc<ProducerCounters>,
    stop: Arc<AtomicBool>,
}

/// Produce on schedule until it ends or `stop` is set. Returns when every publish is done.
async fn produce(p: Producer) -> Result<(), LoadtestError> {
    let Producer {
        schedule,
        maker,
        first_seq,
        publisher,
        in_flight,
        t0,
        timeline,
        counters,
        stop,
    } = p;
    let mut seq = first_seq;
    let mut buf = Vec::with_capacity(1024);
    let mut publishes: JoinSet<Result<(), LoadtestError>> = JoinSet::new();
    let mut limiter = None;
    let mut limiter_rate = 0;
    let (mut second, mut in_second) = (0u64, 0u64);
    while !stop.load(Ordering::Acquire) {
        let t = ((now_ms() - t0).max(0) / 1000) as u64;
        let Some(rate) = schedule.rate_at(t) else {
            break;
        };
        if t != second {
            counters.last_second.store(in_second, Ordering::Relaxed);
            (second, in_second) = (t, 0);
        }
        let n = batch_size(rate);
        if rate != limiter_rate {
            let per_s = NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN);
            // A tenth of a second of credit: a batch that took longer to make or publish is
            // caught up on instead of lost, while the pace holds from the first second.
            let burst = NonZeroU32::new(n.max(rate / 10)).unwrap_or(NonZeroU32::MIN);
            let l = RateLimiter::direct(Quota::per_second(per_s).allow_burst(burst));
            // A new limiter starts with its credit full: spend it, so a step starts at its
            // rate rather than with a burst.
            let _ = l.check_n(burst);
            limiter = Some(l);
            limiter_rate = rate;
        }
        let cells = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        limiter
            .as_ref()
            .expect("set above")
            .until_n_ready(cells)
            .await
            .expect("a batch is never larger than the limiter's burst");
        let produced_at = now_ms();
        let mut records = Vec::with_capacity(n as usize);
        let mut good = 0u64;
        for _ in 0..n {
            buf.clear();
            if maker.write(seq, produced_at, &mut buf) == Quality::Good {
                good += 1;
            }
            records.push(OutgoingRecord {
                partition_key: maker.partition_key(seq),
                data: Bytes::copy_from_slice(&buf),
            });
            seq += 1;
        }
        let n = n as u64;
        timeline.lock().unwrap().produced(produced_at, n, good);
        counters.produced.fetch_add(n, Ordering::Relaxed);
        counters.good.fetch_add(good, Ordering::Relaxed);
        counters.bad.fetch_add(n - good, Ordering::Relaxed);
        in_second += n;
        while publishes.len() >= in_flight.max(1) {
            if let Some(done) = publishes.join_next().await {
                done.map_err(|e| LoadtestError::Task(e.to_string()))??;
            }
        }
        publishes.spawn(publish(publisher.clone(), records, counters.clone()));
    }
    while let Some(done) = publishes.join_next().await {
        done.map_err(|e| LoadtestError::Task(e.to_string()))??;
    }
    Ok(())
}

/// Ramp steps judged so far.
struct RampState {
    plan: RampPlan,
    steps: Vec<StepReport>,
    broken: bool,
}

impl RampState {
    /// Judge the steps whose time is over, in order; `final_pass`: the run is drained, so
    /// rows not durable now never will be.
    fn judge(
        &mut self,
        timeline: &Timeline,
        now: i64,
        produced_until: Option<i64>,
        final_pass: bool,
    ) {
        while !self.broken && self.steps.len() < self.plan.steps() {
            let k = self.steps.len();
            let (from, to) = self.plan.window(k);
            let end_ms = timeline.t0_ms() + to as i64 * 1000;
            // A step the producer did not finish (the run was stopped) is not judged.
            if produced_until.is_some_and(|p| p < end_ms) || now < end_ms {
                return;
            }
            let w = timeline.window(from, to);
            let since_end = if final_pass { i64::MAX } else { now - end_ms };
            let v = self.plan.judge(k, &w, since_end);
            if v == Verdict::Pending {
                return;
            }
            self.broken = matches!(v, Verdict::Breaks(_));
            self.steps.push(StepReport::new(&self.plan, k, &w, &v));
        }
    }
}

/// Run the load test; `live` is called about once a second with the figures so far.
pub async fn run(
    cfg: LoadtestConfig,
    live: impl FnMut(&LiveStatus),
) -> Result<Report, LoadtestError> {
    let def = cfg.def.clone();
    let table = def.table.clone();
    let before = Snapshot::take(&cfg.lake, &table).await?;
    let catalog: Arc<dyn Catalog> = match cfg.lake.local_root() {
        Some(root) => Arc::new(LocalCatalog::beside_lake(root, &cfg.database)),
        None => Arc::new(MemoryCatalog::default()),
    };
    let opening = now_ms();
    let timeline = Arc::new(Mutex::new(Timeline::new(opening, cfg.target_latency_ms)));
    let metrics = Arc::new(ConsumerMetrics::default());
    let writer = Arc::new(
        LakeWriter::new(cfg.lake.clone(), catalog, def.clone(), metrics.clone()).with_observer(
            Arc::new(LatencyObserver {
                timeline: timeline.clone(),
            }),
        ),
    );
    let cleaner = Arc::new(Cleaner::new(def.clone()));
    let mut ends = open(
        &cfg.stream,
        cleaner,
        writer,
        EndsConfig {
            run_id: cfg.run_id.clone(),
            shards: cfg.shards,
            limits: cfg.limits,
            start_ms: opening,
            idle_stop: cfg.limits.max_age + Duration::from_secs(3),
            lake: cfg.lake.clone(),
            create_stream: cfg.create_stream,
        },
    )
    .await?;
    let cleanup = ends.cleanup.take();
    let result = drive(
        &cfg,
        Measures {
            before,
            timeline,
            metrics,
        },
        ends,
        live,
    )
    .await;
    if let Some(c) = cleanup
        && let Err(e) = c.await
    {
        tracing::warn!(error = %e, "could not remove what the run created");
    }
    result
}

/// What the run measures with.
struct Measures {
    before: Snapshot,
    timeline: Arc<Mutex<Timeline>>,
    metrics: Arc<ConsumerMetrics>,
}

/// The consumer task of a run, started again when a remote one stops idle too early.
struct ConsumerTask {
    start: crate::target::ConsumerStart,
    task: tokio::task::JoinHandle<Result<(), String>>,
    restartable: bool,
    restarts: u64,
}

impl ConsumerTask {
    fn spawn(mut start: crate::target::ConsumerStart, restartable: bool) -> ConsumerTask {
        let task = tokio::spawn(start());
        ConsumerTask {
            start,
            task,
            restartable,
            restarts: 0,
        }
    }

    fn restart(&mut self, why: &str) {
        self.restarts += 1;
        tracing::warn!("{why}; starting the consumer again");
        self.task = tokio::spawn((self.start)());
    }
}

/// One record first, outside the schedule: a publisher connects on its first publish
/// (Kafka: metadata and a producer id), which would otherwise eat into the first second.
async fn warm_up(
    maker: &RecordMaker,
    publisher: Arc<dyn Publisher>,
    counters: &Arc<ProducerCounters>,
    timeline: &Mutex<Timeline>,
) -> Result<(), LoadtestError> {
    let warm_at = now_ms();
    let mut warm = Vec::new();
    let warm_good = (maker.write(0, warm_at, &mut warm) == Quality::Good) as u64;
    let warm_record = OutgoingRecord {
        partition_key: maker.partition_key(0),
        data: Bytes::from(warm),
    };
    counters.produced.fetch_add(1, Ordering::Relaxed);
    counters.good.fetch_add(warm_good, Ordering::Relaxed);
    counters.bad.fetch_add(1 - warm_good, Ordering::Relaxed);
    timeline.lock().unwrap().produced(warm_at, 1, warm_good);
    publish(publisher, vec![warm_record], counters.clone()).await
}

/// What the phases of a run share.
struct Phase<'a> {
    cfg: &'a LoadtestConfig,
    t0: i64,
    timeline: &'a Mutex<Timeline>,
    counters: &'a ProducerCounters,
    metrics: &'a ConsumerMetrics,
    ramp: Option<RampState>,
    last_live: Instant,
}

/// How often the phases look at the producer, the consumer and the ramp.
const TICK: Duration = Duration::from_millis(200);

impl Phase<'_> {
    fn status(&self, producing: bool) -> LiveStatus {
        let now = now_ms();
        let t = ((now - self.t0).max(0) / 1000) as u64;
        let tl = self.timeline.lock().unwrap();
        LiveStatus {
            elapsed_s: (now - self.t0) as f64 / 1000.0,
            target_rate: producing.then(|| self.cfg.schedule.rate_at(t)).flatten(),
            produced: get(&self.counters.produced),
            produced_last_s: get(&self.counters.last_second),
            records_in: get(&self.metrics.records_in),
            durable_rows: tl.durable_rows(),
            rejected: get(&self.metrics.rejected),
            files: get(&self.metrics.files),
            latency: tl.summary(),
        }
    }

    /// Show the figures about once a second.
    fn show(&mut self, producing: bool, live: &mut impl FnMut(&LiveStatus)) {
        if self.last_live.elapsed() >= Duration::from_secs(1) {
            self.last_live = Instant::now();
            live(&self.status(producing));
        }
    }

    fn judge(&mut self, produced_until: Option<i64>) {
        if let Some(r) = &mut self.ramp {
            r.judge(
                &self.timeline.lock().unwrap(),
                now_ms(),
                produced_until,
                false,
            );
        }
    }

    /// Producing: until the schedule ends, a ramp step breaks or a stop signal comes
    /// (`stopped`: then what was sent is still drained). A consumer that fails ends the run.
    async fn producing(
        &mut self,
        mut producer: tokio::task::JoinHandle<Result<(), LoadtestError>>,
        stop: &AtomicBool,
        consumer: &mut ConsumerTask,
        live: &mut impl FnMut(&LiveStatus),
    ) -> Result<bool, LoadtestError> {
        let signal = self.cfg.stop.clone().unwrap_or_default();
        let mut stopped = false;
        let result = loop {
            tokio::select! {
                r = &mut producer => break r,
                r = &mut consumer.task => {
                    if matches!(r, Ok(Ok(()))) && consumer.restartable {
                        consumer.restart("the consumer stopped idle while records still come");
                        continue;
                    }
                    stop.store(true, Ordering::Release);
                    return Err(LoadtestError::Consumer(match r {
                        Ok(Ok(())) => "it stopped early".to_string(),
                        Ok(Err(e)) => e,
                        Err(e) => e.to_string(),
                    }));
                }
                _ = tokio::time::sleep(TICK) => {}
            }
            self.judge(None);
            if self.ramp.as_ref().is_some_and(|r| r.broken) {
                stop.store(true, Ordering::Release);
            }
            if !stopped && signal.load(Ordering::Acquire) {
                tracing::warn!(
                    "stop signal: producing stops; what was sent is drained and reported"
                );
                stopped = true;
                stop.store(true, Ordering::Release);
            }
            self.show(true, live);
        };
        result.map_err(|e| LoadtestError::Task(e.to_string()))??;
        Ok(stopped)
    }

    /// Draining: the consumer makes the rest durable and stops, within the drain timeout.
    async fn draining(
        &mut self,
        consumer: &mut ConsumerTask,
        produced_until: i64,
        live: &mut impl FnMut(&LiveStatus),
    ) -> Result<(), LoadtestError> {
        let deadline = Instant::now() + self.cfg.drain_timeout;
        loop {
            tokio::select! {
                r = &mut consumer.task => {
                    r.map_err(|e| LoadtestError::Task(e.to_string()))?
                        .map_err(LoadtestError::Consumer)?;
                    let behind = get(&self.counters.published)
                        .saturating_sub(get(&self.metrics.records_in));
                    if behind == 0 || !consumer.restartable {
                        return Ok(());
                    }
                    consumer.restart(&format!("the consumer stopped idle {behind} records behind"));
                    continue;
                }
                _ = tokio::time::sleep(TICK) => {}
            }
            self.judge(Some(produced_until));
            if Instant::now() >= deadline {
                consumer.task.abort();
                return Err(LoadtestError::DrainTimeout(self.cfg.drain_timeout));
            }
            self.show(false, live);
        }
    }
}

async fn drive(
    cfg: &LoadtestConfig,
    m: Measures,
    ends: Ends,
    mut live: impl FnMut(&LiveStatus),
) -> Result<Report, LoadtestError> {
    let mut consumer = ConsumerTask::spawn(ends.consumer, ends.restartable);
    let counters = Arc::new(ProducerCounters::default());
    let maker = RecordMaker::new(&cfg.run_id, cfg.record_bytes, cfg.bad_rate);
    warm_up(&maker, ends.publisher.clone(), &counters, &m.timeline).await?;
    // The run's clock starts now that both ends are open and connected (a remote stream is
    // read from before this, so nothing sent is missed).
    let t0 = now_ms();
    m.timeline.lock().unwrap().rebase(t0);

    let stop = Arc::new(AtomicBool::new(false));
    let producer = tokio::spawn(produce(Producer {
        schedule: cfg.schedule.clone(),
        maker,
        first_seq: 1,
        publisher: ends.publisher,
        in_flight: cfg.in_flight,
        t0,
        timeline: m.timeline.clone(),
        counters: counters.clone(),
        stop: stop.clone(),
    }));
    let mut phase = Phase {
        cfg,
        t0,
        timeline: &m.timeline,
        counters: &counters,
        metrics: &m.metrics,
        ramp: match &cfg.schedule {
            Schedule::Ramp(plan) => Some(RampState {
                plan: plan.clone(),
                steps: Vec::new(),
                broken: false,
            }),
            Schedule::Constant { .. } => None,
        },
        last_live: Instant::now(),
    };
    let stopped_by_signal = phase
        .producing(producer, &stop, &mut consumer, &mut live)
        .await?;
    let produced_until = now_ms();
    (ends.finish)();
    phase
        .draining(&mut consumer, produced_until, &mut live)
        .await?;
    let done_ms = now_ms();
    live(&phase.status(false));
    let ramp = phase.ramp.take();
    let ended = Ended {
        t0,
        produced_until,
        done_ms,
        restarts: consumer.restarts,
        stopped_by_signal,
    };
    report(cfg, &m, &counters, ramp, ended).await
}

/// When and how a run ended.
struct Ended {
    t0: i64,
    produced_until: i64,
    done_ms: i64,
    restarts: u64,
    stopped_by_signal: bool,
}

/// The report of a drained run: counts, the reconciliation with the lake, rates, the chart.
async fn report(
    cfg: &LoadtestConfig,
    m: &Measures,
    counters: &ProducerCounters,
    ramp: Option<RampState>,
    e: Ended,
) -> Result<Report, LoadtestError> {
    let tl = m.timeline.lock().unwrap().clone();
    let ramp = ramp.map(|mut r| {
        r.judge(&tl, e.done_ms, Some(e.produced_until), true);
        // Verdicts stand as judged; the figures shown are the final ones (rows that were
        // still on their way when a step was judged have landed since).
        for st in &mut r.steps {
            let (from, to) = r.plan.window(st.step);
            let w = tl.window(from, to);
            st.durable_rows = w.durable_rows;
            st.latency_ms = w.latency;
        }
        RampReport::new(&r.plan, r.steps)
    });
    let counts = counts(counters, &m.metrics, tl.durable_rows());
    let table = cfg.def.table.clone();
    let lake_counts = count_new(&cfg.lake, &table, &cfg.def.partition_column, &m.before).await?;
    let reconciliation = reconcile(&counts, &lake_counts);

    let last_durable = tl.last_durable_ms().max(e.t0 + 1);
    let producing_seconds = (e.produced_until - e.t0).max(1) as f64 / 1000.0;
    let durable_seconds = (last_durable - e.t0) as f64 / 1000.0;
    let latency = tl.summary();
    let series = tl.series();
    let chart = write_chart(cfg, &series, producing_seconds, &latency)?;
    let mut started_at = String::new();
    time::format_ms(e.t0, &mut started_at);
    Ok(Report {
        run_id: cfg.run_id.clone(),
        started_at,
        settings: settings(cfg, table, ramp.is_some()),
        rates: Rates {
            produced_per_s: (counts.produced as f64 / producing_seconds).round(),
            durable_per_s: ((counts.rows_out + counts.rejected) as f64 / durable_seconds).round(),
            producing_seconds,
            total_seconds: (e.done_ms - e.t0) as f64 / 1000.0,
        },
        counts,
        p99_within_target: latency.p99 <= cfg.target_latency_ms,
        latency_ms: latency,
        consumer_restarts: e.restarts,
        stopped_by_signal: e.stopped_by_signal,
        ramp,
        reconciliation,
        load_average: load_average(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        chart,
        timeline: series,
    })
}

fn counts(c: &ProducerCounters, m: &ConsumerMetrics, durable_rows: u64) -> Counts {
    Counts {
        produced: get(&c.produced),
        published: get(&c.published),
        undelivered: get(&c.undelivered),
        expected_rows: get(&c.good),
        expected_rejected: get(&c.bad),
        records_in: get(&m.records_in),
        rows_out: get(&m.rows_out),
        rejected: get(&m.rejected),
        files: get(&m.files),
        rejected_files: get(&m.rejected_files),
        bytes_written: get(&m.bytes_written),
        durable_rows_measured: durable_rows,
    }
}

fn settings(cfg: &LoadtestConfig, table: String, ramp: bool) -> Settings {
    let (rate, secs) = match &cfg.schedule {
        Schedule::Constant { rate, secs } => (*rate, *secs as f64),
        Schedule::Ramp(p) => (p.start_rate, p.max_secs as f64),
    };
    Settings {
        stream: cfg.stream.url().to_string(),
        lake: cfg.lake.url().to_string(),
        table,
        rate,
        duration_seconds: secs,
        record_bytes: cfg.record_bytes,
        bad_rate: cfg.bad_rate,
        shards: (cfg.stream == StreamSpec::Embedded).then_some(cfg.shards),
        flush_records: cfg.limits.max_records,
        flush_mb: cfg.limits.max_bytes >> 20,
        flush_interval_seconds: cfg.limits.max_age.as_secs_f64(),
        target_latency_ms: cfg.target_latency_ms,
        in_flight: cfg.in_flight,
        ramp,
    }
}

/// The SVG chart of rate and latency, when asked for: its path.
fn write_chart(
    cfg: &LoadtestConfig,
    series: &[crate::latency::SecondPoint],
    producing_seconds: f64,
    latency: &crate::latency::LatencySummary,
) -> Result<Option<String>, LoadtestError> {
    let Some(path) = &cfg.chart else {
        return Ok(None);
    };
    let asked = match &cfg.schedule {
        Schedule::Constant { rate, .. } => format!("{}/s", thousands(*rate as u64)),
        Schedule::Ramp(p) => format!(
            "ramp from {}/s x{} every {} s",
            thousands(p.start_rate as u64),
            p.factor,
            p.step_secs
        ),
    };
    let title = format!("firelake loadtest on {}: {asked}", cfg.stream.url());
    let subtitle = format!(
        "run {}: produced -> durable p50 {} ms, p99 {} ms, max {} ms; flush interval {} s",
        cfg.run_id,
        thousands(latency.p50),
        thousands(latency.p99),
        thousands(latency.max),
        cfg.limits.max_age.as_secs_f64()
    );
    let target_rates: Vec<Option<u32>> = (0..producing_seconds.ceil() as u64)
        .map(|t| cfg.schedule.rate_at(t))
        .collect();
    let text = svg(&ChartInput {
        title: &title,
        subtitle: &subtitle,
        series,
        target_rates: &target_rates,
        target_latency_ms: cfg.target_latency_ms,
    });
    std::fs::write(path, text).map_err(|source| LoadtestError::Chart {
        path: path.clone(),
        source,
    })?;
    Ok(Some(path.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_plain() {
        assert_eq!(run_id(1_748_779_200_123), "20250601T120000123Z");
    }

    #[test]
    fn batches() {
        assert_eq!(batch_size(1), 1);
        assert_eq!(batch_size(20_000), 200);
        assert_eq!(batch_size(100_000), 500);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embedded_run_reconciles() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::from_url(dir.path().to_str().unwrap()).unwrap();
        let cfg = LoadtestConfig {
            stream: StreamSpec::Embedded,
            lake: lake.clone(),
            database: "firelake".into(),
            def: Arc::new(SourceDef::resolve("loadtest", None).unwrap()),
            schedule: Schedule::Constant {
                rate: 5000,
                secs: 2,
            },
            record_bytes: 128,
            bad_rate: 0.05,
            shards: 2,
            limits: FlushLimits {
                max_age: Duration::from_millis(300),
                ..Default::default()
            },
            target_latency_ms: 1300,
            in_flight: 2,
            drain_timeout: Duration::from_secs(60),
            chart: Some(dir.path().join("chart.svg")),
            run_id: run_id(now_ms()),
            create_stream: false,
            stop: None,
        };
        let mut lives = 0;
        let r = run(cfg, |_| lives += 1).await.unwrap();
        assert!(r.reconciliation.ok, "{:#?}", r.reconciliation);
        let c = &r.counts;
        assert!(c.produced > 0 && c.produced == c.published);
        assert_eq!(c.rows_out + c.rejected, c.produced);
        assert_eq!(c.rejected, c.expected_rejected);
        assert!(c.rejected > 0, "5% bad records");
        assert_eq!(r.latency_ms.count, c.rows_out);
        assert!(lives >= 1);
        assert!(
            std::fs::read_to_string(dir.path().join("chart.svg"))
                .unwrap()
                .contains("<svg")
        );
        // A second run into the same lake counts only its own files.
        let cfg2 = LoadtestConfig {
            stream: StreamSpec::Embedded,
            lake,
            database: "firelake".into(),
            def: Arc::new(SourceDef::resolve("loadtest", None).unwrap()),
            schedule: Schedule::Constant {
                rate: 2000,
                secs: 1,
            },
            record_bytes: 64,
            bad_rate: 0.0,
            shards: 1,
            limits: FlushLimits::default(),
            target_latency_ms: 1000,
            in_flight: 1,
            drain_timeout: Duration::from_secs(60),
            chart: None,
            run_id: format!("{}b", run_id(now_ms())),
            create_stream: false,
            stop: None,
        };
        let r2 = run(cfg2, |_| {}).await.unwrap();
        assert!(r2.reconciliation.ok, "{:#?}", r2.reconciliation);
        assert_eq!(r2.counts.rejected, 0);
        assert_eq!(r2.reconciliation.lake.rows, r2.counts.produced);
    }
}
