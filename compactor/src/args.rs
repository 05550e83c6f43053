//! The `compactor` binary's settings (Lambda and container task): `firelake compact`'s env
//! twins, same names, units and defaults (tests/env_twins.rs holds them together).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use firelake_core::duration::parse_duration;

use crate::ZSTD_LEVEL_RANGE;

#[derive(Parser, Clone)]
#[command(
    name = "compactor",
    version,
    about = "Promote raw days into the curated table"
)]
pub struct CompactorArgs {
    /// Where the lake is: file://PATH, a plain path, or memory://.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
    pub lake: String,
    /// The raw table (default: the source's table).
    #[arg(long, env = "FIRELAKE_TABLE")]
    pub table: Option<String>,
    /// Source definition: a built-in name, a name in --source-dir, or a .toml path.
    #[arg(long, env = "FIRELAKE_SOURCE", default_value = "users")]
    pub source: String,
    #[arg(long, env = "FIRELAKE_SOURCE_DIR")]
    pub source_dir: Option<PathBuf>,
    /// Catalog database (the local catalog file <lake>/_catalog/<db>.json).
    #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
    pub database: String,
    /// Catalog: glue://DATABASE (the Glue Data Catalog), file://PATH.json, or left out: the
    /// local file beside a local lake.
    #[arg(long, env = "FIRELAKE_CATALOG")]
    pub catalog: Option<String>,
    /// evolve: apply allowed schema changes of the source definition to the catalog's tables
    /// at start; freeze: refuse any change (docs/schema-evolution.md).
    #[arg(long, env = "FIRELAKE_SCHEMA_POLICY", default_value = "evolve")]
    pub schema_policy: firelake_core::schema_evolution::Policy,
    /// Compact this day (YYYY-MM-DD).
    #[arg(long, env = "FIRELAKE_DATE")]
    pub date: Option<String>,
    /// Compact every raw day from this one on.
    #[arg(long, env = "FIRELAKE_SINCE")]
    pub since: Option<String>,
    /// Compact every raw day.
    #[arg(long, env = "FIRELAKE_ALL")]
    pub all: bool,
    /// Output file size in MB (64 to 1024).
    #[arg(long, env = "FIRELAKE_TARGET_MB", default_value_t = 128,
          value_parser = clap::value_parser!(u64).range(crate::plan::TARGET_MB_RANGE))]
    pub target_mb: u64,
    /// zstd level of the curated files (1 to 22; 2 by default, the raw lake's is 3).
    #[arg(long, env = "FIRELAKE_ZSTD_LEVEL", default_value_t = crate::DEFAULT_ZSTD_LEVEL,
          value_parser = clap::value_parser!(i32).range(
              i64::from(*ZSTD_LEVEL_RANGE.start())..=i64::from(*ZSTD_LEVEL_RANGE.end())))]
    pub zstd_level: i32,
    /// Keep every row (no dedupe by the source's key).
    #[arg(long, env = "FIRELAKE_NO_DEDUPE")]
    pub no_dedupe: bool,
    /// How long a replaced generation stays (e.g. 1h; at most 365 days).
    #[arg(long, env = "FIRELAKE_GRACE", default_value = "1h", value_parser = parse_duration)]
    pub grace: Duration,
    /// Rebuild selected days even when up to date (from their current generation and the raw
    /// files it lacks: no row is dropped).
    #[arg(long, env = "FIRELAKE_FORCE")]
    pub force: bool,
    /// Rebuild selected days from their raw files alone: DROPS the rows of expired raw files.
    #[arg(long, env = "FIRELAKE_REBUILD_FROM_RAW")]
    pub rebuild_from_raw: bool,
    /// Look-back across UTC midnight (0s: off): a day's rows that arrived this long after
    /// midnight are dropped when the previous day holds their key from this long before.
    #[arg(long, env = "FIRELAKE_MIDNIGHT_WINDOW", default_value = "15m", value_parser = parse_duration)]
    pub midnight_window: Duration,
    /// Memory for dedupe's key pass in MiB (32 bytes a row); a day with more rows spills its
    /// keys to local disk ($TMPDIR) in buckets of this size. At most 10240, Lambda's largest
    /// memory (the pass reserves its budget up front: more would abort).
    #[arg(long, env = "FIRELAKE_DEDUPE_MEMORY_MB", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(1..=10_240))]
    pub dedupe_memory_mb: u64,
    /// Put a "partition complete" event on this EventBridge bus for every day committed.
    #[arg(long, env = "FIRELAKE_EVENTS_BUS")]
    pub events_bus: Option<String>,
}
