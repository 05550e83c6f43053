//! `firelake consume`: a stream into the lake (and its catalog).

use std::sync::Arc;
use std::time::Duration;

use firelake_aws::sqs::SqsQueue;
use firelake_core::catalog::Catalog;
use firelake_core::{Cleaner, Lake, SourceDef};
use firelake_stream_consumer::kinesis::{
    KinesisOptions, StartPosition, consume_kinesis, stream_incarnation,
};
use firelake_stream_consumer::redrive::{FailureQueue, QueuedMessage, Redrive, RedriveSummary};
use firelake_stream_consumer::{ConsumerMetrics, ConsumerOptions, LakeWriter};
use futures::future::BoxFuture;

pub struct ConsumeConfig {
    pub from: String,
    pub lake: Lake,
    pub catalog: Arc<dyn Catalog>,
    pub start: StartPosition,
    pub common: ConsumerOptions,
    pub emf: bool,
    /// Set checkpoints of another incarnation of a Kinesis stream aside instead of refusing.
    pub ignore_stale_checkpoints: bool,
    /// Serve Prometheus metrics here while consuming (docs/metrics.md).
    pub metrics_addr: Option<std::net::SocketAddr>,
}

pub async fn consume(
    def: Arc<SourceDef>,
    cfg: ConsumeConfig,
) -> Result<Arc<ConsumerMetrics>, Box<dyn std::error::Error>> {
    let metrics = Arc::new(ConsumerMetrics::default());
    if let Some(addr) = cfg.metrics_addr {
        crate::metrics_server::serve(addr, metrics.clone(), def.clone()).await?;
    }
    let writer = Arc::new(LakeWriter::new(
        cfg.lake.clone(),
        cfg.catalog.clone(),
        def.clone(),
        metrics.clone(),
    ));
    let cleaner = Arc::new(Cleaner::new(def));
    if let Some(stream) = cfg.from.strip_prefix("kinesis://") {
        let client = aws_sdk_kinesis::Client::new(&firelake_aws::sdk_config().await);
        let opts = KinesisOptions {
            stream: stream.to_string(),
            start: cfg.start,
            common: cfg.common,
            shard_scan_interval: Duration::from_secs(10),
            emf: cfg.emf,
            ignore_stale_checkpoints: cfg.ignore_stale_checkpoints,
        };
        consume_kinesis(client, cleaner, writer, opts).await?;
        return Ok(metrics);
    }
    if cfg.from.starts_with("kafka://") {
        use firelake_stream_consumer::kafka::{KafkaOptions, KafkaStart, consume_kafka};
        let start = match cfg.start {
            StartPosition::TrimHorizon => KafkaStart::Earliest,
            StartPosition::Latest => KafkaStart::Latest,
            StartPosition::AtTimestamp(_) => {
                return Err("--start at_timestamp is for Kinesis; a Kafka group starts at earliest or latest".into());
            }
        };
        let opts = KafkaOptions {
            url: firelake_core::kafka_url::KafkaUrl::parse(&cfg.from)
                .map_err(|e| format!("--from {e}"))?,
            // --group (or --consumer): the consumer group.
            group: cfg.common.consumer_name.clone(),
            start,
            common: cfg.common,
        };
        if cfg.emf {
            tracing::warn!("--emf is the Kinesis consumer's; the Kafka consumer ignores it");
        }
        consume_kafka(cleaner, writer, opts).await?;
        return Ok(metrics);
    }
    Err(format!("--from {:?}: supported sources are kafka://HOST:PORT/TOPIC, kinesis://STREAM (the embedded stream is `firelake run`)", cfg.from).into())
}

/// How long a received failure record stays hidden from other receivers while this run
/// works on it (a rerun before then does not see it).
const REDRIVE_VISIBILITY_S: i32 = 300;

/// The SQS queue a Lambda event source mapping sends its on-failure records to.
struct SqsFailures(SqsQueue);

impl FailureQueue for SqsFailures {
    fn receive(&self) -> BoxFuture<'_, Result<Vec<QueuedMessage>, String>> {
        Box::pin(async move {
            let got = self.0.receive(1, REDRIVE_VISIBILITY_S).await;
            let got = got.map_err(|e| e.to_string())?;
            Ok(got
                .into_iter()
                .map(|m| QueuedMessage {
                    id: m.id,
                    receipt: m.receipt,
                    body: m.body,
                })
                .collect())
        })
    }

    fn delete<'a>(&'a self, receipt: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.0.delete(receipt).await.map_err(|e| e.to_string()) })
    }

    fn release<'a>(&'a self, receipt: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let r = self.0.set_visibility(receipt, 0).await;
            r.map_err(|e| e.to_string())
        })
    }
}

/// `firelake consume --from kinesis://S --redrive sqs://QUEUE`: the ranges named by the
/// queue's on-failure records, read from the stream into the lake.
pub async fn redrive(
    def: Arc<SourceDef>,
    cfg: ConsumeConfig,
    queue: &str,
) -> Result<(RedriveSummary, Arc<ConsumerMetrics>), Box<dyn std::error::Error>> {
    let stream = cfg.from.strip_prefix("kinesis://").ok_or_else(|| {
        format!(
            "--redrive re-reads Kinesis ranges: --from must be kinesis://STREAM, not {:?}",
            cfg.from
        )
    })?;
    let queue = SqsFailures(SqsQueue::from_url(queue).await?);
    let client = aws_sdk_kinesis::Client::new(&firelake_aws::sdk_config().await);
    let stream_arn = stream_incarnation(&client, stream).await?.arn;
    let metrics = Arc::new(ConsumerMetrics::default());
    let redrive = Redrive {
        client,
        stream: stream.to_string(),
        stream_arn,
        writer: Arc::new(LakeWriter::new(
            cfg.lake.clone(),
            cfg.catalog.clone(),
            def.clone(),
            metrics.clone(),
        )),
        cleaner: Arc::new(Cleaner::new(def)),
        limits: cfg.common.limits,
    };
    let summary = redrive.run(&queue).await?;
    Ok((summary, metrics))
}
