//! `firelake compact` (the compactor library with a progress bar and a summary) and
//! `firelake catalog` (a table's partitions with their locations, file counts and sizes).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use firelake_compactor::{
    CompactOptions, CompactReport, DayOutcome, DayReport, Progress, Recovery, compact,
    selection_from, target_bytes_from_mb, zstd_level_from,
};
use firelake_core::Lake;
use firelake_core::catalog::Catalog;
use serde::Serialize;

use crate::{SourceArgs, parse_duration};

#[derive(Args, Clone, Debug)]
pub struct CatalogArgs {
    /// Catalog database: the local catalog file is <lake>/_catalog/<database>.json.
    #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
    database: String,
    /// The catalog: glue://DATABASE (the Glue Data Catalog); file://PATH.json for a local
    /// file; left out = the local file beside a local lake.
    #[arg(long, env = "FIRELAKE_CATALOG")]
    catalog: Option<String>,
}

impl CatalogArgs {
    pub(crate) async fn open(
        &self,
        lake: &Lake,
    ) -> Result<Arc<dyn Catalog>, firelake_core::catalog::CatalogError> {
        firelake_aws::open_catalog(self.catalog.as_deref(), lake, &self.database).await
    }
}

#[derive(Args, Clone)]
pub struct CompactArgs {
    /// Where the lake is: file://PATH, a plain path, or memory://.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
    lake: String,
    /// The raw table to compact into <table>_curated (default: the source's table).
    #[arg(long, env = "FIRELAKE_TABLE")]
    table: Option<String>,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    schema: crate::schema_evolve::PolicyArgs,
    #[command(flatten)]
    catalog: CatalogArgs,
    /// Compact this day (YYYY-MM-DD). Default: every day before today (UTC) that is new or
    /// whose raw files changed since its last compaction (yesterday, missed nights, late data).
    #[arg(long, env = "FIRELAKE_DATE", conflicts_with_all = ["since", "all"])]
    date: Option<String>,
    /// Compact every raw day from this one (YYYY-MM-DD) on.
    #[arg(long, env = "FIRELAKE_SINCE", conflicts_with = "all")]
    since: Option<String>,
    /// Compact every raw day.
    #[arg(long, env = "FIRELAKE_ALL")]
    all: bool,
    /// Size of the output files in MB (64 to 1024).
    #[arg(long, env = "FIRELAKE_TARGET_MB", default_value_t = 128,
          value_parser = crate::flags::target_mb())]
    target_mb: u64,
    /// Output size in bytes, any value (tests: many small output files from little data).
    #[arg(long, env = "FIRELAKE_TARGET_BYTES", hide = true,
          value_parser = crate::flags::count::<u64>(1, u64::MAX))]
    target_bytes: Option<u64>,
    /// zstd level of the curated files (1 to 22). 2 by default: on the bench day, 3 (the raw
    /// lake's) makes files 1.5% smaller and the compaction 15-20% slower.
    #[arg(long, env = "FIRELAKE_ZSTD_LEVEL", default_value_t = firelake_compactor::DEFAULT_ZSTD_LEVEL,
          value_parser = crate::flags::zstd_level())]
    zstd_level: i32,
    /// Keep every row (default: one row per dedupe key of the source, the latest arrival).
    #[arg(long, env = "FIRELAKE_NO_DEDUPE")]
    no_dedupe: bool,
    /// How long a replaced generation stays readable after the switch (e.g. 1h, 10m, 0s).
    #[arg(long, env = "FIRELAKE_GRACE", default_value = "1h", value_parser = parse_duration)]
    grace: Duration,
    /// Rebuild the selected days even when they are up to date: from their current generation
    /// and the raw files it lacks, like every run, so no row of the curated day is dropped.
    #[arg(long, env = "FIRELAKE_FORCE")]
    force: bool,
    /// Rebuild the selected days from their raw files alone: DROPS the rows of raw files that
    /// expired (lifecycle) since they were compacted. Only this option does that.
    #[arg(long, env = "FIRELAKE_REBUILD_FROM_RAW")]
    rebuild_from_raw: bool,
    /// Retries across UTC midnight: a day's rows that arrived this long after midnight are
    /// dropped when the previous day's curated rows from this long before it hold their key
    /// (at most 24h; 0s: off).
    #[arg(long, env = "FIRELAKE_MIDNIGHT_WINDOW", default_value = "15m", value_parser = parse_duration)]
    midnight_window: Duration,
    /// Memory for dedupe's key pass in MiB (32 bytes a row); a day with more rows spills its
    /// keys to local disk ($TMPDIR) in buckets of this size.
    #[arg(long, env = "FIRELAKE_DEDUPE_MEMORY_MB", default_value_t = 32, value_parser = crate::flags::memory_mb)]
    dedupe_memory_mb: u64,
    /// Print the report as JSON instead of the summary.
    #[arg(long)]
    json: bool,
    /// Compact nothing: print the selected days that need compacting, with their raw size, as
    /// JSON ({"days":[{"day","bytes","files"}]}: the nightly workflow's first step).
    #[arg(long)]
    list_days: bool,
    /// Put a "partition complete" event on this EventBridge bus for every day committed
    /// (source firelake.compactor; detail: table, day, generation, rows).
    #[arg(long, env = "FIRELAKE_EVENTS_BUS")]
    events_bus: Option<String>,
}

