//! The Firehose data-transformation Lambda: each record is cleaned by the source's cleaner and
//! answered `Ok` (the cleaned row as one JSON object, plus `metadata.partitionKeys.p_date`) or
//! `ProcessingFailed` (the original data kept, so Firehose writes it under its error prefix).
//! The handler is a plain function over the event, so tests and `firelake transform` call it
//! directly; `main.rs` wraps it in `lambda_runtime`.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::firehose::{
    KinesisFirehoseEvent, KinesisFirehoseResponse, KinesisFirehoseResponseRecord,
    KinesisFirehoseResponseRecordMetadata,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use firelake_core::output::write_json_row;
use firelake_core::source::{SourceDef, SourceError};
use firelake_core::{Cleaner, time};
use serde::Deserialize;

/// Lambda's synchronous response limit is 6 MB; stay under it with room for the envelope.
pub const RESPONSE_LIMIT_BYTES: usize = 6_000_000;

/// The Firehose event as it arrives. Mirrors `aws_lambda_events`' `KinesisFirehoseEvent` but
/// keeps each record's `data` as text: the crate type decodes base64 while deserialising, so
/// one bad record would fail the whole batch instead of being answered `ProcessingFailed`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseEvent {
    #[serde(default)]
    pub invocation_id: Option<String>,
    #[serde(default)]
    pub delivery_stream_arn: Option<String>,
    #[serde(default)]
    pub source_kinesis_stream_arn: Option<String>,
    pub records: Vec<FirehoseRecord>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseRecord {
    pub record_id: String,
    /// When Firehose received the record (epoch ms).
    pub approximate_arrival_timestamp: i64,
    pub data: String,
    #[serde(default)]
    pub kinesis_record_metadata: Option<KinesisMetadata>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KinesisMetadata {
    /// When the Kinesis stream received the record (epoch ms): the record's arrival.
    #[serde(default)]
    pub approximate_arrival_timestamp: Option<i64>,
}

impl From<KinesisFirehoseEvent> for FirehoseEvent {
    fn from(e: KinesisFirehoseEvent) -> Self {
        FirehoseEvent {
            invocation_id: e.invocation_id,
            delivery_stream_arn: e.delivery_stream_arn,
            source_kinesis_stream_arn: e.source_kinesis_stream_arn,
            records: e
                .records
                .into_iter()
                .map(|r| FirehoseRecord {
                    record_id: r.record_id.unwrap_or_default(),
                    approximate_arrival_timestamp: r
                        .approximate_arrival_timestamp
                        .0
                        .timestamp_millis(),
                    data: BASE64.encode(&r.data.0),
                    kinesis_record_metadata: r.kinesis_firehose_record_metadata.map(|m| {
                        KinesisMetadata {
                            approximate_arrival_timestamp: Some(
                                m.approximate_arrival_timestamp.0.timestamp_millis(),
                            ),
                        }
                    }),
                })
                .collect(),
        }
    }
}

/// Per-invocation counts, for logs and the CLI.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TransformStats {
    pub records: usize,
    pub ok: usize,
    pub failed: usize,
    /// Records answered `ProcessingFailed` only because their output would have pushed the
    /// response over the limit (kept by Firehose under the error prefix, never dropped).
    pub failed_for_size: usize,
}

/// The transformation: a source's cleaner. Built once per Lambda container.
pub struct Transformer {
    cleaner: Cleaner,
}

impl Transformer {
    pub fn new(def: Arc<SourceDef>) -> Transformer {
        Transformer {
            cleaner: Cleaner::new(def),
        }
    }

    /// The source named by `FIRELAKE_SOURCE` (default `users`), from `FIRELAKE_SOURCE_DIR` or
    /// the built-in definitions.
    pub fn from_env() -> Result<Transformer, SourceError> {
        let name = std::env::var("FIRELAKE_SOURCE").unwrap_or_else(|_| "users".into());
        let dir = std::env::var_os("FIRELAKE_SOURCE_DIR").map(std::path::PathBuf::from);
        Ok(Transformer::new(Arc::new(SourceDef::resolve(
            &name,
            dir.as_deref(),
        )?)))
    }

    pub fn source(&self) -> &SourceDef {
        self.cleaner.source()
    }

    /// Answer every record of the event, exactly once and in order.
    pub fn transform(&self, event: &FirehoseEvent) -> (KinesisFirehoseResponse, TransformStats) {
        let def = self.cleaner.source();
        let pcol = &def.partition_column;
        let mut stats = TransformStats {
            records: event.records.len(),
            ..Default::default()
        };
        let mut answers: Vec<Answer> = event.records.iter().map(|rec| self.answer(rec)).collect();
        let mut total = ENVELOPE_BYTES
            + event
                .records
                .iter()
                .zip(&answers)
                .map(|(rec, a)| a.size(rec, pcol))
                .sum::<usize>();
        if total > RESPONSE_LIMIT_BYTES {
            total = fit_to_limit(event, &mut answers, pcol, total);
        }
        debug_assert!(total <= RESPONSE_LIMIT_BYTES);
        let mut out = Vec::with_capacity(answers.len());
        for (rec, a) in event.records.iter().zip(answers) {
            out.push(match a.outcome {
                Outcome::Ok { row, day } => {
                    stats.ok += 1;
                    response_record(&rec.record_id, "Ok", row, HashMap::from([(pcol.clone(), day)]))
                }
                Outcome::Failed { reason, for_size } => {
                    stats.failed += 1;
                    stats.failed_for_size += usize::from(for_size);
                    // The reason only: the record's content never reaches the logs.
                    tracing::warn!(record_id = %rec.record_id, %reason, "record rejected: ProcessingFailed");
                    response_record(&rec.record_id, "ProcessingFailed", a.echo, HashMap::new())
                }
            });
        }
        let mut resp = KinesisFirehoseResponse::default();
        resp.records = out;
        (resp, stats)
    }

