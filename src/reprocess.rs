//! `firelake reprocess`: run a table's kept rejected records (`<table>/_rejected/`) through the
//! current source definition and land what now passes, exactly once; report what still fails;
//! land corrected the records whose `_nulled/` originals now pass (`nulled`, docs/reprocess.md).
//! This module is the I/O edge; what passes and the journal are `firelake_core::reprocess`.

use std::sync::Arc;

use bytes::Bytes;
use clap::Args;
use firelake_core::reprocess::{Journal, Pending, Tally, definition_tag, journal_key, recheck};
use firelake_core::{Cleaner, Lake, SourceDef, layout, time};
use firelake_stream_consumer::buffer::DayFlush;
use firelake_stream_consumer::{ConsumerMetrics, LakeWriter, ShardBuffer};

use crate::SourceArgs;
use crate::compact::CatalogArgs;

mod nulled;

#[derive(Args, Clone)]
#[command(group(clap::ArgGroup::new("days").required(true).multiple(true)
    .args(["date", "since", "until", "all"])))]
pub struct ReprocessArgs {
    /// Where the lake is: file://PATH, a plain path, s3://BUCKET/PREFIX or memory://.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
    lake: String,
    /// The raw table whose kept records are reprocessed (default: the source's table).
    #[arg(long, env = "FIRELAKE_TABLE")]
    table: Option<String>,
    /// The CURRENT source definition the kept records are cleaned with.
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    catalog: CatalogArgs,
    #[command(flatten)]
    schema: crate::schema_evolve::PolicyArgs,
    #[command(flatten)]
    days: crate::day_range::DayRangeArgs,
}

/// The step names a test build may stop at (compactor/src/crash.rs's hook, same variable).
const STEP_PENDING: &str = "reprocess_pending";
const STEP_WRITTEN: &str = "reprocess_written";

struct Ctx {
    lake: Lake,
    def: Arc<SourceDef>,
    cleaner: Arc<Cleaner>,
    writer: LakeWriter,
    tag: String,
}

pub fn run(args: ReprocessArgs) -> Result<(), Box<dyn std::error::Error>> {
    let range = args.days.range()?;
    let mut def = (*args.source.load()?).clone();
    if let Some(t) = &args.table {
        def.table = t.clone();
    }
    let def = Arc::new(def);
    let rt = tokio::runtime::Runtime::new()?;
    let tally = rt.block_on(async {
        let lake = Lake::from_url(&args.lake)?;
        let catalog = args.catalog.open(&lake).await?;
        // The current definition is usually a changed one: its tables follow it first.
        let policy = args.schema.schema_policy;
        crate::schema_evolve::apply_at_start(catalog.as_ref(), &def, None, policy).await?;
        let metrics = Arc::new(ConsumerMetrics::default());
        let ctx = Ctx {
            writer: LakeWriter::new(lake.clone(), catalog, def.clone(), metrics),
            cleaner: Arc::new(Cleaner::new(def.clone())),
            tag: definition_tag(&def),
            lake,
            def: def.clone(),
        };
        reprocess(&ctx, range).await
    })?;
    print_summary(&def, &tally);
    Ok(())
}

/// The kept-record files of the selected days under `<table>/<side>/`, sorted by key.
async fn kept_files(
    ctx: &Ctx,
    side: &str,
    (from, to): (i32, i32),
) -> Result<Vec<(i32, String)>, firelake_core::LakeError> {
    let prefix = format!("{}/{side}/", ctx.def.table);
    let pcol = format!("{}=", ctx.def.partition_column);
    let mut out = Vec::new();
    for obj in ctx.lake.list(&prefix).await? {
        let rest = &obj.key[prefix.len()..];
        let Some((folder, _)) = rest.split_once('/') else {
            continue;
        };
        let day = folder.strip_prefix(&pcol).and_then(time::parse_day);
        if let Some(day) = day.filter(|d| (from..=to).contains(d))
            && obj.key.ends_with(".jsonl")
        {
            out.push((day, obj.key));
        }
    }
    out.sort();
    Ok(out)
}

async fn reprocess(ctx: &Ctx, range: (i32, i32)) -> Result<Tally, Box<dyn std::error::Error>> {
    let table = &ctx.def.table;
    if ctx.lake.list(&format!("{table}/")).await?.is_empty() {
        return Err(format!(
            "the lake {} has no table {table:?}: check --lake and --table (or --source)",
            ctx.lake.url()
        )
        .into());
    }
    let mut tally = Tally::default();
    let files = kept_files(ctx, "_rejected", range).await?;
    let bar = progress_bar(files.len() as u64);
    for (day, key) in files {
        reprocess_file(ctx, day, &key, &mut tally).await?;
        bar.inc(1);
        bar.set_message(format!(
            "read {} landed {} still failing {}",
            tally.read,
            tally.landed,
            tally.failing()
        ));
    }
    bar.finish_and_clear();
    for (day, key) in kept_files(ctx, "_nulled", range).await? {
        nulled::land_nulled_file(ctx, day, &key, &mut tally).await?;
    }
    Ok(tally)
}

/// Rejected files done (drawn on a terminal only, like the other commands' bars).
fn progress_bar(files: u64) -> indicatif::ProgressBar {
    indicatif::ProgressBar::new(files).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} files {pos}/{len} [{bar:30}] {msg} {elapsed}",
        )
        .expect("valid template"),
    )
}

/// The file's name without its folder and `.jsonl`.
fn stem_of(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    name.strip_suffix(".jsonl").unwrap_or(name)
}

