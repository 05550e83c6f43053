//! Verify, commit, clean up, and recover: the steps of the journal protocol (see `journal`)
//! that touch the catalog or delete anything.

use std::collections::{BTreeMap, HashSet};

use firelake_core::catalog::PartitionInfo;
use firelake_core::time;
use serde::Serialize;

use crate::journal::{Journal, JournalState, OutputFile};
use crate::layout::{generations_root, is_generation_of, journal_key, run_id_of_generation};
use crate::reader::LakeFile;
use crate::{CompactError, Context, crash};

/// What recovery or deferred cleanup did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveryAction {
    pub day: String,
    pub run_id: String,
    pub action: Recovery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovery {
    /// A run stopped before its outputs were verified: its generation was deleted.
    RolledBack,
    /// A run stopped after verifying its outputs: its generation was made visible.
    Committed,
    /// The previous generation of a committed run was deleted (grace period over).
    Cleaned,
    /// The previous generation of a committed run stays until its grace period is over.
    CleanupPending,
    /// A generation folder no journal or catalog partition refers to was deleted.
    OrphanDeleted,
}

/// Check a generation against what the merge wrote: exactly the expected files, each with the
/// expected rows in its footer, adding up to `expected_rows`. Fills in the sizes.
pub async fn verify(
    ctx: &Context,
    generation: &str,
    outputs: &mut [OutputFile],
    expected_rows: u64,
) -> Result<(), CompactError> {
    let fail = |detail: String| CompactError::Verify {
        generation: generation.to_string(),
        detail,
    };
    let listed: BTreeMap<String, u64> = ctx
        .lake
        .list(generation)
        .await?
        .into_iter()
        .map(|o| (o.key, o.size))
        .collect();
    let expected: HashSet<&str> = outputs.iter().map(|o| o.key.as_str()).collect();
    if let Some(extra) = listed.keys().find(|k| !expected.contains(k.as_str())) {
        return Err(fail(format!("unexpected object {extra}")));
    }
    let mut total = 0;
    for out in outputs.iter_mut() {
        let size = *listed
            .get(&out.key)
            .ok_or_else(|| fail(format!("{} is missing", out.key)))?;
        let mut file = LakeFile::ranged(&ctx.lake, &out.key, size);
        let rows = file.metadata().await?.metadata().file_metadata().num_rows() as u64;
        if rows != out.rows {
            return Err(fail(format!(
                "{} holds {rows} rows, the writer wrote {}",
                out.key, out.rows
            )));
        }
        out.size = size;
        total += rows;
    }
    if total != expected_rows {
        return Err(fail(format!(
            "{total} rows written, {expected_rows} distinct rows read"
        )));
    }
    Ok(())
}

/// Make a written generation visible: point the curated partition at it.
pub async fn commit(ctx: &Context, journal: &mut Journal) -> Result<(), CompactError> {
    debug_assert_eq!(journal.state, JournalState::Written);
    ctx.ensure_curated_table().await?;
    ctx.catalog
        .set_partition(
            &ctx.curated,
            &PartitionInfo {
                values: vec![journal.day.clone()],
                location: journal.location.clone(),
            },
        )
        .await?;
    crash::point("catalog");
    mark_committed(ctx, journal).await
}

async fn mark_committed(ctx: &Context, journal: &mut Journal) -> Result<(), CompactError> {
    let now = ctx.now_ms();
    journal.state = JournalState::Committed;
    journal.committed_at_ms = Some(now);
    journal.clean_after_ms = Some(now.saturating_add(ctx.options.grace.as_millis() as i64));
    journal.store(&ctx.lake).await?;
    crash::point("committed");
    Ok(())
}

/// Delete the previous generation of a committed run once its grace period is over (readers
/// that listed its files before the switch may still be reading them until then). Returns
/// whether the journal is now `cleaned`.
pub async fn clean_up(ctx: &Context, journal: &mut Journal) -> Result<bool, CompactError> {
    if journal.state != JournalState::Committed {
        return Ok(journal.state == JournalState::Cleaned);
    }
    if journal.clean_after_ms.is_some_and(|t| ctx.now_ms() < t) {
        return Ok(false);
    }
    if let Some(previous) = journal.previous_generation.clone() {
        ctx.lake.delete_prefix(&previous).await?;
        crash::point("cleanup");
        if let (Some(day), Some(run)) = (
            time::parse_day(&journal.day),
            run_id_of_generation(&previous),
        ) {
            ctx.lake
                .delete(&journal_key(
                    &ctx.curated,
                    &ctx.def.partition_column,
                    day,
                    run,
                ))
                .await?;
        }
    }
    journal.state = JournalState::Cleaned;
    journal.cleaned_at_ms = Some(ctx.now_ms());
    journal.store(&ctx.lake).await?;
    Ok(true)
}

/// Delete a run's generation, then its journal (in that order, so a crash here leaves the
/// journal that finishes the job next time).
async fn roll_back(ctx: &Context, journal: &Journal) -> Result<(), CompactError> {
    ctx.lake.delete_prefix(&journal.generation).await?;
    ctx.lake.delete(&journal.key).await?;
    Ok(())
}

/// The curated partitions' locations, by day (`YYYY-MM-DD`).
pub async fn curated_locations(ctx: &Context) -> Result<BTreeMap<String, String>, CompactError> {
    match ctx.catalog.partitions(&ctx.curated).await {
        Ok(parts) => Ok(parts
            .into_iter()
            .filter_map(|p| Some((p.values.first()?.clone(), p.location)))
            .collect()),
        Err(firelake_core::catalog::CatalogError::NoTable(_)) => Ok(BTreeMap::new()),
        Err(e) => Err(e.into()),
    }
}

