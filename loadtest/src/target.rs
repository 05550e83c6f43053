//! Which stream a load test drives (`--stream`), and its two ends: the publisher the producer
//! side uses and the consumer run in this process, writing the lake through a `LakeWriter`
//! whose observer measures latency.

use std::sync::Arc;
use std::time::Duration;

use firelake_core::kafka_url::KafkaUrl;
use firelake_core::redact::shown_location;
use firelake_core::stream::EmbeddedStream;
use firelake_core::{Cleaner, Lake};
use firelake_producer::dead_letter::DeadLetter;
use firelake_producer::kafka::KafkaAuth;
use firelake_producer::retry::RetryPolicy;
use firelake_producer::{EmbeddedPublisher, Publisher};
use firelake_stream_consumer::kafka::{KafkaOptions, KafkaStart, consume_kafka};
use firelake_stream_consumer::kinesis::{KinesisOptions, StartPosition, consume_kinesis};
use firelake_stream_consumer::{ConsumerOptions, FlushLimits, LakeWriter, consume_embedded};
use futures::future::BoxFuture;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::ClientConfig;

use crate::LoadtestError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamSpec {
    Embedded,
    Kinesis { url: String, stream: String },
    Kafka { url: String, kafka: KafkaUrl },
}

impl StreamSpec {
    pub fn parse(s: &str) -> Result<StreamSpec, LoadtestError> {
        match s.split_once("://") {
            None if s == "embedded" => Ok(StreamSpec::Embedded),
            Some(("embedded", "")) => Ok(StreamSpec::Embedded),
            Some(("kinesis", name)) if !name.is_empty() && !name.contains('/') => {
                Ok(StreamSpec::Kinesis {
                    url: s.into(),
                    stream: name.into(),
                })
            }
            Some(("kafka", _)) => Ok(StreamSpec::Kafka {
                url: s.into(),
                kafka: KafkaUrl::parse(s)
                    .map_err(|e| LoadtestError::Unsupported(shown_location(s).into(), e))?,
            }),
            _ => Err(LoadtestError::UnknownStream(shown_location(s).into())),
        }
    }

    /// The stream as shown in reports, charts and errors: without a query (a Kafka URL's may
    /// hold credentials).
    pub fn url(&self) -> String {
        match self {
            StreamSpec::Embedded => "embedded".into(),
            StreamSpec::Kinesis { url, .. } | StreamSpec::Kafka { url, .. } => {
                shown_location(url).into_owned()
            }
        }
    }
}

/// A consumer running in this process until its stream is drained (embedded) or idle (remote).
pub type ConsumerRun = BoxFuture<'static, Result<(), String>>;

/// Starts a consumer; called again when a remote consumer stopped, idle, before it had read
/// everything sent (a stand-in under overload can answer nothing for longer than the idle
/// limit). The new one continues from the checkpoints or committed offsets the last one left
/// after making its buffers durable, so nothing is read twice or skipped.
pub type ConsumerStart = Box<dyn FnMut() -> ConsumerRun + Send>;

/// Both ends of a stream.
pub struct Ends {
    pub publisher: Arc<dyn Publisher>,
    pub consumer: ConsumerStart,
    /// Whether a consumer that stopped may be started again (remote streams).
    pub restartable: bool,
    /// Tells the consumer that nothing more will come (the embedded stream closes; remote
    /// consumers stop once idle).
    pub finish: Box<dyn FnOnce() + Send>,
    /// Removes what the run created (a stream made for it), once the run is over.
    pub cleanup: Option<BoxFuture<'static, Result<(), String>>>,
}

pub struct EndsConfig {
    pub run_id: String,
    pub shards: usize,
    pub limits: FlushLimits,
    /// Only what arrives from this instant (epoch ms) on is read from a remote stream.
    pub start_ms: i64,
    /// A remote consumer stops after this long without records.
    pub idle_stop: Duration,
    /// Dead letters of a remote publisher go here.
    pub lake: Lake,
    /// Create the remote stream (with `shards` shards) for this run and delete it after.
    pub create_stream: bool,
}

async fn kafka_admin(url: &KafkaUrl) -> Result<AdminClient<KafkaAuth>, LoadtestError> {
    let fail = |e: String| LoadtestError::Unsupported(url.to_string(), e);
    let url = firelake_aws::secrets::resolve_kafka(url)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &url.brokers);
    for (k, v) in url.client_properties() {
        config.set(k, v);
    }
    config
        .create_with_context(KafkaAuth::for_url(&url))
        .map_err(|e| fail(e.to_string()))
}

