//! Re-drive of the Kinesis batches a Lambda event source mapping gave up on. After its retries
//! the mapping sends an on-failure record to its destination (an SQS queue) that names only
//! the shard and the sequence range (`KinesisBatchInfo`), while the records stay in the stream
//! for its retention. This reads each such record from the queue, reads exactly that range of
//! the shard (AT_SEQUENCE_NUMBER start .. end), cleans and writes it as the consumers do (same
//! idempotent keys, rejects kept), and deletes the message only once its records are durable.
//! A range no longer in the stream (trimmed), a record of another stream and anything that is
//! not a Kinesis on-failure record stay in the queue, reported.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::operation::get_records::GetRecordsOutput;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use firelake_core::Cleaner;
use futures::future::BoxFuture;
use serde::Deserialize;

use crate::buffer::{FlushLimits, Pushed, ShardBuffer};
use crate::kinesis::KinesisError;
use crate::metrics::ConsumerMetrics;
use crate::writer::{LakeWriter, WriteError};

/// The shard range of a failed batch, as the event source mapping reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisBatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    #[serde(default)]
    pub batch_size: Option<u64>,
    pub stream_arn: String,
    #[serde(default)]
    pub approximate_arrival_of_first_record: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FailureRecord {
    kinesis_batch_info: KinesisBatchInfo,
}

/// A queue message read as an on-failure record of a Kinesis event source mapping (pure).
pub fn parse_failure(body: &str) -> Result<KinesisBatchInfo, String> {
    let record: FailureRecord =
        serde_json::from_str(body).map_err(|e| format!("not a Kinesis on-failure record ({e})"))?;
    let info = record.kinesis_batch_info;
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !numeric(&info.start_sequence_number) || !numeric(&info.end_sequence_number) {
        return Err("KinesisBatchInfo: sequence numbers are not decimal numbers".into());
    }
    if seq_cmp(&info.start_sequence_number, &info.end_sequence_number) == Ordering::Greater {
        return Err("KinesisBatchInfo: startSequenceNumber is after endSequenceNumber".into());
    }
    Ok(info)
}

/// Order of two Kinesis sequence numbers (decimal strings of up to 129 digits).
pub fn seq_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A received queue message.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub id: String,
    pub receipt: String,
    pub body: String,
}

/// The queue of failure records (SQS in production).
pub trait FailureQueue: Send + Sync {
    /// The next messages (empty when the queue has none visible), hidden from other
    /// receivers for the run.
    fn receive(&self) -> BoxFuture<'_, Result<Vec<QueuedMessage>, String>>;
    fn delete<'a>(&'a self, receipt: &'a str) -> BoxFuture<'a, Result<(), String>>;
    /// Make a received message visible again at once (left for a later run).
    fn release<'a>(&'a self, receipt: &'a str) -> BoxFuture<'a, Result<(), String>>;
}

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("failure queue: {0}")]
    Queue(String),
    #[error("writing to the lake failed: {0}")]
    Write(#[from] WriteError),
    #[error(transparent)]
    Kinesis(#[from] KinesisError),
}

/// Why a message stays in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptBecause {
    /// Not a Kinesis on-failure record (the queue is shared with other failures).
    NotKinesis,
    /// A range of another stream than the one named.
    OtherStream,
    /// Its range is not (wholly) in the stream any more, or the record is malformed.
    NotRedriven,
}

#[derive(Debug, Clone)]
pub struct Kept {
    pub message_id: String,
    pub because: KeptBecause,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct RedriveSummary {
    pub messages: u64,
    pub ranges_redriven: u64,
    pub records: u64,
    pub kept: Vec<Kept>,
}

impl RedriveSummary {
    /// Failure records of this stream that could not be redriven.
    pub fn not_redriven(&self) -> impl Iterator<Item = &Kept> {
        self.kept
            .iter()
            .filter(|k| k.because == KeptBecause::NotRedriven)
    }
}

pub struct Redrive {
    pub client: Client,
    /// The stream name and its ARN (from DescribeStreamSummary).
    pub stream: String,
    pub stream_arn: String,
    pub cleaner: Arc<Cleaner>,
    pub writer: Arc<LakeWriter>,
    /// Count and size limits of one write (the age limit does not apply: file keys must not
    /// depend on timing, so a rerun writes the same keys).
    pub limits: FlushLimits,
}

/// What reading a range found.
struct RangeRead {
    records: Vec<Record>,
    /// Why the range is not complete (its first or last record is not in the stream).
    incomplete: Option<String>,
}

const MIN_CALL_INTERVAL: Duration = Duration::from_millis(200);

fn call_err<E: std::error::Error + 'static>(call: &'static str, e: E) -> RedriveError {
    RedriveError::Kinesis(KinesisError::Call {
        call,
        message: firelake_aws::errors::error_line(&e),
    })
}

