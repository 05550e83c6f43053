//! Producer ticks from a source (its HTTP API, or the built-in sample generator) to a stream:
//! what `firelake produce` and the producer Lambda run. The source position (page or cursor) is saved in the state lake
//! after each published tick, so a restarted producer continues where it left off.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::dead_letter::DeadLetter;
use crate::http::{HttpApiSource, HttpSourceOptions, Position};
use crate::retry::RetryPolicy;
use crate::{PublishError, Publisher, SampleGenerator, publish_batch};
use bytes::Bytes;
use firelake_core::redact::shown_location;
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
    /// Set (by a signal handler) to stop after the tick under way: its records are published
    /// (or dead-lettered) and the source position saved.
    pub stop: Arc<AtomicBool>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct ProduceSummary {
    pub ticks: u64,
    /// Records put on the stream.
    pub records: u64,
    /// Bytes of the records the ticks took from the source (published or dead-lettered).
    pub bytes: u64,
    /// Records the stream could not take, written to the dead-letter location with the reason.
    pub dead_lettered: u64,
    /// Ticks that did not put every record on the stream (dead-lettered ones included).
    pub failed_ticks: u64,
}

/// What one tick's publish did.
enum TickOutcome {
    /// Every record is on the stream or durably dead-lettered: the source may move on.
    Done {
        records: usize,
        bytes: usize,
        dead_lettered: usize,
        /// Where the dead letters went, and the first reason.
        dead_letter: Option<String>,
    },
    /// Not every record is on the stream or durable elsewhere: the same page is fetched again.
    Failed(String),
}

/// Publish one page; undeliverable records that reached the dead-letter location count as
/// done (they are kept there, so asking the source for them again would only publish the
/// rest of the page twice and dead-letter them again, tick after tick).
async fn publish_page(
    cleaner: &Cleaner,
    publisher: &dyn Publisher,
    batch: Vec<Vec<u8>>,
) -> TickOutcome {
    let (n, bytes) = (batch.len(), batch.iter().map(Vec::len).sum());
    match publish_batch(cleaner, publisher, batch).await {
        Ok(r) => TickOutcome::Done {
            records: r.records,
            bytes: r.bytes,
            dead_lettered: 0,
            dead_letter: None,
        },
        Err(PublishError::Undelivered {
            count,
            dead_letter,
            first_reason,
        }) => TickOutcome::Done {
            records: n.saturating_sub(count),
            bytes,
            dead_lettered: count,
            dead_letter: Some(format!("{dead_letter} ({first_reason})")),
        },
        Err(e) => TickOutcome::Failed(e.to_string()),
    }
}

/// A publisher for a `--to` URL.
pub async fn publisher_for(
    to: &str,
    dead_letter: DeadLetter,
    retry: RetryPolicy,
) -> Result<Arc<dyn Publisher>, String> {
    // Messages show the target without its query: it may hold credentials.
    let shown = shown_location(to);
    if let Some(stream) = to.strip_prefix("kinesis://") {
        if stream.is_empty() {
            return Err(format!("--to {shown:?}: name the stream, kinesis://STREAM"));
        }
        return kinesis_publisher(stream, dead_letter, retry).await;
    }
    if let Some(name) = to.strip_prefix("firehose://") {
        if name.is_empty() {
            return Err(format!(
                "--to {shown:?}: name the delivery stream, firehose://NAME"
            ));
        }
        return firehose_publisher(name, dead_letter, retry).await;
    }
    if to.starts_with("kafka://") {
        let url = firelake_core::kafka_url::KafkaUrl::parse(to).map_err(|e| format!("--to {e}"))?;
        return kafka_publisher(url, dead_letter, retry).await;
    }
    Err(format!(
        "--to {shown:?}: supported targets are kafka://HOST:PORT/TOPIC, kinesis://STREAM, firehose://NAME (the embedded stream is `firelake run`)"
    ))
}