async fn create_topic(
    admin: &AdminClient<KafkaAuth>,
    url: &KafkaUrl,
    partitions: usize,
) -> Result<(), LoadtestError> {
    let fail = |e: String| {
        LoadtestError::Unsupported(
            format!("kafka://{}/{}", url.brokers, url.topic),
            format!("creating the topic: {e}"),
        )
    };
    let topic = NewTopic::new(&url.topic, partitions as i32, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics([&topic], &opts)
        .await
        .map_err(|e| fail(e.to_string()))?;
    for r in results {
        r.map_err(|(t, e)| fail(format!("{t}: {e}")))?;
    }
    Ok(())
}

/// How long a new Kinesis stream may take to become active.
const STREAM_ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

async fn create_kinesis_stream(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    shards: usize,
) -> Result<(), LoadtestError> {
    use aws_sdk_kinesis::error::DisplayErrorContext;
    use aws_sdk_kinesis::types::StreamStatus;
    let fail = |what: &str, e: String| {
        LoadtestError::Unsupported(format!("kinesis://{stream}"), format!("{what}: {e}"))
    };
    client
        .create_stream()
        .stream_name(stream)
        .shard_count(shards as i32)
        .send()
        .await
        .map_err(|e| fail("CreateStream", DisplayErrorContext(e).to_string()))?;
    let deadline = std::time::Instant::now() + STREAM_ACTIVE_TIMEOUT;
    loop {
        let out = client
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(|e| fail("DescribeStreamSummary", DisplayErrorContext(e).to_string()))?;
        let status = out
            .stream_description_summary()
            .map(|d| d.stream_status().clone());
        if status == Some(StreamStatus::Active) {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(fail(
                "CreateStream",
                format!("not active after {STREAM_ACTIVE_TIMEOUT:?} ({status:?})"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn open(
    spec: &StreamSpec,
    cleaner: Arc<Cleaner>,
    writer: Arc<LakeWriter>,
    cfg: EndsConfig,
) -> Result<Ends, LoadtestError> {
    // Its own checkpoints: a run never resumes another's position.
    let consumer_name = format!("loadtest-{}", cfg.run_id);
    match spec {
        StreamSpec::Embedded => Ok(open_embedded(cleaner, writer, cfg, consumer_name)),
        StreamSpec::Kinesis { url, stream } => {
            open_kinesis(url, stream, cleaner, writer, cfg, consumer_name).await
        }
        StreamSpec::Kafka { url, kafka } => {
            open_kafka(url, kafka, cleaner, writer, cfg, consumer_name).await
        }
    }
}

/// The in-process stream and its consumer (not restartable: the stream lives in the run).
fn open_embedded(
    cleaner: Arc<Cleaner>,
    writer: Arc<LakeWriter>,
    cfg: EndsConfig,
    consumer_name: String,
) -> Ends {
    // Room for every shard's unflushed buffer twice over, as `firelake replay` sizes it:
    // a put waits only when the consumer really falls behind.
    let capacity = (2 * cfg.shards * cfg.limits.max_bytes).max(64 << 20);
    let stream = Arc::new(EmbeddedStream::new(
        &format!("loadtest-{}", cfg.run_id),
        cfg.shards,
        capacity,
    ));
    let opts = ConsumerOptions {
        limits: cfg.limits,
        consumer_name,
        ..Default::default()
    };
    let s = stream.clone();
    let consumer: ConsumerStart = Box::new(move || {
        let run = consume_embedded(s.clone(), cleaner.clone(), writer.clone(), opts.clone());
        Box::pin(async move { run.await.map_err(|e| e.to_string()) })
    });
    let closer = stream.clone();
    Ends {
        publisher: Arc::new(EmbeddedPublisher::new(stream)),
        consumer,
        restartable: false,
        finish: Box::new(move || closer.close()),
        cleanup: None,
    }
}

/// A Kinesis stream (made for the run with --create-stream, deleted after) and its consumer.
async fn open_kinesis(
    url: &str,
    stream: &str,
    cleaner: Arc<Cleaner>,
    writer: Arc<LakeWriter>,
    cfg: EndsConfig,
    consumer_name: String,
) -> Result<Ends, LoadtestError> {
    let client = aws_sdk_kinesis::Client::new(&firelake_aws::sdk_config().await);
    // A stream made for the run holds only its records: read it from the start. An
    // existing one is read from the run's start on (AT_TIMESTAMP).
    let start = if cfg.create_stream {
        create_kinesis_stream(&client, stream, cfg.shards).await?;
        StartPosition::TrimHorizon
    } else {
        StartPosition::AtTimestamp(cfg.start_ms)
    };
    let cleanup: Option<BoxFuture<'static, Result<(), String>>> = cfg.create_stream.then(|| {
        let (client, stream) = (client.clone(), stream.to_string());
        Box::pin(async move {
            client
                .delete_stream()
                .stream_name(&stream)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    format!(
                        "DeleteStream {stream}: {}",
                        aws_sdk_kinesis::error::DisplayErrorContext(e)
                    )
                })
        }) as BoxFuture<'static, _>
    });
    let publisher = firelake_producer::ticks::publisher_for(
        url,
        DeadLetter::new(cfg.lake.clone(), url, cleaner.source()),
        RetryPolicy::default(),
    )
    .await
    .map_err(LoadtestError::Publisher)?;
    let opts = KinesisOptions {
        stream: stream.to_string(),
        start,
        common: ConsumerOptions {
            limits: cfg.limits,
            exit_when_idle: Some(cfg.idle_stop),
            consumer_name,
            ..Default::default()
        },
        shard_scan_interval: Duration::from_secs(10),
        emf: false,
        ignore_stale_checkpoints: false,
    };
    let c = client.clone();
    let consumer: ConsumerStart = Box::new(move || {
        let run = consume_kinesis(c.clone(), cleaner.clone(), writer.clone(), opts.clone());
        Box::pin(async move { run.await.map_err(|e| e.to_string()) })
    });
    Ok(Ends {
        publisher,
        consumer,
        restartable: true,
        finish: Box::new(|| {}),
        cleanup,
    })
}

/// The run's own Kafka topic (deleted after) and a consumer group reading it from the start.
async fn open_kafka(
    url: &str,
    kafka: &KafkaUrl,
    cleaner: Arc<Cleaner>,
    writer: Arc<LakeWriter>,
    cfg: EndsConfig,
    consumer_name: String,
) -> Result<Ends, LoadtestError> {
    // A consumer group reads a topic from its committed offsets or, for a new group,
    // from one end: the run's own topic, read from the earliest offset, holds exactly
    // its records (an existing topic would give its history or lose the records sent
    // while the group forms).
    if !cfg.create_stream {
        return Err(LoadtestError::Unsupported(
            kafka.to_string(),
            "a Kafka load test makes its own topic: add --create-stream (--shards sets its partitions)".into(),
        ));
    }
    let admin = kafka_admin(kafka).await?;
    create_topic(&admin, kafka, cfg.shards).await?;
    let publisher = firelake_producer::ticks::publisher_for(
        url,
        DeadLetter::new(cfg.lake.clone(), url, cleaner.source()),
        RetryPolicy::default(),
    )
    .await
    .map_err(LoadtestError::Publisher)?;
    let opts = KafkaOptions {
        url: kafka.clone(),
        group: consumer_name.clone(),
        start: KafkaStart::Earliest,
        common: ConsumerOptions {
            limits: cfg.limits,
            exit_when_idle: Some(cfg.idle_stop),
            consumer_name,
            ..Default::default()
        },
    };
    let consumer: ConsumerStart = Box::new(move || {
        let run = consume_kafka(cleaner.clone(), writer.clone(), opts.clone());
        Box::pin(async move { run.await.map_err(|e| e.to_string()) })
    });
    let topic = kafka.topic.clone();
    Ok(Ends {
        publisher,
        consumer,
        restartable: true,
        finish: Box::new(|| {}),
        cleanup: Some(Box::pin(async move {
            let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
            let results = admin
                .delete_topics(&[topic.as_str()], &opts)
                .await
                .map_err(|e| format!("deleting topic {topic}: {e}"))?;
            for r in results {
                r.map_err(|(t, e)| format!("deleting topic {t}: {e}"))?;
            }
            Ok(())
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_urls() {
        assert_eq!(StreamSpec::parse("embedded").unwrap(), StreamSpec::Embedded);
        assert_eq!(
            StreamSpec::parse("kinesis://s1").unwrap(),
            StreamSpec::Kinesis {
                url: "kinesis://s1".into(),
                stream: "s1".into()
            }
        );
        assert!(matches!(
            StreamSpec::parse("kafka://127.0.0.1:9092/t").unwrap(),
            StreamSpec::Kafka { .. }
        ));
        for bad in [
            "kinesis://",
            "kafka://host",
            "kafka://h:1/bad topic",
            "s3://x",
            "nope",
        ] {
            assert!(StreamSpec::parse(bad).is_err(), "{bad}");
        }
    }
}
