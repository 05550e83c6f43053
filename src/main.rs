//! `firelake`: one binary for local and operator use. Every flag has an environment variable
//! twin (`FIRELAKE_*`), the same names the Lambdas read.

#[cfg(feature = "compact")]
mod catalog_sql;
#[cfg(feature = "compact")]
mod compact;
#[cfg(feature = "compact")]
mod compact_hints;
#[cfg(all(feature = "kinesis", feature = "kafka", feature = "sqs"))]
mod consume;
mod convert;
mod exit;
mod flags;
#[cfg(feature = "loadtest")]
mod loadtest;
mod logs;
mod metrics_server;
mod pipeline_file;
mod replay;
#[cfg(feature = "compact")]
mod reprocess;
mod republish;
mod run;
mod schema;
mod signals;
mod status;
#[cfg(feature = "compact")]
mod status_curated;
mod status_html;
#[cfg(feature = "sync")]
mod sync;
mod transform;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use firelake_core::{Lake, SourceDef};
use firelake_firehose_transformer::Transformer;
use firelake_stream_consumer::{ConsumerOptions, FlushLimits};
use flags::{count, parse_duration};

#[derive(Parser)]
#[command(
    name = "firelake",
    version,
    about = "Streaming-first ingestion into a partitioned Parquet data lake"
)]
struct Cli {
    /// Log lines on stderr: text, or one JSON object per line.
    #[arg(
        long,
        global = true,
        env = "FIRELAKE_LOG_FORMAT",
        value_enum,
        default_value_t
    )]
    log_format: logs::LogFormat,
    /// After SIGINT/SIGTERM, how long `run`, `consume`, `replay` and `produce` may take to
    /// write, checkpoint and stop before they exit at once (code 130).
    #[arg(long, global = true, env = "FIRELAKE_SHUTDOWN_TIMEOUT",
          default_value = signals::DEFAULT_SHUTDOWN_TIMEOUT, value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// Pipeline file whose values every option may come from (default: ./firelake.toml when
    /// it exists; docs/pipeline-file.md). Flags win over env vars, env vars over the file.
    #[arg(long, global = true, env = "FIRELAKE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct SourceArgs {
    /// Source definition: a built-in name (users), a name found in --source-dir, or a .toml path.
    #[arg(long, env = "FIRELAKE_SOURCE", default_value = "users")]
    source: String,
    /// Folder of source definitions (<name>.toml) that take precedence over the built-in ones.
    #[arg(long, env = "FIRELAKE_SOURCE_DIR")]
    source_dir: Option<PathBuf>,
}

impl SourceArgs {
    fn load(&self) -> Result<Arc<SourceDef>, firelake_core::SourceError> {
        SourceDef::resolve(&self.source, self.source_dir.as_deref()).map(Arc::new)
    }
}

#[derive(Args, Clone)]
struct FlushArgs {
    /// Flush a shard's buffer at this many records.
    #[arg(long, env = "FIRELAKE_FLUSH_RECORDS", default_value_t = 500_000,
          value_parser = count::<usize>(1, flags::MAX_FLUSH_RECORDS))]
    flush_records: usize,
    /// Flush a shard's buffer at this many MiB of raw records.
    #[arg(long, env = "FIRELAKE_FLUSH_MB", default_value_t = 64,
          value_parser = count::<usize>(1, flags::MAX_FLUSH_MB))]
    flush_mb: usize,
    /// Flush a shard's buffer when its oldest record has waited this long (e.g. 60s, 500ms).
    #[arg(long, env = "FIRELAKE_FLUSH_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    flush_interval: Duration,
}

