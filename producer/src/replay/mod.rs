//! Batch files replayed as streams (`firelake replay`): CSV, JSON lines or Parquet files,
//! plain or gzip/zstd-compressed, read in bounded chunks, turned into JSON records typed by the
//! source definition, and published in batches within the publishers' limits (and a rate
//! limit) to any [`ReplayTarget`], so one cleaner, one layout and one compactor serve live and
//! historical data alike.
//!
//! Resumable: a progress file records the input position after the last batch the target
//! confirmed (a broker on publish, the embedded stream once the consumer wrote it to the lake),
//! so a killed replay continues where it stopped: no gap, and at most the batches published
//! but not yet confirmed are sent twice (the compactor removes the duplicates by key).
//!
//! Shape: a blocking reader thread (files -> rows -> records -> batches; pure conversion in
//! `record` and `batch`) feeds a small channel; the async side rate-limits, publishes, tracks
//! confirmations and saves progress.

pub mod batch;
pub mod input;
pub mod progress;
pub mod record;
pub mod remote;
pub mod rows;
pub mod target;

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use firelake_core::Cleaner;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc;

pub use batch::{Batch, BatchLimits, Batcher, Cursor, RejectedRow};
pub use input::{Compression, Format, InputFile, resolve_inputs};
pub use progress::{ProgressFile, RejectsFile, ReplayProgress};
pub use record::{RecordShape, RowFault, ShapeError};
pub use target::{ConsumerTask, EmbeddedTarget, Mark, PublisherTarget, ReplayTarget};

use crate::{OutgoingRecord, PublishError, partition_key};
use rows::{RowData, open_rows};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("input {path}: {message}")]
    Input { path: String, message: String },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: CSV: {message}")]
    Csv { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Header { path: PathBuf, source: ShapeError },
    #[error("{path}: Parquet: {message}")]
    Parquet { path: PathBuf, message: String },
    #[error("progress file {path}: {message}")]
    Progress { path: PathBuf, message: String },
    #[error("rejects file {path}: {source}")]
    Rejects {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error("the embedded stream-consumer failed: {0}")]
    Consumer(String),
    #[error("the file reader failed: {0}")]
    Reader(String),
}

/// What to replay and how.
pub struct ReplayPlan {
    /// The source's cleaner (with any `--event-time` override): it tells rejected records
    /// apart and gives partition keys.
    pub cleaner: Arc<Cleaner>,
    pub inputs: Vec<InputFile>,
    /// Names the target in the progress file (a resume must go to the same place).
    pub target: String,
    /// Records per second.
    pub rate: Option<NonZeroU32>,
    pub limits: BatchLimits,
    pub progress_file: PathBuf,
    pub rejects_file: PathBuf,
    /// Continue from the progress file (without it, an existing progress file is an error).
    pub resume: bool,
}

