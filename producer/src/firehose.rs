//! The Firehose Direct PUT publisher: records go straight to a delivery stream, no Kinesis
//! stream in front (seed 004's shape), by PutRecordBatch within Firehose's limits (500
//! records and 4 MiB per call, 1,000 KiB per record), on the shared batch-call machinery
//! ([`crate::batched`]): failed entries retried until the deadline, the rest dead-lettered.
//!
//! Firehose concatenates the records of a delivery into one object, so each record goes as
//! one newline-terminated line: the object stays one JSON object per line.

use aws_sdk_firehose::Client;
use aws_sdk_firehose::error::DisplayErrorContext;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use bytes::Bytes;
use futures::future::BoxFuture;

use crate::batched::{BatchedPublisher, CallLimits, EntrySink, Prepared, PutOutcome};
use crate::dead_letter::DeadLetter;
use crate::publish::OutgoingRecord;
use crate::retry::RetryPolicy;

pub const MAX_RECORDS_PER_CALL: usize = 500;
pub const MAX_BYTES_PER_CALL: usize = 4 * 1024 * 1024;
/// 1,000 KiB of data (the newline included), before base64.
pub const MAX_RECORD_BYTES: usize = 1000 * 1024;

pub const LIMITS: CallLimits = CallLimits {
    max_records: MAX_RECORDS_PER_CALL,
    max_call_bytes: MAX_BYTES_PER_CALL,
    max_record_bytes: MAX_RECORD_BYTES,
    max_overhead_bytes: 1,
    measured: "data + newline",
    limit_name: "Firehose's 1,000 KiB",
};

/// Bytes a record of `n` bytes takes in the request, base64-encoded. AWS words the 4 MiB as
/// "for the entire request", while the record limit is "before base64 encoding": counting the
/// encoded size against the call limit stays within it either way, and costs nothing with
/// small records (500 of them fill a call first).
pub fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// The record as one newline-terminated line. A line break inside a JSON record can only be
/// whitespace between tokens (JSON strings escape it), so it becomes a space: the same JSON
/// value on one line. A record that is not JSON and holds a line break cannot be one line: it
/// is refused with the reason (and dead-lettered), never split.
pub fn line_of(data: &Bytes) -> Result<Bytes, String> {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    if memchr::memchr(b'\n', body).is_none() {
        if body.len() < data.len() {
            return Ok(data.clone());
        }
        let mut line = Vec::with_capacity(data.len() + 1);
        line.extend_from_slice(data);
        line.push(b'\n');
        return Ok(line.into());
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() {
        return Err(
            "the record holds a line break and is not JSON, so it cannot go to Firehose as one line"
                .into(),
        );
    }
    let mut line: Vec<u8> = body
        .iter()
        .map(|&b| if b == b'\n' { b' ' } else { b })
        .collect();
    line.push(b'\n');
    Ok(line.into())
}

/// A record as a PutRecordBatch entry (Firehose has no partition key).
pub fn entry(record: &OutgoingRecord) -> Result<Prepared<Record>, String> {
    let line = line_of(&record.data)?;
    let n = line.len();
    Ok(Prepared {
        entry: Record::builder()
            .data(Blob::new(Vec::from(line)))
            .build()
            .expect("data is set"),
        record_bytes: n,
        call_bytes: encoded_len(n),
    })
}

/// PutRecordBatch into one delivery stream.
pub struct FirehoseSink {
    client: Client,
    delivery_stream: String,
}

impl EntrySink for FirehoseSink {
    type Entry = Record;

    fn limits(&self) -> CallLimits {
        LIMITS
    }

    fn prepare(&self, record: &OutgoingRecord) -> Result<Prepared<Record>, String> {
        entry(record)
    }

    fn put(&self, entries: Vec<Record>) -> BoxFuture<'_, PutOutcome> {
        Box::pin(async move {
            match self
                .client
                .put_record_batch()
                .delivery_stream_name(&self.delivery_stream)
                .set_records(Some(entries))
                .send()
                .await
            {
                // One response per record, in request order.
                Ok(out) => PutOutcome::Answered(
                    out.request_responses()
                        .iter()
                        .map(|r| {
                            r.error_code().map(|code| {
                                format!("{code}: {}", r.error_message().unwrap_or_default())
                            })
                        })
                        .collect(),
                ),
                Err(e) => PutOutcome::Failed {
                    // Firehose's throttling answer is ServiceUnavailableException ("back off
                    // and retry"); a missing stream or a bad argument will not get better.
                    retryable: e
                        .as_service_error()
                        .is_none_or(|s| s.is_service_unavailable_exception()),
                    reason: format!("PutRecordBatch failed: {}", DisplayErrorContext(&e)),
                },
            }
        })
    }

    fn describe(&self) -> String {
        format!("firehose://{}", self.delivery_stream)
    }

    fn call_name(&self) -> &'static str {
        "PutRecordBatch"
    }
}