impl FlushArgs {
    fn limits(&self) -> FlushLimits {
        FlushLimits {
            max_records: self.flush_records,
            max_bytes: self.flush_mb << 20,
            max_age: self.flush_interval,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// The main job on embedded defaults: sample source -> in-process stream -> ./lake.
    Run {
        /// How many records the sample source produces.
        #[arg(long, env = "FIRELAKE_RECORDS", default_value_t = 20_000)]
        records: u64,
        /// Where the lake is: file://PATH, a plain path, or memory://.
        #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
        lake: String,
        #[command(flatten)]
        source: SourceArgs,
        /// Seed of the sample generator (same seed, same records).
        #[arg(long, env = "FIRELAKE_SEED", default_value_t = 42)]
        seed: u64,
        /// Share of corrupt records the sample source makes.
        #[arg(long, env = "FIRELAKE_BAD_RATE", default_value_t = 0.03, value_parser = flags::fraction)]
        bad_rate: f64,
        /// Records per producer tick.
        #[arg(long, env = "FIRELAKE_PER_TICK", default_value_t = 1000,
              value_parser = count::<usize>(1, flags::MAX_TICK_RECORDS))]
        per_tick: usize,
        /// Shards of the embedded stream.
        #[arg(long, env = "FIRELAKE_SHARDS", default_value_t = 2,
              value_parser = count::<usize>(1, flags::MAX_PARALLEL))]
        shards: usize,
        /// Glue-shaped catalog database name (local file <lake>/_catalog/<db>.json).
        #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
        database: String,
        /// Serve Prometheus/OpenMetrics text metrics on this address during the run, e.g.
        /// 0.0.0.0:9464 (docs/metrics.md).
        #[arg(long, env = "FIRELAKE_METRICS_ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
        #[command(flatten)]
        flush: FlushArgs,
        #[command(flatten)]
        rejects: exit::RejectArgs,
    },
    /// Clean an input file (CSV, JSON lines or Parquet; gzip/zstd, read as `replay` reads it)
    /// into one Parquet file (p_date kept as a column).
    Convert {
        input: PathBuf,
        output: PathBuf,
        #[command(flatten)]
        source: SourceArgs,
        /// Input format (default: from the name: .csv, .jsonl/.ndjson, .parquet).
        #[arg(long, env = "FIRELAKE_CONVERT_FORMAT", value_parser = replay::parse_format)]
        format: Option<firelake_producer::replay::Format>,
        /// Arrival time of every record: ISO-8601 (2025-06-01T12:00:00.000Z) or epoch ms
        /// (default: now).
        #[arg(long, env = "FIRELAKE_INGESTED_AT", value_parser = parse_ingested_at)]
        ingested_at: Option<i64>,
        /// Where rejected lines go (default: OUTPUT.rejected.jsonl, written only if any). The
        /// originals of nulled values go beside it, to OUTPUT.nulled.jsonl.
        #[arg(long, env = "FIRELAKE_REJECTED")]
        rejected: Option<PathBuf>,
        /// Cleaning threads (default: the machine's cores).
        #[arg(long, env = "FIRELAKE_THREADS", value_parser = count::<usize>(1, flags::MAX_PARALLEL))]
        threads: Option<usize>,
        #[command(flatten)]
        rejects: exit::RejectArgs,
    },
    /// Run the Firehose transformation handler on event files; print the responses as JSON.
    Transform {
        /// Event JSON files, or folders of them.
        #[arg(long = "event", required = true, num_args = 1..)]
        events: Vec<PathBuf>,
        #[command(flatten)]
        source: SourceArgs,
        /// Print only the totals and the time spent in the handler.
        #[arg(long)]
        summary: bool,
        /// Threads that clean one event's records (default: the machine's cores, as in a
        /// Lambda, where it is the function's vCPUs).
        #[arg(long, env = "FIRELAKE_THREADS", value_parser = count::<usize>(1, flags::MAX_PARALLEL))]
        threads: Option<usize>,
    },
    /// Producer ticks: the source's HTTP API (or the sample generator) -> a stream.
    Produce {
        #[command(flatten)]
        source: SourceArgs,
        /// Where records go: kinesis://STREAM, firehose://NAME (Direct PUT) or
        /// kafka://HOST:PORT/TOPIC[?librdkafka.property=value&...].
        #[arg(long, env = "FIRELAKE_TO")]
        to: String,
        /// Overrides the source definition's URL (tests, mirrors).
        #[arg(long, env = "FIRELAKE_SOURCE_URL")]
        source_url: Option<String>,
        /// Ticks to run.
        #[arg(long, env = "FIRELAKE_TICKS", default_value_t = 1)]
        ticks: u64,
        /// Time between ticks (e.g. 60s).
        #[arg(long, env = "FIRELAKE_EVERY", default_value = "60s", value_parser = parse_duration)]
        every: Duration,
        /// Each tick publishes this many records of the built-in sample generator instead
        /// of calling the source's API.
        #[arg(long, env = "FIRELAKE_SAMPLE_RECORDS",
              value_parser = count::<usize>(1, flags::MAX_TICK_RECORDS))]
        sample_records: Option<usize>,
        #[arg(long, env = "FIRELAKE_SEED", default_value_t = 42)]
        seed: u64,
        /// Lake for dead letters (`_dead_letter/`) and the saved source position (`_producer/`).
        #[arg(long, env = "FIRELAKE_STATE", default_value = "file://./lake")]
        state: String,
        /// How long a publish may retry before what is left is dead-lettered.
        #[arg(long, env = "FIRELAKE_PUBLISH_DEADLINE", default_value = "30s", value_parser = parse_duration)]
        publish_deadline: Duration,
        /// HTTP timeout per call.
        #[arg(long, env = "FIRELAKE_HTTP_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
        http_timeout: Duration,
        /// At most this many API calls per second.
        #[arg(long, env = "FIRELAKE_MAX_CALLS_PER_S")]
        max_calls_per_s: Option<std::num::NonZeroU32>,
        /// At most this many records per second.
        #[arg(long, env = "FIRELAKE_MAX_RECORDS_PER_S")]
        max_records_per_s: Option<std::num::NonZeroU32>,
    },
    /// Stream -> lake (+ catalog): clean, buffer per shard and day, write Parquet, checkpoint.
    #[cfg(all(feature = "kinesis", feature = "kafka", feature = "sqs"))]
    Consume {
        #[command(flatten)]
        source: SourceArgs,
        /// The stream: kinesis://STREAM or kafka://HOST:PORT/TOPIC[?librdkafka.property=value&...].
        #[arg(long, env = "FIRELAKE_FROM")]
        from: String,
        /// The lake: s3://BUCKET/PREFIX, file://PATH or memory://.
        #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
        lake: String,
        /// The catalog: glue://DATABASE, file://PATH.json, memory:// (default: the local
        /// catalog of a local lake).
        #[arg(long, env = "FIRELAKE_CATALOG")]
        catalog: Option<String>,
        /// Database name of the local catalog.
        #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
        database: String,
        /// Where a shard with no checkpoint and no checkpointed ancestry starts: trim_horizon,
        /// latest, at_timestamp:MS (a child of a checkpointed or drained shard starts at its
        /// first record).
        #[arg(long, env = "FIRELAKE_START", default_value = "trim_horizon")]
        start: firelake_stream_consumer::kinesis::StartPosition,
        /// Names the checkpoints (consumers with one name share the work).
        #[arg(long, env = "FIRELAKE_CONSUMER", default_value = "firelake")]
        consumer: String,
        /// The Kafka consumer group: its members share the topic's partitions (default: the
        /// --consumer name).
        #[arg(long, env = "FIRELAKE_GROUP")]
        group: Option<String>,
        /// Stop after this long without new records (default: run forever).
        #[arg(long, env = "FIRELAKE_EXIT_WHEN_IDLE", value_parser = parse_duration)]
        exit_when_idle: Option<Duration>,
        /// Records per GetRecords call (at most 10000).
        #[arg(long, env = "FIRELAKE_READ_BATCH", default_value_t = 10_000,
              value_parser = count::<usize>(1, flags::MAX_READ_BATCH))]
        read_batch: usize,
        /// Print CloudWatch embedded-metric-format lines after each flush.
        #[arg(long, env = "FIRELAKE_EMF")]
        emf: bool,
        /// Kinesis: checkpoints of another incarnation of the stream (deleted and recreated
        /// under the same name) stop the run unless this sets them aside
        /// (`_checkpoints/<consumer>/_stale/`) and reads those shards from --start.
        #[arg(long, env = "FIRELAKE_IGNORE_STALE_CHECKPOINTS")]
        ignore_stale_checkpoints: bool,
        /// Instead of following the stream: redrive the Kinesis ranges named by the Lambda
        /// event source mapping's on-failure records in this queue (sqs://QUEUE_NAME), then
        /// stop. A message is deleted once its records are durable; the others stay.
        #[arg(long, env = "FIRELAKE_REDRIVE")]
        redrive: Option<String>,
        /// Fail when the stream cannot be reached within this long (e.g. 30s).
        #[arg(long, env = "FIRELAKE_CONNECT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
        connect_timeout: Duration,
        /// Serve Prometheus/OpenMetrics text metrics on this address while consuming, e.g.
        /// 0.0.0.0:9464 (docs/metrics.md).
        #[arg(long, env = "FIRELAKE_METRICS_ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
        #[command(flatten)]
        flush: FlushArgs,
        #[command(flatten)]
        rejects: exit::RejectArgs,
    },
    /// Promote raw days into the curated table <table>_curated: merge small files, dedupe by
    /// the source's key, write a new generation, switch the catalog partition to it.
    #[cfg(feature = "compact")]
    Compact(compact::CompactArgs),
    /// List a table's catalog partitions with their locations, file counts and sizes.
    #[cfg(feature = "compact")]
    Catalog(compact::CatalogCommandArgs),
    /// Replay batch files (CSV, JSON lines, Parquet; gzip/zstd) into a stream, resumably.
    Replay(replay::ReplayArgs),
    /// Run a table's kept rejected records through the current source definition and land
    /// what now passes, exactly once; report what still fails (docs/reprocess.md).
    #[cfg(feature = "compact")]
    Reprocess(reprocess::ReprocessArgs),
    /// Send a target's dead letters (the producer's `_dead_letter/`) to it again, never
    /// twice; what it refuses again stays a dead letter with its reason (docs/reprocess.md).
    Republish(republish::RepublishArgs),
    /// Drive a stream at a rate (or a ramp), measure produced -> durable latency, reconcile
    /// the counts with the lake; JSON report on stdout, SVG chart.
    #[cfg(feature = "loadtest")]
    Loadtest(loadtest::LoadtestArgs),
    #[cfg(feature = "sync")]
    /// Copy a lake table's days into PostgreSQL: each new or changed day replaced in one
    /// transaction, what was synced recorded in the database (docs/sync.md).
    Sync(sync::SyncArgs),
    /// A source definition as Terraform JSON, Glue columns, Athena DDL or the Arrow schema.
    Schema(schema::SchemaArgs),
    /// The lake at a glance per table and day: files, rows, rejects, nulled values,
    /// freshness, curated state (text, --json, --html FILE; docs/status.md).
    Status(status::StatusArgs),
    /// Check a pipeline file (firelake.toml) and the source definitions it names without
    /// running anything; --check-connections also reaches its lakes, catalogs and streams.
    Validate(validate::ValidateArgs),
}