#[cfg(feature = "kinesis")]
async fn kinesis_publisher(
    stream: &str,
    dead_letter: DeadLetter,
    retry: RetryPolicy,
) -> Result<Arc<dyn Publisher>, String> {
    let client = aws_sdk_kinesis::Client::new(&firelake_aws::sdk_config().await);
    Ok(Arc::new(crate::kinesis::KinesisPublisher::new(
        client,
        stream,
        retry,
        dead_letter,
    )))
}

#[cfg(feature = "firehose")]
async fn firehose_publisher(
    name: &str,
    dead_letter: DeadLetter,
    retry: RetryPolicy,
) -> Result<Arc<dyn Publisher>, String> {
    let client = aws_sdk_firehose::Client::new(&firelake_aws::sdk_config().await);
    Ok(Arc::new(crate::firehose::FirehosePublisher::new(
        client,
        name,
        retry,
        dead_letter,
    )))
}

#[cfg(feature = "kafka")]
async fn kafka_publisher(
    url: firelake_core::kafka_url::KafkaUrl,
    dead_letter: DeadLetter,
    retry: RetryPolicy,
) -> Result<Arc<dyn Publisher>, String> {
    let shown = url.to_string();
    // Secret properties given as Secrets Manager references, for the client only.
    let url = firelake_aws::secrets::resolve_kafka(&url)
        .await
        .map_err(|e| format!("--to {shown}: {e}"))?;
    let publisher = crate::kafka::KafkaPublisher::new(url, retry, dead_letter)
        .map_err(|e| format!("--to {shown}: the Kafka producer: {e}"))?;
    Ok(Arc::new(publisher))
}

/// A target whose cargo feature is off: refused, naming the feature to build with.
#[cfg(any(
    not(feature = "kinesis"),
    not(feature = "firehose"),
    not(feature = "kafka")
))]
fn not_built(scheme: &str, feature: &str) -> Result<Arc<dyn Publisher>, String> {
    Err(format!(
        "--to {scheme}://...: this firelake is built without {feature}; rebuild it with the cargo feature `{feature}`"
    ))
}

#[cfg(not(feature = "kinesis"))]
async fn kinesis_publisher(
    _: &str,
    _: DeadLetter,
    _: RetryPolicy,
) -> Result<Arc<dyn Publisher>, String> {
    not_built("kinesis", "kinesis")
}

#[cfg(not(feature = "firehose"))]
async fn firehose_publisher(
    _: &str,
    _: DeadLetter,
    _: RetryPolicy,
) -> Result<Arc<dyn Publisher>, String> {
    not_built("firehose", "firehose")
}

#[cfg(not(feature = "kafka"))]
async fn kafka_publisher(
    _: firelake_core::kafka_url::KafkaUrl,
    _: DeadLetter,
    _: RetryPolicy,
) -> Result<Arc<dyn Publisher>, String> {
    not_built("kafka", "kafka")
}

enum TickSource {
    Http(Box<HttpApiSource>),
    Sample(Box<SampleGenerator>, usize),
}

/// Count one tick's outcome in the summary and log it.
fn record_tick(summary: &mut ProduceSummary, tick: u64, outcome: TickOutcome, to: &str) {
    match outcome {
        TickOutcome::Done {
            records,
            bytes,
            dead_lettered,
            dead_letter,
        } => {
            summary.records += records as u64;
            summary.bytes += bytes as u64;
            summary.dead_lettered += dead_lettered as u64;
            match dead_letter {
                None => tracing::info!(tick, records, to, "tick published"),
                Some(at) => {
                    summary.failed_ticks += 1;
                    tracing::error!(
                        tick,
                        records,
                        dead_lettered,
                        dead_letter = %at,
                        to,
                        "tick published what the stream took and dead-lettered the rest; the source position moved past them"
                    );
                }
            }
        }
        TickOutcome::Failed(e) => {
            summary.failed_ticks += 1;
            tracing::error!(tick, error = %e, "tick failed; the same page is fetched again");
        }
    }
}

