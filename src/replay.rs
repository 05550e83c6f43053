//! `firelake replay`: batch files -> a stream, through the same publishers, cleaner and layout
//! as live data. `--to embedded` runs the stream-consumer in this process and writes the lake
//! given by `--lake`, as `firelake run` does; a broker URL (`kinesis://`, `kafka://`,
//! `firehose://`) goes through the producer's publisher for it (`publisher_for`), the same one
//! `firelake produce` uses, behind `PublisherTarget`: a batch counts as sent once the broker
//! has it, and what the broker refuses by the deadline is dead-lettered under `--state`.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use firelake_core::catalog::{Catalog, CatalogError, LocalCatalog, MemoryCatalog};
use firelake_core::redact::shown_location;
use firelake_core::stream::EmbeddedStream;
use firelake_core::{Cleaner, Lake, SourceDef};
use firelake_producer::dead_letter::DeadLetter;
use firelake_producer::replay::{
    BatchLimits, ConsumerTask, EmbeddedTarget, Format, InputFile, PublisherTarget, ReplayPlan,
    ReplayReport, ReplayWatch, replay, resolve_inputs,
};
use firelake_producer::retry::RetryPolicy;
use firelake_producer::ticks::publisher_for;
use firelake_stream_consumer::{ConsumerMetrics, ConsumerOptions, LakeWriter, consume_embedded};

use crate::{FlushArgs, SourceArgs, parse_duration};

#[derive(Args)]
pub struct ReplayArgs {
    /// Input files: paths or globs (quote globs so the shell leaves them): CSV with a header
    /// line, JSON lines, or Parquet; .gz and .zst compressed text files too.
    #[arg(required = true, num_args = 1..)]
    paths: Vec<String>,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    schema: crate::schema_evolve::PolicyArgs,
    /// Where to publish: embedded (in-process stream + stream-consumer into --lake), or a
    /// broker: kinesis://STREAM, kafka://HOST:PORT/TOPIC, firehose://DELIVERY_STREAM.
    #[arg(long, env = "FIRELAKE_REPLAY_TO", default_value = "embedded")]
    to: String,
    /// The lake the embedded stream-consumer writes: file://PATH, a plain path, or memory://.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
    lake: String,
    /// Serve Prometheus/OpenMetrics text metrics of the embedded consumer on this address
    /// while replaying, e.g. 0.0.0.0:9464 (docs/metrics.md).
    #[arg(long, env = "FIRELAKE_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// Records per second at most, e.g. 5000/s (default: as fast as the target takes them).
    #[arg(long, env = "FIRELAKE_REPLAY_RATE", value_parser = parse_rate)]
    rate: Option<NonZeroU32>,
    /// Input format for every file (default: from each name: .csv, .jsonl/.ndjson, .parquet).
    #[arg(long, env = "FIRELAKE_REPLAY_FORMAT", value_parser = parse_format)]
    format: Option<Format>,
    /// Take p_date from this timestamp_ms column instead of the source's [partition] from
    /// (backfills land on the day each record belongs to). Embedded target only: a remote
    /// consumer partitions by its own source definition.
    #[arg(long, env = "FIRELAKE_EVENT_TIME")]
    event_time: Option<String>,
    /// Continue the replay the progress file describes (from its start if there is none).
    #[arg(long, env = "FIRELAKE_REPLAY_RESUME")]
    resume: bool,
    /// The progress file (default: firelake-replay-<source>-<hash of target and inputs>.json
    /// in the working directory).
    #[arg(long, env = "FIRELAKE_REPLAY_PROGRESS_FILE")]
    progress_file: Option<PathBuf>,
    /// Rejected rows with file, line and reason, as JSON lines (default: beside the progress
    /// file, <progress file>.rejected.jsonl).
    #[arg(long, env = "FIRELAKE_REPLAY_REJECTED")]
    rejected: Option<PathBuf>,
    /// Shards of the embedded stream.
    #[arg(long, env = "FIRELAKE_SHARDS", default_value_t = 2,
          value_parser = crate::flags::count::<usize>(1, crate::flags::MAX_PARALLEL))]
    shards: usize,
    /// Glue-shaped catalog database name (local file <lake>/_catalog/<db>.json).
    #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
    database: String,
    #[command(flatten)]
    flush: FlushArgs,
    /// Broker targets: the lake for records the broker refused by the deadline
    /// (`_dead_letter/`).
    #[arg(long, env = "FIRELAKE_STATE", default_value = "file://./lake")]
    state: String,
    /// Broker targets: how long a batch may retry before what is left is dead-lettered (and
    /// the replay stops, resumable).
    #[arg(long, env = "FIRELAKE_PUBLISH_DEADLINE", default_value = "30s", value_parser = parse_duration)]
    publish_deadline: Duration,
    #[command(flatten)]
    rejects: crate::exit::RejectArgs,
    #[cfg(feature = "iceberg")]
    #[command(flatten)]
    iceberg: crate::iceberg::IcebergArgs,
}

