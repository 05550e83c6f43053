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

use crate::flags::{self, count, parse_duration};
use crate::{FlushArgs, SourceArgs, exit, init_tracing, signals};

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
    /// Also commit the written files to the lake's Iceberg table (`--iceberg`,
    /// docs/iceberg.md): the committer runs beside the consumer and commits the rest when
    /// it ends.
    #[cfg(feature = "iceberg")]
    pub iceberg: Option<crate::iceberg::IcebergTarget>,
    /// The database of the Iceberg catalog (namespace), as `run`'s `--database`.
    #[cfg(feature = "iceberg")]
    pub database: String,
    /// What a changed definition does to the Iceberg table, applied when the committer opens
    /// it, before anything is read.
    #[cfg(feature = "iceberg")]
    pub schema_policy: crate::schema_evolve::Policy,
}

/// What `consume` did: the consumer's totals, and the Iceberg summary line (`--iceberg`).
pub struct Consumed {
    pub metrics: Arc<ConsumerMetrics>,
    pub iceberg: Option<String>,
}

pub async fn consume(
    def: Arc<SourceDef>,
    cfg: ConsumeConfig,
) -> Result<Consumed, Box<dyn std::error::Error>> {
    let metrics = Arc::new(ConsumerMetrics::default());
    if let Some(addr) = cfg.metrics_addr {
        crate::metrics_server::serve(addr, metrics.clone(), def.clone()).await?;
    }
    // Opened before anything is read, so a catalog that cannot be opened fails the run; it
    // also finds and commits the files a crashed consumer wrote and never committed.
    #[cfg(feature = "iceberg")]
    let committer = crate::iceberg::Committer::start_if(
        cfg.iceberg.clone(),
        &cfg.lake,
        &cfg.database,
        def.clone(),
        cfg.schema_policy,
    )
    .await?;
    // An error of the consumer ends the process without the last commit: the next
    // `--iceberg` start commits what it wrote (the lake's files are the truth).
    consume_stream(def, cfg, metrics.clone()).await?;
    #[cfg(feature = "iceberg")]
    let iceberg = crate::iceberg::finish_line(committer).await?;
    #[cfg(not(feature = "iceberg"))]
    let iceberg = None;
    Ok(Consumed { metrics, iceberg })
}

