//! Publishers: where a producer puts records. One interface, one implementation per stream
//! (embedded here; Kinesis, Kafka and Firehose with their issues).

use std::sync::Arc;

use bytes::Bytes;
use firelake_core::stream::EmbeddedStream;
use futures::future::BoxFuture;

#[derive(Debug, Clone)]
pub struct OutgoingRecord {
    pub partition_key: String,
    pub data: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the stream is closed; {0} records not published")]
    Closed(usize),
    #[error(
        "{count} records could not be delivered and were written to {dead_letter} ({first_reason})"
    )]
    Undelivered {
        count: usize,
        dead_letter: String,
        first_reason: String,
    },
    #[error(
        "{count} undelivered records could not be written to the dead-letter location either: {source}"
    )]
    DeadLetterFailed {
        count: usize,
        source: firelake_core::LakeError,
    },
}

pub trait Publisher: Send + Sync {
    /// Publish every record or fail: on `Ok` all of them are on the stream.
    fn publish(&self, records: Vec<OutgoingRecord>) -> BoxFuture<'_, Result<(), PublishError>>;
    fn describe(&self) -> String;
    /// The largest record data the stream always takes (`None`: no limit of its own). A
    /// replay turns bigger rows into rejects up front rather than dead letters later.
    fn max_data_bytes(&self) -> Option<usize> {
        None
    }
}

/// Publishes to the in-process stream (waits while it is full).
pub struct EmbeddedPublisher {
    stream: Arc<EmbeddedStream>,
}

impl EmbeddedPublisher {
    pub fn new(stream: Arc<EmbeddedStream>) -> EmbeddedPublisher {
        EmbeddedPublisher { stream }
    }
}

impl Publisher for EmbeddedPublisher {
    fn publish(&self, records: Vec<OutgoingRecord>) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async move {
            if self.stream.is_closed() {
                return Err(PublishError::Closed(records.len()));
            }
            self.stream
                .put_records(
                    records
                        .into_iter()
                        .map(|r| (r.partition_key, r.data))
                        .collect(),
                )
                .await;
            Ok(())
        })
    }

    fn describe(&self) -> String {
        format!("embedded stream {:?}", self.stream.name())
    }
}