fn parse_rate(s: &str) -> Result<NonZeroU32, String> {
    let n = s.trim().strip_suffix("/s").unwrap_or(s.trim());
    n.parse::<NonZeroU32>()
        .map_err(|_| format!("--rate: expected records per second, e.g. 5000/s, got {s:?}"))
}

pub(crate) fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| format!("--format: csv, jsonl or parquet, not {s:?}"))
}

/// Where `--to` points.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StreamTarget {
    Embedded,
    /// A broker URL, for `publisher_for`.
    Broker(String),
}

/// The URL schemes of brokers (each has a publisher in `firelake_producer::ticks`).
const BROKER_SCHEMES: [&str; 3] = ["kinesis", "kafka", "firehose"];

#[derive(Debug, thiserror::Error)]
pub enum ReplayCliError {
    #[error(
        "--to {0:?}: unknown stream; use embedded, kinesis://STREAM, kafka://HOST:PORT/TOPIC or firehose://DELIVERY_STREAM"
    )]
    UnknownStream(String),
    #[error("--to {0}: {1}")]
    Publisher(String, String),
    #[error(
        "--event-time applies to --to embedded only: a {0} consumer partitions by its own source definition; set [partition] from there"
    )]
    EventTimeRemote(String),
    #[cfg(feature = "iceberg")]
    #[error(
        "--iceberg applies to --to embedded only: a {0} consumer writes the lake, so the table is landed there"
    )]
    IcebergRemote(String),
}

impl StreamTarget {
    fn parse(s: &str) -> Result<StreamTarget, ReplayCliError> {
        match s.split_once("://") {
            None if s == "embedded" => Ok(StreamTarget::Embedded),
            Some(("embedded", "")) => Ok(StreamTarget::Embedded),
            Some((scheme, rest)) if BROKER_SCHEMES.contains(&scheme) && !rest.is_empty() => {
                Ok(StreamTarget::Broker(s.into()))
            }
            _ => Err(ReplayCliError::UnknownStream(shown_location(s).into())),
        }
    }

    /// How the progress file, the summary and errors name it: a URL without its query (it
    /// may hold credentials, e.g. a Kafka URL's sasl.password).
    fn name(&self) -> String {
        match self {
            StreamTarget::Embedded => "embedded".into(),
            StreamTarget::Broker(u) => shown_location(u).into_owned(),
        }
    }
}

/// `firelake-replay-<source>-<hash>.json`: one progress file per (target, inputs), so
/// different replays in one folder never share one.
fn default_progress_file(source: &str, target: &str, inputs: &[InputFile]) -> PathBuf {
    let mut hash = firelake_core::layout::StableHash::default();
    hash.update(target.as_bytes());
    for i in inputs {
        hash.update(b"\n")
            .update(i.path.as_os_str().as_encoded_bytes());
    }
    let h = hash.finish();
    PathBuf::from(format!("firelake-replay-{source}-{h:016x}.json"))
}

/// What the embedded consumer did.
struct LakeOutcome {
    metrics: Arc<ConsumerMetrics>,
    partitions: Vec<String>,
    catalog: String,
    /// What was committed to the Iceberg table (`--iceberg`).
    iceberg: Option<String>,
}