#[derive(Args, Clone)]
pub struct CatalogCommandArgs {
    /// Where the lake is: file://PATH, a plain path, or memory://.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
    lake: String,
    /// The table to show (e.g. users, users_curated); with --sql, the only table to print
    /// (default: every table of the catalog).
    #[arg(long, env = "FIRELAKE_TABLE", required_unless_present = "sql")]
    table: Option<String>,
    #[command(flatten)]
    catalog: CatalogArgs,
    /// Print JSON instead of a table.
    #[arg(long, conflicts_with = "sql")]
    json: bool,
    /// Print DuckDB `CREATE OR REPLACE VIEW` statements that read each table where the catalog
    /// points (the curated table's current generations): `duckdb lake.db < views.sql`.
    #[arg(long)]
    sql: bool,
}

/// The progress bar (hidden when stderr is not a terminal).
struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn day_started(&self, day: &str, work: u64) {
        self.0.set_length(work);
        self.0.set_position(0);
        self.0.set_message(day.to_string());
    }
    fn advanced(&self, rows: u64) {
        self.0.inc(rows);
    }
}

pub fn run_compact(args: CompactArgs) -> Result<(), Box<dyn std::error::Error>> {
    let def = args.source.load()?;
    // Compaction reads many small lake files from the page cache (Lake::with_inline_reads).
    let lake = Lake::from_url(&args.lake)?.with_inline_reads();
    // The allocator settings the compactor was measured with (a binary's choice).
    firelake_compactor::tune_malloc();
    let rt = firelake_compactor::runtime()?;
    let catalog = rt.block_on(args.catalog.open(&lake))?;
    let options = CompactOptions {
        selection: selection_from(args.date.as_deref(), args.since.as_deref(), args.all)?,
        target_bytes: match args.target_bytes {
            Some(b) => b,
            None => target_bytes_from_mb(args.target_mb)?,
        },
        dedupe: !args.no_dedupe,
        grace: args.grace,
        force: args.force,
        rebuild_from_raw: args.rebuild_from_raw,
        midnight_window: args.midnight_window,
        dedupe_memory_bytes: args.dedupe_memory_mb << 20,
        today: None,
        zstd_level: zstd_level_from(args.zstd_level)?,
        stop: Some(crate::signals::on_stop(&rt)?),
    };
    let table = args.table.clone().unwrap_or_else(|| def.table.clone());
    rt.block_on(crate::schema_evolve::apply_at_start(
        catalog.as_ref(),
        &def,
        Some(&table),
        args.schema.schema_policy,
    ))?;
    rt.block_on(crate::compact_hints::check_table(
        &lake,
        catalog.as_ref(),
        &table,
    ))?;
    if args.list_days {
        let days = rt.block_on(firelake_compactor::nightly::list_days(
            lake, catalog, def, &table, options,
        ))?;
        println!("{}", serde_json::to_string(&days)?);
        return Ok(());
    }
    let bar = Bar(indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} rows {per_sec} {elapsed}",
        )
        .expect("valid template"),
    ));
    let report = rt.block_on(compact(
        lake.clone(),
        catalog.clone(),
        def.clone(),
        &table,
        options,
        &bar,
    ))?;
    bar.0.finish_and_clear();
    rt.block_on(firelake_compactor::announce::announce_report(
        args.events_bus.as_deref(),
        &report,
    ))?;
    // A local reader's view of the curated table follows every compaction.
    rt.block_on(crate::catalog_sql::refresh_views_file(
        &lake,
        catalog.as_ref(),
        args.catalog.catalog.as_deref(),
        &args.catalog.database,
    ))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_summary(&report, &lake, catalog.as_ref(), &def.columns, &mut out)?;
        if let Some(line) = stopped_line(&report.not_started) {
            writeln!(out, "{line}")?;
        } else if report.days.is_empty() {
            let default = args.date.is_none() && args.since.is_none() && !args.all;
            let now = firelake_core::stream::now_ms();
            let today = firelake_core::time::format_day(firelake_core::time::day_of_ms(now));
            writeln!(
                out,
                "{}",
                crate::compact_hints::nothing_eligible(default, &today)
            )?;
        }
    }
    out.flush()?;
    match report.failure() {
        Some(failure) => Err(failure.into()),
        None => Ok(()),
    }
}