/// An arrival time: ISO-8601 or epoch ms, inside the cleaner's range (years 0001-9999).
fn parse_ingested_at(s: &str) -> Result<i64, String> {
    let ms = s
        .parse::<i64>()
        .ok()
        .or_else(|| firelake_core::time::parse_iso8601_ms(s))
        .ok_or_else(|| format!("expected e.g. 2025-06-01T12:00:00.000Z or epoch ms, got {s:?}"))?;
    if !firelake_core::time::in_range(ms) {
        return Err(format!("{s:?} is outside years 0001-9999"));
    }
    Ok(ms)
}

/// The summary line of a redrive; an error when a failure record of the stream stays.
#[cfg(all(feature = "kinesis", feature = "kafka", feature = "sqs"))]
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

fn init_tracing(default: &str) {
    logs::init(default);
}

fn main() -> ExitCode {
    let cli = match parse_with_pipeline_file() {
        Ok(parsed) => parsed,
        Err(line) => {
            eprintln!("{}", logs::error_line(&line, exit::Exit::Usage as u8));
            return exit::Exit::Usage.into();
        }
    };
    logs::set_format(cli.log_format);
    signals::set_timeout(cli.shutdown_timeout);
    finish(real_main(cli))
}

/// The command line with the pipeline file's values (src/pipeline_file.rs); clap's own
/// errors (and --help) exit here as `Cli::parse` does.
fn parse_with_pipeline_file() -> Result<Cli, String> {
    let aug = pipeline_file::augment(&Cli::command(), std::env::args_os().collect())
        .map_err(|e| e.to_string())?;
    match Cli::try_parse_from(&aug.argv) {
        Ok(cli) => Ok(cli),
        Err(e) => match pipeline_file::explain(&e, &aug) {
            Some(line) => Err(line),
            None => e.exit(),
        },
    }
}

