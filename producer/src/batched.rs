//! What the batch-call publishers (Kinesis PutRecords, Firehose PutRecordBatch) share: records
//! cut into calls within the service's limits, each call's failed entries (and only those)
//! retried with backoff until the deadline, and whatever is still undelivered then, or could
//! never be sent, written to the dead-letter location with its reason. A service plugs in as
//! an [`EntrySink`]: how a record becomes one of its entries, and one call.

use futures::future::BoxFuture;

use crate::dead_letter::DeadLetter;
use crate::publish::{OutgoingRecord, PublishError, Publisher};
use crate::retry::{Backoff, RetryPolicy};

/// A service's limits on one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    pub max_records: usize,
    /// Sum of the entries' `call_bytes`.
    pub max_call_bytes: usize,
    /// An entry's `record_bytes` above this can never be sent.
    pub max_record_bytes: usize,
    /// The most an entry adds to its record's data in `record_bytes` (a partition key, a
    /// newline): data up to `max_record_bytes - max_overhead_bytes` always fits.
    pub max_overhead_bytes: usize,
    /// What `record_bytes` measures, for the rejection reason ("data + partition key").
    pub measured: &'static str,
    /// The record limit as a reason names it ("Kinesis's 1 MiB").
    pub limit_name: &'static str,
}

/// A record as the service's entry, with what it counts against the limits.
#[derive(Debug, Clone)]
pub struct Prepared<E> {
    pub entry: E,
    pub record_bytes: usize,
    pub call_bytes: usize,
}

/// The answer to one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Per entry, in request order: `None` when it was accepted, else why not (retried).
    Answered(Vec<Option<String>>),
    /// The call failed as a whole; `retryable` for throttling and network errors.
    Failed { reason: String, retryable: bool },
}

/// One service's side of a batch-call publisher.
pub trait EntrySink: Send + Sync {
    type Entry: Clone + Send + Sync;
    fn limits(&self) -> CallLimits;
    /// The entry for a record, or why the record can never be sent as one.
    fn prepare(&self, record: &OutgoingRecord) -> Result<Prepared<Self::Entry>, String>;
    /// One call with these entries.
    fn put(&self, entries: Vec<Self::Entry>) -> BoxFuture<'_, PutOutcome>;
    /// The target as a URL (`kinesis://NAME`), for logs and errors.
    fn describe(&self) -> String;
    /// The call's name, for logs and reasons ("PutRecords").
    fn call_name(&self) -> &'static str;
}

/// A record on its way, with its entry.
#[derive(Debug, Clone)]
pub struct Pending<E> {
    pub record: OutgoingRecord,
    pub entry: E,
}

/// Records cut into calls, in order, and the records that can never be sent, with why.
pub struct Plan<E> {
    pub calls: Vec<Vec<Pending<E>>>,
    pub rejected: Vec<(OutgoingRecord, String)>,
}

/// Cut records into calls within `limits` (pure: no I/O).
pub fn plan_calls<E>(
    limits: &CallLimits,
    records: Vec<OutgoingRecord>,
    prepare: impl Fn(&OutgoingRecord) -> Result<Prepared<E>, String>,
) -> Plan<E> {
    let mut calls: Vec<Vec<Pending<E>>> = Vec::new();
    let mut rejected = Vec::new();
    let mut size = 0;
    for record in records {
        let p = match prepare(&record) {
            Ok(p) => p,
            Err(why) => {
                rejected.push((record, why));
                continue;
            }
        };
        if p.record_bytes > limits.max_record_bytes {
            let why = format!(
                "record of {} bytes ({}) exceeds {} limit",
                p.record_bytes, limits.measured, limits.limit_name
            );
            rejected.push((record, why));
            continue;
        }
        let full = calls.last().is_none_or(|c| {
            c.len() >= limits.max_records || size + p.call_bytes > limits.max_call_bytes
        });
        if full {
            calls.push(Vec::new());
            size = 0;
        }
        size += p.call_bytes;
        calls.last_mut().expect("just pushed").push(Pending {
            record,
            entry: p.entry,
        });
    }
    Plan { calls, rejected }
}

/// A publisher over an [`EntrySink`]: on `Ok` every record was accepted by the service; on
/// `Err` the undelivered ones are in the dead-letter location with their reasons.
pub struct BatchedPublisher<S> {
    sink: S,
    retry: RetryPolicy,
    dead_letter: DeadLetter,
}

