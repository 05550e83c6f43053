//! `firelake status`: the lake at a glance per table and day (docs/status.md). This module
//! gathers facts from the lake (the I/O edge); `firelake_core::status` aggregates them and
//! `status_html` draws the page.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use firelake_core::Lake;
use firelake_core::status::{
    CheckpointFact, DayFacts, FileFact, LakeStatus, count_kept, lake_status,
};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::statistics::Statistics;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The lake to look at: a path, file://, s3:// or memory:// URL.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "./lake")]
    lake: String,
    /// Print JSON instead of text.
    #[arg(long, env = "FIRELAKE_STATUS_JSON")]
    json: bool,
    /// Also write a self-contained HTML page with charts to this file.
    #[arg(long, env = "FIRELAKE_STATUS_HTML")]
    html: Option<PathBuf>,
    /// The catalog that says which generation of a curated day is current.
    #[cfg(feature = "compact")]
    #[command(flatten)]
    catalog: crate::compact::CatalogArgs,
}

pub(crate) type Tables = BTreeMap<String, BTreeMap<String, DayFacts>>;

/// `<col>=<YYYY-MM-DD>` -> the day.
fn day_of(folder: &str) -> Option<&str> {
    let (_, day) = folder.split_once('=')?;
    firelake_core::time::parse_day(day).map(|_| day)
}

/// The newest partition timestamp a Parquet file's statistics give for `column`.
fn newest_of(reader: &SerializedFileReader<Bytes>, column: Option<&str>) -> Option<i64> {
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let i = (0..schema.num_columns()).find(|i| Some(schema.column(*i).name()) == column)?;
    meta.row_groups()
        .iter()
        .filter_map(|rg| match rg.column(i).statistics() {
            Some(Statistics::Int64(s)) => s.max_opt().copied(),
            _ => None,
        })
        .max()
}

async fn file_fact(lake: &Lake, key: &str, size: u64, column: Option<&str>) -> FileFact {
    let reader = match lake.get(key).await {
        Ok(Some(bytes)) => SerializedFileReader::new(bytes).ok(),
        _ => None,
    };
    let Some(reader) = reader else {
        tracing::warn!(key, "not a readable Parquet file; counted with 0 rows");
        return FileFact {
            key: key.to_string(),
            bytes: size,
            ..Default::default()
        };
    };
    FileFact {
        key: key.to_string(),
        bytes: size,
        rows: reader.metadata().file_metadata().num_rows().max(0) as u64,
        newest_ms: newest_of(&reader, column),
    }
}

/// Count a kept-records file's lines into `into`, by `kind` (or `column kind`), leaving out
/// the lines `firelake reprocess` landed (its journal `<table>/_reprocessed/<folder>/<stem>.json`,
/// when `journal` is listed). Returns how many were left out.
async fn count_file(
    lake: &Lake,
    key: &str,
    by_column: bool,
    journal: Option<&str>,
    into: &mut BTreeMap<String, u64>,
) -> u64 {
    let Ok(Some(bytes)) = lake.get(key).await else {
        return 0;
    };
    let mut landed = std::collections::BTreeSet::new();
    if let Some(j) = journal
        && let Ok(Some(jb)) = lake.get(j).await
    {
        match serde_json::from_slice::<firelake_core::reprocess::Journal>(&jb) {
            Ok(j) => landed = j.landed,
            Err(e) => {
                tracing::warn!(key = j, error = %e, "unreadable reprocess journal; its file's lines count as rejected")
            }
        }
    }
    count_kept(&bytes, by_column, &landed, into)
}

/// The reprocess journal of a rejected-records file, when the listing has one.
fn reprocess_journal(key: &str, listed: &std::collections::HashSet<String>) -> Option<String> {
    let (table, rest) = key.split_once("/_rejected/")?;
    let j = format!("{table}/_reprocessed/{}.json", rest.strip_suffix(".jsonl")?);
    listed.contains(&j).then_some(j)
}

/// Checkpoint objects (`_checkpoints/...json`). Their format is the stream-consumer's
/// (`position`, `updated_ms`); an unreadable one is shown without a position.
async fn checkpoints(lake: &Lake, keys: &[String]) -> Vec<CheckpointFact> {
    let mut out = Vec::new();
    for key in keys {
        let v: serde_json::Value = match lake.get(key).await {
            Ok(Some(b)) => serde_json::from_slice(&b).unwrap_or_default(),
            _ => continue,
        };
        out.push(CheckpointFact {
            key: key.clone(),
            position: v["position"].as_str().map(str::to_string),
            updated_ms: v["updated_ms"].as_i64().unwrap_or_default(),
        });
    }
    out
}

/// The partition-time column of a table's source, when a source of that name is known.
fn time_column(table: &str) -> Option<String> {
    let def = firelake_core::SourceDef::resolve(table, None).ok()?;
    Some(def.columns[def.partition_from].name.clone())
}

