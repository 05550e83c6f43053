//! The Kinesis publisher: PutRecords in batches within Kinesis's limits (500 records and 5 MB
//! per call, 1 MiB per record), partial failures retried for the failed entries only, with
//! backoff, until a deadline; what still cannot be sent is dead-lettered with its reason and
//! the publish reports failure.

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::error::DisplayErrorContext;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use futures::future::BoxFuture;

use crate::dead_letter::DeadLetter;
use crate::publish::{OutgoingRecord, PublishError, Publisher};
use crate::retry::{Backoff, RetryPolicy};

pub const MAX_RECORDS_PER_CALL: usize = 500;
pub const MAX_BYTES_PER_CALL: usize = 5 * 1024 * 1024;
/// Data plus partition key.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// Split records into PutRecords calls; records that can never be sent come back with why.
pub fn plan_batches(
    records: Vec<OutgoingRecord>,
) -> (Vec<Vec<OutgoingRecord>>, Vec<(OutgoingRecord, String)>) {
    let mut batches: Vec<Vec<OutgoingRecord>> = Vec::new();
    let mut rejected = Vec::new();
    let mut size = 0;
    for r in records {
        let n = r.data.len() + r.partition_key.len();
        if n > MAX_RECORD_BYTES {
            rejected.push((
                r,
                format!("record of {n} bytes (data + partition key) exceeds Kinesis's 1 MiB limit"),
            ));
            continue;
        }
        let full = batches
            .last()
            .is_none_or(|b| b.len() >= MAX_RECORDS_PER_CALL || size + n > MAX_BYTES_PER_CALL);
        if full {
            batches.push(Vec::new());
            size = 0;
        }
        size += n;
        batches.last_mut().expect("just pushed").push(r);
    }
    (batches, rejected)
}

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

pub struct KinesisPublisher {
    client: Client,
    stream: String,
    retry: RetryPolicy,
    dead_letter: DeadLetter,
}

impl KinesisPublisher {
    pub fn new(client: Client, stream: &str, retry: RetryPolicy, dead_letter: DeadLetter) -> Self {
        KinesisPublisher {
            client,
            stream: stream.to_string(),
            retry,
            dead_letter,
        }
    }

    /// Send one batch; returns what is still undelivered at the deadline, with reasons.
    async fn put_batch(&self, batch: Vec<OutgoingRecord>) -> Vec<(OutgoingRecord, String)> {
        let mut pending = batch;
        let mut backoff = Backoff::new(self.retry);
        loop {
            let entries = pending
                .iter()
                .map(|r| {
                    PutRecordsRequestEntry::builder()
                        .data(Blob::new(r.data.to_vec()))
                        .partition_key(partition_key(&r.partition_key))
                        .build()
                        .expect("data and partition key are set")
                })
                .collect::<Vec<_>>();
            let reasons: Vec<String> = match self
                .client
                .put_records()
                .stream_name(&self.stream)
                .set_records(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    if out.failed_record_count().unwrap_or(0) == 0 {
                        return Vec::new();
                    }
                    // Keep only the entries that failed (results are in request order).
                    let mut still = Vec::new();
                    let mut reasons = Vec::new();
                    for (r, res) in pending.into_iter().zip(out.records()) {
                        if let Some(code) = res.error_code() {
                            reasons.push(format!(
                                "{code}: {}",
                                res.error_message().unwrap_or_default()
                            ));
                            still.push(r);
                        }
                    }
                    tracing::warn!(
                        stream = %self.stream,
                        failed = still.len(),
                        attempt = backoff.attempts(),
                        "PutRecords partial failure; retrying the failed entries"
                    );
                    pending = still;
                    reasons
                }
                Err(e) => {
                    let retryable = e.as_service_error().is_none_or(|s| {
                        s.is_provisioned_throughput_exceeded_exception()
                            || s.is_kms_throttling_exception()
                    });
                    let reason = format!("PutRecords failed: {}", DisplayErrorContext(&e));
                    tracing::warn!(stream = %self.stream, %reason, retryable, "PutRecords call failed");
                    if !retryable {
                        return pending.into_iter().map(|r| (r, reason.clone())).collect();
                    }
                    vec![reason; pending.len()]
                }
            };
            match backoff.next_delay() {
                Some(d) => tokio::time::sleep(d).await,
                None => {
                    return pending
                        .into_iter()
                        .zip(reasons)
                        .map(|(r, why)| {
                            (r, format!("undelivered at the deadline; last error {why}"))
                        })
                        .collect();
                }
            }
        }
    }
}

impl Publisher for KinesisPublisher {
    fn publish(&self, records: Vec<OutgoingRecord>) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async move {
            let (batches, mut undelivered) = plan_batches(records);
            for batch in batches {
                undelivered.extend(self.put_batch(batch).await);
            }
            if undelivered.is_empty() {
                return Ok(());
            }
            let key = self.dead_letter.write(&undelivered).await.map_err(|e| {
                PublishError::DeadLetterFailed {
                    count: undelivered.len(),
                    source: e,
                }
            })?;
            Err(PublishError::Undelivered {
                count: undelivered.len(),
                dead_letter: self.dead_letter.lake().url_of(&key),
                first_reason: undelivered[0].1.clone(),
            })
        })
    }

    fn describe(&self) -> String {
        format!("kinesis://{}", self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec(n: usize) -> OutgoingRecord {
        OutgoingRecord {
            partition_key: "k".into(),
            data: Bytes::from(vec![b'x'; n]),
        }
    }

    #[test]
    fn batches_respect_count_and_size_and_reject_oversized_records() {
        let (b, r) = plan_batches((0..1201).map(|_| rec(10)).collect());
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![500, 500, 201]
        );
        assert!(r.is_empty());
        // 6 records of 1 MB: at most 4 fit in 5 MB... (1 MiB - 1 each, with the key).
        let (b, _) = plan_batches((0..6).map(|_| rec(MAX_RECORD_BYTES - 1)).collect());
        assert!(
            b.iter()
                .all(|b| b.iter().map(|r| r.data.len() + 1).sum::<usize>() <= MAX_BYTES_PER_CALL)
        );
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 6);
        let (b, r) = plan_batches(vec![rec(10), rec(MAX_RECORD_BYTES), rec(10)]);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].len(), 2);
        assert_eq!(r.len(), 1);
        assert!(r[0].1.contains("1 MiB"));
    }

    #[test]
    fn long_partition_keys_are_hashed() {
        assert_eq!(partition_key("abc"), "abc");
        let long = "x".repeat(300);
        assert_eq!(partition_key(&long).len(), 16);
        assert_eq!(partition_key(&long), partition_key(&long));
        assert_eq!(partition_key("").len(), 16);
    }
}
