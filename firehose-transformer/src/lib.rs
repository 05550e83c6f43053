//! The Firehose data-transformation Lambda: each record is cleaned by the source's cleaner and
//! answered `Ok` (the cleaned row as one JSON object, plus `metadata.partitionKeys.p_date`) or
//! `ProcessingFailed`, whose data is the record with its never-read values redacted (the core's
//! one redaction, `firelake_core::redact`; the reason goes to the log). Not the whole
//! kept-record shape: its fields would cost response bytes that the 6 MB limit gives to `Ok`
//! rows, and Firehose writes failed records under its error prefix from its own copy (README,
//! "Secrets and kept records").
//! The handler is a plain function over the event, so tests and `firelake transform` call it
//! directly; `main.rs` wraps it in `lambda_runtime`.
//!
//! The response is rendered straight to JSON in the shape of `aws_lambda_events`'
//! `KinesisFirehoseResponse` (a test reads it back as that type): building the typed struct
//! and serialising it cost as much as cleaning (an owned map, strings and a base64 string per
//! record, then an escape scan of every byte), and rendering also measures the response's size
//! exactly, which the 6 MB limit needs.

use std::sync::Arc;

use aws_lambda_events::event::firehose::KinesisFirehoseEvent;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use firelake_core::output::write_json_row;
use firelake_core::redact::{Raw, Redactor};
use firelake_core::source::{SourceDef, SourceError};
use firelake_core::{Cleaner, time};
use serde::Deserialize;
use serde_json::value::RawValue;

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
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TransformStats {
    pub records: usize,
    pub ok: usize,
    pub failed: usize,
    /// Records answered `ProcessingFailed` only because their output would have pushed the
    /// response over the limit (kept by Firehose under the error prefix, never dropped).
    pub failed_for_size: usize,
    /// Values the cleaner nulled in the records answered `Ok`, per column and reason.
    pub nulled: firelake_core::nulled::NullCounts,
}

impl TransformStats {
    fn add(&mut self, o: &TransformStats) {
        self.records += o.records;
        self.ok += o.ok;
        self.failed += o.failed;
        self.failed_for_size += o.failed_for_size;
        self.nulled.merge(&o.nulled);
    }
}

/// A rendered response: `{"records":[...]}` as JSON text.
pub struct TransformOutput {
    pub body: String,
    pub stats: TransformStats,
}

/// The transformation: a source's cleaner. Built once per Lambda container.
pub struct Transformer {
    cleaner: Cleaner,
    redactor: Redactor,
    threads: usize,
    /// The response's limit: [`RESPONSE_LIMIT_BYTES`], smaller only in the fuzz checks.
    limit: usize,
}

/// Below this many records an event is cleaned on one thread (spawning would cost more).
const RECORDS_PER_THREAD_MIN: usize = 256;

/// The reason of a record answered `ProcessingFailed` only for the response's size.
fn too_large_reason(limit: usize) -> String {
    format!("cleaned record would push the response over {limit} bytes")
}

/// How a record must be answered when the response would otherwise be too large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forced {
    No,
    Failed,
    /// Failed, without echoing the data (Firehose keeps its own copy for its error output).
    FailedWithoutEcho,
}

/// What rendering learnt of one record, for fitting the response under the limit.
#[derive(Debug, Clone, Copy)]
struct EntryInfo {
    len: usize,
    ok: bool,
    /// Length of this record's answer as `ProcessingFailed` with its data echoed (for an `Ok`
    /// record, measured only when the response is too large: `measure_forced`).
    failed_len: usize,
    echo_len: usize,
}

impl Transformer {
    pub fn new(def: Arc<SourceDef>) -> Transformer {
        Transformer {
            redactor: Redactor::new(&def.never_read),
            cleaner: Cleaner::new(def),
            threads: 1,
            limit: RESPONSE_LIMIT_BYTES,
        }
    }

    /// A smaller response limit, so the fuzz checks reach the fitting with small events.
    #[doc(hidden)]
    pub fn with_response_limit(mut self, bytes: usize) -> Transformer {
        self.limit = bytes;
        self
    }

    /// Clean the records of large events on up to `threads` threads (a Lambda with more
    /// than 1,769 MB has two vCPUs); answers stay in order.
    pub fn with_threads(mut self, threads: usize) -> Transformer {
        self.threads = threads.max(1);
        self
    }

    /// The source named by `FIRELAKE_SOURCE` (default `users`), from `FIRELAKE_SOURCE_DIR` or
    /// the built-in definitions; `FIRELAKE_THREADS` threads (default: the vCPUs there are).
    pub fn from_env() -> Result<Transformer, SourceError> {
        let name = std::env::var("FIRELAKE_SOURCE").unwrap_or_else(|_| "users".into());
        let dir = std::env::var_os("FIRELAKE_SOURCE_DIR").map(std::path::PathBuf::from);
        let threads = std::env::var("FIRELAKE_THREADS")
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        Ok(
            Transformer::new(Arc::new(SourceDef::resolve(&name, dir.as_deref())?))
                .with_threads(threads),
        )
    }

