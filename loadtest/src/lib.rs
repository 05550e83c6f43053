//! firelake loadtest: drive a stream (embedded, Kinesis, Kafka) at a rate or a ramp of rates,
//! run its consumer in this process, measure for every row the latency from produced to
//! durable in the lake, and reconcile the run's counts exactly with what the lake holds after
//! it. Pure pieces (records, latency timeline, schedules and ramp verdicts, reconciliation
//! rules, report, chart) sit apart from the driver and the stream ends, which do the I/O.

pub mod chart;
pub mod counts;
pub mod driver;
pub mod latency;
pub mod ramp;
pub mod reconcile;
pub mod record;
pub mod report;
pub mod target;

use std::path::PathBuf;
use std::time::Duration;

pub use driver::{LoadtestConfig, run, run_id};
pub use ramp::{RampPlan, Schedule};
pub use report::{LiveStatus, Report};
pub use target::StreamSpec;

#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    #[error("--stream {0:?}: use embedded, kinesis://STREAM or kafka://HOST:PORT/TOPIC")]
    UnknownStream(String),
    #[error("--stream {0}: {1}")]
    Unsupported(String, String),
    #[error("publisher: {0}")]
    Publisher(String),
    #[error("publishing failed: {0}")]
    Publish(#[from] firelake_producer::PublishError),
    #[error("the consumer failed: {0}")]
    Consumer(String),
    #[error("the consumer did not finish within {0:?} after the producer stopped")]
    DrainTimeout(Duration),
    #[error("a load-test task failed: {0}")]
    Task(String),
    #[error("reading the lake back: {0}")]
    Reconcile(#[from] reconcile::ReconcileError),
    #[error("writing the chart {path}: {source}")]
    Chart {
        path: PathBuf,
        source: std::io::Error,
    },
}
