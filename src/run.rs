//! `firelake run`: the main job on embedded defaults. The sample source is ticked by the
//! producer onto the in-process stream; the stream-consumer cleans, writes Parquet and rejected
//! records to the lake and registers partitions in the catalog, exactly as in production.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use firelake_core::catalog::{Catalog, LocalCatalog, MemoryCatalog};
use firelake_core::stream::EmbeddedStream;
use firelake_core::{Cleaner, Lake, SourceDef};
use firelake_producer::{EmbeddedPublisher, Publisher, SampleGenerator, publish_batch};
use firelake_stream_consumer::{ConsumerMetrics, ConsumerOptions, LakeWriter, consume_embedded};

use crate::flags::{self, count};
use crate::{FlushArgs, SourceArgs, exit, init_tracing, signals};

pub struct RunConfig {
    /// Set by a signal: the producer stops; what it produced is consumed and written.
    pub stop: Arc<AtomicBool>,
    pub records: u64,
    pub per_tick: usize,
    pub seed: u64,
    pub bad_rate: f64,
    pub shards: usize,
    pub lake: Lake,
    pub database: String,
    pub consumer: ConsumerOptions,
    /// Serve Prometheus metrics here during the run (docs/metrics.md).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Also commit the written files to an Iceberg table (`--iceberg`, docs/iceberg.md).
    #[cfg(feature = "iceberg")]
    pub iceberg: Option<crate::iceberg::IcebergTarget>,
    /// What a changed definition does to the Iceberg table (`--schema-policy`), applied when
    /// the committer opens it, before anything is written.
    #[cfg(feature = "iceberg")]
    pub schema_policy: crate::schema_evolve::Policy,
}

#[derive(Debug, Default)]
pub struct RunSummary {
    pub produced: u64,
    pub records_in: u64,
    pub rows_out: u64,
    pub rejected: u64,
    pub files: u64,
    pub rejected_files: u64,
    /// The `nulled values` summary line ([`ConsumerMetrics::nulled_line`]).
    pub nulled: String,
    pub bytes: u64,
    pub partitions: Vec<String>,
    pub seconds: f64,
    pub catalog: String,
    /// What was committed to the Iceberg table, and where it is (`--iceberg`).
    pub iceberg: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the sample source generates users records; run with --source users (got {0:?})")]
    NoSampleFor(String),
    #[error(transparent)]
    Consume(#[from] firelake_stream_consumer::embedded::ConsumeError),
    #[error(transparent)]
    Publish(#[from] firelake_producer::PublishError),
    #[error(transparent)]
    Catalog(#[from] firelake_core::catalog::CatalogError),
    #[error("{0}")]
    Metrics(String),
    #[error("a pipeline task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[cfg(feature = "iceberg")]
    #[error(transparent)]
    Iceberg(#[from] crate::iceberg::RunIcebergError),
}

/// Read records against the total, and what is written; drawn only on a terminal.
pub fn progress_bar(records: u64) -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(records).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} read {pos}/{len} [{bar:30}] {msg} {elapsed}",
        )
        .expect("valid template"),
    )
}

/// The rate is records read over the time since the start, as the summary computes it
/// (indicatif's own rate is a recent average, which disagreed with the summary).
fn show_progress(progress: &indicatif::ProgressBar, m: &ConsumerMetrics, started: Instant) {
    let read = m.records_in.load(Ordering::Relaxed);
    let rate = read as f64 / started.elapsed().as_secs_f64().max(1e-3);
    progress.set_position(read);
    progress.set_message(format!(
        "{rate:.0} records/s, written {} Parquet + {} rejected-record files ({})",
        m.files.load(Ordering::Relaxed),
        m.rejected_files.load(Ordering::Relaxed),
        indicatif::HumanBytes(m.bytes_written.load(Ordering::Relaxed)),
    ));
}

