//! The order of things in a run: check the source, select days, and per day, under its lock:
//! recover, plan -> merge -> verify -> commit -> clean up, with the journal written before
//! each step's effects.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::DataType;
use firelake_core::catalog::Catalog;
use firelake_core::lake::LakeObject;
use firelake_core::layout::partition_prefix;
use firelake_core::{Lake, SourceDef, time};

use crate::commit::{clean_up, commit, curated_locations, day_journals, recover_day, verify};
use crate::dedupe::KEY_ROW_BYTES;
use crate::dedupe::Lookback;
use crate::journal::{Journal, JournalState};
use crate::layout::{
    day_of_folder, generation_prefix, generations_root, is_generation_of, journal_key,
    journal_root, run_id,
};
use crate::merge::{
    DedupeColumns, KeySurvey, Survey, keys_arrived_since, select_winners, survey,
    winners_from_survey, write_generation,
};
use crate::plan::{
    Build, Plan, RawFile, Selection, build, candidate_days, covered_after, expired, plan,
};
use crate::quarantine::{not_quarantined, quarantine, quarantine_folder};
use crate::{
    CompactError, CompactOptions, CompactReport, Context, DayOutcome, DayReport, Progress,
    Quarantined, crash,
};

/// Compact the days `options.selection` names of `raw_table` (made from `def`) into
/// `<raw_table>_curated`. Day by day, each under its lock: first finish or roll back whatever
/// an earlier run left for the day (for every day that has journals or generations, unless the
/// selection is one day: then only that day, so workers given a day each never step on each
/// other), then plan, merge, verify, commit and clean up.
pub async fn compact(
    lake: Lake,
    catalog: Arc<dyn Catalog>,
    def: Arc<SourceDef>,
    raw_table: &str,
    options: CompactOptions,
    progress: &dyn Progress,
) -> Result<CompactReport, CompactError> {
    let started = Instant::now();
    if options.target_bytes == 0 {
        return Err(CompactError::Options(
            "the target size must be above 0".into(),
        ));
    }
    if options.midnight_window > std::time::Duration::from_secs(86_400) {
        return Err(CompactError::Options(
            "the midnight window is at most a day".into(),
        ));
    }
    let ctx = Context::new(lake, catalog, def, raw_table, options);
    let dedupe = dedupe_columns(&ctx)?;
    check_sources(&ctx).await?;

    let pcol = ctx.def.partition_column.clone();
    let days_under = |folders: Vec<String>| -> BTreeSet<i32> {
        folders
            .iter()
            .filter_map(|f| day_of_folder(f, &pcol))
            .collect()
    };
    let raw_days: Vec<i32> = days_under(ctx.lake.list_folders(&ctx.raw_table).await?)
        .into_iter()
        .collect();
    let today = ctx
        .options
        .today
        .unwrap_or_else(|| time::day_of_ms(ctx.now_ms()));
    let selected: BTreeSet<i32> = candidate_days(ctx.options.selection, &raw_days, today)
        .into_iter()
        .collect();
    let mut days = selected.clone();
    if !matches!(ctx.options.selection, Selection::Day(_)) {
        days.extend(days_under(
            ctx.lake.list_folders(&journal_root(&ctx.curated)).await?,
        ));
        days.extend(days_under(
            ctx.lake
                .list_folders(&generations_root(&ctx.curated))
                .await?,
        ));
    }

    let mut recovered = Vec::new();
    let mut reports = Vec::new();
    let mut not_started = Vec::new();
    for day in days {
        if ctx.options.stop_asked() {
            not_started.push(time::format_day(day));
            continue;
        }
        // Days are independent: one that fails is reported and the run goes on.
        let report = run_day(
            &ctx,
            day,
            selected.contains(&day),
            dedupe.as_ref(),
            progress,
            &mut recovered,
        )
        .await
        .unwrap_or_else(|e| {
            tracing::error!(day = %time::format_day(day), error = %e, "day failed; the other days go on");
            Some(DayReport::skipped(
                day,
                DayOutcome::Failed {
                    error: e.to_string(),
                },
            ))
        });
        if let Some(report) = report {
            progress.day_finished(&report);
            reports.push(report);
        }
    }
    Ok(CompactReport {
        raw_table: ctx.raw_table.clone(),
        curated_table: ctx.curated.clone(),
        dedupe_key: match dedupe {
            Some(_) => ctx.def.dedupe_key.clone(),
            None => Vec::new(),
        },
        recovered,
        days: reports,
        not_started,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A day under its lock: recover what earlier runs left, then, when `selected`, compact it.
/// `None`: nothing to report (a day visited for recovery only).
async fn run_day(
    ctx: &Context,
    day: i32,
    selected: bool,
    dedupe: Option<&DedupeColumns>,
    progress: &dyn Progress,
    recovered: &mut Vec<crate::RecoveryAction>,
) -> Result<Option<DayReport>, CompactError> {
    let Some(mut lock) = DayLock::try_acquire(ctx, day).await? else {
        tracing::warn!(day = %time::format_day(day), "another compactor is working on this day; skipped");
        return Ok(selected.then(|| DayReport::skipped(day, DayOutcome::Busy)));
    };
    let result = async {
        // Where the day is now, read under its lock: a rival may have switched it since the
        // run began, and recovery deletes generations the catalog does not point at.
        let found = curated_locations(ctx).await?;
        let (actions, location) =
            recover_day(ctx, day, found.get(&time::format_day(day)).cloned()).await?;
        recovered.extend(actions);
        if !selected {
            return Ok(None);
        }
        let made_from = match location.as_ref().and_then(|l| ctx.lake.key_of_url(l)) {
            Some(generation) => day_journals(ctx, day)
                .await?
                .into_iter()
                .find(|j| j.generation == generation),
            None => None,
        };
        let at = DayAt {
            location: location.as_ref(),
            made_from: made_from.as_ref(),
            previous_day: found.get(&time::format_day(day - 1)),
        };
        compact_day(ctx, day, &at, dedupe, progress, &mut lock)
            .await
            .map(Some)
    }
    .await;
    let released = lock.release(ctx).await;
    let report = result?;
    released?;
    Ok(report)
}

/// Where a day stands when its compaction starts.
struct DayAt<'a> {
    /// The curated partition's location.
    location: Option<&'a String>,
    /// The journal of the generation it points at.
    made_from: Option<&'a Journal>,
    /// The previous day's curated location (the look-back across midnight).
    previous_day: Option<&'a String>,
}

/// One compactor per day at a time. On a local lake an OS file lock
/// (`<curated>/_locks/p_date=D.lock`), released by the kernel however the process ends, so a
/// killed run never leaves a stale lock. On an object store a lock object at the same key
/// with a lease (`lock::ObjectLock`): a crashed run blocks the day until its lease ends.
struct DayLock(
    #[allow(dead_code)] Option<std::fs::File>,
    Option<crate::lock::ObjectLock>,
);

impl DayLock {
    /// The day's lock, or `None` when another process holds it.
    async fn try_acquire(ctx: &Context, day: i32) -> Result<Option<DayLock>, CompactError> {
        let name = format!(
            "{}={}.lock",
            ctx.def.partition_column,
            time::format_day(day)
        );
        let Some(root) = ctx.lake.local_root() else {
            let key = format!("{}/_locks/{name}", ctx.curated);
            let owner = crate::lock::owner_id(ctx.now_ms());
            let lock = crate::lock::ObjectLock::acquire(&ctx.lake, &key, &owner, ctx.now_ms());
            return Ok(lock.await?.map(|l| DayLock(None, Some(l))));
        };
        let dir = root.join(&ctx.curated).join("_locks");
        let path = dir.join(name);
        let io = |source| CompactError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(DayLock(Some(file), None))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// Just before the catalog switch: the lease is renewed (it fails if another run took the
    /// day over) and the day's partition still points where this run found it. False: the
    /// day is someone else's now; switch nothing, delete nothing of theirs.
    async fn still_ours(
        &mut self,
        ctx: &Context,
        day: i32,
        found: Option<&String>,
    ) -> Result<bool, CompactError> {
        if let Some(lock) = self.1.as_mut()
            && !lock.renew(&ctx.lake, ctx.now_ms()).await?
        {
            return Ok(false);
        }
        let now = curated_locations(ctx).await?;
        Ok(now.get(&time::format_day(day)) == found)
    }

    async fn release(self, ctx: &Context) -> Result<(), CompactError> {
        match self.1 {
            Some(lock) => lock.release(&ctx.lake).await,
            None => Ok(()),
        }
    }
}

/// The dedupe key and arrival columns, or `None` when dedupe is off or the source has no key.
fn dedupe_columns(ctx: &Context) -> Result<Option<DedupeColumns>, CompactError> {
    if !ctx.options.dedupe || ctx.def.dedupe_key.is_empty() {
        return Ok(None);
    }
    let index = |name: &str| {
        ctx.schema.index_of(name).map_err(|_| {
            CompactError::Options(format!(
                "source {}: dedupe key column {name:?} is not one of its columns",
                ctx.def.name
            ))
        })
    };
    let key = ctx
        .def
        .dedupe_key
        .iter()
        .map(|k| index(k))
        .collect::<Result<Vec<_>, _>>()?;
    // The record's arrival time decides which copy is the latest; a source without an arrival
    // column uses the timestamp its partition day comes from.
    let arrival = ctx
        .def
        .columns
        .iter()
        .position(|c| c.arrival)
        .unwrap_or(ctx.def.partition_from);
    if !matches!(
        ctx.schema.field(arrival).data_type(),
        DataType::Timestamp(..)
    ) {
        return Err(CompactError::Options(format!(
            "source {}: column {:?} decides the latest copy of a key but is not a timestamp",
            ctx.def.name,
            ctx.schema.field(arrival).name()
        )));
    }
    Ok(Some(DedupeColumns { key, arrival }))
}

/// Tables in the catalog made from another source would get rows of the wrong shape.
async fn check_sources(ctx: &Context) -> Result<(), CompactError> {
    for table in [&ctx.raw_table, &ctx.curated] {
        if let Some(t) = ctx.catalog.table(table).await?
            && let Some(found) = t.parameters.get("firelake.source")
            && *found != ctx.def.name
        {
            return Err(CompactError::SourceMismatch {
                table: table.clone(),
                found: found.clone(),
            });
        }
    }
    Ok(())
}

/// A day's raw data files: `.parquet` directly in the partition folder, hidden names skipped.
pub(crate) async fn raw_listing(ctx: &Context, day: i32) -> Result<Vec<LakeObject>, CompactError> {
    let prefix = partition_prefix(&ctx.raw_table, &ctx.def.partition_column, day);
    Ok(ctx
        .lake
        .list(&prefix)
        .await?
        .into_iter()
        .filter(|o| {
            o.key
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|name| {
                    !name.contains('/')
                        && name.ends_with(".parquet")
                        && !name.starts_with(['_', '.'])
                })
        })
        .collect())
}

/// The day's raw files but those set aside in its quarantine folder (never read again).
pub(crate) async fn unquarantined_listing(
    ctx: &Context,
    day: i32,
) -> Result<Vec<LakeObject>, CompactError> {
    let set_aside = ctx.lake.list(&quarantine_of(ctx, day)).await?;
    Ok(not_quarantined(raw_listing(ctx, day).await?, &set_aside))
}

/// Compact a day; a raw file that turns out unreadable on the way is quarantined and the day
/// starts over without it (each attempt moves one more file aside, so this ends).
async fn compact_day(
    ctx: &Context,
    day: i32,
    at: &DayAt<'_>,
    dedupe: Option<&DedupeColumns>,
    progress: &dyn Progress,
    lock: &mut DayLock,
) -> Result<DayReport, CompactError> {
    let mut quarantined = Vec::new();
    loop {
        let error = match attempt_day(ctx, day, at, dedupe, progress, lock, &mut quarantined).await
        {
            Ok(mut report) => {
                report.quarantined = quarantined;
                return Ok(report);
            }
            Err(e) => e,
        };
        match error.unreadable_file().filter(|k| is_raw_key(ctx, day, k)) {
            Some(key) if !quarantined.iter().any(|q| q.file == key) => {
                let folder = quarantine_of(ctx, day);
                let q =
                    quarantine(&ctx.lake, &folder, key, &error.to_string(), ctx.now_ms()).await?;
                quarantined.push(q);
            }
            _ => return Err(error),
        }
    }
}

/// The day's quarantine folder (`quarantine`).
fn quarantine_of(ctx: &Context, day: i32) -> String {
    quarantine_folder(
        &ctx.curated,
        &ctx.def.partition_column,
        &time::format_day(day),
    )
}

/// Whether `key` is a file of `day`'s raw partition (the only files quarantine sets aside).
fn is_raw_key(ctx: &Context, day: i32, key: &str) -> bool {
    let prefix = partition_prefix(&ctx.raw_table, &ctx.def.partition_column, day);
    key.strip_prefix(&prefix)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// What a day's next generation reads: the raw files to add and, unless it is built from raw
/// alone, the current generation's files (`plan::build`); with the raw files the generation
/// will hold. `None`: the day is up to date.
async fn day_inputs(
    ctx: &Context,
    day: i32,
    at: &DayAt<'_>,
    listing: &[LakeObject],
    same_rule: bool,
    dedupe: bool,
) -> Result<Option<(Vec<LakeObject>, Vec<RawFile>)>, CompactError> {
    let pcol = &ctx.def.partition_column;
    let generation = at
        .location
        .and_then(|l| ctx.lake.key_of_url(l))
        .filter(|k| is_generation_of(k, &ctx.curated, pcol, day));
    let covered: Option<Vec<RawFile>> = match (&generation, at.made_from) {
        (None, _) => None,
        (Some(_), Some(j)) => Some(j.covered().to_vec()),
        // A generation whose journal is gone: every raw file is read again with it, and
        // dedupe settles the overlap; without a key only the raw files can say what it holds.
        (Some(_), None) if dedupe => Some(Vec::new()),
        (Some(_), None) => None,
    };
    let keys: Vec<(String, u64)> = listing.iter().map(|o| (o.key.clone(), o.size)).collect();
    let (force, from_raw) = (ctx.options.force, ctx.options.rebuild_from_raw);
    let (mut reading, new) = match build(&keys, covered.as_deref(), force, from_raw, !same_rule) {
        Build::UpToDate => return Ok(None),
        Build::FromRaw(new) => (Vec::new(), new),
        Build::FromGeneration(new) => {
            let g = generation.as_deref().expect("a generation to build on");
            let mut files = ctx.lake.list(g).await?;
            files.retain(|o| o.key.ends_with(".parquet"));
            (files, new)
        }
    };
    let carried = if reading.is_empty() {
        Vec::new()
    } else {
        covered.unwrap_or_default()
    };
    let gone = expired(&keys, &carried);
    if gone > 0 {
        tracing::info!(day = %time::format_day(day), expired = gone, "raw files of the current generation are gone; their rows stay, read from it");
    }
    reading.extend(new.into_iter().map(|i| listing[i].clone()));
    Ok(Some((reading, carried)))
}

/// One attempt at a day: list, quarantine what cannot be read, plan, merge, verify, commit.
async fn attempt_day(
    ctx: &Context,
    day: i32,
    at: &DayAt<'_>,
    dedupe: Option<&DedupeColumns>,
    progress: &dyn Progress,
    lock: &mut DayLock,
    quarantined: &mut Vec<Quarantined>,
) -> Result<DayReport, CompactError> {
    let started = Instant::now();
    let listing = readable_listing(ctx, day, quarantined).await?;
    if listing.is_empty() {
        return Ok(DayReport::skipped(day, DayOutcome::NoRawFiles));
    }
    let dedupe_key = dedupe.map_or_else(Vec::new, |_| ctx.def.dedupe_key.clone());
    // The same files compacted with another dedupe setting are not the same curated day.
    let same_rule = at.made_from.is_none_or(|j| j.dedupe_key == dedupe_key);
    let Some((reading, carried)) =
        day_inputs(ctx, day, at, &listing, same_rule, dedupe.is_some()).await?
    else {
        return Ok(DayReport::skipped(day, DayOutcome::UpToDate));
    };
    let surveyed = survey_day(ctx, day, &reading, dedupe, quarantined).await?;
    let covers = covered_after(&carried, &surveyed.raw_read);
    let lookback = match dedupe {
        Some(columns) => midnight_lookback(ctx, day, at.previous_day, columns).await?,
        None => None,
    };
    let plan = Arc::new(plan(surveyed.files, ctx.options.target_bytes));
    tracing::info!(
        day = %time::format_day(day),
        files = plan.files.len(),
        rows = plan.rows(),
        bins = plan.bins.len(),
        seconds = surveyed.seconds,
        "planned"
    );
    if plan.rows() == 0 {
        return Ok(DayReport::skipped(day, DayOutcome::NoRawFiles));
    }
    let journal = planned_journal(ctx, day, &plan, at.location, covers, dedupe_key);
    // The journal exists before any output does.
    journal.store(&ctx.lake).await?;
    crash::point("planned");

    let merge = Merge {
        plan: &plan,
        dedupe,
        surveyed_keys: surveyed.keys,
        lookback: lookback.as_ref(),
    };
    let written = match write_verified(ctx, merge, &journal, progress).await {
        Ok(w) => w,
        Err(e) => {
            // Undo now; should that fail too, the next run's recovery does it.
            if let Err(undo) = ctx.lake.delete_prefix(&journal.generation).await {
                tracing::warn!(generation = %journal.generation, error = %undo, "could not delete a failed generation");
            } else {
                let _ = ctx.lake.delete(&journal.key).await;
            }
            return Err(e);
        }
    };
    commit_day(ctx, day, at.location, journal, written, lock, started).await
}

/// The day's raw files minus those set aside; zero-length files are quarantined here (they
/// are not Parquet, and a footer read would only say so later).
async fn readable_listing(
    ctx: &Context,
    day: i32,
    quarantined: &mut Vec<Quarantined>,
) -> Result<Vec<LakeObject>, CompactError> {
    let folder = quarantine_of(ctx, day);
    let mut listing = unquarantined_listing(ctx, day).await?;
    for empty in listing.iter().filter(|o| o.size == 0) {
        let error = format!("{}: zero-length file, not Parquet", empty.key);
        let q = quarantine(&ctx.lake, &folder, &empty.key, &error, ctx.now_ms()).await?;
        quarantined.push(q);
    }
    listing.retain(|o| o.size > 0);
    Ok(listing)
}

/// What the survey of a day's inputs found, unreadable raw files quarantined.
struct SurveyedDay {
    files: Vec<RawFile>,
    /// The raw files among them (the rest are the current generation's).
    raw_read: Vec<RawFile>,
    /// The files surveyed and their key rows, when dedupe surveyed keys with the footers.
    keys: Option<(Vec<String>, crate::dedupe::KeyRows)>,
    seconds: f64,
}

/// Read the footers (and, with dedupe, the key rows) of `reading`. An unreadable raw file is
/// quarantined; an unreadable file of the current generation fails the day.
async fn survey_day(
    ctx: &Context,
    day: i32,
    reading: &[LakeObject],
    dedupe: Option<&DedupeColumns>,
    quarantined: &mut Vec<Quarantined>,
) -> Result<SurveyedDay, CompactError> {
    let phase = Instant::now();
    let key_survey = dedupe.map(|columns| KeySurvey {
        schema: ctx.schema.clone(),
        columns: columns.clone(),
        budget_rows: ctx.options.dedupe_memory_bytes / KEY_ROW_BYTES,
    });
    let Survey {
        files,
        key_rows,
        unreadable,
    } = survey(&ctx.lake, reading, key_survey.as_ref()).await?;
    let folder = quarantine_of(ctx, day);
    for (key, error) in unreadable {
        if !is_raw_key(ctx, day, &key) {
            return Err(CompactError::Verify {
                generation: key,
                detail: format!("the current generation cannot be read: {error}"),
            });
        }
        quarantined.push(quarantine(&ctx.lake, &folder, &key, &error, ctx.now_ms()).await?);
    }
    let raw_read = files
        .iter()
        .filter(|f| is_raw_key(ctx, day, &f.key))
        .cloned()
        .collect();
    let keys = key_rows.map(|rows| (files.iter().map(|f| f.key.clone()).collect(), rows));
    Ok(SurveyedDay {
        files,
        raw_read,
        keys,
        seconds: phase.elapsed().as_secs_f64(),
    })
}

/// The journal of a new generation of `day` made by `plan`, in state Planned.
fn planned_journal(
    ctx: &Context,
    day: i32,
    plan: &Plan,
    current_location: Option<&String>,
    covers: Vec<RawFile>,
    dedupe_key: Vec<String>,
) -> Journal {
    let pcol = &ctx.def.partition_column;
    let id = run_id(ctx.now_ms(), plan.digest());
    let generation = generation_prefix(&ctx.curated, pcol, day, &id);
    let previous_generation = current_location
        .and_then(|l| ctx.lake.key_of_url(l))
        .filter(|k| is_generation_of(k, &ctx.curated, pcol, day));
    Journal {
        key: journal_key(&ctx.curated, pcol, day, &id),
        run_id: id,
        state: JournalState::Planned,
        source: ctx.def.name.clone(),
        raw_table: ctx.raw_table.clone(),
        curated_table: ctx.curated.clone(),
        partition_column: pcol.clone(),
        day: time::format_day(day),
        dedupe_key,
        target_bytes: plan.target_bytes,
        location: format!("{}/", ctx.lake.url_of(&generation)),
        generation,
        previous_location: current_location.cloned(),
        previous_generation,
        inputs: plan.files.clone(),
        covers,
        bins: plan.bins.clone(),
        outputs: Vec::new(),
        rows_in: plan.rows(),
        rows_out: 0,
        duplicates: 0,
        bytes_in: plan.bytes(),
        bytes_out: 0,
        planned_at_ms: ctx.now_ms(),
        written_at_ms: None,
        committed_at_ms: None,
        clean_after_ms: None,
        cleaned_at_ms: None,
    }
}

/// What the merge of a day reads.
struct Merge<'a> {
    plan: &'a Arc<Plan>,
    dedupe: Option<&'a DedupeColumns>,
    surveyed_keys: Option<(Vec<String>, crate::dedupe::KeyRows)>,
    lookback: Option<&'a Lookback>,
}

/// A written and verified generation: its files, the rows it holds, and the rows dropped as
/// the previous day's (the look-back across midnight).
struct Written {
    outputs: Vec<crate::journal::OutputFile>,
    distinct: u64,
    dropped: u64,
}

/// Select the winners (from the survey when it holds every key, else in a pass of their
/// own), write the generation and verify it.
async fn write_verified(
    ctx: &Context,
    m: Merge<'_>,
    journal: &Journal,
    progress: &dyn Progress,
) -> Result<Written, CompactError> {
    let phase = Instant::now();
    let rows_in = m.plan.rows();
    let from_survey = m
        .surveyed_keys
        .and_then(|(files, rows)| winners_from_survey(&files, rows, m.plan, m.lookback));
    let passes = if m.dedupe.is_some() && from_survey.is_none() {
        2
    } else {
        1
    };
    progress.day_started(&journal.day, rows_in * passes);
    let winners = match (m.dedupe, from_survey) {
        (Some(_), Some(w)) => Some((w, "with the survey")),
        (Some(columns), None) => {
            let budget = ctx.options.dedupe_memory_bytes;
            let w = select_winners(
                &ctx.lake,
                m.plan,
                &ctx.schema,
                columns,
                budget,
                m.lookback,
                progress,
            )
            .await?;
            Some((w, "in a pass of their own"))
        }
        (None, _) => None,
    }
    .map(|(w, how)| {
        let seconds = phase.elapsed().as_secs_f64();
        tracing::info!(day = %journal.day, distinct = w.kept(), seconds, how, "dedupe keys read");
        Arc::new(w)
    });
    let phase = Instant::now();
    let distinct = winners.as_ref().map_or(rows_in, |w| w.kept());
    let dropped = winners.as_ref().map_or(0, |w| w.dropped());
    let mut outputs = write_generation(
        &ctx.lake,
        m.plan.clone(),
        ctx.schema.clone(),
        winners,
        &journal.generation,
        ctx.options.zstd_level,
        progress,
    )
    .await?;
    let seconds = phase.elapsed().as_secs_f64();
    tracing::info!(day = %journal.day, files = outputs.len(), seconds, "generation written");
    verify(ctx, &journal.generation, &mut outputs, distinct).await?;
    Ok(Written {
        outputs,
        distinct,
        dropped,
    })
}

/// Record the written generation, then switch the catalog to it unless another compactor
/// took the day over meanwhile, and clean up what it replaced.
async fn commit_day(
    ctx: &Context,
    day: i32,
    current_location: Option<&String>,
    mut journal: Journal,
    w: Written,
    lock: &mut DayLock,
    started: Instant,
) -> Result<DayReport, CompactError> {
    journal.bytes_out = w.outputs.iter().map(|o| o.size).sum();
    journal.outputs = w.outputs;
    journal.rows_out = w.distinct;
    journal.duplicates = journal.rows_in - w.distinct;
    journal.written_at_ms = Some(ctx.now_ms());
    journal.state = JournalState::Written;
    journal.store(&ctx.lake).await?;
    crash::point("written");

    if !lock.still_ours(ctx, day, current_location).await? {
        tracing::warn!(day = %journal.day, "another compactor took the day over; this run's generation is dropped");
        ctx.lake.delete_prefix(&journal.generation).await?;
        ctx.lake.delete(&journal.key).await?;
        return Ok(DayReport::skipped(day, DayOutcome::Busy));
    }
    commit(ctx, &mut journal).await?;
    let cleaned = clean_up(ctx, &mut journal).await?;
    Ok(DayReport {
        day: journal.day.clone(),
        outcome: DayOutcome::Compacted {
            generation: journal.generation.clone(),
            location: journal.location.clone(),
            replaced: current_location.cloned(),
            replaced_deleted: cleaned && journal.previous_generation.is_some(),
        },
        files_in: journal.inputs.len() as u64,
        files_out: journal.outputs.len() as u64,
        rows_in: journal.rows_in,
        rows_out: w.distinct,
        duplicates: journal.rows_in - w.distinct,
        previous_day_duplicates: w.dropped,
        quarantined: Vec::new(),
        bytes_in: journal.bytes_in,
        bytes_out: journal.bytes_out,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The look-back across midnight for `day` (`dedupe::Lookback`): the keys of the previous
/// day's current generation that arrived within the window before midnight. `None` when the
/// window is 0 or the previous day has no curated partition in the lake.
async fn midnight_lookback(
    ctx: &Context,
    day: i32,
    previous_day: Option<&String>,
    columns: &DedupeColumns,
) -> Result<Option<Lookback>, CompactError> {
    let window = ctx.options.midnight_window.as_millis() as i64;
    let Some(prefix) = previous_day
        .filter(|_| window > 0)
        .and_then(|l| ctx.lake.key_of_url(l))
    else {
        return Ok(None);
    };
    let mut files = ctx.lake.list(&prefix).await?;
    files.retain(|o| o.key.ends_with(".parquet"));
    let (from, until) = Lookback::bounds(day, window);
    let keys = keys_arrived_since(&ctx.lake, &files, &ctx.schema, columns, from).await?;
    tracing::info!(day = %time::format_day(day), keys = keys.len(), "keys of the previous day near midnight");
    Ok(Some(Lookback::new(keys, until)))
}
