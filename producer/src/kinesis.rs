//! The Kinesis publisher: PutRecords calls within Kinesis's limits (500 records and 5 MB per
//! call, 1 MiB per record, partition keys included), on the shared batch-call machinery
//! ([`crate::batched`]): failed entries retried until the deadline, the rest dead-lettered.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use futures::future::BoxFuture;

use crate::batched::{BatchedPublisher, CallLimits, EntrySink, Prepared, PutOutcome};
use crate::dead_letter::DeadLetter;
use crate::publish::OutgoingRecord;
use crate::retry::RetryPolicy;

pub const MAX_RECORDS_PER_CALL: usize = 500;
pub const MAX_BYTES_PER_CALL: usize = 5 * 1024 * 1024;
/// Data plus partition key.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

pub const LIMITS: CallLimits = CallLimits {
    max_records: MAX_RECORDS_PER_CALL,
    max_call_bytes: MAX_BYTES_PER_CALL,
    max_record_bytes: MAX_RECORD_BYTES,
    // A key of 256 characters, each up to 4 bytes of UTF-8.
    max_overhead_bytes: MAX_PARTITION_KEY_CHARS * 4,
    measured: "data + partition key",
    limit_name: "Kinesis's 1 MiB",
};

/// Kinesis partition keys are 1..=256 characters; longer keys are hashed (stably).
fn partition_key(key: &str) -> String {
    if !key.is_empty() && key.chars().count() <= MAX_PARTITION_KEY_CHARS {
        return key.to_string();
    }
    format!(
        "{:016x}",
        firelake_core::layout::StableHash::of(key.as_bytes())
    )
}

/// A record as a PutRecords entry; Kinesis counts data and partition key against both limits.
pub fn entry(record: &OutgoingRecord) -> Prepared<PutRecordsRequestEntry> {
    let key = partition_key(&record.partition_key);
    let n = record.data.len() + key.len();
    Prepared {
        entry: PutRecordsRequestEntry::builder()
            .data(Blob::new(record.data.to_vec()))
            .partition_key(key)
            .build()
            .expect("data and partition key are set"),
        record_bytes: n,
        call_bytes: n,
    }
}

/// PutRecords into one stream.
pub struct KinesisSink {
    client: Client,
    stream: String,
}

impl EntrySink for KinesisSink {
    type Entry = PutRecordsRequestEntry;

    fn limits(&self) -> CallLimits {
        LIMITS
    }

    fn prepare(&self, record: &OutgoingRecord) -> Result<Prepared<Self::Entry>, String> {
        Ok(entry(record))
    }

    fn put(&self, entries: Vec<Self::Entry>) -> BoxFuture<'_, PutOutcome> {
        Box::pin(async move {
            match self
                .client
                .put_records()
                .stream_name(&self.stream)
                .set_records(Some(entries))
                .send()
                .await
            {
                // Results are in request order.
                Ok(out) => PutOutcome::Answered(
                    out.records()
                        .iter()
                        .map(|r| {
                            r.error_code().map(|code| {
                                format!("{code}: {}", r.error_message().unwrap_or_default())
                            })
                        })
                        .collect(),
                ),
                Err(e) => PutOutcome::Failed {
                    retryable: e.as_service_error().is_none_or(|s| {
                        s.is_provisioned_throughput_exceeded_exception()
                            || s.is_kms_throttling_exception()
                    }),
                    reason: format!("PutRecords failed: {}", DisplayErrorContext(&e)),
                },
            }
        })
    }

    fn describe(&self) -> String {
        format!("kinesis://{}", self.stream)
    }

    fn call_name(&self) -> &'static str {
        "PutRecords"
    }
}

pub type KinesisPublisher = BatchedPublisher<KinesisSink>;

impl BatchedPublisher<KinesisSink> {
    pub fn new(client: Client, stream: &str, retry: RetryPolicy, dead_letter: DeadLetter) -> Self {
        let sink = KinesisSink {
            client,
            stream: stream.to_string(),
        };
        BatchedPublisher::with_sink(sink, retry, dead_letter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batched::plan_calls;
    use bytes::Bytes;

    fn rec(n: usize) -> OutgoingRecord {
        OutgoingRecord {
            partition_key: "k".into(),
            data: Bytes::from(vec![b'x'; n]),
        }
    }

    fn sizes(records: Vec<OutgoingRecord>) -> (Vec<Vec<usize>>, Vec<String>) {
        let plan = plan_calls(&LIMITS, records, |r| Ok(entry(r)));
        (
            plan.calls
                .iter()
                .map(|c| c.iter().map(|p| p.record.data.len()).collect())
                .collect(),
            plan.rejected.into_iter().map(|(_, why)| why).collect(),
        )
    }

    #[test]
    fn batches_respect_count_and_size_and_reject_oversized_records() {
        let (b, r) = sizes((0..1201).map(|_| rec(10)).collect());
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![500, 500, 201]
        );
        assert!(r.is_empty());
        // Records of 1 MiB with their key: 5 fit in 5 MiB.
        let (b, _) = sizes((0..6).map(|_| rec(MAX_RECORD_BYTES - 1)).collect());
        assert!(
            b.iter()
                .all(|b| b.iter().map(|n| n + 1).sum::<usize>() <= MAX_BYTES_PER_CALL)
        );
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 1]);
        let (b, r) = sizes(vec![rec(10), rec(MAX_RECORD_BYTES), rec(10)]);
        assert_eq!(b, vec![vec![10, 10]]);
        assert_eq!(
            r,
            vec![format!(
                "record of {} bytes (data + partition key) exceeds Kinesis's 1 MiB limit",
                MAX_RECORD_BYTES + 1
            )]
        );
    }

    #[test]
    fn long_partition_keys_are_hashed_and_counted_as_sent() {
        assert_eq!(partition_key("abc"), "abc");
        let long = "x".repeat(300);
        assert_eq!(partition_key(&long).len(), 16);
        assert_eq!(partition_key(&long), partition_key(&long));
        assert_eq!(partition_key("").len(), 16);
        let r = OutgoingRecord {
            partition_key: long,
            data: Bytes::from_static(b"abc"),
        };
        assert_eq!(entry(&r).record_bytes, 3 + 16);
    }
}
