//! The consumer loop over a Kinesis stream: shards listed and re-listed (new shards are found
//! while running), one reader per open shard, a child shard read only once its parents are
//! drained (checkpointed at SHARD_END), GetRecords within the per-shard limits with backoff
//! on throttling, and per-shard checkpoints stored after the durable write.
//!
//! Where a shard without a checkpoint starts (as the KCL does): a shard whose parent (or
//! adjacent parent) has a checkpoint, or was drained, is read from its first record
//! (TRIM_HORIZON); `--start` applies only to shards with no checkpointed ancestry. With
//! `--start latest`, a shard already closed when first seen, with no checkpointed ancestry,
//! holds nothing after "latest" and is not read; its children are then judged the same way.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::{Shard, ShardIteratorType};
use firelake_core::Cleaner;
use firelake_core::stream::now_ms;
use tokio::task::JoinSet;

use crate::buffer::{Pushed, ShardBuffer};
use crate::checkpoint::{CheckpointError, Incarnation, LakeCheckpoints, SHARD_END};
use crate::consumer::{ConsumeError, ConsumerOptions};
// Defined in `consumer` beside the error that wraps it; named here too, where it was first.
pub use crate::consumer::KinesisError;
use crate::metrics::ConsumerMetrics;
use crate::quiet::{Quiet, ShardQuiet};
use crate::writer::LakeWriter;

/// Kinesis allows 5 GetRecords calls per second per shard.
const MIN_CALL_INTERVAL: Duration = Duration::from_millis(200);
/// How long an empty shard waits before asking again.
const IDLE_POLL: Duration = Duration::from_millis(1000);

/// Where a shard without a checkpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    TrimHorizon,
    Latest,
    /// Records that arrived at or after this instant (epoch ms).
    AtTimestamp(i64),
}

impl std::str::FromStr for StartPosition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "trim_horizon" | "trim-horizon" => Ok(StartPosition::TrimHorizon),
            "latest" => Ok(StartPosition::Latest),
            other => other
                .strip_prefix("at_timestamp:")
                .and_then(|t| t.parse().ok())
                .map(StartPosition::AtTimestamp)
                .ok_or_else(|| format!("{s:?}: use trim_horizon, latest or at_timestamp:EPOCH_MS")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct KinesisOptions {
    pub stream: String,
    pub start: StartPosition,
    pub common: ConsumerOptions,
    /// How often the shard list is read again (resharding, new shards).
    pub shard_scan_interval: Duration,
    /// Print CloudWatch embedded-metric-format lines on stdout after each flush.
    pub emf: bool,
    /// Set checkpoints of another incarnation of the stream aside (read those shards from
    /// `start`) instead of refusing to run.
    pub ignore_stale_checkpoints: bool,
}

/// Where a shard's reading begins.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ReadFrom {
    /// Its own checkpoint: the record after this sequence number.
    After(String),
    /// No checkpoint of its own.
    At(StartPosition),
}

/// What the scan does with a listed shard that no reader holds.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ShardPlan {
    /// Checkpointed at SHARD_END: nothing left to read.
    Drained,
    /// A parent is still to be drained.
    Wait,
    /// Closed before `--start latest` with no checkpointed ancestry: nothing to read.
    Skip,
    Read(ReadFrom),
}

/// A parent of a shard, as the scan sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParentState {
    /// Listed and not drained yet.
    Pending,
    /// Drained, or gone from the listing with a checkpoint.
    Checkpointed,
    /// Skipped under `--start latest`.
    Skipped,
    /// Gone from the listing (expired) without a checkpoint.
    Unknown,
}

/// Decide where a shard starts (pure): its own checkpoint, else TRIM_HORIZON when an
/// ancestor was checkpointed (nothing before it was skipped on purpose), else `start`.
fn plan_shard(
    own: Option<&str>,
    closed: bool,
    parents: &[ParentState],
    start: StartPosition,
) -> ShardPlan {
    if own == Some(SHARD_END) {
        return ShardPlan::Drained;
    }
    if parents.contains(&ParentState::Pending) {
        return ShardPlan::Wait;
    }
    if let Some(seq) = own {
        return ShardPlan::Read(ReadFrom::After(seq.to_string()));
    }
    if parents.contains(&ParentState::Checkpointed) {
        return ShardPlan::Read(ReadFrom::At(StartPosition::TrimHorizon));
    }
    if closed && start == StartPosition::Latest {
        return ShardPlan::Skip;
    }
    ShardPlan::Read(ReadFrom::At(start))
}