impl<S: EntrySink> BatchedPublisher<S> {
    pub fn with_sink(sink: S, retry: RetryPolicy, dead_letter: DeadLetter) -> Self {
        BatchedPublisher {
            sink,
            retry,
            dead_letter,
        }
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Send one call, then again with the entries that failed, until all are accepted or the
    /// deadline; returns what is still undelivered, with reasons.
    async fn put_until_deadline(
        &self,
        call: Vec<Pending<S::Entry>>,
    ) -> Vec<(OutgoingRecord, String)> {
        let op = self.sink.call_name();
        let mut pending = call;
        let mut backoff = Backoff::new(self.retry);
        loop {
            let entries = pending.iter().map(|p| p.entry.clone()).collect();
            let reasons: Vec<String> = match self.sink.put(entries).await {
                PutOutcome::Answered(results) if results.len() == pending.len() => {
                    let (mut still, mut reasons) = (Vec::new(), Vec::new());
                    for (p, result) in pending.into_iter().zip(results) {
                        if let Some(why) = result {
                            still.push(p);
                            reasons.push(why);
                        }
                    }
                    if still.is_empty() {
                        return Vec::new();
                    }
                    tracing::warn!(
                        to = %self.sink.describe(),
                        failed = still.len(),
                        attempt = backoff.attempts(),
                        first_reason = %reasons[0],
                        "{op} partial failure; retrying the failed entries"
                    );
                    pending = still;
                    reasons
                }
                PutOutcome::Answered(results) => {
                    // Which entries landed cannot be told: send them all again (at least once).
                    let reason = format!(
                        "{op} answered {} results for {} entries",
                        results.len(),
                        pending.len()
                    );
                    tracing::warn!(to = %self.sink.describe(), %reason, "malformed answer");
                    vec![reason; pending.len()]
                }
                PutOutcome::Failed { reason, retryable } => {
                    tracing::warn!(to = %self.sink.describe(), %reason, retryable, "{op} call failed");
                    if !retryable {
                        return pending
                            .into_iter()
                            .map(|p| (p.record, reason.clone()))
                            .collect();
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
                        .map(|(p, why)| {
                            (
                                p.record,
                                format!("undelivered at the deadline; last error {why}"),
                            )
                        })
                        .collect();
                }
            }
        }
    }
}

impl<S: EntrySink> Publisher for BatchedPublisher<S> {
    fn max_data_bytes(&self) -> Option<usize> {
        let l = self.sink.limits();
        Some(l.max_record_bytes - l.max_overhead_bytes)
    }

    fn publish(&self, records: Vec<OutgoingRecord>) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async move {
            let Plan {
                calls,
                mut rejected,
            } = plan_calls(&self.sink.limits(), records, |r| self.sink.prepare(r));
            for call in calls {
                rejected.extend(self.put_until_deadline(call).await);
            }
            if rejected.is_empty() {
                return Ok(());
            }
            let key = self.dead_letter.write(&rejected).await.map_err(|e| {
                PublishError::DeadLetterFailed {
                    count: rejected.len(),
                    source: e,
                }
            })?;
            Err(PublishError::Undelivered {
                count: rejected.len(),
                dead_letter: self.dead_letter.lake().url_of(&key),
                first_reason: rejected[0].1.clone(),
            })
        })
    }

    fn describe(&self) -> String {
        self.sink.describe()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use bytes::Bytes;
    use firelake_core::Lake;

    use super::*;

    const LIMITS: CallLimits = CallLimits {
        max_records: 3,
        max_call_bytes: 100,
        max_record_bytes: 40,
        max_overhead_bytes: 0,
        measured: "data",
        limit_name: "the test's 40-byte",
    };

    fn rec(key: &str, n: usize) -> OutgoingRecord {
        OutgoingRecord {
            partition_key: key.into(),
            data: Bytes::from(vec![b'x'; n]),
        }
    }

    fn by_size(r: &OutgoingRecord) -> Result<Prepared<String>, String> {
        if r.partition_key == "bad" {
            return Err("not sendable".into());
        }
        Ok(Prepared {
            entry: r.partition_key.clone(),
            record_bytes: r.data.len(),
            call_bytes: r.data.len(),
        })
    }

    fn keys(plan: &Plan<String>) -> Vec<Vec<&str>> {
        plan.calls
            .iter()
            .map(|c| c.iter().map(|p| p.entry.as_str()).collect())
            .collect()
    }

    #[test]
    fn calls_respect_count_and_bytes_keep_order_and_reject_what_never_fits() {
        let recs = vec![
            rec("a", 10),
            rec("b", 10),
            rec("c", 10),
            rec("d", 10), // 4th: a new call by count
            rec("big", 41),
            rec("e", 40),
            rec("bad", 1),
            rec("f", 40),
            rec("g", 40), // 10 + 40 + 40 + 40 > 100: a new call by bytes
        ];
        let plan = plan_calls(&LIMITS, recs, by_size);
        assert_eq!(
            keys(&plan),
            vec![vec!["a", "b", "c"], vec!["d", "e", "f"], vec!["g"]]
        );
        let rejected: Vec<_> = plan
            .rejected
            .iter()
            .map(|(r, why)| (r.partition_key.as_str(), why.as_str()))
            .collect();
        assert_eq!(
            rejected,
            vec![
                (
                    "big",
                    "record of 41 bytes (data) exceeds the test's 40-byte limit"
                ),
                ("bad", "not sendable")
            ]
        );
    }

    /// Answers from a script, one per call, and records what each call held.
    struct Scripted {
        answers: Mutex<Vec<PutOutcome>>,
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl EntrySink for Scripted {
        type Entry = String;
        fn limits(&self) -> CallLimits {
            LIMITS
        }
        fn prepare(&self, r: &OutgoingRecord) -> Result<Prepared<String>, String> {
            by_size(r)
        }
        fn put(&self, entries: Vec<String>) -> BoxFuture<'_, PutOutcome> {
            self.calls.lock().unwrap().push(entries.clone());
            let mut answers = self.answers.lock().unwrap();
            let answer = if answers.is_empty() {
                PutOutcome::Answered(vec![None; entries.len()])
            } else {
                answers.remove(0)
            };
            Box::pin(async move { answer })
        }
        fn describe(&self) -> String {
            "test://scripted".into()
        }
        fn call_name(&self) -> &'static str {
            "Put"
        }
    }

