//! Lambda mode for a Kinesis event source mapping (AWS spreads the shards and keeps the
//! checkpoints): each batch's records are cleaned and written per shard exactly as the
//! self-run consumer writes them (same keys, so the two modes never duplicate a file), and the
//! response names, per shard, the first record not made durable, so Lambda retries from there
//! (ReportBatchItemFailures). A batch that still fails after the mapping's retries is
//! given up by Lambda, which sends only its shard and sequence range to the on-failure
//! destination: `firelake consume --from kinesis://S --redrive sqs://QUEUE` (`redrive`)
//! writes those ranges into the lake the same way.

use std::path::PathBuf;
use std::sync::Arc;

use aws_lambda_events::event::kinesis::KinesisEvent;
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use firelake_core::nulled::NullCounts;
use firelake_core::stream::now_ms;
use firelake_core::{Cleaner, SourceDef, emf};

use crate::buffer::{Pushed, ShardBuffer};
use crate::metrics::ConsumerMetrics;
use crate::writer::LakeWriter;

/// The Lambda's settings: `firelake consume`'s env twins (tests/env_twins.rs holds them
/// together); the lake and the catalog have no local defaults here.
#[derive(clap::Parser, Debug, Clone)]
pub struct LambdaConfig {
    #[arg(long, env = "FIRELAKE_SOURCE", default_value = "users")]
    pub source: String,
    #[arg(long, env = "FIRELAKE_SOURCE_DIR")]
    pub source_dir: Option<PathBuf>,
    /// s3://BUCKET/PREFIX
    #[arg(long, env = "FIRELAKE_LAKE")]
    pub lake: String,
    /// glue://DATABASE
    #[arg(long, env = "FIRELAKE_CATALOG")]
    pub catalog: String,
    /// evolve|freeze: schema changes of the source definition, applied (or refused) at cold
    /// start (docs/schema-evolution.md).
    #[arg(long, env = "FIRELAKE_SCHEMA_POLICY", default_value = "evolve")]
    pub schema_policy: firelake_core::schema_evolution::Policy,
}

/// `arn:aws:kinesis:REGION:ACCOUNT:stream/NAME` -> NAME
fn stream_name(arn: &str) -> &str {
    arn.rsplit_once("stream/").map_or(arn, |(_, n)| n)
}

/// Handle one batch and print its EMF lines (CloudWatch turns them into metrics).
pub async fn handle_kinesis_event(
    event: KinesisEvent,
    cleaner: &Arc<Cleaner>,
    writer: &LakeWriter,
) -> KinesisEventResponse {
    let handled = handle_kinesis_batch(event, cleaner, writer).await;
    for line in &handled.emf {
        println!("{line}");
    }
    handled.response
}

/// What a batch produced: the partial batch response and the EMF lines to print.
pub struct BatchHandled {
    pub response: KinesisEventResponse,
    /// `RecordsIn`, `RecordsOut`, `Rejected`, `NulledValues` for the table, then one line per
    /// nulled (column, reason) of the shards made durable (docs/metrics.md), as the Firehose
    /// Lambda prints them.
    pub emf: Vec<String>,
}

/// Handle one batch. Never fails as a whole: what could not be persisted is reported.
pub async fn handle_kinesis_batch(
    event: KinesisEvent,
    cleaner: &Arc<Cleaner>,
    writer: &LakeWriter,
) -> BatchHandled {
    let mut batch = BatchCounts::default();
    // Records of a shard arrive in order; keep shards in order of first appearance.
    let mut shards: Vec<(String, String, ShardBuffer, String)> = Vec::new();
    let metrics = writer.metrics();
    for r in &event.records {
        let stream = stream_name(r.event_source_arn.as_deref().unwrap_or("unknown")).to_string();
        let shard = r
            .event_id
            .as_deref()
            .and_then(|id| id.split_once(':'))
            .map_or("unknown", |(s, _)| s)
            .to_string();
        let seq = r.kinesis.sequence_number.clone();
        let idx = match shards
            .iter()
            .position(|(st, sh, _, _)| *st == stream && *sh == shard)
        {
            Some(i) => i,
            None => {
                let buf = ShardBuffer::new(cleaner.clone(), &format!("kinesis.{stream}"), &shard);
                shards.push((stream.clone(), shard.clone(), buf, seq.clone()));
                shards.len() - 1
            }
        };
        let arrival_ms = (r.kinesis.approximate_arrival_timestamp.0.timestamp_millis()).max(0);
        ConsumerMetrics::add(&metrics.records_in, 1);
        batch.records_in += 1;
        match shards[idx].2.push(&seq, arrival_ms, &r.kinesis.data) {
            Pushed::Row => {
                ConsumerMetrics::add(&metrics.rows_out, 1);
                batch.rows_out += 1;
            }
            Pushed::Rejected => {
                ConsumerMetrics::add(&metrics.rejected, 1);
                batch.rejected += 1;
            }
        }
    }
    let mut failures = Vec::new();
    for (stream, shard, mut buffer, first_seq) in shards {
        let flushes = buffer.take();
        let mut nulled = NullCounts::default();
        for f in &flushes {
            nulled.merge(&f.nulled_counts);
        }
        match writer.write(flushes).await {
            // Counted once durable: a shard Lambda retries is counted when it lands.
            Ok(()) => batch.nulled.merge(&nulled),
            Err(e) => {
                tracing::error!(stream, shard, error = %e, "batch not persisted; Lambda will retry it");
                let mut f = KinesisBatchItemFailure::default();
                f.item_identifier = Some(first_seq);
                failures.push(f);
            }
        }
    }
    let mut response = KinesisEventResponse::default();
    response.batch_item_failures = failures;
    BatchHandled {
        response,
        emf: batch.emf_lines(writer.definition(), now_ms()),
    }
}

/// One batch's counts, for its EMF lines.
#[derive(Default)]
struct BatchCounts {
    records_in: u64,
    rows_out: u64,
    rejected: u64,
    nulled: NullCounts,
}

impl BatchCounts {
    fn emf_lines(&self, def: &SourceDef, now: i64) -> Vec<String> {
        let counts = [
            ("RecordsIn", self.records_in),
            ("RecordsOut", self.rows_out),
            ("Rejected", self.rejected),
            ("NulledValues", self.nulled.total()),
        ];
        let mut lines = vec![emf::table_line(def, &counts, now)];
        lines.extend(emf::nulled_lines(def, &self.nulled, now));
        lines
    }
}