/// Live counters for a progress bar.
#[derive(Debug, Default)]
pub struct ReplayWatch {
    /// Input bytes taken from disk, over every input (files before a resume point included).
    pub bytes_read: Arc<AtomicU64>,
    pub records: AtomicU64,
    pub rejected: AtomicU64,
    /// Set (by a signal handler) to stop reading: what was published is confirmed and the
    /// progress saved, so `--resume` continues after it.
    pub stop: Arc<AtomicBool>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayReport {
    pub files: usize,
    /// Where this run began, when it continued an earlier one.
    pub resumed_at: Option<Cursor>,
    /// The progress file said the replay was complete: nothing was done.
    pub already_complete: bool,
    /// Stopped before the end (`ReplayWatch::stop`): resumable.
    pub stopped: bool,
    /// Rows read, records published, rows rejected (by the reader or the cleaner), in this run.
    pub rows: u64,
    pub records: u64,
    pub rejected: u64,
    /// Input bytes taken from disk and record bytes published, in this run.
    pub bytes_read: u64,
    pub bytes_published: u64,
    pub seconds: f64,
    /// Over every run of this replay.
    pub total_published: u64,
    pub total_rejected: u64,
    pub progress_file: PathBuf,
    pub rejects_file: PathBuf,
}

impl ReplayReport {
    pub fn records_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.records as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// A published batch waiting for its confirmation.
struct Pending {
    mark: Mark,
    next: Cursor,
    published: u64,
    rejected: u64,
    rejects_len: u64,
}

/// Replay `plan.inputs` into `target`.
pub async fn replay(
    plan: ReplayPlan,
    target: &mut dyn ReplayTarget,
    watch: Arc<ReplayWatch>,
) -> Result<ReplayReport, ReplayError> {
    let started = Instant::now();
    let def = plan.cleaner.source().clone();
    let store = ProgressFile::new(&plan.progress_file);
    let mut progress = load_progress(&plan, &store, &def.name)?;
    let mut report = new_report(&plan, &progress);
    if progress.complete {
        tracing::info!(progress = %plan.progress_file.display(), "replay already complete; nothing to do");
        return Ok(report);
    }
    if let Some(at) = report.resumed_at {
        tracing::info!(
            file = at.file,
            line = at.line,
            offset = at.offset,
            "resuming replay"
        );
    }
    for input in &plan.inputs[progress.next.file.min(plan.inputs.len())..] {
        rows::check_input(input, &def)?;
    }
    let mut rejects = RejectsFile::open(&plan.rejects_file, progress.rejects_len, &def)?;
    // Claim the progress file at once: a second run without --resume is refused from now on.
    store.save(&progress)?;

    let limits = match plan.rate {
        Some(rate) => plan.limits.for_rate(rate.get()),
        None => plan.limits,
    };
    // The burst is one batch, so the pace holds from the first second on.
    let limiter = plan.rate.map(|rate| {
        let burst = NonZeroU32::new(limits.max_records as u32).unwrap_or(NonZeroU32::MIN);
        RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
    });

    let base_bytes: u64 = plan.inputs[..progress.next.file.min(plan.inputs.len())]
        .iter()
        .map(|f| f.size)
        .sum();
    watch.bytes_read.store(base_bytes, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel(4);
    let reader = spawn_reader(&plan, progress.next, limits, &watch, tx);

    let mut pending: VecDeque<Pending> = VecDeque::new();
    while let Some(next) = rx.recv().await {
        // A batch not published now is read again by a resume.
        if watch.stop.load(Ordering::Acquire) {
            tracing::info!("asked to stop: confirming what was published and saving progress");
            report.stopped = true;
            break;
        }
        let batch = next?;
        let sent =
            publish_batch(batch, target, limiter.as_ref(), &mut rejects, &plan, &watch).await?;
        report.add(&sent);
        pending.push_back(sent.pending);
        confirm(&mut pending, &*target, &mut progress, &store, &mut rejects)?;
    }
    // The reader stops at its next send.
    drop(rx);
    reader
        .await
        .map_err(|e| ReplayError::Reader(e.to_string()))?;
    target.finish().await?;
    confirm(&mut pending, &*target, &mut progress, &store, &mut rejects)?;
    if !pending.is_empty() {
        return Err(ReplayError::Reader(format!(
            "{} batches are still unconfirmed after the target finished",
            pending.len()
        )));
    }
    progress.complete = !report.stopped;
    store.save(&progress)?;
    report.bytes_read = watch.bytes_read.load(Ordering::Relaxed) - base_bytes;
    report.total_published = progress.published;
    report.total_rejected = progress.rejected;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The progress file of this replay: a new one, or the one a `--resume` continues (refused
/// when it belongs to another replay, or when it exists and `--resume` was not given).
fn load_progress(
    plan: &ReplayPlan,
    store: &ProgressFile,
    source: &str,
) -> Result<ReplayProgress, ReplayError> {
    let progress_err = |message: String| ReplayError::Progress {
        path: plan.progress_file.clone(),
        message,
    };
    match store.load()? {
        Some(p) if !plan.resume => Err(progress_err(if p.complete {
            "this replay is complete (--resume does nothing more); delete the file to replay the files again".into()
        } else {
            "a replay was stopped here: pass --resume to continue it, or delete the file to start over".into()
        })),
        Some(p) => {
            p.check_same_replay(source, &plan.target, &plan.inputs)
                .map_err(|m| progress_err(format!("it belongs to another replay: {m}")))?;
            Ok(p)
        }
        None => Ok(ReplayProgress::new(source, &plan.target, &plan.inputs)),
    }
}

/// The report before anything of this run is published: where it resumes, the totals so far.
fn new_report(plan: &ReplayPlan, progress: &ReplayProgress) -> ReplayReport {
    ReplayReport {
        files: plan.inputs.len(),
        resumed_at: (progress.next != Cursor::start(0)).then_some(progress.next),
        already_complete: progress.complete,
        total_published: progress.published,
        total_rejected: progress.rejected,
        progress_file: plan.progress_file.clone(),
        rejects_file: plan.rejects_file.clone(),
        ..ReplayReport::default()
    }
}

/// The blocking reader: cleaned batches from `start` on, into `tx`, bytes read counted.
fn spawn_reader(
    plan: &ReplayPlan,
    start: Cursor,
    limits: BatchLimits,
    watch: &ReplayWatch,
    tx: mpsc::Sender<Result<Batch, ReplayError>>,
) -> tokio::task::JoinHandle<()> {
    let inputs = plan.inputs.clone();
    let cleaner = plan.cleaner.clone();
    let counter = watch.bytes_read.clone();
    tokio::task::spawn_blocking(move || {
        read_batches(&inputs, start, &cleaner, limits, &counter, &tx)
    })
}

/// What publishing one batch did, for the report and the progress file.
struct Sent {
    pending: Pending,
    rows: u64,
    bytes: u64,
}

impl ReplayReport {
    fn add(&mut self, sent: &Sent) {
        self.rows += sent.rows;
        self.records += sent.pending.published;
        self.rejected += sent.pending.rejected;
        self.bytes_published += sent.bytes;
    }
}

/// Publish one batch at the rate's pace, its rejects appended first; pending until confirmed.
async fn publish_batch(
    batch: Batch,
    target: &mut dyn ReplayTarget,
    limiter: Option<&DefaultDirectRateLimiter>,
    rejects: &mut RejectsFile,
    plan: &ReplayPlan,
    watch: &ReplayWatch,
) -> Result<Sent, ReplayError> {
    let n = batch.records.len();
    if let (Some(limiter), Some(cells)) = (limiter, NonZeroU32::new(n as u32)) {
        limiter
            .until_n_ready(cells)
            .await
            .expect("a batch is never larger than the limiter's burst");
    }
    rejects.append(&batch.rejected, &plan.inputs)?;
    let mark = if n == 0 {
        Mark::default()
    } else {
        target.publish(batch.records).await?
    };
    let rejected = batch.rejected.len() as u64;
    watch.records.fetch_add(n as u64, Ordering::Relaxed);
    watch.rejected.fetch_add(rejected, Ordering::Relaxed);
    Ok(Sent {
        pending: Pending {
            mark,
            next: batch.end,
            published: n as u64,
            rejected,
            rejects_len: rejects.len(),
        },
        rows: batch.rows,
        bytes: batch.bytes as u64,
    })
}

/// Move the progress file past every batch confirmed so far, in publish order.
fn confirm(
    pending: &mut VecDeque<Pending>,
    target: &dyn ReplayTarget,
    progress: &mut ReplayProgress,
    store: &ProgressFile,
    rejects: &mut RejectsFile,
) -> Result<(), ReplayError> {
    let mut moved = false;
    while let Some(p) = pending.front() {
        if !target.is_durable(&p.mark) {
            break;
        }
        progress.next = p.next;
        progress.published += p.published;
        progress.rejected += p.rejected;
        progress.rejects_len = p.rejects_len;
        pending.pop_front();
        moved = true;
    }
    if moved {
        // The rejects the progress file now counts must be in the file before it says so.
        rejects.flush()?;
        progress.updated_ms = firelake_core::stream::now_ms();
        store.save(progress)?;
    }
    Ok(())
}

/// The reader thread: rows of every input from `start` on, as batches (a file's end always
/// ends a batch, so the progress file moves past finished files). Stops when the receiver is
/// gone; an error is sent as the last message.
fn read_batches(
    inputs: &[InputFile],
    start: Cursor,
    cleaner: &Cleaner,
    limits: BatchLimits,
    counter: &Arc<AtomicU64>,
    tx: &mpsc::Sender<Result<Batch, ReplayError>>,
) {
    let send = |batch: Batch| tx.blocking_send(Ok(batch)).is_ok();
    let run = || -> Result<(), ReplayError> {
        let mut batcher = Batcher::new(limits, start);
        let mut done_bytes: u64 = inputs[..start.file.min(inputs.len())]
            .iter()
            .map(|f| f.size)
            .sum();
        for (index, input) in inputs.iter().enumerate().skip(start.file) {
            counter.store(done_bytes, Ordering::Relaxed);
            let at = if index == start.file {
                start
            } else {
                Cursor::start(index)
            };
            tracing::info!(file = %input.path.display(), format = input.format.name(), line = at.line, "reading");
            let mut rows = open_rows(
                input,
                at,
                cleaner.source(),
                limits.max_record_bytes,
                counter.clone(),
            )?;
            while let Some(row) = rows.next_row()? {
                let rejected =
                    |kind: &str, reason: String, data: Vec<u8>, published: bool| RejectedRow {
                        file: index,
                        line: row.line,
                        kind: kind.to_string(),
                        reason,
                        data,
                        published,
                        headers: Vec::new(),
                    };
                match row.data {
                    RowData::Record(data) if data.len() > limits.max_record_bytes => {
                        let fault = RowFault::TooLarge {
                            bytes: data.len(),
                            limit: limits.max_record_bytes,
                        };
                        batcher.reject(rejected(fault.kind(), fault.to_string(), data, false));
                    }
                    RowData::Record(data) => {
                        // The cleaner's verdict, known here for the rejects file; the record
                        // goes on all the same, so the consumer keeps it under `_rejected/`.
                        let rejection = cleaner.clean(&data, 0).err();
                        let key = partition_key(cleaner, &data);
                        if !batcher.fits(data.len() + key.len()) && !send(batcher.take()) {
                            return Ok(());
                        }
                        if let Some(r) = rejection {
                            batcher.reject(rejected(r.kind(), r.to_string(), data.clone(), true));
                        }
                        batcher.push(OutgoingRecord {
                            partition_key: key,
                            data: Bytes::from(data),
                        });
                    }
                    RowData::Fault { fault, raw } => {
                        let mut r = rejected(fault.kind(), fault.to_string(), raw, false);
                        r.headers = rows.headers();
                        batcher.reject(r);
                    }
                }
                batcher.advance(row.next);
                if batcher.is_full() && !send(batcher.take()) {
                    return Ok(());
                }
            }
            done_bytes += input.size;
            counter.store(done_bytes, Ordering::Relaxed);
            batcher.move_to(Cursor::start(index + 1));
            if !send(batcher.take()) {
                return Ok(());
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        let _ = tx.blocking_send(Err(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Publisher;
    use futures::future::BoxFuture;
    use std::sync::Mutex;

    /// A broker stand-in: records what it accepts; refuses every call after `accept_calls`.
    struct Recorder {
        accepted: Mutex<Vec<Bytes>>,
        calls: AtomicU64,
        accept_calls: u64,
    }

    impl Recorder {
        fn new(accept_calls: u64) -> Arc<Recorder> {
            Arc::new(Recorder {
                accepted: Mutex::new(Vec::new()),
                calls: AtomicU64::new(0),
                accept_calls,
            })
        }
    }

    impl Publisher for Recorder {
        fn publish(&self, records: Vec<OutgoingRecord>) -> BoxFuture<'_, Result<(), PublishError>> {
            Box::pin(async move {
                if self.calls.fetch_add(1, Ordering::Relaxed) >= self.accept_calls {
                    return Err(PublishError::Closed(records.len()));
                }
                let mut accepted = self.accepted.lock().unwrap();
                accepted.extend(records.into_iter().map(|r| r.data));
                Ok(())
            })
        }

        fn describe(&self) -> String {
            "recorder".into()
        }
    }

    fn plan(dir: &std::path::Path, resume: bool) -> ReplayPlan {
        let def = Arc::new(firelake_core::SourceDef::resolve("order_lines", None).unwrap());
        ReplayPlan {
            cleaner: Arc::new(Cleaner::new(def)),
            inputs: resolve_inputs(&[dir.join("*.csv").display().to_string()], None).unwrap(),
            target: "recorder".into(),
            rate: None,
            limits: BatchLimits {
                max_records: 100,
                ..BatchLimits::default()
            },
            progress_file: dir.join("progress.json"),
            rejects_file: dir.join("rejected.jsonl"),
            resume,
        }
    }

    #[tokio::test]
    async fn a_failed_publish_leaves_progress_at_the_last_confirmed_batch_and_resume_completes() {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("order_id,product_id\n");
        for i in 1..=1500 {
            csv += &format!(
                "{i},{}\n",
                if i % 500 == 0 {
                    "x".into()
                } else {
                    i.to_string()
                }
            );
        }
        std::fs::write(dir.path().join("a.csv"), &csv).unwrap();
        std::fs::write(dir.path().join("b.csv"), "order_id,product_id\n9001,1\n").unwrap();

        // The broker takes 4 batches of 100, then fails on the one holding rejected line 501.
        let broken = Recorder::new(4);
        let mut target = PublisherTarget::new(broken.clone());
        let e = replay(plan(dir.path(), false), &mut target, Arc::default()).await;
        assert!(matches!(e, Err(ReplayError::Publish(_))), "{e:?}");
        let saved = ProgressFile::new(&dir.path().join("progress.json"))
            .load()
            .unwrap()
            .unwrap();
        assert_eq!(
            (saved.next.file, saved.next.row, saved.next.line),
            (0, 400, 402)
        );
        assert_eq!(
            (saved.published, saved.rejected, saved.complete),
            (400, 0, false)
        );
        assert_eq!(broken.accepted.lock().unwrap().len(), 400);

        let good = Recorder::new(u64::MAX);
        let mut target = PublisherTarget::new(good.clone());
        let report = replay(plan(dir.path(), true), &mut target, Arc::default())
            .await
            .unwrap();
        assert_eq!(report.resumed_at.map(|c| c.row), Some(400));
        assert_eq!((report.records, report.rejected), (1101, 3));
        assert_eq!((report.total_published, report.total_rejected), (1501, 3));
        // Confirmed on publish: nothing was sent twice, nothing is missing.
        let mut all: Vec<Bytes> = broken.accepted.lock().unwrap().clone();
        all.extend(good.accepted.lock().unwrap().iter().cloned());
        let ids: std::collections::BTreeSet<String> = all
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_slice(r).unwrap();
                v["order_id"].to_string()
            })
            .collect();
        assert_eq!((all.len(), ids.len()), (1501, 1501));
        // The rejects file lists each rejected line once across both runs (line 501, written
        // before the failed publish, was cut away on resume and written again).
        let rejects = std::fs::read_to_string(dir.path().join("rejected.jsonl")).unwrap();
        let lines: Vec<u64> = rejects
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["line"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(lines, vec![501, 1001, 1501]);

        let again = replay(plan(dir.path(), true), &mut target, Arc::default())
            .await
            .unwrap();
        assert!(again.already_complete);
        assert_eq!(good.accepted.lock().unwrap().len(), 1101);
    }
}