pub fn run(args: ReplayArgs) -> Result<(), Box<dyn std::error::Error>> {
    let target = StreamTarget::parse(&args.to)?;
    let mut def = (*args.source.load()?).clone();
    if let Some(column) = &args.event_time {
        if target != StreamTarget::Embedded {
            return Err(ReplayCliError::EventTimeRemote(target.name()).into());
        }
        def = def.with_partition_from(column)?;
    }
    let def = Arc::new(def);
    // The process's one runtime, entered while s3:// inputs are listed (they are read on it).
    let rt = tokio::runtime::Runtime::new()?;
    let inputs = {
        let _entered = rt.enter();
        resolve_inputs(&args.paths, args.format)?
    };
    let total_bytes: u64 = inputs.iter().map(|i| i.size).sum();
    let progress_file = args
        .progress_file
        .clone()
        .unwrap_or_else(|| default_progress_file(&def.name, &target.name(), &inputs));
    let rejects_file = args.rejected.clone().unwrap_or_else(|| {
        let mut p = progress_file.clone().into_os_string();
        p.push(".rejected.jsonl");
        PathBuf::from(p)
    });
    let mut plan = ReplayPlan {
        cleaner: Arc::new(Cleaner::new(def.clone())),
        inputs,
        target: target.name(),
        rate: args.rate,
        limits: BatchLimits::default(),
        progress_file,
        rejects_file,
        resume: args.resume,
    };
    let files = plan.inputs.len();
    let watch = Arc::new(ReplayWatch {
        stop: crate::signals::on_stop(&rt)?,
        ..ReplayWatch::default()
    });
    let lake = match target {
        StreamTarget::Embedded => Lake::from_url(&args.lake)?,
        StreamTarget::Broker(ref url) => {
            #[cfg(feature = "iceberg")]
            if args.iceberg.enabled() {
                return Err(ReplayCliError::IcebergRemote(target.name()).into());
            }
            let shown = target.name();
            let dead_letter = DeadLetter::new(Lake::from_url(&args.state)?, url, &def);
            let retry = RetryPolicy {
                deadline: args.publish_deadline,
                ..RetryPolicy::default()
            };
            let publisher = rt
                .block_on(publisher_for(url, dead_letter, retry))
                .map_err(|e| ReplayCliError::Publisher(shown.clone(), e))?;
            // A row the broker could never take is a reject of the replay (file, line,
            // reason), not a dead letter that would stop it at the same batch on every resume.
            if let Some(max) = publisher.max_data_bytes() {
                plan.limits.max_record_bytes = plan.limits.max_record_bytes.min(max);
            }
            let mut target = PublisherTarget::new(publisher);
            let bar = progress_bar(total_bytes);
            let report = rt.block_on(async {
                let ticker = tokio::spawn(tick_progress(bar.clone(), watch.clone()));
                let result = replay(plan, &mut target, watch).await;
                ticker.abort();
                result
            })?;
            bar.finish_and_clear();
            print_broker_summary(&def, &shown, files, &report, &mut std::io::stdout());
            return check_rejects(&args, &report);
        }
    };
    let bar = progress_bar(total_bytes);
    let (report, outcome) = rt.block_on(async {
        let ticker = tokio::spawn(tick_progress(bar.clone(), watch.clone()));
        let result = replay_embedded(def.clone(), plan, &lake, &args, watch).await;
        ticker.abort();
        result
    })?;
    bar.finish_and_clear();
    print_summary(
        &def,
        &lake,
        files,
        &report,
        &outcome,
        &mut std::io::stdout(),
    );
    check_rejects(&args, &report)
}

/// Exit code 3 when this run rejected more than --max-reject-rate of the rows it read.
fn check_rejects(args: &ReplayArgs, r: &ReplayReport) -> Result<(), Box<dyn std::error::Error>> {
    let kept = format!("in {}", r.rejects_file.display());
    Ok(args.rejects.check(r.rejected, r.rows, kept)?)
}