impl Redrive {
    /// Work through the queue until no message is left visible.
    pub async fn run(&self, queue: &dyn FailureQueue) -> Result<RedriveSummary, RedriveError> {
        let mut summary = RedriveSummary::default();
        let mut kept_receipts = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let outcome = self
            .drain(queue, &mut summary, &mut kept_receipts, &mut seen)
            .await;
        // What stays is visible again for the next run (and keeps the queue's alarm on).
        for receipt in &kept_receipts {
            if let Err(e) = queue.release(receipt).await {
                tracing::warn!(error = %e, "could not make a kept message visible again; it reappears after its visibility timeout");
            }
        }
        outcome.map(|()| summary)
    }

    async fn drain(
        &self,
        queue: &dyn FailureQueue,
        summary: &mut RedriveSummary,
        kept_receipts: &mut Vec<String>,
        seen: &mut std::collections::HashSet<String>,
    ) -> Result<(), RedriveError> {
        loop {
            let batch = queue.receive().await.map_err(RedriveError::Queue)?;
            let fresh: Vec<QueuedMessage> = batch
                .into_iter()
                .filter(|m| seen.insert(m.id.clone()))
                .collect();
            if fresh.is_empty() {
                return Ok(());
            }
            for m in fresh {
                summary.messages += 1;
                match self.message(&m).await {
                    Ok(records) => {
                        queue
                            .delete(&m.receipt)
                            .await
                            .map_err(RedriveError::Queue)?;
                        summary.ranges_redriven += 1;
                        summary.records += records;
                    }
                    Err(Outcome::Keep(because, detail)) => {
                        tracing::warn!(
                            message_id = m.id,
                            ?because,
                            detail,
                            "failure record left in the queue"
                        );
                        summary.kept.push(Kept {
                            message_id: m.id.clone(),
                            because,
                            detail,
                        });
                        kept_receipts.push(m.receipt);
                    }
                    Err(Outcome::Fatal(e)) => {
                        kept_receipts.push(m.receipt);
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Redrive one message; `Ok(records)` once they are durable.
    async fn message(&self, m: &QueuedMessage) -> Result<u64, Outcome> {
        let info = parse_failure(&m.body).map_err(|e| {
            let because = if e.starts_with("not a Kinesis") {
                KeptBecause::NotKinesis
            } else {
                KeptBecause::NotRedriven
            };
            Outcome::Keep(because, e)
        })?;
        if info.stream_arn != self.stream_arn {
            return Err(Outcome::Keep(
                KeptBecause::OtherStream,
                format!(
                    "a range of {}, not of {} (run with that stream's --from)",
                    info.stream_arn, self.stream_arn
                ),
            ));
        }
        let read = self.read_range(&info).await.map_err(Outcome::Fatal)?;
        let n = read.records.len() as u64;
        // What is still there is written either way: nothing that can be saved is lost.
        self.write(&info, read.records)
            .await
            .map_err(|e| Outcome::Fatal(e.into()))?;
        if let Some(why) = read.incomplete {
            return Err(Outcome::Keep(
                KeptBecause::NotRedriven,
                format!(
                    "shard {} {}..{}: {why}; {n} record(s) of it still in the stream were written",
                    info.shard_id, info.start_sequence_number, info.end_sequence_number
                ),
            ));
        }
        if info.batch_size.is_some_and(|b| b != n) {
            tracing::warn!(shard = info.shard_id, batch_size = ?info.batch_size, read = n, "the range holds another number of records than the failed batch");
        }
        tracing::info!(shard = info.shard_id, records = n, "range redriven");
        Ok(n)
    }

    async fn write(&self, info: &KinesisBatchInfo, records: Vec<Record>) -> Result<(), WriteError> {
        let origin = format!("kinesis.{}", self.stream);
        let mut buffer = ShardBuffer::new(self.cleaner.clone(), &origin, &info.shard_id);
        let limits = FlushLimits {
            max_age: Duration::MAX,
            ..self.limits
        };
        let metrics = self.writer.metrics();
        for r in &records {
            let arrival = r
                .approximate_arrival_timestamp()
                .and_then(|t| t.to_millis().ok())
                .unwrap_or_else(firelake_core::stream::now_ms);
            ConsumerMetrics::add(&metrics.records_in, 1);
            match buffer.push(r.sequence_number(), arrival, r.data().as_ref()) {
                Pushed::Row => ConsumerMetrics::add(&metrics.rows_out, 1),
                Pushed::Rejected => ConsumerMetrics::add(&metrics.rejected, 1),
            }
            if buffer.should_flush(&limits) {
                self.writer.write(buffer.take()).await?;
            }
        }
        if !buffer.is_empty() {
            self.writer.write(buffer.take()).await?;
        }
        Ok(())
    }

    /// An iterator at (or after) sequence number `at` of the range's shard; `Ok(Err(why))`
    /// when the stream refuses it.
    async fn open(
        &self,
        info: &KinesisBatchInfo,
        at: &str,
        after: bool,
    ) -> Result<Result<Option<String>, String>, RedriveError> {
        let kind = if after {
            ShardIteratorType::AfterSequenceNumber
        } else {
            ShardIteratorType::AtSequenceNumber
        };
        let r = self
            .client
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(&info.shard_id)
            .shard_iterator_type(kind)
            .starting_sequence_number(at)
            .send()
            .await;
        match r {
            Ok(out) => Ok(Ok(out.shard_iterator)),
            Err(e) => {
                let svc = e.as_service_error();
                if svc.is_some_and(|x| x.is_resource_not_found_exception()) {
                    return Ok(Err(format!(
                        "shard {} is not in the stream any more (expired after a reshard)",
                        info.shard_id
                    )));
                }
                if svc.is_some_and(|x| x.is_invalid_argument_exception()) {
                    return Ok(Err(format!(
                        "the stream no longer holds sequence number {at} (trimmed by its retention{}, or from an earlier stream of that name): {}",
                        info.approximate_arrival_of_first_record
                            .as_deref()
                            .map(|t| format!("; the first record arrived {t}"))
                            .unwrap_or_default(),
                        firelake_aws::errors::error_line(&e)
                    )));
                }
                Err(call_err("GetShardIterator", e))
            }
        }
    }

    /// One GetRecords call at `it` (backing off while throttled, reopening an expired
    /// iterator after the last record read). `Ok(Err(why))`: the stream refuses the range.
    async fn get_records(
        &self,
        info: &KinesisBatchInfo,
        mut it: String,
        last_read: Option<&str>,
    ) -> Result<Result<GetRecordsOutput, String>, RedriveError> {
        let mut backoff = Duration::from_millis(200);
        loop {
            let e = match self
                .client
                .get_records()
                .shard_iterator(&it)
                .limit(10_000)
                .send()
                .await
            {
                Ok(out) => return Ok(Ok(out)),
                Err(e) => e,
            };
            let svc = e.as_service_error();
            if svc.is_some_and(|x| {
                x.is_provisioned_throughput_exceeded_exception() || x.is_kms_throttling_exception()
            }) {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
            if !svc.is_some_and(|x| x.is_expired_iterator_exception()) {
                return Err(call_err("GetRecords", e));
            }
            let reopened = match last_read {
                Some(seq) => self.open(info, seq, true).await?,
                None => self.open(info, &info.start_sequence_number, false).await?,
            };
            match reopened {
                Ok(Some(next)) => it = next,
                Ok(None) => {
                    return Ok(Err("the shard ended before the range's last record".into()));
                }
                Err(why) => return Ok(Err(why)),
            }
        }
    }

    /// Read the records from `startSequenceNumber` through `endSequenceNumber` of the shard.
    async fn read_range(&self, info: &KinesisBatchInfo) -> Result<RangeRead, RedriveError> {
        let end = &info.end_sequence_number;
        let mut it = match self.open(info, &info.start_sequence_number, false).await? {
            Ok(it) => it,
            Err(why) => {
                return Ok(RangeRead {
                    records: Vec::new(),
                    incomplete: Some(why),
                });
            }
        };
        let mut records: Vec<Record> = Vec::new();
        let stopped = loop {
            let Some(current) = it.take() else {
                break Some("the shard ended before the range's last record".to_string());
            };
            let started = Instant::now();
            let last = records.last().map(|r| r.sequence_number().to_string());
            let out = match self.get_records(info, current, last.as_deref()).await? {
                Ok(out) => out,
                Err(why) => break Some(why),
            };
            let caught_up = out.records.is_empty() && out.millis_behind_latest() == Some(0);
            it = out.next_shard_iterator;
            let mut past_end = false;
            for r in out.records {
                match seq_cmp(r.sequence_number(), end) {
                    Ordering::Greater => past_end = true,
                    Ordering::Equal => {
                        records.push(r);
                        past_end = true;
                    }
                    Ordering::Less => records.push(r),
                }
                if past_end {
                    break;
                }
            }
            if past_end {
                break None;
            }
            if caught_up {
                break Some("the stream has nothing after it".to_string());
            }
            if let Some(rest) = MIN_CALL_INTERVAL.checked_sub(started.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        };
        let incomplete = range_gap(&records, info, stopped);
        Ok(RangeRead {
            records,
            incomplete,
        })
    }
}

/// Why the records read are not the whole range (pure): the first must be the range's start
/// (else it was trimmed) and the last its end; `stopped` says why reading ended early.
fn range_gap(
    records: &[Record],
    info: &KinesisBatchInfo,
    stopped: Option<String>,
) -> Option<String> {
    let first = records.first().map(Record::sequence_number);
    let last = records.last().map(Record::sequence_number);
    let also = stopped.map(|why| format!("; {why}")).unwrap_or_default();
    if first != Some(info.start_sequence_number.as_str()) {
        let arrived = info
            .approximate_arrival_of_first_record
            .as_deref()
            .map(|t| format!("; it arrived {t}"))
            .unwrap_or_default();
        return Some(format!(
            "the range's first record is not in the stream any more (trimmed by its retention{arrived}){also}"
        ));
    }
    if last != Some(info.end_sequence_number.as_str()) {
        return Some(format!("the range's last record was not found{also}"));
    }
    None
}

/// Why a message was not redriven.
enum Outcome {
    Keep(KeptBecause, String),
    Fatal(RedriveError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert_eq!(seq_cmp("9", "10"), Ordering::Less);
        assert_eq!(seq_cmp("0010", "10"), Ordering::Equal);
        assert_eq!(
            seq_cmp(
                "49601189658422359378836298521827638475320189012309704722",
                "49601189658422359378836298522902373528957594348623495186"
            ),
            Ordering::Less
        );
    }

    fn records(seqs: &[&str]) -> Vec<Record> {
        seqs.iter()
            .map(|s| {
                Record::builder()
                    .sequence_number(*s)
                    .data(aws_sdk_kinesis::primitives::Blob::new(b"{}".to_vec()))
                    .partition_key("k")
                    .build()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_range_is_complete_only_from_its_first_through_its_last_record() {
        let info = KinesisBatchInfo {
            shard_id: "shardId-000000000000".into(),
            start_sequence_number: "10".into(),
            end_sequence_number: "30".into(),
            batch_size: Some(3),
            stream_arn: "arn".into(),
            approximate_arrival_of_first_record: Some("2025-06-01T12:00:04.835Z".into()),
        };
        assert_eq!(range_gap(&records(&["10", "20", "30"]), &info, None), None);
        let trimmed = range_gap(&records(&["20", "30"]), &info, None).unwrap();
        assert!(
            trimmed.contains("first record") && trimmed.contains("2025-06-01"),
            "{trimmed}"
        );
        assert!(
            range_gap(&[], &info, Some("refused".into()))
                .unwrap()
                .ends_with("; refused")
        );
        let cut = range_gap(
            &records(&["10", "20"]),
            &info,
            Some("the shard ended".into()),
        );
        assert_eq!(
            cut.as_deref(),
            Some("the range's last record was not found; the shard ended")
        );
    }

    #[test]
    fn reads_the_documented_on_failure_record_of_a_kinesis_mapping() {
        let body = r#"{"requestContext":{"requestId":"c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5","functionArn":"arn:aws:lambda:us-east-2:123456789012:function:myfunction","condition":"RetryAttemptsExhausted","approximateInvokeCount":1},"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"version":"1.0","timestamp":"2019-11-14T00:38:06.021Z","KinesisBatchInfo":{"shardId":"shardId-000000000001","startSequenceNumber":"49601189658422359378836298521827638475320189012309704722","endSequenceNumber":"49601189658422359378836298522902373528957594348623495186","approximateArrivalOfFirstRecord":"2019-11-14T00:38:04.835Z","approximateArrivalOfLastRecord":"2019-11-14T00:38:05.580Z","batchSize":500,"streamArn":"arn:aws:kinesis:us-east-2:123456789012:stream/mystream"}}"#;
        let info = parse_failure(body).unwrap();
        assert_eq!(info.shard_id, "shardId-000000000001");
        assert_eq!(info.batch_size, Some(500));
        assert_eq!(
            info.stream_arn,
            "arn:aws:kinesis:us-east-2:123456789012:stream/mystream"
        );
        // An asynchronous invocation's record, from the same shared queue: not ours.
        let other = r#"{"requestContext":{"condition":"RetriesExhausted"},"requestPayload":{}}"#;
        assert!(
            parse_failure(other)
                .unwrap_err()
                .starts_with("not a Kinesis")
        );
        assert!(
            parse_failure("plain text")
                .unwrap_err()
                .starts_with("not a Kinesis")
        );
        let reversed = body.replace(
            "49601189658422359378836298521827638475320189012309704722",
            "59601189658422359378836298521827638475320189012309704722",
        );
        assert!(parse_failure(&reversed).unwrap_err().contains("after"));
    }
}
