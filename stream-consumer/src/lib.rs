//! firelake stream-consumer: read a stream, clean every record, buffer per shard and partition
//! day, write Parquet (and rejected records) to the lake create-if-absent, register partitions,
//! and only then checkpoint. Buffering is pure (`buffer`); I/O sits in `writer`, `checkpoint`
//! and the per-stream loops.

pub mod buffer;
pub mod checkpoint;
pub mod consumer;
pub mod embedded;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "kinesis")]
pub mod kinesis;
pub mod lambda;
pub mod metrics;
pub mod prometheus;
#[cfg(any(feature = "kinesis", feature = "kafka"))]
mod quiet;
#[cfg(feature = "kinesis")]
pub mod redrive;
pub mod writer;

pub use buffer::{FlushLimits, ShardBuffer};
pub use embedded::{ConsumerOptions, consume_embedded};
pub use metrics::ConsumerMetrics;
pub use writer::LakeWriter;