pub async fn run_embedded(
    def: Arc<SourceDef>,
    cfg: RunConfig,
    progress: &indicatif::ProgressBar,
) -> Result<RunSummary, RunError> {
    if def.name != "users" {
        return Err(RunError::NoSampleFor(def.name.clone()));
    }
    let started = Instant::now();
    let cleaner = Arc::new(Cleaner::new(def.clone()));
    let stream = Arc::new(EmbeddedStream::new("users", cfg.shards, 256 << 20));
    let catalog: Arc<dyn Catalog> = match cfg.lake.local_root() {
        Some(root) => Arc::new(LocalCatalog::beside_lake(root, &cfg.database)),
        None => Arc::new(MemoryCatalog::default()),
    };
    let metrics = Arc::new(ConsumerMetrics::default());
    if let Some(addr) = cfg.metrics_addr {
        crate::metrics_server::serve(addr, metrics.clone(), def.clone())
            .await
            .map_err(RunError::Metrics)?;
    }
    let writer = Arc::new(LakeWriter::new(
        cfg.lake.clone(),
        catalog.clone(),
        def.clone(),
        metrics.clone(),
    ));
    // Opened before anything is written, so a catalog that cannot be opened fails the run.
    #[cfg(feature = "iceberg")]
    let committer = crate::iceberg::Committer::start_if(
        cfg.iceberg.clone(),
        &cfg.lake,
        &cfg.database,
        def.clone(),
        cfg.schema_policy,
    )
    .await?;
    let consumer = tokio::spawn(consume_embedded(
        stream.clone(),
        cleaner.clone(),
        writer,
        cfg.consumer.clone(),
    ));

    let producer = spawn_producer(stream.clone(), cleaner.clone(), &cfg);

    progress.set_length(cfg.records);
    let mut producer = Some(producer);
    let mut produced = 0;
    while !consumer.is_finished() {
        show_progress(progress, &metrics, started);
        if let Some(p) = producer.take_if(|p| p.is_finished()) {
            produced = p.await??;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    consumer.await??;
    if let Some(p) = producer {
        produced = p.await??;
    }
    progress.finish_and_clear();
    #[cfg(feature = "iceberg")]
    let iceberg = crate::iceberg::finish_line(committer).await?;
    #[cfg(not(feature = "iceberg"))]
    let iceberg = None;

    let partitions = partition_names(&*catalog, &def.table).await?;
    let m = &metrics;
    Ok(RunSummary {
        produced,
        records_in: ConsumerMetrics::get(&m.records_in),
        rows_out: ConsumerMetrics::get(&m.rows_out),
        rejected: ConsumerMetrics::get(&m.rejected),
        files: ConsumerMetrics::get(&m.files),
        rejected_files: ConsumerMetrics::get(&m.rejected_files),
        nulled: m.nulled_line(&def),
        bytes: ConsumerMetrics::get(&m.bytes_written),
        partitions,
        seconds: started.elapsed().as_secs_f64(),
        catalog: catalog.describe(),
        iceberg,
    })
}

/// The sample producer: ticks of `per_tick` records until `records` are on the stream (or a
/// signal stops it); the stream is closed when it ends.
fn spawn_producer(
    stream: Arc<EmbeddedStream>,
    cleaner: Arc<Cleaner>,
    cfg: &RunConfig,
) -> tokio::task::JoinHandle<Result<u64, firelake_producer::PublishError>> {
    let (records, per_tick, stop) = (cfg.records, cfg.per_tick as u64, cfg.stop.clone());
    let mut generator = SampleGenerator::new(cfg.seed, cfg.bad_rate);
    tokio::spawn(async move {
        let publisher = EmbeddedPublisher::new(stream.clone());
        let mut produced = 0u64;
        let result = async {
            while produced < records && !stop.load(Ordering::Acquire) {
                let n = (records - produced).min(per_tick) as usize;
                let batch: Vec<Vec<u8>> = (0..n).map(|_| generator.next_record()).collect();
                let report = publish_batch(&cleaner, &publisher as &dyn Publisher, batch).await?;
                produced += report.records as u64;
                // A put into the embedded stream is ready at once until it is full, so
                // without this the producer never yields: the consumer it wakes waits in
                // this worker's LIFO slot (which no other worker takes) and nothing is read
                // or written until the stream is full or the producer done.
                tokio::task::yield_now().await;
            }
            Ok(produced)
        }
        .await;
        stream.close();
        result
    })
}

/// The table's partitions in the catalog (none when nothing was written, so no table).
async fn partition_names(catalog: &dyn Catalog, table: &str) -> Result<Vec<String>, RunError> {
    let partitions = catalog.partitions(table).await.or_else(|e| match e {
        firelake_core::catalog::CatalogError::NoTable(_) => Ok(Vec::new()),
        e => Err(e),
    })?;
    Ok(partitions.into_iter().map(|p| p.values.join("/")).collect())
}

pub fn print_summary(def: &SourceDef, lake: &Lake, s: &RunSummary, out: &mut dyn std::io::Write) {
    let rate = if s.seconds > 0.0 {
        s.records_in as f64 / s.seconds
    } else {
        0.0
    };
    let table = &def.table;
    let _ = writeln!(
        out,
        "firelake run: sample source -> embedded stream -> {}\n\
         \x20 records in     {}\n\
         \x20 rows out       {}\n\
         \x20 rejected       {} (raw bytes and reasons under {table}/_rejected/)\n\
         {}\n\
         \x20 files written  {} Parquet, {} rejected-record files, {} bytes\n\
         \x20 partitions     {} in the catalog ({}): {}\n\
         \x20 rate           {:.0} records/s ({:.2} s)",
        lake.url(),
        s.records_in,
        s.rows_out,
        s.rejected,
        s.nulled,
        s.files,
        s.rejected_files,
        s.bytes,
        s.partitions.len(),
        s.catalog,
        s.partitions.join(", "),
        rate,
        s.seconds,
    );
    if let Some(root) = lake.local_root() {
        let data = root.join(table);
        let _ = writeln!(
            out,
            "where to look:\n  data      {}/{}=YYYY-MM-DD/*.parquet\n  rejected  {}/_rejected/\n\
             query it:\n  duckdb -c \"SELECT {p}, count(*) AS rows FROM read_parquet('{}/{p}=*/*.parquet', hive_partitioning = true) GROUP BY 1 ORDER BY 1\"",
            data.display(),
            def.partition_column,
            data.display(),
            data.display(),
            p = def.partition_column,
        );
    }
    if let Some(iceberg) = &s.iceberg {
        let _ = writeln!(out, "  iceberg        {iceberg}");
    }
    if s.produced != s.records_in {
        let _ = writeln!(
            out,
            "WARNING: {} records produced but {} consumed",
            s.produced, s.records_in
        );
    }
}

/// `firelake run`'s options.
#[derive(clap::Args, Clone)]
pub struct RunArgs {
    /// How many records the sample source produces.
    #[arg(long, env = "FIRELAKE_RECORDS", default_value_t = 20_000)]
    pub records: u64,
    /// Where the lake is: file://PATH, a plain path, or memory://.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
    pub lake: String,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Seed of the sample generator (same seed, same records).
    #[arg(long, env = "FIRELAKE_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Share of corrupt records the sample source makes.
    #[arg(long, env = "FIRELAKE_BAD_RATE", default_value_t = 0.03, value_parser = flags::fraction)]
    pub bad_rate: f64,
    /// Records per producer tick.
    #[arg(long, env = "FIRELAKE_PER_TICK", default_value_t = 1000,
          value_parser = count::<usize>(1, flags::MAX_TICK_RECORDS))]
    pub per_tick: usize,
    /// Shards of the embedded stream.
    #[arg(long, env = "FIRELAKE_SHARDS", default_value_t = 2,
          value_parser = count::<usize>(1, flags::MAX_PARALLEL))]
    pub shards: usize,
    /// Glue-shaped catalog database name (local file <lake>/_catalog/<db>.json).
    #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
    pub database: String,
    /// Serve Prometheus/OpenMetrics text metrics on this address during the run, e.g.
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