/// The file's journal, its pending files resolved; and whether there were any (then the
/// resolved journal must be written even when nothing new lands, or a later run with the
/// pending files' definition would redo them).
async fn read_journal(ctx: &Ctx, key: &str) -> Result<(Journal, bool), Box<dyn std::error::Error>> {
    let Some(bytes) = ctx.lake.get(key).await? else {
        return Ok((Journal::default(), false));
    };
    let journal: Journal = serde_json::from_slice(&bytes)
        .map_err(|e| format!("reprocess journal {key} is unreadable ({e}): move it aside to reprocess that file from scratch"))?;
    // Which pending data files a stopped run left, asked before resolving (pure).
    let mut present = std::collections::BTreeSet::new();
    for p in &journal.pending {
        if ctx.lake.get(&p.key).await?.is_some() {
            present.insert(p.key.clone());
        }
    }
    let stopped = !journal.pending.is_empty();
    Ok((journal.resolve(&ctx.tag, |k| present.contains(k)), stopped))
}

async fn write_journal(
    ctx: &Ctx,
    key: &str,
    j: &Journal,
) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = serde_json::to_vec(j)?;
    ctx.lake.put(key, Bytes::from(bytes)).await?;
    Ok(())
}

/// One rejected-records file: land its lines that now pass (journal pending, data files,
/// journal committed), count the rest by reason.
async fn reprocess_file(
    ctx: &Ctx,
    day: i32,
    key: &str,
    tally: &mut Tally,
) -> Result<(), Box<dyn std::error::Error>> {
    let Some(bytes) = ctx.lake.get(key).await? else {
        return Ok(());
    };
    let jkey = journal_key(&ctx.def.table, &ctx.def.partition_column, day, stem_of(key));
    let (journal, stopped) = read_journal(ctx, &jkey).await?;
    tally.files += 1;
    let shard = format!("{}.{}", stem_of(key), ctx.tag);
    let mut buffer = ShardBuffer::new(ctx.cleaner.clone(), "reprocess", &shard);
    let mut days: Vec<(i32, u64)> = Vec::new();
    let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    for (i, line) in lines.enumerate() {
        let n = i as u64 + 1;
        tally.read += 1;
        if journal.landed.contains(&n) {
            tally.already += 1;
            continue;
        }
        match recheck(&ctx.cleaner, n, line) {
            Ok(p) => {
                buffer.push(&n.to_string(), p.arrival_ms, &p.bytes);
                days.push((p.day, n));
                tally.landed += 1;
            }
            Err(kind) => *tally.still_failing.entry(kind).or_default() += 1,
        }
    }
    land(ctx, &jkey, (journal, stopped), &mut buffer, &days).await
}

/// Write what `buffer` holds exactly once: the journal with the files about to be written
/// (`pending`), the data files, the journal committed. `days` are (day, line) of its records.
async fn land(
    ctx: &Ctx,
    jkey: &str,
    (mut journal, stopped): (Journal, bool),
    buffer: &mut ShardBuffer,
    days: &[(i32, u64)],
) -> Result<(), Box<dyn std::error::Error>> {
    let flushes = without_rejected(buffer.take());
    if flushes.is_empty() {
        if stopped {
            write_journal(ctx, jkey, &journal).await?;
        }
        return Ok(());
    }
    journal.tag = ctx.tag.clone();
    journal.pending = pending_of(&ctx.def, &flushes, days);
    write_journal(ctx, jkey, &journal).await?;
    firelake_compactor::crash::point(STEP_PENDING);
    ctx.writer.write(flushes).await?;
    firelake_compactor::crash::point(STEP_WRITTEN);
    write_journal(ctx, jkey, &journal.commit()).await?;
    Ok(())
}

/// Only data and nulled side files: a record that fails again stays in the file it is in.
fn without_rejected(flushes: Vec<DayFlush>) -> Vec<DayFlush> {
    flushes
        .into_iter()
        .map(|f| DayFlush {
            rejected: None,
            rejected_count: 0,
            ..f
        })
        .filter(|f| f.batch.is_some())
        .collect()
}

/// The data file each flush will be written to, with the lines it holds.
fn pending_of(def: &SourceDef, flushes: &[DayFlush], days: &[(i32, u64)]) -> Vec<Pending> {
    flushes
        .iter()
        .map(|f| Pending {
            key: layout::data_file_key(&def.table, &def.partition_column, f.day, &f.origin),
            lines: days
                .iter()
                .filter(|(d, _)| *d == f.day)
                .map(|(_, n)| *n)
                .collect(),
        })
        .collect()
}

fn print_summary(def: &SourceDef, t: &Tally) {
    println!(
        "reprocessed table={} files={} read={} landed={} already_landed={} still_failing={}",
        def.table,
        t.files,
        t.read,
        t.landed,
        t.already,
        t.failing()
    );
    println!(
        "  still failing  {} ({}; kept where they are, under {}/_rejected/)",
        t.failing(),
        Tally::describe(&t.still_failing),
        def.table
    );
    println!(
        "  nulled values  {} originals read, {} now pass: {} records landed corrected (they replace the nulled rows at compaction, docs/reprocess.md), {} corrected earlier; not corrected: {}",
        t.nulled_read,
        t.nulled_now_valid,
        t.nulled_corrected,
        t.nulled_already,
        Tally::describe(&t.nulled_failing)
    );
    if t.files == 0 {
        println!("  no kept rejected records on the selected days");
    }
}
