//! What every consumer loop (embedded, Kinesis, Kafka) shares: its options and its error.
//! Apart from the loops so that none of them imports another.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crate::buffer::FlushLimits;
use crate::writer::WriteError;

#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub limits: FlushLimits,
    /// Records read from a shard per call.
    pub read_batch: usize,
    /// Stop after this long without new records (the stream stays open).
    pub exit_when_idle: Option<Duration>,
    /// Names this consumer's checkpoints.
    pub consumer_name: String,
    /// A broker (Kafka, Kinesis) not reached within this long fails the run.
    pub connect_timeout: Duration,
    /// Set (by a signal handler) to stop reading: what was read is written and checkpointed
    /// (committed), then the consumer returns as after `exit_when_idle`.
    pub stop: Arc<AtomicBool>,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            limits: FlushLimits::default(),
            read_batch: 10_000,
            exit_when_idle: None,
            consumer_name: "firelake".into(),
            connect_timeout: Duration::from_secs(30),
            stop: Arc::new(AtomicBool::new(false)),
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
    Kinesis(#[from] KinesisError),
}

#[derive(Debug, thiserror::Error)]
pub enum KinesisError {
    #[error("Kinesis {call}: {message}")]
    Call { call: &'static str, message: String },
    #[error(
        "cannot reach Kinesis (stream {stream}) within {timeout:?}: check the endpoint (AWS_ENDPOINT_URL), the region and the network, or wait longer with --connect-timeout"
    )]
    Unreachable {
        stream: String,
        timeout: std::time::Duration,
    },
}