/// `firelake run`: produce, consume and land on embedded defaults, then the summary.
pub fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let RunArgs {
        records,
        lake,
        source,
        seed,
        bad_rate,
        per_tick,
        shards,
        database,
        metrics_addr,
        flush,
        rejects,
        #[cfg(feature = "iceberg")]
        iceberg,
        schema,
    } = args;
    init_tracing("warn");
    let def = source.load()?;
    let lake = Lake::from_url(&lake)?;
    let rt = tokio::runtime::Runtime::new()?;
    // Every table is checked before any is changed: the Iceberg table's refusals first.
    #[cfg(feature = "iceberg")]
    if let Some(target) = iceberg.target() {
        rt.block_on(crate::iceberg::check_at_start(
            &lake,
            &target.catalog,
            &database,
            &def,
            schema.schema_policy,
        ))?;
    }
    if let Some(root) = lake.local_root() {
        let catalog = LocalCatalog::beside_lake(root, &database);
        let policy = schema.schema_policy;
        rt.block_on(crate::schema_evolve::apply_at_start(
            &catalog, &def, None, policy,
        ))?;
    }
    let stop = signals::on_stop(&rt)?;
    let cfg = RunConfig {
        stop,
        records,
        per_tick,
        seed,
        bad_rate,
        shards,
        lake: lake.clone(),
        database,
        consumer: ConsumerOptions {
            limits: flush.limits(),
            ..Default::default()
        },
        metrics_addr,
        #[cfg(feature = "iceberg")]
        iceberg: iceberg.target(),
        #[cfg(feature = "iceberg")]
        schema_policy: schema.schema_policy,
    };
    let progress = progress_bar(records);
    let summary = rt.block_on(run_embedded(def.clone(), cfg, &progress))?;
    print_summary(&def, &lake, &summary, &mut std::io::stdout());
    if summary.produced < records {
        println!(
            "  stopped by a signal after {} of {records} records: they are in the lake",
            summary.produced
        );
    }
    if summary.produced != summary.records_in {
        return Err("not every produced record was consumed".into());
    }
    let kept = format!("under {}/_rejected/", def.table);
    rejects.check(summary.rejected, summary.records_in, kept)?;
    Ok(())
}
