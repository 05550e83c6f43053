//! `compactor`: the compactor's entry point for the nightly schedule, in two modes.
//! - Lambda (`AWS_LAMBDA_RUNTIME_API` set, as the Lambda runtime does): every EventBridge
//!   scheduled event runs one compaction with the configuration from the environment
//!   (`FIRELAKE_*`) and answers with its report; a failed run is a failed invocation (the
//!   Errors alarm), and its journal lets the next run finish or roll it back.
//! - Container or scheduled task (anything else): one compaction from flags or their
//!   environment twins; the report as one JSON object on stdout; non-zero exit on failure.
//!
//! Logs are JSON lines on stderr. `firelake compact` is the same library call for people.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use firelake_compactor::{
    CompactOptions, CompactReport, Quiet, compact, selection_from, target_bytes_from_mb,
    zstd_level_from,
};
use firelake_core::{Lake, SourceDef};
use lambda_runtime::{LambdaEvent, service_fn};

mod lambda;

#[derive(Parser, Clone)]
#[command(
    name = "compactor",
    version,
    about = "Promote raw days into the curated table"
)]
struct Args {
    /// Where the lake is: file://PATH, a plain path, or memory://.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
    lake: String,
    /// The raw table (default: the source's table).
    #[arg(long, env = "FIRELAKE_TABLE")]
    table: Option<String>,
    /// Source definition: a built-in name, a name in --source-dir, or a .toml path.
    #[arg(long, env = "FIRELAKE_SOURCE", default_value = "users")]
    source: String,
    #[arg(long, env = "FIRELAKE_SOURCE_DIR")]
    source_dir: Option<PathBuf>,
    /// Catalog database (the local catalog file <lake>/_catalog/<db>.json).
    #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
    database: String,
    /// Catalog: glue://DATABASE (the Glue Data Catalog), file://PATH.json, or left out: the
    /// local file beside a local lake.
    #[arg(long, env = "FIRELAKE_CATALOG")]
    catalog: Option<String>,
    /// Compact this day (YYYY-MM-DD).
    #[arg(long, env = "FIRELAKE_DATE")]
    date: Option<String>,
    /// Compact every raw day from this one on.
    #[arg(long, env = "FIRELAKE_SINCE")]
    since: Option<String>,
    /// Compact every raw day.
    #[arg(long, env = "FIRELAKE_ALL")]
    all: bool,
    /// Output file size in MB (64 to 1024).
    #[arg(long, env = "FIRELAKE_TARGET_MB", default_value_t = 128)]
    target_mb: u64,
    /// zstd level of the curated files (1 to 22; 2 by default, the raw lake's is 3).
    #[arg(long, env = "FIRELAKE_ZSTD_LEVEL", default_value_t = firelake_compactor::DEFAULT_ZSTD_LEVEL)]
    zstd_level: i32,
    /// Keep every row (no dedupe by the source's key).
    #[arg(long, env = "FIRELAKE_NO_DEDUPE")]
    no_dedupe: bool,
    /// How long a replaced generation stays, in seconds.
    #[arg(long, env = "FIRELAKE_GRACE_SECONDS", default_value_t = 3600)]
    grace_seconds: u64,
    /// Rebuild selected days even when up to date.
    #[arg(long, env = "FIRELAKE_FORCE")]
    force: bool,
    /// Memory for dedupe's key pass in MiB (32 bytes a row); a day with more rows spills its
    /// keys to local disk ($TMPDIR) in buckets of this size. At most 10240, Lambda's largest
    /// memory (the pass reserves its budget up front: more would abort).
    #[arg(long, env = "FIRELAKE_DEDUPE_MEMORY_MB", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(1..=10_240))]
    dedupe_memory_mb: u64,
    /// Put a "partition complete" event on this EventBridge bus for every day committed.
    #[arg(long, env = "FIRELAKE_EVENTS_BUS")]
    events_bus: Option<String>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match firelake_compactor::runtime() {
        Err(e) => Err(e.into()),
        Ok(rt) if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => {
            // In Lambda the configuration is the environment alone (no arguments).
            let args = Args::parse_from(["compactor"]);
            rt.block_on(lambda_runtime::run(service_fn(
                move |e: LambdaEvent<serde_json::Value>| lambda::handle(args.clone(), e.payload),
            )))
            .map_err(|e| -> BoxError { e.to_string().into() })
        }
        Ok(rt) => rt.block_on(run(Args::parse())).and_then(|report| {
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "compaction failed");
            ExitCode::FAILURE
        }
    }
}

/// One compaction as `a` says.
async fn run(a: Args) -> Result<CompactReport, BoxError> {
    let def = Arc::new(SourceDef::resolve(&a.source, a.source_dir.as_deref())?);
    let lake = Lake::from_url(&a.lake)?;
    let catalog = firelake_aws::open_catalog(a.catalog.as_deref(), &lake, &a.database).await?;
    let options = CompactOptions {
        selection: selection_from(a.date.as_deref(), a.since.as_deref(), a.all)?,
        target_bytes: target_bytes_from_mb(a.target_mb)?,
        dedupe: !a.no_dedupe,
        grace: Duration::from_secs(a.grace_seconds),
        force: a.force,
        dedupe_memory_bytes: a.dedupe_memory_mb << 20,
        today: None,
        zstd_level: zstd_level_from(a.zstd_level)?,
    };
    let table = a.table.unwrap_or_else(|| def.table.clone());
    let report = compact(lake, catalog, def, &table, options, &Quiet).await?;
    firelake_compactor::announce::announce_report(a.events_bus.as_deref(), &report).await?;
    tracing::info!(report = %serde_json::to_string(&report)?, "compaction done");
    Ok(report)
}