    fn publisher(answers: Vec<PutOutcome>, deadline_ms: u64) -> (BatchedPublisher<Scripted>, Lake) {
        let lake = Lake::from_url("memory://").unwrap();
        let sink = Scripted {
            answers: Mutex::new(answers),
            calls: Mutex::new(Vec::new()),
        };
        let retry = RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            deadline: Duration::from_millis(deadline_ms),
        };
        let dl = DeadLetter::new(
            lake.clone(),
            "test://scripted",
            &firelake_core::SourceDef::resolve("users", None).unwrap(),
        );
        (BatchedPublisher::with_sink(sink, retry, dl), lake)
    }

    fn failed(why: &str) -> Option<String> {
        Some(why.to_string())
    }

    #[tokio::test]
    async fn only_failed_entries_are_sent_again_and_a_malformed_answer_resends_all() {
        let (p, _) = publisher(
            vec![
                PutOutcome::Answered(vec![None, failed("E: busy"), failed("E: busy")]),
                PutOutcome::Answered(vec![None]), // two entries sent: malformed
                PutOutcome::Failed {
                    reason: "network".into(),
                    retryable: true,
                },
                PutOutcome::Answered(vec![failed("E: busy"), None]),
            ],
            60_000,
        );
        p.publish(vec![rec("a", 1), rec("b", 1), rec("c", 1)])
            .await
            .unwrap();
        let calls = p.sink().calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            vec![
                vec!["a", "b", "c"],
                vec!["b", "c"],
                vec!["b", "c"],
                vec!["b", "c"],
                vec!["b"]
            ]
        );
    }

    #[tokio::test]
    async fn what_is_left_at_the_deadline_or_refused_is_dead_lettered_with_its_reason() {
        let always = (0..10_000)
            .map(|_| PutOutcome::Answered(vec![failed("E: busy")]))
            .collect();
        let (p, lake) = publisher(always, 20);
        let err = p
            .publish(vec![rec("a", 1), rec("big", 41)])
            .await
            .unwrap_err();
        let PublishError::Undelivered { count: 2, .. } = err else {
            panic!("{err}")
        };
        let files = lake.list("_dead_letter").await.unwrap();
        assert_eq!(files.len(), 1);
        let body = lake.get(&files[0].key).await.unwrap().unwrap();
        let lines: Vec<serde_json::Value> = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0]["partition_key"], "big");
        assert!(lines[0]["reason"].as_str().unwrap().contains("40-byte"));
        assert_eq!(lines[1]["partition_key"], "a");
        assert_eq!(
            lines[1]["reason"],
            "undelivered at the deadline; last error E: busy"
        );

        // A call refused for good is not retried.
        let (p, lake) = publisher(
            vec![PutOutcome::Failed {
                reason: "no such stream".into(),
                retryable: false,
            }],
            60_000,
        );
        assert!(p.publish(vec![rec("a", 1)]).await.is_err());
        assert_eq!(p.sink().calls.lock().unwrap().len(), 1);
        assert_eq!(lake.list("_dead_letter").await.unwrap().len(), 1);
    }
}
