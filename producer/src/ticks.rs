//! Producer ticks from a source (its HTTP API, or the built-in sample generator) to a stream:
//! what `firelake produce` and the producer Lambda run. The source position (page or cursor) is saved in the state lake
//! after each published tick, so a restarted producer continues where it left off.

use std::sync::Arc;
use std::time::Duration;

use crate::dead_letter::DeadLetter;
use crate::http::{HttpApiSource, HttpSourceOptions, Position};
use crate::kinesis::KinesisPublisher;
use crate::retry::RetryPolicy;
use crate::{Publisher, SampleGenerator, publish_batch};
use bytes::Bytes;
use firelake_core::{Cleaner, Lake, SourceDef};

pub struct ProduceConfig {
    pub to: String,
    pub ticks: u64,
    pub every: Duration,
    pub http: HttpSourceOptions,
    /// Records per tick from the built-in sample generator instead of the HTTP API.
    pub sample_records: Option<usize>,
    pub seed: u64,
    pub retry: RetryPolicy,
    /// Dead letters and the producer's saved position.
    pub state: Lake,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct ProduceSummary {
    pub ticks: u64,
    pub records: u64,
    pub bytes: u64,
    pub failed_ticks: u64,
}

/// A publisher for a `--to` URL.
pub async fn publisher_for(
    to: &str,
    dead_letter: DeadLetter,
    retry: RetryPolicy,
) -> Result<Arc<dyn Publisher>, String> {
    if let Some(stream) = to.strip_prefix("kinesis://") {
        if stream.is_empty() {
            return Err(format!("--to {to:?}: name the stream, kinesis://STREAM"));
        }
        let client = aws_sdk_kinesis::Client::new(&firelake_aws::sdk_config().await);
        return Ok(Arc::new(KinesisPublisher::new(
            client,
            stream,
            retry,
            dead_letter,
        )));
    }
    if let Some(name) = to.strip_prefix("firehose://") {
        if name.is_empty() {
            return Err(format!(
                "--to {to:?}: name the delivery stream, firehose://NAME"
            ));
        }
        let client = aws_sdk_firehose::Client::new(&firelake_aws::sdk_config().await);
        return Ok(Arc::new(crate::firehose::FirehosePublisher::new(
            client,
            name,
            retry,
            dead_letter,
        )));
    }
    if to.starts_with("kafka://") {
        let url = firelake_core::kafka_url::KafkaUrl::parse(to).map_err(|e| format!("--to {e}"))?;
        let shown = url.to_string();
        let publisher = crate::kafka::KafkaPublisher::new(url, retry, dead_letter)
            .map_err(|e| format!("--to {shown}: the Kafka producer: {e}"))?;
        return Ok(Arc::new(publisher));
    }
    Err(format!(
        "--to {to:?}: supported targets are kafka://HOST:PORT/TOPIC, kinesis://STREAM, firehose://NAME (the embedded stream is `firelake run`)"
    ))
}

enum TickSource {
    Http(Box<HttpApiSource>),
    Sample(Box<SampleGenerator>, usize),
}

fn position_key(def: &SourceDef) -> String {
    format!("_producer/{}/position.json", def.name)
}

pub async fn produce(
    def: Arc<SourceDef>,
    cfg: ProduceConfig,
) -> Result<ProduceSummary, Box<dyn std::error::Error + Send + Sync>> {
    let cleaner = Cleaner::new(def.clone());
    let dead_letter = DeadLetter::new(cfg.state.clone(), &cfg.to);
    let publisher = publisher_for(&cfg.to, dead_letter, cfg.retry).await?;
    let mut source = match cfg.sample_records {
        Some(n) => TickSource::Sample(Box::new(SampleGenerator::new(cfg.seed, 0.03)), n.max(1)),
        None => {
            let mut src = HttpApiSource::new(&def, cfg.http.clone()).await?;
            if let Some(saved) = cfg.state.get(&position_key(&def)).await?
                && let Ok(p) = serde_json::from_slice::<Position>(&saved)
            {
                tracing::info!(?p, "continuing from the saved source position");
                src.set_position(p);
            }
            TickSource::Http(Box::new(src))
        }
    };
    let mut summary = ProduceSummary::default();
    for tick in 0..cfg.ticks {
        if tick > 0 {
            tokio::time::sleep(cfg.every).await;
        }
        let result = match &mut source {
            TickSource::Sample(g, n) => {
                let batch: Vec<Vec<u8>> = (0..*n).map(|_| g.next_record()).collect();
                publish_batch(&cleaner, publisher.as_ref(), batch)
                    .await
                    .map_err(|e| e.to_string())
            }
            TickSource::Http(src) => match src.fetch().await {
                Err(e) => Err(e.to_string()),
                Ok(page) => {
                    let batch: Vec<Vec<u8>> =
                        page.records.iter().map(|b: &Bytes| b.to_vec()).collect();
                    match publish_batch(&cleaner, publisher.as_ref(), batch).await {
                        Ok(report) => {
                            // Only a published page moves the position: a failed tick is
                            // fetched again next time.
                            src.commit(&page);
                            let pos = serde_json::to_vec(src.position()).expect("JSON to memory");
                            cfg.state.put(&position_key(&def), pos.into()).await?;
                            Ok(report)
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
            },
        };
        summary.ticks += 1;
        match result {
            Ok(r) => {
                summary.records += r.records as u64;
                summary.bytes += r.bytes as u64;
                tracing::info!(tick, records = r.records, to = %publisher.describe(), "tick published");
            }
            Err(e) => {
                summary.failed_ticks += 1;
                tracing::error!(tick, error = %e, "tick failed");
            }
        }
    }
    Ok(summary)
}
