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
        let pcol = def.partition_column.clone();
        let mut stats = TransformStats {
            records: event.records.len(),
            ..Default::default()
        };
        // What the response would weigh if every remaining record failed (echoing its data):
        // an Ok answer is taken only while that worst case still fits, so the limit holds
        // whatever the records turn into.
        let mut reserve: usize = event.records.iter().map(failed_entry_size).sum();
        let mut used = ENVELOPE_BYTES;
        let mut out = Vec::with_capacity(event.records.len());
        let mut row_json = Vec::with_capacity(2048);
        for rec in &event.records {
            let failed_size = failed_entry_size(rec);
            reserve -= failed_size;
            let answer = match BASE64.decode(rec.data.as_bytes()) {
                Err(e) => Err(format!("data is not valid base64: {e}")),
                Ok(raw) => {
                    let arrival = rec
                        .kinesis_record_metadata
                        .as_ref()
                        .and_then(|m| m.approximate_arrival_timestamp)
                        .unwrap_or(rec.approximate_arrival_timestamp);
                    match self.cleaner.clean(&raw, arrival) {
                        Err(rejection) => Err(rejection.to_string()),
                        Ok(row) => {
                            row_json.clear();
                            write_json_row(def, &row, &mut row_json);
                            let day = time::format_day(row.p_date);
                            let size = ok_entry_size(rec, row_json.len(), &pcol, &day);
                            if used + size + reserve > RESPONSE_LIMIT_BYTES {
                                stats.failed_for_size += 1;
                                Err(format!(
                                    "cleaned record would push the response over {RESPONSE_LIMIT_BYTES} bytes"
                                ))
                            } else {
                                used += size;
                                Ok((row_json.clone(), day))
                            }
                        }
                    }
                }
            };
            out.push(match answer {
                Ok((data, day)) => {
                    stats.ok += 1;
                    response_record(
                        &rec.record_id,
                        "Ok",
                        data,
                        HashMap::from([(pcol.clone(), day)]),
                    )
                }
                Err(reason) => {
                    stats.failed += 1;
                    used += failed_size;
                    // The reason only: the record's content never reaches the logs.
                    tracing::warn!(record_id = %rec.record_id, %reason, "record rejected: ProcessingFailed");
                    // Echo the original bytes (base64 as received when it cannot be decoded).
                    let original = BASE64
                        .decode(rec.data.as_bytes())
                        .unwrap_or_else(|_| rec.data.as_bytes().to_vec());
                    response_record(&rec.record_id, "ProcessingFailed", original, HashMap::new())
                }
            });
        }
        let mut resp = KinesisFirehoseResponse::default();
        resp.records = out;
        (resp, stats)
    }
}

/// `{"records":[]}` and separators.
const ENVELOPE_BYTES: usize = 16;

fn json_str_len(s: &str) -> usize {
    serde_json::to_string(s).map_or(s.len() * 6 + 2, |j| j.len())
}

fn b64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Serialized size of a ProcessingFailed answer (echoing the original data) plus a comma.
fn failed_entry_size(rec: &FirehoseRecord) -> usize {
    // {"recordId":..,"result":"ProcessingFailed","data":"..","metadata":{"partitionKeys":{}}},
    let data = if BASE64.decode(rec.data.as_bytes()).is_ok() {
        rec.data.len()
    } else {
        b64_len(rec.data.len())
    };
    json_str_len(&rec.record_id) + data + 90
}

fn ok_entry_size(rec: &FirehoseRecord, payload: usize, pcol: &str, day: &str) -> usize {
    // {"recordId":..,"result":"Ok","data":"..","metadata":{"partitionKeys":{"p_date":".."}}},
    json_str_len(&rec.record_id) + b64_len(payload) + json_str_len(pcol) + json_str_len(day) + 80
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