    fn answer(&self, rec: &FirehoseRecord) -> Answer {
        let raw = match BASE64.decode(rec.data.as_bytes()) {
            Ok(raw) => raw,
            Err(e) => {
                // Echo what came, so nothing is lost even when it is not base64.
                return Answer::failed(
                    format!("data is not valid base64: {e}"),
                    rec.data.as_bytes().to_vec(),
                );
            }
        };
        let arrival = rec
            .kinesis_record_metadata
            .as_ref()
            .and_then(|m| m.approximate_arrival_timestamp)
            .unwrap_or(rec.approximate_arrival_timestamp);
        match self.cleaner.clean(&raw, arrival) {
            Err(rejection) => Answer::failed(rejection.to_string(), raw),
            Ok(row) => {
                let mut json = Vec::with_capacity(raw.len());
                write_json_row(self.cleaner.source(), &row, &mut json);
                let day = time::format_day(row.p_date);
                Answer {
                    outcome: Outcome::Ok { row: json, day },
                    echo: raw,
                }
            }
        }
    }
}

enum Outcome {
    Ok { row: Vec<u8>, day: String },
    Failed { reason: String, for_size: bool },
}

struct Answer {
    outcome: Outcome,
    /// The original record, echoed in a ProcessingFailed answer.
    echo: Vec<u8>,
}

impl Answer {
    fn failed(reason: String, echo: Vec<u8>) -> Answer {
        Answer {
            outcome: Outcome::Failed {
                reason,
                for_size: false,
            },
            echo,
        }
    }

    /// Serialized size in the response (an upper bound), separator included.
    fn size(&self, rec: &FirehoseRecord, pcol: &str) -> usize {
        // {"recordId":..,"result":..,"data":"..","metadata":{"partitionKeys":{..}}},
        let fixed = 12 + 10 + 8 + 2 + 29 + 2 + 1 + json_str_len(&rec.record_id);
        match &self.outcome {
            Outcome::Ok { row, day } => {
                fixed + 4 + b64_len(row.len()) + 3 + json_str_len(pcol) + json_str_len(day)
            }
            Outcome::Failed { .. } => fixed + 18 + b64_len(self.echo.len()) + 2,
        }
    }
}

/// Bring an over-limit response under the limit, losing nothing: first answer
/// `ProcessingFailed` (echoing the original) for the records whose cleaned form is larger than
/// their original, largest growth first; then, if the request itself was that large, leave the
/// echo out of the largest failed answers (Firehose keeps its own copy of every failed record
/// for its error output). Returns the new total.
fn fit_to_limit(
    event: &FirehoseEvent,
    answers: &mut [Answer],
    pcol: &str,
    mut total: usize,
) -> usize {
    let mut growth: Vec<(usize, usize)> = Vec::new();
    for (i, (rec, a)) in event.records.iter().zip(answers.iter_mut()).enumerate() {
        if matches!(a.outcome, Outcome::Ok { .. }) {
            let ok = a.size(rec, pcol);
            let failed = Answer::failed(String::new(), std::mem::take(&mut a.echo));
            let fail_size = failed.size(rec, pcol);
            a.echo = failed.echo;
            if ok > fail_size {
                growth.push((ok - fail_size, i));
            }
        }
    }
    growth.sort_unstable_by(|a, b| b.cmp(a));
    for (g, i) in growth {
        if total <= RESPONSE_LIMIT_BYTES {
            return total;
        }
        answers[i].outcome = Outcome::Failed {
            reason: format!(
                "cleaned record would push the response over {RESPONSE_LIMIT_BYTES} bytes"
            ),
            for_size: true,
        };
        total -= g;
    }
    let mut echoes: Vec<(usize, usize)> = answers
        .iter()
        .enumerate()
        .filter(|(_, a)| matches!(a.outcome, Outcome::Failed { .. }))
        .map(|(i, a)| (a.echo.len(), i))
        .collect();
    echoes.sort_unstable_by(|a, b| b.cmp(a));
    for (len, i) in echoes {
        if total <= RESPONSE_LIMIT_BYTES {
            break;
        }
        answers[i].echo = Vec::new();
        total -= b64_len(len);
    }
    total
}

/// `{"records":[]}` and separators.
const ENVELOPE_BYTES: usize = 16;

fn json_str_len(s: &str) -> usize {
    serde_json::to_string(s).map_or(s.len() * 6 + 2, |j| j.len())
}

fn b64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

fn response_record(
    record_id: &str,
    result: &str,
    data: Vec<u8>,
    partition_keys: HashMap<String, String>,
) -> KinesisFirehoseResponseRecord {
    let mut metadata = KinesisFirehoseResponseRecordMetadata::default();
    metadata.partition_keys = partition_keys;
    let mut r = KinesisFirehoseResponseRecord::default();
    r.record_id = Some(record_id.to_string());
    r.result = Some(result.to_string());
    *r.data = data;
    r.metadata = metadata;
    r
}

/// The Lambda handler: a plain async function of the event.
pub async fn handle(transformer: &Transformer, event: FirehoseEvent) -> KinesisFirehoseResponse {
    let (resp, stats) = transformer.transform(&event);
    tracing::info!(
        invocation_id = event.invocation_id.as_deref().unwrap_or(""),
        records = stats.records,
        ok = stats.ok,
        failed = stats.failed,
        failed_for_size = stats.failed_for_size,
        "transformed"
    );
    resp
}