/// The consumer of `--from` until it ends (idle, a signal's drain, or an error).
async fn consume_stream(
    def: Arc<SourceDef>,
    cfg: ConsumeConfig,
    metrics: Arc<ConsumerMetrics>,
) -> Result<(), Box<dyn std::error::Error>> {
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
        return Ok(());
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
        return Ok(());
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

/// `firelake consume`'s options.
#[derive(clap::Args, Clone)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The stream: kinesis://STREAM or kafka://HOST:PORT/TOPIC[?librdkafka.property=value&...].
    #[arg(long, env = "FIRELAKE_FROM")]
    pub from: String,
    /// The lake: s3://BUCKET/PREFIX, file://PATH or memory://.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
    pub lake: String,
    /// The catalog: glue://DATABASE, file://PATH.json, memory:// (default: the local
    /// catalog of a local lake).
    #[arg(long, env = "FIRELAKE_CATALOG")]
    pub catalog: Option<String>,
    /// Database name of the local catalog.
    #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
    pub database: String,
    /// Where a shard with no checkpoint and no checkpointed ancestry starts: trim_horizon,
    /// latest, at_timestamp:MS (a child of a checkpointed or drained shard starts at its
    /// first record).
    #[arg(long, env = "FIRELAKE_START", default_value = "trim_horizon")]
    pub start: firelake_stream_consumer::kinesis::StartPosition,
    /// Names the checkpoints (consumers with one name share the work).
    #[arg(long, env = "FIRELAKE_CONSUMER", default_value = "firelake")]
    pub consumer: String,
    /// The Kafka consumer group: its members share the topic's partitions (default: the
    /// --consumer name).
    #[arg(long, env = "FIRELAKE_GROUP")]
    pub group: Option<String>,
    /// Stop after this long without new records (default: run forever).
    #[arg(long, env = "FIRELAKE_EXIT_WHEN_IDLE", value_parser = parse_duration)]
    pub exit_when_idle: Option<Duration>,
    /// Records per GetRecords call (at most 10000).
    #[arg(long, env = "FIRELAKE_READ_BATCH", default_value_t = 10_000,
          value_parser = count::<usize>(1, flags::MAX_READ_BATCH))]
    pub read_batch: usize,
    /// Print CloudWatch embedded-metric-format lines after each flush.
    #[arg(long, env = "FIRELAKE_EMF")]
    pub emf: bool,
    /// Kinesis: checkpoints of another incarnation of the stream (deleted and recreated
    /// under the same name) stop the run unless this sets them aside
    /// (`_checkpoints/<consumer>/_stale/`) and reads those shards from --start.
    #[arg(long, env = "FIRELAKE_IGNORE_STALE_CHECKPOINTS")]
    pub ignore_stale_checkpoints: bool,
    /// Instead of following the stream: redrive the Kinesis ranges named by the Lambda
    /// event source mapping's on-failure records in this queue (sqs://QUEUE_NAME), then
    /// stop. A message is deleted once its records are durable; the others stay.
    #[arg(long, env = "FIRELAKE_REDRIVE")]
    pub redrive: Option<String>,
    /// Fail when the stream cannot be reached within this long (e.g. 30s).
    #[arg(long, env = "FIRELAKE_CONNECT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Serve Prometheus/OpenMetrics text metrics on this address while consuming, e.g.
    /// 0.0.0.0:9464 (docs/metrics.md).
    #[arg(long, env = "FIRELAKE_METRICS_ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub flush: FlushArgs,
    #[command(flatten)]
    pub rejects: exit::RejectArgs,
    #[cfg(feature = "iceberg")]
    #[command(flatten)]
    pub iceberg: crate::iceberg::IcebergArgs,
    #[command(flatten)]
    pub schema: crate::schema_evolve::PolicyArgs,
}

/// `firelake consume`: follow the stream (or redrive a queue's ranges), then the totals.
pub fn run(args: ConsumeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let ConsumeArgs {
        source,
        from,
        lake,
        catalog,
        database,
        start,
        consumer,
        group,
        exit_when_idle,
        read_batch,
        emf,
        ignore_stale_checkpoints,
        redrive: redrive_queue,
        connect_timeout,
        metrics_addr,
        flush,
        rejects,
        #[cfg(feature = "iceberg")]
        iceberg,
        schema,
    } = args;
    init_tracing("info");
    let def = source.load()?;
    let summary_def = def.clone();
    let rt = tokio::runtime::Runtime::new()?;
    let stop = signals::on_stop(&rt)?;
    let started_ms = firelake_core::stream::now_ms();
    let metrics = rt.block_on(async {
        let lake = Lake::from_url(&lake)?;
        #[cfg(feature = "iceberg")]
        let catalog_url = catalog.clone();
        let catalog = firelake_aws::open_catalog(catalog.as_deref(), &lake, &database).await?;
        let policy = schema.schema_policy;
        // Every table is checked before any is changed: the Iceberg table's refusals first.
        #[cfg(feature = "iceberg")]
        if let Some(target) = iceberg.target() {
            if redrive_queue.is_some() {
                return Err(ConsumeIcebergError::Redrive.into());
            }
            iceberg.refuse_shared_glue_database(catalog_url.as_deref())?;
            crate::iceberg::check_at_start(&lake, &target.catalog, &database, &def, policy).await?;
        }
        crate::schema_evolve::apply_at_start(catalog.as_ref(), &def, None, policy).await?;
        let redrive_stream = from.clone();
        let cfg = ConsumeConfig {
            from,
            lake,
            catalog,
            start,
            common: ConsumerOptions {
                limits: flush.limits(),
                read_batch,
                exit_when_idle,
                consumer_name: group.unwrap_or(consumer),
                connect_timeout,
                stop,
            },
            emf,
            ignore_stale_checkpoints,
            metrics_addr,
            #[cfg(feature = "iceberg")]
            iceberg: iceberg.target(),
            #[cfg(feature = "iceberg")]
            database,
            #[cfg(feature = "iceberg")]
            schema_policy: policy,
        };
        match &redrive_queue {
            Some(queue) => {
                let (summary, metrics) = redrive(def, cfg, queue).await?;
                report_redrive(&redrive_stream, &summary, &metrics)?;
                Ok(None)
            }
            None => consume(def, cfg).await.map(Some),
        }
    })?;
    let Some(Consumed { metrics, iceberg }) = metrics else {
        return Ok(());
    };
    print_consumed(&metrics, started_ms);
    println!("{}", metrics.nulled_line(&summary_def));
    if let Some(iceberg) = iceberg {
        println!("  iceberg        {iceberg}");
    }
    use ConsumerMetrics as M;
    rejects.check(
        M::get(&metrics.rejected),
        M::get(&metrics.records_in),
        "under the table's _rejected/",
    )?;
    Ok(())
}