async fn replay_embedded(
    def: Arc<SourceDef>,
    plan: ReplayPlan,
    lake: &Lake,
    args: &ReplayArgs,
    watch: Arc<ReplayWatch>,
) -> Result<(ReplayReport, LakeOutcome), Box<dyn std::error::Error>> {
    let limits = args.flush.limits();
    let shards = args.shards.max(1);
    // Room for every shard's unflushed buffer twice over, or puts would wait on a flush that
    // only the buffer's age could trigger.
    let capacity = (2 * shards * limits.max_bytes).max(64 << 20);
    let stream = Arc::new(EmbeddedStream::new(&def.name, shards, capacity));
    let catalog: Arc<dyn Catalog> = match lake.local_root() {
        Some(root) => Arc::new(LocalCatalog::beside_lake(root, &args.database)),
        None => Arc::new(MemoryCatalog::default()),
    };
    // Every table is checked before any is changed: the Iceberg table's refusals first.
    #[cfg(feature = "iceberg")]
    if let Some(target) = args.iceberg.target() {
        let policy = args.schema.schema_policy;
        crate::iceberg::check_at_start(lake, &target.catalog, &args.database, &def, policy).await?;
    }
    crate::schema_evolve::apply_at_start(catalog.as_ref(), &def, None, args.schema.schema_policy)
        .await?;
    let metrics = Arc::new(ConsumerMetrics::default());
    if let Some(addr) = args.metrics_addr {
        crate::metrics_server::serve(addr, metrics.clone(), def.clone()).await?;
    }
    let writer = Arc::new(LakeWriter::new(
        lake.clone(),
        catalog.clone(),
        def.clone(),
        metrics.clone(),
    ));
    #[cfg(feature = "iceberg")]
    let committer = crate::iceberg::Committer::start_if(
        args.iceberg.target(),
        lake,
        &args.database,
        def.clone(),
        args.schema.schema_policy,
    )
    .await?;
    let consumer = tokio::spawn(consume_embedded(
        stream.clone(),
        plan.cleaner.clone(),
        writer,
        ConsumerOptions {
            limits,
            consumer_name: "firelake-replay".into(),
            ..Default::default()
        },
    ));
    let consumer: ConsumerTask = Box::pin(async move {
        match consumer.await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    });
    let mut target = EmbeddedTarget::new(stream, consumer);
    let report = replay(plan, &mut target, watch).await?;
    #[cfg(feature = "iceberg")]
    let iceberg = crate::iceberg::finish_line(committer).await?;
    #[cfg(not(feature = "iceberg"))]
    let iceberg = None;
    let partitions = match catalog.partitions(&def.table).await {
        Ok(parts) => parts.into_iter().map(|p| p.values.join("/")).collect(),
        Err(CatalogError::NoTable(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok((
        report,
        LakeOutcome {
            metrics,
            partitions,
            catalog: catalog.describe(),
            iceberg,
        },
    ))
}

/// A bar over the input bytes with rate and ETA; drawn only on a terminal.
fn progress_bar(total_bytes: u64) -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(total_bytes).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        )
        .expect("valid template"),
    )
}