fn call_err<E: std::error::Error + 'static>(call: &'static str, e: E) -> ConsumeError {
    ConsumeError::Kinesis(KinesisError::Call {
        call,
        message: firelake_aws::errors::error_line(&e),
    })
}

/// How a shard reader ended.
enum ShardEnd {
    /// The shard is closed and everything in it is durable.
    Closed,
    /// Asked to stop (idle); its buffer was flushed.
    Stopped,
    /// Another consumer advanced its checkpoint; this one lets it go.
    TakenOver,
}

struct Shared {
    client: Client,
    stream: String,
    origin: String,
    cleaner: Arc<Cleaner>,
    writer: Arc<LakeWriter>,
    checkpoints: LakeCheckpoints,
    opts: KinesisOptions,
    stop: AtomicBool,
    /// What `exit_when_idle` measures: time waiting on the stream, not on the lake.
    quiet: Quiet,
}

async fn list_shards(client: &Client, stream: &str) -> Result<Vec<Shard>, ConsumeError> {
    let mut shards = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let req = match &token {
            Some(t) => client.list_shards().next_token(t),
            None => client.list_shards().stream_name(stream),
        };
        let out = req.send().await.map_err(|e| call_err("ListShards", e))?;
        shards.extend(out.shards().iter().cloned());
        match out.next_token {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(shards),
        }
    }
}

async fn iterator(
    s: &Shared,
    shard: &str,
    from: &ReadFrom,
) -> Result<Option<String>, ConsumeError> {
    let mut req = s
        .client
        .get_shard_iterator()
        .stream_name(&s.stream)
        .shard_id(shard);
    req = match from {
        ReadFrom::After(seq) => req
            .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
            .starting_sequence_number(seq),
        ReadFrom::At(StartPosition::TrimHorizon) => {
            req.shard_iterator_type(ShardIteratorType::TrimHorizon)
        }
        ReadFrom::At(StartPosition::Latest) => req.shard_iterator_type(ShardIteratorType::Latest),
        ReadFrom::At(StartPosition::AtTimestamp(ms)) => req
            .shard_iterator_type(ShardIteratorType::AtTimestamp)
            .timestamp(DateTime::from_millis(*ms)),
    };
    let out = req
        .send()
        .await
        .map_err(|e| call_err("GetShardIterator", e))?;
    Ok(out.shard_iterator)
}

fn emit_emf(
    s: &Shared,
    shard: &str,
    records: u64,
    bytes: u64,
    rejected: u64,
    behind: i64,
    flush_ms: u64,
) {
    if !s.opts.emf {
        return;
    }
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": now_ms(),
            "CloudWatchMetrics": [{
                "Namespace": "firelake",
                "Dimensions": [["Stream", "Shard"]],
                "Metrics": [
                    {"Name": "Records", "Unit": "Count"},
                    {"Name": "Bytes", "Unit": "Bytes"},
                    {"Name": "Rejected", "Unit": "Count"},
                    {"Name": "MillisBehindLatest", "Unit": "Milliseconds"},
                    {"Name": "FlushLatency", "Unit": "Milliseconds"},
                ],
            }],
        },
        "Stream": s.stream, "Shard": shard,
        "Records": records, "Bytes": bytes, "Rejected": rejected,
        "MillisBehindLatest": behind, "FlushLatency": flush_ms,
    });
    println!("{line}");
}

/// Flush the shard's buffer and checkpoint its last record. `Ok(false)`: taken over.
async fn flush(
    s: &Shared,
    (shard, quiet): (&str, &ShardQuiet),
    buffer: &mut ShardBuffer,
    counts: &mut (u64, u64, u64),
    behind: i64,
) -> Result<bool, ConsumeError> {
    if buffer.last_position().is_none() {
        return Ok(true);
    }
    // A flush (retried for as long as the lake needs) is work, never idleness.
    quiet.busy();
    let r = write_and_checkpoint(s, shard, buffer, counts, behind).await;
    quiet.done();
    r
}