    pub fn source(&self) -> &SourceDef {
        self.cleaner.source()
    }

    /// Answer every record of the event, exactly once and in order, in at most
    /// `RESPONSE_LIMIT_BYTES` of JSON.
    pub fn transform(&self, event: &FirehoseEvent) -> TransformOutput {
        let recs = &event.records;
        let threads = self.threads.min(recs.len() / RECORDS_PER_THREAD_MIN).max(1);
        let (mut body, mut infos, mut stats) = if threads == 1 {
            self.render(recs, None)
        } else {
            let per = recs.len().div_ceil(threads);
            let parts: Vec<_> = std::thread::scope(|scope| {
                let handles: Vec<_> = recs
                    .chunks(per)
                    .map(|chunk| scope.spawn(move || self.render(chunk, None)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("cleaning never panics"))
                    .collect()
            });
            let mut body = String::with_capacity(parts.iter().map(|p| p.0.len() + 1).sum());
            let mut infos = Vec::with_capacity(recs.len());
            let mut stats = TransformStats::default();
            for (b, i, s) in parts {
                if !body.is_empty() && !b.is_empty() {
                    body.push(',');
                }
                body.push_str(&b);
                infos.extend(i);
                stats.add(&s);
            }
            (body, infos, stats)
        };
        if body.len() + ENVELOPE_BYTES > self.limit {
            self.measure_forced(recs, &mut infos);
            let forced = fit_to_limit(&infos, body.len() + ENVELOPE_BYTES, self.limit);
            (body, infos, stats) = self.render(recs, Some(&forced));
        }
        debug_assert_eq!(infos.len(), recs.len());
        let mut out = String::with_capacity(body.len() + ENVELOPE_BYTES);
        out.push_str("{\"records\":[");
        out.push_str(&body);
        out.push_str("]}");
        TransformOutput { body: out, stats }
    }

    /// The data of a `ProcessingFailed` answer: the record, never-read values redacted, as
    /// base64. `decoded`: the record's bytes, `None` when `data` was not base64 (the text
    /// received is kept).
    fn echo(&self, rec: &FirehoseRecord, decoded: Option<&[u8]>) -> String {
        let raw = decoded.unwrap_or(rec.data.as_bytes());
        let redacted = self.redactor.redact(Raw::Record(raw));
        base64_simd::STANDARD.encode_to_string(&redacted.bytes)
    }

    /// The lengths `Ok` records would have answered `ProcessingFailed` for the response's
    /// size (measured only when a response is too large, so `fit_to_limit` is exact).
    fn measure_forced(&self, recs: &[FirehoseRecord], infos: &mut [EntryInfo]) {
        let mut raw = Vec::new();
        for (rec, info) in recs.iter().zip(infos.iter_mut()).filter(|(_, i)| i.ok) {
            raw.clear();
            let decoded = base64_simd::STANDARD.decode_append(rec.data.as_bytes(), &mut raw);
            let decoded = decoded.is_ok().then_some(&raw[..]);
            info.echo_len = self.echo(rec, decoded).len();
            info.failed_len = FAILED_FIXED + json_str(&rec.record_id).len() + info.echo_len;
        }
    }

    /// Render the answers of `recs`, comma-separated, into one string.
    fn render(
        &self,
        recs: &[FirehoseRecord],
        forced: Option<&[Forced]>,
    ) -> (String, Vec<EntryInfo>, TransformStats) {
        let def = self.cleaner.source();
        let pcol = json_str(&def.partition_column);
        let mut out = String::with_capacity(recs.iter().map(|r| r.data.len() + 128).sum());
        let mut infos = Vec::with_capacity(recs.len());
        let mut stats = TransformStats {
            records: recs.len(),
            ..Default::default()
        };
        let mut raw = Vec::with_capacity(4096);
        let mut row = Vec::with_capacity(4096);
        for (i, rec) in recs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let start = out.len();
            let force = forced.map_or(Forced::No, |f| f[i]);
            let id = json_str(&rec.record_id);
            raw.clear();
            // SIMD base64: decoding and encoding were a fifth of the handler's time.
            let decoded = base64_simd::STANDARD.decode_append(rec.data.as_bytes(), &mut raw);
            let mut outcome = match &decoded {
                Err(_) => Err(("invalid_base64", "data is not valid base64".to_string())),
                Ok(()) => match self.cleaner.clean(&raw, arrival_of(rec)) {
                    Ok(clean) => {
                        stats.nulled.add_row(&clean);
                        row.clear();
                        write_json_row(def, &clean, &mut row);
                        let mut day = String::with_capacity(10);
                        time::push_day(clean.p_date, &mut day);
                        Ok(day)
                    }
                    Err(rejection) => Err((rejection.kind(), rejection.to_string())),
                },
            };
            if force != Forced::No && outcome.is_ok() {
                outcome = Err(("response_too_large", too_large_reason(self.limit)));
            }
            let ok = outcome.is_ok();
            let mut echo_len = 0;
            out.push_str("{\"recordId\":");
            out.push_str(&id);
            match outcome {
                Ok(day) => {
                    stats.ok += 1;
                    out.push_str(",\"result\":\"Ok\",\"data\":\"");
                    base64_simd::STANDARD.encode_append(&row, &mut out);
                    out.push_str("\",\"metadata\":{\"partitionKeys\":{");
                    out.push_str(&pcol);
                    out.push_str(":\"");
                    out.push_str(&day);
                    out.push_str("\"}}}");
                }
                Err((kind, reason)) => {
                    stats.failed += 1;
                    stats.failed_for_size += usize::from(force == Forced::Failed);
                    // The reason only: the record's content never reaches the logs.
                    tracing::warn!(record_id = %rec.record_id, kind, %reason, "record rejected: ProcessingFailed");
                    out.push_str(",\"result\":\"ProcessingFailed\",\"data\":\"");
                    if force != Forced::FailedWithoutEcho {
                        let decoded = decoded.is_ok().then_some(&raw[..]);
                        let echo = self.echo(rec, decoded);
                        echo_len = echo.len();
                        out.push_str(&echo);
                    }
                    out.push_str("\",\"metadata\":{\"partitionKeys\":{}}}");
                }
            }
            let len = out.len() - start + 1;
            infos.push(EntryInfo {
                len,
                ok,
                failed_len: if ok { 0 } else { len },
                echo_len,
            });
        }
        (out, infos, stats)
    }
}

