//! `firelake iceberg-maintain`: snapshot expiry and orphan metadata clean-up of a lake's
//! Iceberg table (docs/iceberg.md, "Maintenance"). The work is the iceberg crate's
//! (`firelake_iceberg::maintain`); this module parses the flags and prints the summary.

use std::time::Duration;

use firelake_core::Lake;
use firelake_iceberg::{MaintainOptions, MaintainReport, TableCatalog, maintain};

use crate::SourceArgs;
use crate::flags::{count, parse_duration};

/// Iceberg's own default age of expired snapshots (`history.expire.max-snapshot-age-ms`).
const DEFAULT_EXPIRE_OLDER_THAN: &str = "120h";

/// `firelake iceberg-maintain`'s options.
#[derive(clap::Args)]
pub struct MaintainArgs {
    /// The lake whose Iceberg table is maintained: file://PATH, a path, or s3://BUCKET/PREFIX.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake", value_parser = lake_url)]
    lake: String,
    /// The catalog the table was landed in (`--iceberg` of `run`, `replay`, `consume`): `local`
    /// (the SQL catalog file inside a local lake) or glue://DATABASE (an s3:// lake).
    #[arg(long = "iceberg", env = "FIRELAKE_ICEBERG", default_value = "local",
          value_parser = TableCatalog::parse)]
    catalog: TableCatalog,
    #[command(flatten)]
    source: SourceArgs,
    /// Catalog name and namespace the table was landed with (`run --database`).
    #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
    database: String,
    /// Expire snapshots older than this (e.g. 120h = Iceberg's default of 5 days, 30m).
    #[arg(long, env = "FIRELAKE_EXPIRE_OLDER_THAN", default_value = DEFAULT_EXPIRE_OLDER_THAN,
          value_parser = parse_duration)]
    expire_older_than: Duration,
    /// Keep at least this many of the newest snapshots, however old (the current one always).
    #[arg(long, env = "FIRELAKE_RETAIN_LAST", default_value_t = 10,
          value_parser = count::<usize>(1, 1_000_000))]
    retain_last: usize,
    /// Delete unreferenced metadata files only when older than this: a commit under way has
    /// written files it has not committed yet.
    #[arg(long, env = "FIRELAKE_ORPHAN_OLDER_THAN", default_value = "1h",
          value_parser = parse_duration)]
    orphan_older_than: Duration,
    /// Print what would be expired and deleted; change nothing.
    #[arg(long, env = "FIRELAKE_DRY_RUN")]
    dry_run: bool,
}

/// A lake URL as every command takes it (`Lake::check_url`), but not `memory://`: it holds no
/// table. Nothing is created: a missing lake has no table to maintain.
fn lake_url(s: &str) -> Result<String, String> {
    match Lake::check_url(s) {
        Ok(()) if !s.starts_with("memory://") => Ok(s.to_string()),
        _ => Err(format!(
            "{s:?} is not a lake with an Iceberg table: use file://PATH, a path, or \
             s3://BUCKET/PREFIX (docs/iceberg.md)"
        )),
    }
}

pub fn run(args: MaintainArgs) -> Result<(), Box<dyn std::error::Error>> {
    let def = args.source.load()?;
    let opts = MaintainOptions {
        expire_older_than: args.expire_older_than,
        retain_last: args.retain_last,
        orphan_older_than: args.orphan_older_than,
        dry_run: args.dry_run,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let report = rt.block_on(maintain(
        &args.lake,
        &args.catalog,
        &args.database,
        &def.table,
        opts,
    ))?;
    if report.dry_run {
        for id in &report.expired {
            println!("would expire snapshot {id}");
        }
        for (url, bytes) in &report.deleted {
            println!("would delete {url} ({bytes} bytes)");
        }
    }
    println!("{}", summary(&report, &opts));
    Ok(())
}

/// The closing paragraph.
fn summary(r: &MaintainReport, o: &MaintainOptions) -> String {
    let (expired, deleted) = if r.dry_run {
        ("would expire", "would delete")
    } else {
        ("expired", "deleted")
    };
    let young = match r.kept_young {
        0 => String::new(),
        n => format!(
            "; {n} unreferenced files younger than {} kept",
            humantime(o.orphan_older_than)
        ),
    };
    let dry = if r.dry_run {
        "Dry run, nothing changed. "
    } else {
        ""
    };
    format!(
        "{dry}Iceberg table {} ({}): {expired} {} snapshots older than {} (the newest {} kept \
         however old), {deleted} {} orphan metadata files, {} bytes freed{young}; {} snapshots \
         and {} metadata files left. Data files are never deleted.",
        r.table,
        r.kept_in,
        r.expired.len(),
        humantime(o.expire_older_than),
        o.retain_last,
        r.deleted.len(),
        r.bytes_freed(),
        r.snapshots_left,
        r.metadata_files_left,
    )
}

/// A flag's duration as it was given, near enough (`120h`, `1h`, `30m`, `45s`).
fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lakes_that_can_hold_a_table() {
        for ok in ["file:///x/lake", "./lake", "s3://b/lake", "s3://b"] {
            assert_eq!(lake_url(ok), Ok(ok.to_string()));
        }
        for bad in ["memory://", "file://", "", "s3://", "gs://b/lake"] {
            assert!(lake_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_print_as_given() {
        assert_eq!(humantime(Duration::from_secs(5 * 24 * 3600)), "120h");
        assert_eq!(humantime(Duration::from_secs(1800)), "30m");
        assert_eq!(humantime(Duration::from_secs(90)), "90s");
        assert_eq!(humantime(Duration::ZERO), "0ms");
    }
}
