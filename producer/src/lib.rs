//! firelake producer: record sources (the built-in sample generator; HTTP APIs and file replay
//! come with their issues) and the publishers that put records on a stream. A tick fetches one
//! batch from the source and publishes it; what cannot be published is an error, never dropped.

pub mod batched;
pub mod dead_letter;
#[cfg(feature = "firehose")]
pub mod firehose;
pub mod http;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "kinesis")]
pub mod kinesis;
pub mod lambda;
pub mod publish;
pub mod replay;
pub mod republish;
pub mod retry;
pub mod sample;
pub mod ticks;

pub use publish::{EmbeddedPublisher, OutgoingRecord, PublishError, Publisher};
pub use sample::SampleGenerator;

use std::sync::Arc;

use bytes::Bytes;
use firelake_core::Cleaner;

/// Partition key of a record: its dedupe key (spreads shards, keeps one key on one shard), or
/// a hash of its bytes when it has none.
pub fn partition_key(cleaner: &Cleaner, raw: &[u8]) -> String {
    cleaner
        .dedupe_key_of(raw)
        .unwrap_or_else(|| format!("{:016x}", firelake_core::layout::StableHash::of(raw)))
}

/// One tick's outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TickReport {
    pub records: usize,
    pub bytes: usize,
}

/// Publish one batch of raw records.
pub async fn publish_batch(
    cleaner: &Cleaner,
    publisher: &dyn Publisher,
    records: Vec<Vec<u8>>,
) -> Result<TickReport, PublishError> {
    let bytes = records.iter().map(Vec::len).sum();
    let n = records.len();
    let out = records
        .into_iter()
        .map(|r| OutgoingRecord {
            partition_key: partition_key(cleaner, &r),
            data: Bytes::from(r),
        })
        .collect();
    publisher.publish(out).await?;
    Ok(TickReport { records: n, bytes })
}

/// Shared handle type for publishers.
pub type SharedPublisher = Arc<dyn Publisher>;