fn finish(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => exit::Exit::Success.into(),
        Err(e) => {
            // One line: store errors carry the server's (multi-line XML) answer.
            let code = exit::code_for(&*e);
            eprintln!("{}", logs::error_line(&e.to_string(), code as u8));
            code.into()
        }
    }
}

fn real_main(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Run {
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
        } => {
            init_tracing("warn");
            let def = source.load()?;
            let lake = Lake::from_url(&lake)?;
            let rt = tokio::runtime::Runtime::new()?;
            let stop = signals::on_stop(&rt)?;
            let cfg = run::RunConfig {
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
            };
            let progress = run::progress_bar(records);
            let summary = rt.block_on(run::run(def.clone(), cfg, &progress))?;
            run::print_summary(&def, &lake, &summary, &mut std::io::stdout());
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
        Command::Convert {
            input,
            output,
            source,
            format,
            ingested_at,
            rejected,
            threads,
            rejects,
        } => {
            init_tracing("warn");
            let def = source.load()?;
            let at = ingested_at.unwrap_or_else(firelake_core::stream::now_ms);
            let rejected = rejected.unwrap_or_else(|| {
                let mut p = output.clone().into_os_string();
                p.push(".rejected.jsonl");
                PathBuf::from(p)
            });
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            let (line, r) =
                convert::convert_and_report(&input, format, &output, &rejected, def, at, threads)?;
            println!("{line}");
            rejects.check(r.rejected, r.rows_in, format!("in {}", rejected.display()))?;
            Ok(())
        }
        Command::Transform {
            events,
            source,
            summary,
            threads,
        } => {
            // Per-record rejection lines are the handler's CloudWatch logs; here they would
            // drown the output, so they show only when RUST_LOG asks.
            init_tracing("error");
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let transformer = Transformer::new(source.load()?).with_threads(threads);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            transform::run(&transformer, &events, summary, &mut out)?;
            std::io::Write::flush(&mut out)?;
            Ok(())
        }
        Command::Produce {
            source,
            to,
            source_url,
            ticks,
            every,
            sample_records,
            seed,
            state,
            publish_deadline,
            http_timeout,
            max_calls_per_s,
            max_records_per_s,
        } => {
            init_tracing("info");
            let def = source.load()?;
            let retry = firelake_producer::retry::RetryPolicy {
                deadline: publish_deadline,
                ..Default::default()
            };
            let rt = tokio::runtime::Runtime::new()?;
            let stop = signals::on_stop(&rt)?;
            let cfg = firelake_producer::ticks::ProduceConfig {
                to,
                ticks,
                every,
                http: firelake_producer::http::HttpSourceOptions {
                    url: source_url,
                    timeout: http_timeout,
                    retry,
                    max_calls_per_s,
                    max_records_per_s,
                },
                sample_records,
                seed,
                retry,
                state: Lake::from_url(&state)?,
                stop,
            };
            let s = rt
                .block_on(firelake_producer::ticks::produce(def, cfg))
                .map_err(|e| -> Box<dyn std::error::Error> { e })?;
            println!(
                "produced records={} bytes={} dead_lettered={} ticks={} failed_ticks={}",
                s.records, s.bytes, s.dead_lettered, s.ticks, s.failed_ticks
            );
            if s.failed_ticks > 0 {
                return Err(format!("{} of {} ticks failed, {} records dead-lettered (see the log; dead letters are under the state lake's _dead_letter/, reprocess them from there)", s.failed_ticks, s.ticks, s.dead_lettered).into());
            }
            Ok(())
        }
        #[cfg(all(feature = "kinesis", feature = "kafka", feature = "sqs"))]
        Command::Consume {
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
            redrive,
            connect_timeout,
            metrics_addr,
            flush,
            rejects,
        } => {
            init_tracing("info");
            let def = source.load()?;
            let summary_def = def.clone();
            let rt = tokio::runtime::Runtime::new()?;
            let stop = signals::on_stop(&rt)?;
            let started_ms = firelake_core::stream::now_ms();
            let metrics = rt.block_on(async {
                let lake = Lake::from_url(&lake)?;
                let catalog =
                    firelake_aws::open_catalog(catalog.as_deref(), &lake, &database).await?;
                let redrive_stream = from.clone();
                let cfg = consume::ConsumeConfig {
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
                };
                match &redrive {
                    Some(queue) => {
                        let (summary, metrics) = consume::redrive(def, cfg, queue).await?;
                        report_redrive(&redrive_stream, &summary, &metrics)?;
                        Ok(None)
                    }
                    None => consume::consume(def, cfg).await.map(Some),
                }
            })?;
            let Some(metrics) = metrics else {
                return Ok(());
            };
            use firelake_stream_consumer::ConsumerMetrics as M;
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
            println!("{}", metrics.nulled_line(&summary_def));
            rejects.check(
                M::get(&metrics.rejected),
                M::get(&metrics.records_in),
                "under the table's _rejected/",
            )?;
            Ok(())
        }
        #[cfg(feature = "compact")]
        Command::Compact(args) => {
            init_tracing("warn");
            compact::run_compact(args)
        }
        #[cfg(feature = "compact")]
        Command::Catalog(args) => {
            init_tracing("warn");
            compact::run_catalog(args)
        }
        Command::Replay(args) => {
            init_tracing("warn");
            replay::run(args)
        }
        #[cfg(feature = "compact")]
        Command::Reprocess(args) => {
            init_tracing("warn");
            reprocess::run(args)
        }
        Command::Republish(args) => {
            init_tracing("warn");
            republish::run(args)
        }
        #[cfg(feature = "loadtest")]
        Command::Loadtest(args) => {
            init_tracing("warn");
            loadtest::run(args)
        }
        Command::Schema(args) => schema::run(args),
        Command::Status(args) => {
            init_tracing("warn");
            status::run(args)
        }
        #[cfg(feature = "sync")]
        Command::Sync(args) => {
            init_tracing("warn");
            sync::run(args)
        }
        Command::Validate(args) => {
            init_tracing("warn");
            let argv: Vec<_> = std::env::args_os().collect();
            let file = pipeline_file::locate(&argv).map(|(file, _)| file);
            validate::run(args, Cli::command(), file)
        }
    }
}