/// The summary's line for a run a signal stopped, naming the days left for the next run.
fn stopped_line(not_started: &[String]) -> Option<String> {
    let (first, last) = (not_started.first()?, not_started.last()?);
    let days = if first == last {
        first.clone()
    } else {
        format!("{first} .. {last}")
    };
    Some(format!(
        "stopped by a signal: {} day(s) not started ({days}); the next run compacts them",
        not_started.len()
    ))
}

fn print_summary(
    r: &CompactReport,
    lake: &Lake,
    catalog: &dyn Catalog,
    columns: &[firelake_core::source::ColumnDef],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let dedupe = dedupe_rule(r, columns);
    writeln!(
        out,
        "firelake compact: {} -> {} in {}, {dedupe}",
        r.raw_table,
        r.curated_table,
        lake.url()
    )?;
    if !r.recovered.is_empty() {
        writeln!(out, "  recovered      {}", recovered_line(&r.recovered))?;
    }
    for d in &r.days {
        writeln!(out, "  day {}  {}", d.day, day_line(d))?;
        for q in &d.quarantined {
            writeln!(
                out,
                "                  quarantined {} (kept at {}): {}",
                q.file, q.kept_at, q.error
            )?;
        }
    }
    let skipped = r.days.len() - r.days_compacted() - r.days_failed();
    writeln!(
        out,
        "  days           {} compacted, {skipped} skipped, {} failed; {} raw files quarantined",
        r.days_compacted(),
        r.days_failed(),
        r.quarantined()
    )?;
    writeln!(
        out,
        "  files          {} in -> {} out",
        r.files_in(),
        r.files_out()
    )?;
    writeln!(
        out,
        "  rows           {} in -> {} out",
        r.rows_in(),
        r.rows_out()
    )?;
    writeln!(out, "  duplicates     {} removed", r.duplicates())?;
    writeln!(
        out,
        "  bytes          {} in -> {} out",
        r.bytes_in(),
        r.bytes_out()
    )?;
    writeln!(
        out,
        "  catalog        {} ({})",
        r.curated_table,
        catalog.describe()
    )?;
    let rate = if r.seconds > 0.0 {
        r.rows_in() as f64 / r.seconds
    } else {
        0.0
    };
    writeln!(
        out,
        "rows_in={} rows_out={} duplicates={} files_in={} files_out={} bytes_in={} bytes_out={} days={} seconds={:.3} rows_per_s={:.0}",
        r.rows_in(),
        r.rows_out(),
        r.duplicates(),
        r.files_in(),
        r.files_out(),
        r.bytes_in(),
        r.bytes_out(),
        r.days_compacted(),
        r.seconds,
        rate
    )
}

/// How the curated table keeps rows, in words.
fn dedupe_rule(r: &CompactReport, columns: &[firelake_core::source::ColumnDef]) -> String {
    if r.dedupe_key.is_empty() {
        return "every row kept (no dedupe)".to_string();
    }
    let arrival = columns
        .iter()
        .find(|c| c.arrival)
        .map_or("partition time", |c| c.name.as_str());
    format!(
        "one row per {} (latest {arrival} wins)",
        r.dedupe_key.join(", ")
    )
}

