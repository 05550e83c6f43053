//! The consumer loop over a Kinesis stream: shards listed and re-listed (new shards are found
//! while running), one reader per open shard, a child shard read only once its parents are
//! drained (checkpointed at SHARD_END), GetRecords within the per-shard limits with backoff
//! on throttling, and per-shard checkpoints stored after the durable write.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::{Shard, ShardIteratorType};
use firelake_core::Cleaner;
use firelake_core::stream::now_ms;
use tokio::task::JoinSet;

use crate::buffer::{Pushed, ShardBuffer};
use crate::checkpoint::{CheckpointError, LakeCheckpoints, SHARD_END};
use crate::embedded::{ConsumeError, ConsumerOptions};
use crate::metrics::ConsumerMetrics;
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
}

#[derive(Debug, thiserror::Error)]
pub enum KinesisError {
    #[error("Kinesis {call}: {message}")]
    Call { call: &'static str, message: String },
}

fn call_err<E: std::error::Error>(call: &'static str, e: E) -> ConsumeError {
    ConsumeError::Kinesis(KinesisError::Call {
        call,
        message: DisplayErrorContext(e).to_string(),
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
    /// When any reader last read a record (ms).
    last_record_ms: AtomicI64,
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
    after: Option<&str>,
) -> Result<Option<String>, ConsumeError> {
    let mut req = s
        .client
        .get_shard_iterator()
        .stream_name(&s.stream)
        .shard_id(shard);
    req = match (after, s.opts.start) {
        (Some(seq), _) => req
            .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
            .starting_sequence_number(seq),
        (None, StartPosition::TrimHorizon) => {
            req.shard_iterator_type(ShardIteratorType::TrimHorizon)
        }
        (None, StartPosition::Latest) => req.shard_iterator_type(ShardIteratorType::Latest),
        (None, StartPosition::AtTimestamp(ms)) => req
            .shard_iterator_type(ShardIteratorType::AtTimestamp)
            .timestamp(DateTime::from_millis(ms)),
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
    shard: &str,
    buffer: &mut ShardBuffer,
    counts: &mut (u64, u64, u64),
    behind: i64,
) -> Result<bool, ConsumeError> {
    let Some(last) = buffer.last_position().map(str::to_string) else {
        return Ok(true);
    };
    let t0 = Instant::now();
    s.writer.write(buffer.take()).await?;
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
    shard: String,
    after: Option<String>,
    tx: tokio::sync::mpsc::Sender<Fetched>,
) -> Result<(), ConsumeError> {
    let mut last_seq = after.clone();
    let mut it = iterator(&s, &shard, after.as_deref()).await?;
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
                    tokio::time::sleep(throttle_backoff).await;
                    throttle_backoff = (throttle_backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
                if svc.is_some_and(|x| x.is_expired_iterator_exception()) {
                    it = iterator(&s, &shard, last_seq.as_deref()).await?;
                    continue;
                }
                return Err(call_err("GetRecords", e));
            }
        };
        let behind = out.millis_behind_latest().unwrap_or(0);
        it = out.next_shard_iterator;
        let n = out.records.len();
        if let Some(r) = out.records.last() {
            last_seq = Some(r.sequence_number().to_string());
            s.last_record_ms.store(now_ms(), Ordering::Release);
        }
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
    shard: String,
    after: Option<String>,
) -> Result<ShardEnd, ConsumeError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let fetcher = tokio::spawn(fetch_shard(s.clone(), shard.clone(), after, tx));
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
                if buffer.should_flush(&s.opts.common.limits)
                    && !flush(&s, &shard, &mut buffer, &mut counts, behind).await?
                {
                    break ShardEnd::TakenOver;
                }
            }
            Some(Some(Fetched::ShardEnd)) => {
                // Make the closed shard durable, then mark it drained so its children may start.
                if !flush(&s, &shard, &mut buffer, &mut counts, behind).await? {
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
                break if flush(&s, &shard, &mut buffer, &mut counts, behind).await? {
                    ShardEnd::Stopped
                } else {
                    ShardEnd::TakenOver
                };
            }
        }
        // Age-based flushes also happen between batches.
        if buffer.should_flush(&s.opts.common.limits)
            && !flush(&s, &shard, &mut buffer, &mut counts, behind).await?
        {
            break ShardEnd::TakenOver;
        }
    };
    drop(rx);
    fetcher.await.expect("the fetcher does not panic")?;
    Ok(end)
}