fn position_key(def: &SourceDef) -> String {
    format!("_producer/{}/position.json", def.name)
}

/// A saved position that cannot be used. The producer stops: starting the source over would
/// publish everything again, and guessing a page could skip records.
#[derive(Debug, thiserror::Error)]
#[error(
    "the saved producer position {object} cannot be read ({reason}); nothing was fetched: restore it (an earlier version of it), or delete it to fetch the source again from its first page, then run again"
)]
pub struct PositionError {
    pub object: String,
    pub reason: String,
}

/// The position saved by an earlier run, if any (none: the source's first page).
async fn saved_position(state: &Lake, def: &SourceDef) -> Result<Option<Position>, PositionError> {
    let key = position_key(def);
    let unreadable = |reason: String| PositionError {
        object: shown_location(&state.url_of(&key)).into_owned(),
        reason,
    };
    match state.get(&key).await {
        Ok(None) => Ok(None),
        Ok(Some(saved)) => serde_json::from_slice::<Position>(&saved)
            .map(Some)
            .map_err(|e| unreadable(e.to_string())),
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// Wait `every`; false when asked to stop meanwhile.
async fn wait_or_stop(every: Duration, stop: &AtomicBool) -> bool {
    let until = tokio::time::Instant::now() + every;
    while !stop.load(Ordering::Acquire) {
        let now = tokio::time::Instant::now();
        if now >= until {
            return true;
        }
        tokio::time::sleep((until - now).min(Duration::from_millis(100))).await;
    }
    false
}

pub async fn produce(
    def: Arc<SourceDef>,
    cfg: ProduceConfig,
) -> Result<ProduceSummary, Box<dyn std::error::Error + Send + Sync>> {
    let cleaner = Cleaner::new(def.clone());
    let dead_letter = DeadLetter::new(cfg.state.clone(), &cfg.to, &def);
    let publisher = publisher_for(&cfg.to, dead_letter, cfg.retry).await?;
    let mut source = match cfg.sample_records {
        Some(n) => TickSource::Sample(Box::new(SampleGenerator::new(cfg.seed, 0.03)), n.max(1)),
        None => {
            let mut src = HttpApiSource::new(&def, cfg.http.clone()).await?;
            if let Some(p) = saved_position(&cfg.state, &def).await? {
                tracing::info!(?p, "continuing from the saved source position");
                src.set_position(p);
            }
            TickSource::Http(Box::new(src))
        }
    };
    let mut summary = ProduceSummary::default();
    for tick in 0..cfg.ticks {
        if tick > 0 && !wait_or_stop(cfg.every, &cfg.stop).await {
            tracing::info!(ticks = tick, "asked to stop: no more ticks");
            break;
        }
        let outcome = match &mut source {
            TickSource::Sample(g, n) => {
                let batch: Vec<Vec<u8>> = (0..*n).map(|_| g.next_record()).collect();
                publish_page(&cleaner, publisher.as_ref(), batch).await
            }
            TickSource::Http(src) => match src.fetch().await {
                Err(e) => TickOutcome::Failed(e.to_string()),
                Ok(page) => {
                    let batch: Vec<Vec<u8>> =
                        page.records.iter().map(|b: &Bytes| b.to_vec()).collect();
                    let outcome = publish_page(&cleaner, publisher.as_ref(), batch).await;
                    if let TickOutcome::Done { .. } = outcome {
                        // Only a page whose every record is durable somewhere moves the
                        // position: a failed tick is fetched again next time.
                        src.commit(&page);
                        let pos = serde_json::to_vec(src.position()).expect("JSON to memory");
                        cfg.state.put(&position_key(&def), pos.into()).await?;
                    }
                    outcome
                }
            },
        };
        summary.ticks += 1;
        record_tick(&mut summary, tick, outcome, &publisher.describe());
    }
    Ok(summary)
}