async fn write_and_checkpoint(
    s: &Shared,
    shard: &str,
    buffer: &mut ShardBuffer,
    counts: &mut (u64, u64, u64),
    behind: i64,
) -> Result<bool, ConsumeError> {
    let Some(last) = buffer.last_position().map(str::to_string) else {
        return Ok(true);
    };
    let t0 = Instant::now();
    let flushes = buffer.take();
    let mut nulled = firelake_core::nulled::NullCounts::default();
    for f in &flushes {
        nulled.merge(&f.nulled_counts);
    }
    s.writer.write(flushes).await?;
    match s.checkpoints.store(shard, &last).await {
        Ok(()) => {}
        Err(CheckpointError::Conflict { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    emit_emf(
        s,
        shard,
        counts.0,
        counts.1,
        counts.2,
        behind,
        t0.elapsed().as_millis() as u64,
    );
    if s.opts.emf {
        let def = s.writer.definition();
        for line in firelake_core::emf::nulled_lines(def, &nulled, now_ms()) {
            println!("{line}");
        }
    }
    *counts = (0, 0, 0);
    Ok(true)
}

/// What the fetching half of a shard reader hands to the processing half.
enum Fetched {
    Records(Vec<aws_sdk_kinesis::types::Record>, i64),
    /// The shard is closed and every record of it was handed over.
    ShardEnd,
}

/// Fetch a shard's records (GetRecords within the per-shard call rate, backoff on
/// throttling) and hand them on; stops when asked, when the shard ends or when the processing
/// half has gone.
async fn fetch_shard(
    s: Arc<Shared>,
    (shard, quiet): (String, Arc<ShardQuiet>),
    from: ReadFrom,
    tx: tokio::sync::mpsc::Sender<Fetched>,
) -> Result<(), ConsumeError> {
    let mut it = iterator(&s, &shard, &from).await?;
    tracing::info!(shard, ?from, "shard iterator opened");
    let mut from = from;
    let mut throttle_backoff = Duration::from_millis(200);
    let limit = s.opts.common.read_batch.clamp(1, 10_000) as i32;
    while !s.stop.load(Ordering::Acquire) {
        let Some(current) = it.clone() else {
            let _ = tx.send(Fetched::ShardEnd).await;
            return Ok(());
        };
        let started = Instant::now();
        let out = match s
            .client
            .get_records()
            .shard_iterator(&current)
            .limit(limit)
            .send()
            .await
        {
            Ok(out) => {
                throttle_backoff = Duration::from_millis(200);
                out
            }
            Err(e) => {
                let svc = e.as_service_error();
                if svc.is_some_and(|x| {
                    x.is_provisioned_throughput_exceeded_exception()
                        || x.is_kms_throttling_exception()
                }) {
                    tracing::warn!(shard, "GetRecords throttled; backing off");
                    quiet.polled(false);
                    tokio::time::sleep(throttle_backoff).await;
                    throttle_backoff = (throttle_backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
                if svc.is_some_and(|x| x.is_expired_iterator_exception()) {
                    it = iterator(&s, &shard, &from).await?;
                    continue;
                }
                return Err(call_err("GetRecords", e));
            }
        };
        let behind = out.millis_behind_latest().unwrap_or(0);
        it = out.next_shard_iterator;
        let n = out.records.len();
        if let Some(r) = out.records.last() {
            from = ReadFrom::After(r.sequence_number().to_string());
            // In hand until the processing half has cleaned (and flushed) the batch.
            quiet.busy();
        }
        quiet.polled(n == 0 && behind == 0);
        if n > 0
            && tx
                .send(Fetched::Records(out.records, behind))
                .await
                .is_err()
        {
            return Ok(()); // the processing half has stopped (taken over)
        }
        let pause = if n == 0 { IDLE_POLL } else { MIN_CALL_INTERVAL };
        if let Some(rest) = pause.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    Ok(())
}

/// Read one shard: a fetching task and this processing half (clean, buffer, flush,
/// checkpoint) run side by side, so the next GetRecords is under way while a batch is cleaned.
async fn read_shard(
    s: Arc<Shared>,
    (shard, quiet): (String, Arc<ShardQuiet>),
    from: ReadFrom,
) -> Result<ShardEnd, ConsumeError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let fetcher = tokio::spawn(fetch_shard(
        s.clone(),
        (shard.clone(), quiet.clone()),
        from,
        tx,
    ));
    let me = (shard.as_str(), quiet.as_ref());
    let metrics = s.writer.metrics().clone();
    let mut buffer = ShardBuffer::new(s.cleaner.clone(), &s.origin, &shard);
    let mut counts = (0u64, 0u64, 0u64);
    let mut behind = 0i64;
    let end = loop {
        // Wake at least every IDLE_POLL, so an age-based flush happens on a quiet shard too.
        let next = tokio::time::timeout(IDLE_POLL, rx.recv()).await.ok();
        match next {
            None => {}
            Some(Some(Fetched::Records(records, b))) => {
                behind = b;
                let (mut rows, mut rejected, mut bytes) = (0u64, 0u64, 0u64);
                for r in &records {
                    let arrival = r
                        .approximate_arrival_timestamp()
                        .and_then(|t| t.to_millis().ok())
                        .unwrap_or_else(now_ms);
                    let data = r.data().as_ref();
                    bytes += data.len() as u64;
                    match buffer.push(r.sequence_number(), arrival, data) {
                        Pushed::Row => rows += 1,
                        Pushed::Rejected => rejected += 1,
                    }
                }
                let n = records.len() as u64;
                ConsumerMetrics::add(&metrics.records_in, n);
                ConsumerMetrics::add(&metrics.rows_out, rows);
                ConsumerMetrics::add(&metrics.rejected, rejected);
                counts.0 += n;
                counts.1 += bytes;
                counts.2 += rejected;
                let taken_over = buffer.should_flush(&s.opts.common.limits)
                    && !flush(&s, me, &mut buffer, &mut counts, behind).await?;
                quiet.done(); // the batch the fetcher marked is handled
                if taken_over {
                    break ShardEnd::TakenOver;
                }
            }
            Some(Some(Fetched::ShardEnd)) => {
                // Make the closed shard durable, then mark it drained so its children may start.
                if !flush(&s, me, &mut buffer, &mut counts, behind).await? {
                    break ShardEnd::TakenOver;
                }
                break match s.checkpoints.store(&shard, SHARD_END).await {
                    Ok(()) => ShardEnd::Closed,
                    Err(CheckpointError::Conflict { .. }) => ShardEnd::TakenOver,
                    Err(e) => return Err(e.into()),
                };
            }
            // The fetcher stopped (asked to, or failed): keep what was read durable.
            Some(None) => {
                break if flush(&s, me, &mut buffer, &mut counts, behind).await? {
                    ShardEnd::Stopped
                } else {
                    ShardEnd::TakenOver
                };
            }
        }
        // Age-based flushes also happen between batches.
        if buffer.should_flush(&s.opts.common.limits)
            && !flush(&s, me, &mut buffer, &mut counts, behind).await?
        {
            break ShardEnd::TakenOver;
        }
    };
    drop(rx);
    fetcher.await.expect("the fetcher does not panic")?;
    Ok(end)
}

/// Readers of shards, each answering with its shard id and how it ended.
type Readers = JoinSet<(String, Result<ShardEnd, ConsumeError>)>;

/// What the scans know of the shards they have seen.
#[derive(Default)]
struct Seen {
    running: HashSet<String>,
    drained: HashSet<String>,
    skipped: HashSet<String>,
    given_up: HashSet<String>,
}

async fn parent_state(
    s: &Shared,
    seen: &Seen,
    listed: &HashMap<&str, &Shard>,
    parent: &str,
) -> Result<ParentState, ConsumeError> {
    Ok(if seen.drained.contains(parent) {
        ParentState::Checkpointed
    } else if seen.skipped.contains(parent) {
        ParentState::Skipped
    } else if listed.contains_key(parent) {
        ParentState::Pending
    } else if s.checkpoints.load(parent).await?.is_some() {
        // Expired from the listing: its checkpoint still says it was read.
        ParentState::Checkpointed
    } else {
        ParentState::Unknown
    })
}

/// List the shards and start a reader for each one that is due (parents first).
async fn scan(s: &Arc<Shared>, seen: &mut Seen, readers: &mut Readers) -> Result<(), ConsumeError> {
    let shards = list_shards(&s.client, &s.stream).await?;
    let listed: HashMap<&str, &Shard> = shards.iter().map(|x| (x.shard_id(), x)).collect();
    for shard in &shards {
        let id = shard.shard_id();
        if [&seen.running, &seen.drained, &seen.skipped, &seen.given_up]
            .iter()
            .any(|set| set.contains(id))
        {
            continue;
        }
        let own = s.checkpoints.load(id).await?;
        let mut parents = Vec::new();
        for p in [shard.parent_shard_id(), shard.adjacent_parent_shard_id()]
            .into_iter()
            .flatten()
        {
            parents.push(parent_state(s, seen, &listed, p).await?);
        }
        let closed = shard
            .sequence_number_range()
            .and_then(|r| r.ending_sequence_number())
            .is_some();
        match plan_shard(own.as_deref(), closed, &parents, s.opts.start) {
            ShardPlan::Drained => {
                seen.drained.insert(id.to_string());
            }
            ShardPlan::Wait => {}
            ShardPlan::Skip => {
                tracing::info!(
                    shard = id,
                    "closed before --start latest, no checkpointed ancestry: not read"
                );
                seen.skipped.insert(id.to_string());
            }
            ShardPlan::Read(from) => {
                tracing::info!(shard = id, ?from, "reading shard");
                seen.running.insert(id.to_string());
                let (s2, id2) = (s.clone(), id.to_string());
                let quiet = s.quiet.register(id);
                readers.spawn(async move {
                    let r = read_shard(s2, (id2.clone(), quiet), from).await;
                    (id2, r)
                });
            }
        }
    }
    Ok(())
}

/// The stream's ARN and creation time, which its checkpoints are bound to.
pub async fn stream_incarnation(
    client: &Client,
    stream: &str,
) -> Result<Incarnation, ConsumeError> {
    let out = client
        .describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .map_err(|e| call_err("DescribeStreamSummary", e))?;
    let d = out.stream_description_summary().ok_or_else(|| {
        call_err(
            "DescribeStreamSummary",
            std::io::Error::other("no stream description in the answer"),
        )
    })?;
    Ok(Incarnation {
        arn: d.stream_arn().to_string(),
        created_ms: d.stream_creation_timestamp().to_millis().unwrap_or(0),
    })
}

/// Consume `opts.stream` into the lake until idle for `exit_when_idle` (or forever).
pub async fn consume_kinesis(
    client: Client,
    cleaner: Arc<Cleaner>,
    writer: Arc<LakeWriter>,
    opts: KinesisOptions,
) -> Result<(), ConsumeError> {
    let origin = format!("kinesis.{}", opts.stream);
    // An endpoint that accepts connections but never answers would hang the first call.
    let timeout = opts.common.connect_timeout;
    let incarnation = tokio::time::timeout(timeout, stream_incarnation(&client, &opts.stream))
        .await
        .map_err(|_| {
            ConsumeError::Kinesis(KinesisError::Unreachable {
                stream: opts.stream.clone(),
                timeout,
            })
        })??;
    let checkpoints =
        LakeCheckpoints::new(writer.lake().clone(), &opts.common.consumer_name, &origin)
            .for_incarnation(incarnation);
    let set_aside = checkpoints
        .check_incarnation(opts.ignore_stale_checkpoints)
        .await?;
    if set_aside > 0 {
        tracing::warn!(
            set_aside,
            "checkpoints of another stream incarnation set aside"
        );
    }
    let s = Arc::new(Shared {
        checkpoints,
        client,
        stream: opts.stream.clone(),
        origin,
        cleaner,
        writer,
        stop: AtomicBool::new(false),
        quiet: Quiet::default(),
        opts,
    });
    let mut readers: Readers = JoinSet::new();
    let mut seen = Seen::default();
    let mut last_scan: Option<Instant> = None;
    loop {
        let stopping = s.stop.load(Ordering::Acquire);
        if !stopping && last_scan.is_none_or(|t| t.elapsed() >= s.opts.shard_scan_interval) {
            last_scan = Some(Instant::now());
            scan(&s, &mut seen, &mut readers).await?;
        }
        // Reap finished readers (a drained parent lets its children start at the next scan).
        let mut reaped = false;
        while let Some(done) = readers.try_join_next() {
            reaped = true;
            let (id, result) = done.expect("shard readers do not panic");
            seen.running.remove(&id);
            s.quiet.unregister(&id);
            match result? {
                ShardEnd::Closed => {
                    tracing::info!(shard = id, "shard drained");
                    seen.drained.insert(id);
                    last_scan = None;
                }
                ShardEnd::Stopped => {}
                ShardEnd::TakenOver => {
                    tracing::warn!(shard = id, "another consumer owns this shard now");
                    seen.given_up.insert(id);
                }
            }
        }
        if stopping && seen.running.is_empty() {
            return Ok(());
        }
        if !stopping && s.opts.common.stop.load(Ordering::Acquire) {
            tracing::info!("asked to stop: flushing, checkpointing and stopping");
            s.stop.store(true, Ordering::Release);
        }
        // Idle: every shard's reads came back empty at the tip, with nothing read still being
        // cleaned or written, for `idle` (a stalled lake write is not idleness).
        if let Some(idle) = s.opts.common.exit_when_idle
            && !stopping
            && let Some(quiet_ms) = s.quiet.quiet_ms()
            && quiet_ms >= idle.as_millis() as i64
        {
            tracing::info!(
                idle_ms = quiet_ms,
                "every shard read to its tip, nothing in hand: flushing and stopping"
            );
            ConsumerMetrics::add(&s.writer.metrics().idle_wait_ms, quiet_ms as u64);
            s.stop.store(true, Ordering::Release);
        }
        if !reaped {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParentState::*;
    use StartPosition::*;

    fn at(p: StartPosition) -> ShardPlan {
        ShardPlan::Read(ReadFrom::At(p))
    }

    #[test]
    fn start_applies_only_to_shards_without_checkpointed_ancestry() {
        // No parents, no checkpoint: --start.
        assert_eq!(plan_shard(None, false, &[], Latest), at(Latest));
        assert_eq!(
            plan_shard(None, false, &[], AtTimestamp(5)),
            at(AtTimestamp(5))
        );
        // A child of a drained or checkpointed parent starts at its first record.
        for start in [Latest, TrimHorizon, AtTimestamp(5)] {
            assert_eq!(
                plan_shard(None, false, &[Checkpointed], start),
                at(TrimHorizon)
            );
            assert_eq!(
                plan_shard(None, false, &[Unknown, Checkpointed], start),
                at(TrimHorizon)
            );
        }
        // A parent still being read holds its children back; an own checkpoint wins after.
        assert_eq!(
            plan_shard(None, false, &[Checkpointed, Pending], Latest),
            ShardPlan::Wait
        );
        assert_eq!(
            plan_shard(Some("7"), false, &[Pending], Latest),
            ShardPlan::Wait
        );
        assert_eq!(
            plan_shard(Some("7"), false, &[Checkpointed], Latest),
            ShardPlan::Read(ReadFrom::After("7".into()))
        );
        assert_eq!(
            plan_shard(Some(SHARD_END), true, &[Pending], Latest),
            ShardPlan::Drained
        );
    }

    #[test]
    fn latest_skips_shards_closed_before_it_without_checkpointed_ancestry() {
        assert_eq!(plan_shard(None, true, &[], Latest), ShardPlan::Skip);
        assert_eq!(plan_shard(None, true, &[Unknown], Latest), ShardPlan::Skip);
        // ... and judges their children the same way.
        assert_eq!(plan_shard(None, false, &[Skipped], Latest), at(Latest));
        assert_eq!(
            plan_shard(None, false, &[Skipped, Checkpointed], Latest),
            at(TrimHorizon)
        );
        // Other starts read closed shards (records at or after a timestamp may be in them).
        assert_eq!(
            plan_shard(None, true, &[], AtTimestamp(5)),
            at(AtTimestamp(5))
        );
        assert_eq!(plan_shard(None, true, &[], TrimHorizon), at(TrimHorizon));
    }
}