async fn tick_progress(bar: indicatif::ProgressBar, watch: Arc<ReplayWatch>) {
    let started = Instant::now();
    loop {
        let records = watch.records.load(Ordering::Relaxed);
        let rate = records as f64 / started.elapsed().as_secs_f64().max(1e-3);
        bar.set_position(watch.bytes_read.load(Ordering::Relaxed));
        bar.set_message(format!(
            "{records} records ({rate:.0}/s), {} rejected",
            watch.rejected.load(Ordering::Relaxed)
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The summary of a replay into a broker: what was sent; the lake side is its consumer's.
fn print_broker_summary(
    def: &SourceDef,
    url: &str,
    files: usize,
    r: &ReplayReport,
    out: &mut dyn std::io::Write,
) {
    let _ = writeln!(
        out,
        "firelake replay: {files} files -> {url} (source {})",
        def.name
    );
    print_sent(r, files, out);
}

/// The summary of a replay into the embedded stream: what was sent, and what the consumer
/// made of it in the lake.
fn print_summary(
    def: &SourceDef,
    lake: &Lake,
    files: usize,
    r: &ReplayReport,
    outcome: &LakeOutcome,
    out: &mut dyn std::io::Write,
) {
    let _ = writeln!(
        out,
        "firelake replay: {files} files -> embedded stream -> {} (source {}, p_date from {})",
        lake.url(),
        def.name,
        def.columns[def.partition_from].name
    );
    if !print_sent(r, files, out) {
        return;
    }
    let m = &outcome.metrics;
    let _ = writeln!(
        out,
        "\x20 lake rows      {} (records in {}, rejected {}, kept under {}/_rejected/)\n\
         \x20 lake files     {} Parquet, {} rejected-record files\n\
         \x20 partitions     {} in the catalog ({}): {}",
        ConsumerMetrics::get(&m.rows_out),
        ConsumerMetrics::get(&m.records_in),
        ConsumerMetrics::get(&m.rejected),
        def.table,
        ConsumerMetrics::get(&m.files),
        ConsumerMetrics::get(&m.rejected_files),
        outcome.partitions.len(),
        outcome.catalog,
        summarize_days(&outcome.partitions),
    );
    let _ = writeln!(out, "{}", m.nulled_line(def));
    if let Some(iceberg) = &outcome.iceberg {
        let _ = writeln!(out, "  iceberg        {iceberg}");
    }
}

/// The lines on what this run read and published; false when the progress file said the
/// replay was already complete (nothing was done).
fn print_sent(r: &ReplayReport, files: usize, out: &mut dyn std::io::Write) -> bool {
    if r.already_complete {
        let _ = writeln!(
            out,
            "  already complete per {}: nothing replayed\n\
             \x20 records        0 published ({} over every run)\n\
             \x20 rejected       0 ({} over every run)",
            r.progress_file.display(),
            r.total_published,
            r.total_rejected
        );
        return false;
    }
    if r.stopped {
        let _ = writeln!(
            out,
            "  stopped by a signal: what was published is in the lake; continue with --resume"
        );
    }
    let resumed = match r.resumed_at {
        Some(at) if at.file < files => format!(
            " (resumed in file {} at line {}, row {})",
            at.file + 1,
            at.line,
            at.row
        ),
        Some(_) => " (resumed after the last file)".into(),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "\x20 files          {files}{resumed}\n\
         \x20 rows           {}\n\
         \x20 records        {} published ({} over every run)\n\
         \x20 rejected       {} (file, line and reason in {})\n\
         \x20 bytes          {} read, {} published\n\
         \x20 seconds        {:.2}\n\
         \x20 rate           {:.0} records/s\n\
         \x20 progress       {} ({})",
        r.rows,
        r.records,
        r.total_published,
        r.rejected,
        r.rejects_file.display(),
        r.bytes_read,
        r.bytes_published,
        r.seconds,
        r.records_per_s(),
        r.progress_file.display(),
        if r.stopped { "stopped" } else { "complete" },
    );
    true
}

/// A long list of days as first .. last.
fn summarize_days(days: &[String]) -> String {
    match days {
        [] => "none".into(),
        [a, .., b] if days.len() > 6 => format!("{a} .. {b}"),
        _ => days.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_urls_parse_and_unknown_schemes_are_errors() {
        assert_eq!(
            StreamTarget::parse("embedded").unwrap(),
            StreamTarget::Embedded
        );
        assert_eq!(
            StreamTarget::parse("embedded://").unwrap(),
            StreamTarget::Embedded
        );
        for url in [
            "kinesis://orders",
            "kafka://127.0.0.1:9092/orders",
            "firehose://orders",
        ] {
            assert_eq!(
                StreamTarget::parse(url).unwrap(),
                StreamTarget::Broker(url.into())
            );
        }
        for bad in ["pulsar://x", "kinesis://", "firehose://", "orders", ""] {
            let e = StreamTarget::parse(bad).unwrap_err().to_string();
            assert!(e.contains("unknown stream"), "{bad}: {e}");
        }
    }

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("5000/s").unwrap().get(), 5000);
        assert_eq!(parse_rate("12").unwrap().get(), 12);
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("fast").is_err());
    }
}