/// What the recovery of interrupted runs did, counted by action.
fn recovered_line(recovered: &[firelake_compactor::RecoveryAction]) -> String {
    let count = |a: Recovery| recovered.iter().filter(|x| x.action == a).count();
    format!(
        "{} rolled back, {} committed, {} previous generations deleted, {} kept for their grace period, {} orphans deleted",
        count(Recovery::RolledBack),
        count(Recovery::Committed),
        count(Recovery::Cleaned),
        count(Recovery::CleanupPending),
        count(Recovery::OrphanDeleted),
    )
}

fn day_line(d: &DayReport) -> String {
    match &d.outcome {
        DayOutcome::Compacted {
            generation,
            replaced,
            replaced_deleted,
            ..
        } => {
            let replaced = match (replaced, replaced_deleted) {
                (None, _) => String::new(),
                (Some(_), true) => ", previous generation deleted".into(),
                (Some(_), false) => ", previous generation kept for the grace period".into(),
            };
            format!(
                "compacted: {} files -> {}, {} rows -> {} ({} duplicates, {} of them in the day before), {} -> {} bytes in {:.2} s\n                  now {generation}{replaced}",
                d.files_in,
                d.files_out,
                d.rows_in,
                d.rows_out,
                d.duplicates,
                d.previous_day_duplicates,
                d.bytes_in,
                d.bytes_out,
                d.seconds
            )
        }
        DayOutcome::UpToDate => "up to date (--force rebuilds it)".into(),
        DayOutcome::NoRawFiles => "no raw files".into(),
        DayOutcome::Busy => "skipped: another compactor is working on it".into(),
        DayOutcome::Failed { error } => format!("FAILED: {error}"),
    }
}

#[derive(Serialize)]
struct PartitionView {
    values: Vec<String>,
    location: String,
    /// `None` when the location is outside the lake.
    files: Option<u64>,
    bytes: Option<u64>,
}

#[derive(Serialize)]
struct TableView {
    table: String,
    location: String,
    catalog: String,
    source: Option<String>,
    partitions: Vec<PartitionView>,
}

pub fn run_catalog(args: CatalogCommandArgs) -> Result<(), Box<dyn std::error::Error>> {
    let lake = Lake::from_url(&args.lake)?;
    let rt = tokio::runtime::Runtime::new()?;
    let catalog = rt.block_on(args.catalog.open(&lake))?;
    if args.sql {
        let sql = rt.block_on(crate::catalog_sql::views(
            &lake,
            catalog.as_ref(),
            args.table.as_deref(),
            &args.catalog.database,
        ))?;
        let mut out = std::io::stdout().lock();
        out.write_all(sql.as_bytes())?;
        return Ok(out.flush()?);
    }
    let name = args.table.clone().unwrap_or_default();
    let view = rt.block_on(async {
        let table = catalog
            .table(&name)
            .await?
            .ok_or_else(|| firelake_core::catalog::CatalogError::NoTable(name.clone()))?;
        let mut partitions = Vec::new();
        for p in catalog.partitions(&name).await? {
            let (files, bytes) = match lake.key_of_url(&p.location) {
                Some(key) => {
                    let objects = lake.list(&key).await?;
                    (
                        Some(objects.len() as u64),
                        Some(objects.iter().map(|o| o.size).sum()),
                    )
                }
                None => (None, None),
            };
            partitions.push(PartitionView {
                values: p.values,
                location: p.location,
                files,
                bytes,
            });
        }
        Ok::<_, Box<dyn std::error::Error>>(TableView {
            source: table.parameters.get("firelake.source").cloned(),
            table: table.name,
            location: table.location,
            catalog: catalog.describe(),
            partitions,
        })
    })?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &view)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "table {} at {} (source {}; catalog {})",
        view.table,
        view.location,
        view.source.as_deref().unwrap_or("?"),
        view.catalog
    )?;
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |n| n.to_string());
    writeln!(
        out,
        "{:<12} {:>7} {:>14}  location",
        "partition", "files", "bytes"
    )?;
    for p in &view.partitions {
        writeln!(
            out,
            "{:<12} {:>7} {:>14}  {}",
            p.values.join("/"),
            opt(p.files),
            opt(p.bytes),
            p.location
        )?;
    }
    writeln!(
        out,
        "{} partitions, {} files, {} bytes",
        view.partitions.len(),
        view.partitions.iter().filter_map(|p| p.files).sum::<u64>(),
        view.partitions.iter().filter_map(|p| p.bytes).sum::<u64>()
    )?;
    Ok(())
}