/// `--iceberg` with what it cannot go with.
#[cfg(feature = "iceberg")]
#[derive(Debug, thiserror::Error)]
pub enum ConsumeIcebergError {
    #[error(
        "--iceberg is not for --redrive: run `firelake consume --iceberg` (or `run --iceberg`) on the lake after the redrive; it commits the files the redrive wrote"
    )]
    Redrive,
}

/// The totals line of a consume run.
fn print_consumed(metrics: &ConsumerMetrics, started_ms: i64) {
    use ConsumerMetrics as M;
    // Start to the last durable write, less the wait for more records before stopping:
    // the time the consumer needed to make everything durable.
    let last = M::get(&metrics.last_durable_ms) as i64;
    let active = if last > 0 {
        (last - started_ms - M::get(&metrics.idle_wait_ms) as i64) as f64 / 1000.0
    } else {
        0.0
    };
    println!(
        "consumed records_in={} rows_out={} rejected={} files={} rejected_files={} bytes={} partitions_added={} active_seconds={active:.3}",
        M::get(&metrics.records_in),
        M::get(&metrics.rows_out),
        M::get(&metrics.rejected),
        M::get(&metrics.files),
        M::get(&metrics.rejected_files),
        M::get(&metrics.bytes_written),
        M::get(&metrics.partitions_added),
    );
}

/// The summary line of a redrive; an error when a failure record of the stream stays.
fn report_redrive(
    stream: &str,
    s: &firelake_stream_consumer::redrive::RedriveSummary,
    m: &firelake_stream_consumer::ConsumerMetrics,
) -> Result<(), Box<dyn std::error::Error>> {
    use firelake_stream_consumer::ConsumerMetrics as M;
    use firelake_stream_consumer::redrive::KeptBecause;
    let kept = |b: KeptBecause| s.kept.iter().filter(|k| k.because == b).count();
    println!(
        "redrive messages={} redriven={} records_in={} rows_out={} rejected={} files={} files_existing={} rejected_files={} kept_not_redriven={} kept_other_stream={} kept_not_kinesis={}",
        s.messages,
        s.ranges_redriven,
        M::get(&m.records_in),
        M::get(&m.rows_out),
        M::get(&m.rejected),
        M::get(&m.files),
        M::get(&m.files_existing),
        M::get(&m.rejected_files),
        kept(KeptBecause::NotRedriven),
        kept(KeptBecause::OtherStream),
        kept(KeptBecause::NotKinesis),
    );
    let failed: Vec<_> = s.not_redriven().collect();
    match failed.first() {
        None => Ok(()),
        Some(first) => Err(format!(
            "{} on-failure record(s) of {stream} could not be redriven and stay in the queue (first, message {}: {}); see the log for each: what the stream no longer holds must come from the source again, then delete the message",
            failed.len(),
            first.message_id,
            first.detail
        )
        .into()),
    }
}