async fn gather(lake: &Lake) -> Result<(Tables, Vec<CheckpointFact>), firelake_core::LakeError> {
    let mut tables: Tables = BTreeMap::new();
    let mut columns: BTreeMap<String, Option<String>> = BTreeMap::new();
    let all = lake.list("").await?;
    let listed: std::collections::HashSet<String> = all.iter().map(|o| o.key.clone()).collect();
    let cps: Vec<String> = all
        .iter()
        .filter(|o| o.key.starts_with("_checkpoints/") && o.key.ends_with(".json"))
        .map(|o| o.key.clone())
        .collect();
    for obj in all {
        let parts: Vec<&str> = obj.key.split('/').collect();
        let (table, curated) = match parts[0].strip_suffix("_curated") {
            Some(t) => (t, true),
            None => (parts[0], false),
        };
        if table.starts_with('_') || parts.len() < 3 {
            continue;
        }
        let column = columns
            .entry(table.to_string())
            .or_insert_with(|| time_column(table))
            .clone();
        let days = tables.entry(table.to_string()).or_default();
        let is_parquet = obj.key.ends_with(".parquet");
        match (curated, parts.as_slice()) {
            (false, [_, folder, _]) if is_parquet => {
                if let Some(day) = day_of(folder) {
                    let f = file_fact(lake, &obj.key, obj.size, column.as_deref()).await;
                    days.entry(day.into()).or_default().raw.push(f);
                }
            }
            (false, [_, side @ ("_rejected" | "_nulled"), folder, _]) => {
                if let Some(day) = day_of(folder) {
                    let d = days.entry(day.into()).or_default();
                    let nulled = *side == "_nulled";
                    if nulled {
                        count_file(lake, &obj.key, true, None, &mut d.nulled).await;
                    } else {
                        let journal = reprocess_journal(&obj.key, &listed);
                        d.reprocessed +=
                            count_file(lake, &obj.key, false, journal.as_deref(), &mut d.rejects)
                                .await;
                    }
                }
            }
            (true, [_, "_generations", folder, generation, _]) if is_parquet => {
                if let Some(day) = day_of(folder) {
                    let f = file_fact(lake, &obj.key, obj.size, None).await;
                    let d = days.entry(day.into()).or_default();
                    d.generations
                        .entry(generation.to_string())
                        .or_default()
                        .push(f);
                }
            }
            _ => {}
        }
    }
    tables.retain(|_, days| !days.is_empty());
    Ok((tables, checkpoints(lake, &cps).await))
}

pub fn run(args: StatusArgs) -> Result<(), Box<dyn std::error::Error>> {
    let lake = Lake::from_url(&args.lake)?;
    let rt = tokio::runtime::Runtime::new()?;
    let (tables, cps) = rt.block_on(gather(&lake))?;
    // With the compactor: the catalog's generation of each day and its staleness.
    #[cfg(feature = "compact")]
    let tables = {
        let mut tables = tables;
        rt.block_on(crate::status_curated::add(
            &lake,
            &args.catalog,
            &mut tables,
        ))?;
        tables
    };
    let status = lake_status(lake.url(), &tables, &cps, firelake_core::stream::now_ms());
    // A closed pipe (`| head`) ends the output, never panics.
    let mut out = std::io::stdout();
    let _ = if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&status)?)
    } else {
        print_text(&status, &mut out)
    };
    if let Some(path) = args.html {
        std::fs::write(&path, crate::status_html::page(&status))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}

fn print_text(s: &LakeStatus, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(out, "firelake status: {} at {}", s.lake, s.generated_at)?;
    if s.tables.is_empty() {
        writeln!(out, "  no tables (nothing under <table>/p_date=...)")?;
    }
    for t in &s.tables {
        writeln!(
            out,
            "{}: {} rows, {} raw files ({} bytes), rejected {}, reprocessed {}, nulled {}, stale days {}, newest record {} ({} s ago)",
            t.table,
            t.rows,
            t.raw_files,
            t.raw_bytes,
            t.rejected,
            t.reprocessed,
            t.nulled,
            t.stale_days,
            t.newest_record.as_deref().unwrap_or("-"),
            t.newest_age_seconds.map_or("-".into(), |a| a.to_string()),
        )?;
        writeln!(
            out,
            "  {:<10} {:>9} {:>6} {:>11} {:>6} {:>8} {:>11} {:>7}  curated",
            "day", "rows", "files", "bytes", "small", "rejected", "reprocessed", "nulled"
        )?;
        for d in &t.days {
            writeln!(
                out,
                "  {:<10} {:>9} {:>6} {:>11} {:>5.0}% {:>8} {:>11} {:>7}  {}",
                d.day,
                d.rows,
                d.raw_files,
                d.raw_bytes,
                d.small_share * 100.0,
                d.rejected,
                d.reprocessed,
                d.nulled,
                curated_text(&d.curated),
            )?;
            let detail = |m: &BTreeMap<String, u64>| {
                m.iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if d.rejected > 0 {
                writeln!(out, "    rejects: {}", detail(&d.rejects_by_reason))?;
            }
            if d.nulled > 0 {
                writeln!(out, "    nulled:  {}", detail(&d.nulled_by_column))?;
            }
        }
    }
    print_consumers(&s.consumers, out)
}

/// `compacted (stale: N raw files newer)`, `compacted` or `not compacted`, with the generation.
pub(crate) fn curated_text(c: &firelake_core::status::Curated) -> String {
    let state = match c.stale_raw_files {
        Some(n) if c.stale => format!("{} (stale: {n} raw files newer)", c.state),
        _ => c.state.to_string(),
    };
    match &c.generation {
        Some(g) => format!("{state}; {g} ({}), {} rows", c.generation_from, c.rows),
        None => state,
    }
}

fn print_consumers(
    cps: &[firelake_core::status::ConsumerPosition],
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    if cps.is_empty() {
        return writeln!(
            out,
            "consumers: no checkpoints in the lake (Kafka positions are the broker's consumer-group commits)"
        );
    }
    writeln!(out, "consumers (from the lake's checkpoints):")?;
    for c in cps {
        writeln!(
            out,
            "  {} {} {}: position {}, checkpointed {} ({} s ago)",
            c.consumer,
            c.stream,
            c.shard,
            c.position.as_deref().unwrap_or("-"),
            c.checkpointed_at,
            c.checkpoint_age_seconds
        )?;
    }
    Ok(())
}