pub type FirehosePublisher = BatchedPublisher<FirehoseSink>;

impl BatchedPublisher<FirehoseSink> {
    pub fn new(
        client: Client,
        delivery_stream: &str,
        retry: RetryPolicy,
        dead_letter: DeadLetter,
    ) -> Self {
        let sink = FirehoseSink {
            client,
            delivery_stream: delivery_stream.to_string(),
        };
        BatchedPublisher::with_sink(sink, retry, dead_letter)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::batched::plan_calls;
    use crate::sample::SampleGenerator;
    use firelake_core::{Cleaner, SourceDef};

    fn line(s: &[u8]) -> Result<Vec<u8>, String> {
        line_of(&Bytes::copy_from_slice(s)).map(Vec::from)
    }

    #[test]
    fn every_record_becomes_exactly_one_line() {
        assert_eq!(line(br#"{"a":1}"#).unwrap(), b"{\"a\":1}\n");
        assert_eq!(line(b"{\"a\":1}\n").unwrap(), b"{\"a\":1}\n");
        // Not JSON, but one line: sent as it is (the cleaner downstream rejects it, kept).
        assert_eq!(line(b"{\"a\":\xff").unwrap(), b"{\"a\":\xff\n");
        assert_eq!(line(b"").unwrap(), b"\n");
        // Pretty-printed JSON: the same value on one line.
        let pretty = b"{\n  \"a\": [1,\r\n 2],\n  \"b\": \"x\\ny\"\n}\n\n";
        let l = line(pretty).unwrap();
        assert_eq!(l.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(l.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&l).unwrap();
        assert_eq!(v, serde_json::json!({"a": [1, 2], "b": "x\ny"}));
        // Not JSON and several lines: refused, with the reason.
        assert!(line(b"a\nb").unwrap_err().contains("line break"));
    }

    #[test]
    fn the_cleaner_reads_a_line_as_it_reads_the_record() {
        // The transformation Lambda gets each record's data, newline included.
        let cleaner = Cleaner::new(Arc::new(SourceDef::resolve("users", None).unwrap()));
        let mut g = SampleGenerator::new(11, 0.2);
        for _ in 0..300 {
            let r = g.next_record();
            let l = line(&r).unwrap();
            match (cleaner.clean(&r, 0), cleaner.clean(&l, 0)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                _ => panic!("{}", String::from_utf8_lossy(&r)),
            }
        }
    }

    fn rec(n: usize) -> OutgoingRecord {
        OutgoingRecord {
            partition_key: "k".into(),
            data: Bytes::from(vec![b'x'; n]),
        }
    }

    #[test]
    fn calls_stay_within_500_records_and_4_mib_encoded_and_records_within_1000_kib() {
        let plan = plan_calls(&LIMITS, (0..1001).map(|_| rec(10)).collect(), entry);
        let lens: Vec<usize> = plan.calls.iter().map(Vec::len).collect();
        assert_eq!(lens, vec![500, 500, 1]);
        // The largest record that fits: 1,000 KiB with its newline; one more byte does not.
        let recs = vec![
            rec(MAX_RECORD_BYTES - 1),
            rec(MAX_RECORD_BYTES),
            rec(MAX_RECORD_BYTES - 1),
            rec(MAX_RECORD_BYTES - 1),
            rec(MAX_RECORD_BYTES - 1),
        ];
        let plan = plan_calls(&LIMITS, recs, entry);
        assert_eq!(plan.rejected.len(), 1);
        assert_eq!(
            plan.rejected[0].1,
            format!(
                "record of {} bytes (data + newline) exceeds Firehose's 1,000 KiB limit",
                MAX_RECORD_BYTES + 1
            )
        );
        for call in &plan.calls {
            let encoded: usize = call
                .iter()
                .map(|p| encoded_len(p.entry.data().as_ref().len()))
                .sum();
            assert!(encoded <= MAX_BYTES_PER_CALL, "{encoded}");
        }
        // Three base64-encoded records of 1,000 KiB fit in 4 MiB, four do not.
        assert_eq!(
            plan.calls.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![3, 1]
        );
        assert_eq!(encoded_len(3), 4);
        assert_eq!(encoded_len(4), 8);
    }
}
