//! The consumer loop over the embedded stream: read each shard from its checkpoint, clean into
//! per-shard buffers, flush on the limits, checkpoint after the durable write, release what is
//! durable from the stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use firelake_core::Cleaner;
use firelake_core::stream::EmbeddedStream;

use crate::buffer::{FlushLimits, Pushed, ShardBuffer};
use crate::checkpoint::LakeCheckpoints;
use crate::metrics::ConsumerMetrics;
use crate::writer::{LakeWriter, WriteError};

#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub limits: FlushLimits,
    /// Records read from a shard per call.
    pub read_batch: usize,
    /// Stop after this long without new records (the stream stays open).
    pub exit_when_idle: Option<Duration>,
    /// Names this consumer's checkpoints.
    pub consumer_name: String,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            limits: FlushLimits::default(),
            read_batch: 10_000,
            exit_when_idle: None,
            consumer_name: "firelake".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("writing to the lake failed: {0}")]
    Write(#[from] WriteError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    #[error("reading checkpoints: {0}")]
    Lake(#[from] firelake_core::LakeError),
    #[error(transparent)]
    #[cfg(feature = "kinesis")]
    Kinesis(#[from] crate::kinesis::KinesisError),
}

struct ShardState {
    index: usize,
    id: String,
    buffer: ShardBuffer,
    position: Option<u64>,
}

async fn flush(
    shard: &mut ShardState,
    stream: &EmbeddedStream,
    writer: &LakeWriter,
    checkpoints: &LakeCheckpoints,
) -> Result<(), ConsumeError> {
    let Some(last) = shard.buffer.last_position().map(str::to_string) else {
        return Ok(());
    };
    writer.write(shard.buffer.take()).await?;
    checkpoints.store(&shard.id, &last).await?;
    if let Ok(seq) = last.parse::<u64>() {
        stream.trim(shard.index, seq);
    }
    Ok(())
}

/// Consume until the stream is closed and drained (or idle for `exit_when_idle`).
pub async fn consume_embedded(
    stream: Arc<EmbeddedStream>,
    cleaner: Arc<Cleaner>,
    writer: Arc<LakeWriter>,
    opts: ConsumerOptions,
) -> Result<(), ConsumeError> {
    let origin = format!("embedded.{}", stream.name());
    let checkpoints = LakeCheckpoints::new(writer.lake().clone(), &opts.consumer_name, &origin);
    let metrics = writer.metrics().clone();
    let mut shards = Vec::new();
    for index in 0..stream.shard_count() {
        let id = EmbeddedStream::shard_id(index);
        let position = checkpoints.load(&id).await?.and_then(|p| p.parse().ok());
        shards.push(ShardState {
            index,
            buffer: ShardBuffer::new(cleaner.clone(), &origin, &id),
            id,
            position,
        });
    }
    let mut last_data = Instant::now();
    loop {
        // Decide "closed" before reading, so nothing put before the close is missed.
        let closed = stream.is_closed();
        let (mut read_any, mut flushed) = (false, false);
        for shard in &mut shards {
            let records = stream.read(shard.index, shard.position, opts.read_batch);
            if let Some(last) = records.last() {
                shard.position = Some(last.sequence);
                read_any = true;
            }
            let (mut rows, mut rejected) = (0u64, 0u64);
            for r in &records {
                match shard
                    .buffer
                    .push(&r.sequence.to_string(), r.arrival_ms, &r.data)
                {
                    Pushed::Row => rows += 1,
                    Pushed::Rejected => rejected += 1,
                }
            }
            ConsumerMetrics::add(&metrics.records_in, records.len() as u64);
            ConsumerMetrics::add(&metrics.rows_out, rows);
            ConsumerMetrics::add(&metrics.rejected, rejected);
            if shard.buffer.should_flush(&opts.limits) {
                flush(shard, &stream, &writer, &checkpoints).await?;
                flushed = true;
            }
        }
        // Time spent writing is not idleness: it counts again from an empty read after it.
        if read_any || flushed {
            last_data = Instant::now();
            continue;
        }
        let idle_out = opts
            .exit_when_idle
            .is_some_and(|d| last_data.elapsed() >= d);
        if closed || idle_out {
            for shard in &mut shards {
                flush(shard, &stream, &writer, &checkpoints).await?;
            }
            return Ok(());
        }
        stream.wait_for_data(Duration::from_millis(100)).await;
    }
}