/// Consume `opts.stream` into the lake until idle for `exit_when_idle` (or forever).
pub async fn consume_kinesis(
    client: Client,
    cleaner: Arc<Cleaner>,
    writer: Arc<LakeWriter>,
    opts: KinesisOptions,
) -> Result<(), ConsumeError> {
    let origin = format!("kinesis.{}", opts.stream);
    let s = Arc::new(Shared {
        checkpoints: LakeCheckpoints::new(
            writer.lake().clone(),
            &opts.common.consumer_name,
            &origin,
        ),
        client,
        stream: opts.stream.clone(),
        origin,
        cleaner,
        writer,
        stop: AtomicBool::new(false),
        last_record_ms: AtomicI64::new(now_ms()),
        opts,
    });
    let mut readers: JoinSet<(String, Result<ShardEnd, ConsumeError>)> = JoinSet::new();
    let mut running: HashSet<String> = HashSet::new();
    let mut drained: HashSet<String> = HashSet::new();
    let mut given_up: HashSet<String> = HashSet::new();
    let mut last_scan: Option<Instant> = None;
    loop {
        let stopping = s.stop.load(Ordering::Acquire);
        if !stopping && last_scan.is_none_or(|t| t.elapsed() >= s.opts.shard_scan_interval) {
            last_scan = Some(Instant::now());
            let shards = list_shards(&s.client, &s.stream).await?;
            let listed: HashMap<&str, &Shard> = shards.iter().map(|x| (x.shard_id(), x)).collect();
            for shard in &shards {
                let id = shard.shard_id();
                if running.contains(id) || drained.contains(id) || given_up.contains(id) {
                    continue;
                }
                let position = s.checkpoints.load(id).await?;
                if position.as_deref() == Some(SHARD_END) {
                    drained.insert(id.to_string());
                    continue;
                }
                // Parents first: a child is read only once every listed parent is drained
                // (a parent gone from the listing has expired and holds nothing more).
                let parents = [shard.parent_shard_id(), shard.adjacent_parent_shard_id()];
                let waiting = parents
                    .into_iter()
                    .flatten()
                    .any(|p| listed.contains_key(p) && !drained.contains(p));
                if waiting {
                    continue;
                }
                tracing::info!(shard = id, from = ?position, "reading shard");
                running.insert(id.to_string());
                let (s2, id2) = (s.clone(), id.to_string());
                readers.spawn(async move {
                    let r = read_shard(s2, id2.clone(), position).await;
                    (id2, r)
                });
            }
        }
        // Reap finished readers (a drained parent lets its children start at the next scan).
        let mut reaped = false;
        while let Some(done) = readers.try_join_next() {
            reaped = true;
            let (id, result) = done.expect("shard readers do not panic");
            running.remove(&id);
            match result? {
                ShardEnd::Closed => {
                    tracing::info!(shard = id, "shard drained");
                    drained.insert(id);
                    last_scan = None;
                }
                ShardEnd::Stopped => {}
                ShardEnd::TakenOver => {
                    tracing::warn!(shard = id, "another consumer owns this shard now");
                    given_up.insert(id);
                }
            }
        }
        if stopping && running.is_empty() {
            return Ok(());
        }
        if let Some(idle) = s.opts.common.exit_when_idle {
            let quiet_ms = now_ms() - s.last_record_ms.load(Ordering::Acquire);
            if !stopping && quiet_ms >= idle.as_millis() as i64 {
                tracing::info!(
                    idle_ms = quiet_ms,
                    "no records for a while: flushing and stopping"
                );
                ConsumerMetrics::add(&s.writer.metrics().idle_wait_ms, quiet_ms.max(0) as u64);
                s.stop.store(true, Ordering::Release);
            }
        }
        if !reaped {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