/// Finish or roll back what earlier runs left for `day`, finish its deferred cleanup, and
/// delete its generation folders nothing refers to. The caller holds the day (see
/// `run::DayLock`): recovery must never race a run that is working on the same day. Returns
/// what it did and the day's curated location afterwards.
pub async fn recover_day(
    ctx: &Context,
    day: i32,
    mut current: Option<String>,
) -> Result<(Vec<RecoveryAction>, Option<String>), CompactError> {
    let mut actions = Vec::new();
    let act = |j: &Journal, action| RecoveryAction {
        day: j.day.clone(),
        run_id: j.run_id.clone(),
        action,
    };
    for mut j in Journal::list(&ctx.lake, &journal_day_prefix(ctx, day)).await? {
        match j.state {
            JournalState::Planned => {
                if current.as_deref() == Some(j.location.as_str()) {
                    // Cannot happen by the protocol (commit comes after written); never delete
                    // what readers are reading.
                    return Err(CompactError::Verify {
                        generation: j.generation.clone(),
                        detail: format!(
                            "journal {} says planned but the catalog points at its generation; \
                             check it and fix the journal or the catalog by hand",
                            j.key
                        ),
                    });
                }
                tracing::warn!(run = %j.run_id, day = %j.day, "rolling back a run that stopped before its outputs were verified");
                roll_back(ctx, &j).await?;
                actions.push(act(&j, Recovery::RolledBack));
            }
            JournalState::Written => {
                let outputs_intact = {
                    let listed: BTreeMap<String, u64> = ctx
                        .lake
                        .list(&j.generation)
                        .await?
                        .into_iter()
                        .map(|o| (o.key, o.size))
                        .collect();
                    listed.len() == j.outputs.len()
                        && j.outputs
                            .iter()
                            .all(|o| listed.get(&o.key) == Some(&o.size))
                };
                if current.as_deref() == Some(j.location.as_str()) {
                    // Stopped between the catalog update and the journal update.
                    mark_committed(ctx, &mut j).await?;
                    actions.push(act(&j, Recovery::Committed));
                } else if current == j.previous_location && outputs_intact {
                    tracing::warn!(run = %j.run_id, day = %j.day, "committing a verified generation a stopped run left");
                    commit(ctx, &mut j).await?;
                    current = Some(j.location.clone());
                    actions.push(act(&j, Recovery::Committed));
                } else {
                    // The partition moved on (or the files were touched): this generation is
                    // not what the catalog should show any more.
                    roll_back(ctx, &j).await?;
                    actions.push(act(&j, Recovery::RolledBack));
                    continue;
                }
                let done = clean_up(ctx, &mut j).await?;
                actions.push(act(&j, cleanup_outcome(done)));
            }
            JournalState::Committed => {
                let done = clean_up(ctx, &mut j).await?;
                actions.push(act(&j, cleanup_outcome(done)));
            }
            JournalState::Cleaned => {}
        }
    }
    actions.extend(sweep_orphans(ctx, day, current.as_deref()).await?);
    Ok((actions, current))
}

fn journal_day_prefix(ctx: &Context, day: i32) -> String {
    format!(
        "{}/{}={}",
        crate::layout::journal_root(&ctx.curated),
        ctx.def.partition_column,
        time::format_day(day)
    )
}

/// The journals of a day, oldest first.
pub async fn day_journals(ctx: &Context, day: i32) -> Result<Vec<Journal>, CompactError> {
    Journal::list(&ctx.lake, &journal_day_prefix(ctx, day)).await
}

fn cleanup_outcome(done: bool) -> Recovery {
    if done {
        Recovery::Cleaned
    } else {
        Recovery::CleanupPending
    }
}

/// A day's generation folders that neither the catalog nor a journal refers to cannot be
/// reached by readers or by recovery: delete them (the protocol never leaves one, since a
/// journal is written before its generation and deleted after it; this keeps a lake that was
/// tampered with tidy).
async fn sweep_orphans(
    ctx: &Context,
    day: i32,
    current: Option<&str>,
) -> Result<Vec<RecoveryAction>, CompactError> {
    let mut referenced: HashSet<String> = current
        .and_then(|loc| ctx.lake.key_of_url(loc))
        .into_iter()
        .collect();
    for j in day_journals(ctx, day).await? {
        if j.state != JournalState::Cleaned
            && let Some(p) = &j.previous_generation
        {
            referenced.insert(p.clone());
        }
        referenced.insert(j.generation);
    }
    let pcol = &ctx.def.partition_column;
    let day_folder = format!(
        "{}/{pcol}={}",
        generations_root(&ctx.curated),
        time::format_day(day)
    );
    // A kill between writing a file and renaming it leaves object_store's staging file, which
    // listings (and so the deletes below) never see.
    for prefix in [journal_day_prefix(ctx, day), day_folder.clone()] {
        let n = ctx.lake.sweep_local_staging(&prefix).await?;
        if n > 0 {
            tracing::warn!(%prefix, files = n, "deleted staging files of an interrupted write");
        }
    }
    let mut actions = Vec::new();
    for generation in ctx.lake.list_folders(&day_folder).await? {
        if referenced.contains(&generation)
            || !is_generation_of(&generation, &ctx.curated, pcol, day)
        {
            continue;
        }
        tracing::warn!(%generation, "deleting a generation nothing refers to");
        ctx.lake.delete_prefix(&generation).await?;
        actions.push(RecoveryAction {
            day: time::format_day(day),
            run_id: run_id_of_generation(&generation).unwrap_or_default().into(),
            action: Recovery::OrphanDeleted,
        });
    }
    Ok(actions)
}
