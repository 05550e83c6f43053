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
mod day_range;
mod exit;
mod flags;
#[cfg(feature = "iceberg")]
mod iceberg;
#[cfg(feature = "iceberg")]
mod iceberg_maintain;
#[cfg(feature = "loadtest")]
mod loadtest;
mod logs;
mod metrics_server;
mod pipeline_file;
mod produce;
mod replay;
#[cfg(feature = "compact")]
mod reprocess;
mod republish;
mod run;
mod schema;
mod schema_evolve;
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
use firelake_core::SourceDef;
use firelake_stream_consumer::FlushLimits;
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
    Run(run::RunArgs),
    /// Clean an input file (CSV, JSON lines or Parquet; gzip/zstd, read as `replay` reads it)
    /// into one Parquet file (p_date kept as a column).
    Convert(convert::ConvertArgs),
    /// Run the Firehose transformation handler on event files; print the responses as JSON.
    Transform(transform::TransformArgs),
    /// Producer ticks: the source's HTTP API (or the sample generator) -> a stream.
    Produce(produce::ProduceArgs),
    /// Stream -> lake (+ catalog): clean, buffer per shard and day, write Parquet, checkpoint.
    #[cfg(all(feature = "kinesis", feature = "kafka", feature = "sqs"))]
    Consume(consume::ConsumeArgs),
    /// Promote raw days into the curated table <table>_curated: merge small files, dedupe by
    /// the source's key, write a new generation, switch the catalog partition to it.
    #[cfg(feature = "compact")]
    Compact(compact::CompactArgs),
    /// List a table's catalog partitions with their locations, file counts and sizes.
    #[cfg(feature = "compact")]
    Catalog(compact::CatalogCommandArgs),
    /// Expire old snapshots of a lake's Iceberg table and delete the metadata files
    /// nothing references any more; data files are never deleted (docs/iceberg.md).
    #[cfg(feature = "iceberg")]
    IcebergMaintain(iceberg_maintain::MaintainArgs),
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
        Command::Run(args) => run::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Transform(args) => transform::run(args),
        Command::Produce(args) => produce::run(args),
        #[cfg(all(feature = "kinesis", feature = "kafka", feature = "sqs"))]
        Command::Consume(args) => consume::run(args),
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
        #[cfg(feature = "iceberg")]
        Command::IcebergMaintain(args) => {
            init_tracing("warn");
            iceberg_maintain::run(args)
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