/// When the record arrived: the Kinesis stream's arrival time, else Firehose's.
fn arrival_of(rec: &FirehoseRecord) -> i64 {
    rec.kinesis_record_metadata
        .as_ref()
        .and_then(|m| m.approximate_arrival_timestamp)
        .unwrap_or(rec.approximate_arrival_timestamp)
}

/// Which answers to force so the response fits, losing nothing: first the records whose
/// cleaned form is larger than their original are answered `ProcessingFailed` (echoing the
/// original), largest growth first; then, if the request itself was that large, the largest
/// echoes are left out (Firehose keeps its own copy of every failed record for its error
/// output).
fn fit_to_limit(infos: &[EntryInfo], mut total: usize, limit: usize) -> Vec<Forced> {
    let mut forced = vec![Forced::No; infos.len()];
    let mut growth: Vec<(usize, usize)> = infos
        .iter()
        .enumerate()
        .filter(|(_, e)| e.ok && e.len > e.failed_len)
        .map(|(i, e)| (e.len - e.failed_len, i))
        .collect();
    growth.sort_unstable_by(|a, b| b.cmp(a));
    for (g, i) in growth {
        if total <= limit {
            return forced;
        }
        forced[i] = Forced::Failed;
        total -= g;
    }
    let mut echoes: Vec<(usize, usize)> = infos
        .iter()
        .enumerate()
        .filter(|(i, e)| !e.ok || forced[*i] != Forced::No)
        .map(|(i, e)| (e.echo_len, i))
        .collect();
    echoes.sort_unstable_by(|a, b| b.cmp(a));
    for (len, i) in echoes {
        if total <= limit {
            break;
        }
        forced[i] = Forced::FailedWithoutEcho;
        total -= len;
    }
    forced
}

/// `{"records":[` and `]}`.
const ENVELOPE_BYTES: usize = 14;
/// A `ProcessingFailed` answer without its record id and data, separator included.
const FAILED_FIXED: usize =
    r#"{"recordId":,"result":"ProcessingFailed","data":"","metadata":{"partitionKeys":{}}},"#.len();

#[doc(hidden)]
pub mod fuzzing;

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

/// The Lambda handler: a plain async function of the event; the response is the JSON of a
/// `KinesisFirehoseResponse`.
pub async fn handle(transformer: &Transformer, event: FirehoseEvent) -> Box<RawValue> {
    let out = transformer.transform(&event);
    let s = out.stats;
    tracing::info!(
        invocation_id = event.invocation_id.as_deref().unwrap_or(""),
        records = s.records,
        ok = s.ok,
        failed = s.failed,
        failed_for_size = s.failed_for_size,
        "transformed"
    );
    // EMF on stdout: CloudWatch turns these log lines into metrics (docs/metrics.md).
    let def = transformer.cleaner.source();
    let now = firelake_core::stream::now_ms();
    let counts = [
        ("RecordsIn", s.records as u64),
        ("RecordsOut", s.ok as u64),
        ("Rejected", s.failed as u64),
        ("NulledValues", s.nulled.total()),
    ];
    println!("{}", firelake_core::emf::table_line(def, &counts, now));
    for line in firelake_core::emf::nulled_lines(def, &s.nulled, now) {
        println!("{line}");
    }
    RawValue::from_string(out.body).expect("the rendered response is JSON")
}
