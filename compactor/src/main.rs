//! `compactor`: the compactor as a container or scheduled-task entry point. Configured by
//! flags or their environment twins (`FIRELAKE_*`, what a nightly EventBridge/ECS task sets),
//! logs as JSON lines on stderr, prints the run's report as one JSON object on stdout, and
//! exits non-zero on failure. `firelake compact` is the same library call for people.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use firelake_compactor::{CompactOptions, Quiet, compact, selection_from, target_bytes_from_mb};
use firelake_core::catalog::open_catalog;
use firelake_core::{Lake, SourceDef};

#[derive(Parser)]
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
    /// Catalog: left out = the local file beside the lake; file://PATH.json. (glue://DB comes
    /// with the AWS path.)
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
    /// keys to local disk ($TMPDIR) in buckets of this size.
    #[arg(long, env = "FIRELAKE_DEDUPE_MEMORY_MB", default_value_t = 32)]
    dedupe_memory_mb: u64,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "compaction failed");
            ExitCode::FAILURE
        }
    }
}

fn run(a: Args) -> Result<(), Box<dyn std::error::Error>> {
    let def = Arc::new(SourceDef::resolve(&a.source, a.source_dir.as_deref())?);
    let lake = Lake::from_url(&a.lake)?;
    let catalog = open_catalog(a.catalog.as_deref(), lake.local_root(), &a.database)?;
    let options = CompactOptions {
        selection: selection_from(a.date.as_deref(), a.since.as_deref(), a.all)?,
        target_bytes: target_bytes_from_mb(a.target_mb)?,
        dedupe: !a.no_dedupe,
        grace: Duration::from_secs(a.grace_seconds),
        force: a.force,
        dedupe_memory_bytes: a.dedupe_memory_mb.max(1) << 20,
        today: None,
    };
    let table = a.table.unwrap_or_else(|| def.table.clone());
    let rt = firelake_compactor::runtime()?;
    let report = rt.block_on(compact(lake, catalog, def, &table, options, &Quiet))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
