//! Nulled originals landed: the records of a `_nulled/` file whose nulled values now pass the
//! current definition, landed again corrected (1 ms later, so they win compaction's dedupe),
//! exactly once through the same journal as rejected files (docs/reprocess.md).

use std::collections::HashMap;

use firelake_core::reprocess::nulled::{STILL_NULLED, recheck_line};
use firelake_core::reprocess::{Journal, Passing, Tally, journal_key};
use firelake_stream_consumer::ShardBuffer;

use super::{Ctx, land, read_journal, stem_of};

/// The lines of one record, and the record corrected when one of its values now passes.
type Group = (Vec<u64>, Option<Passing>);

/// A nulled file's journal: beside the rejected files' ones, named apart (a nulled file has
/// its data file's stem, which a rejected file of the same flush has too).
fn nulled_journal_key(ctx: &Ctx, day: i32, key: &str) -> String {
    let stem = format!("{}.nulled", stem_of(key));
    journal_key(&ctx.def.table, &ctx.def.partition_column, day, &stem)
}

/// One `_nulled/` file of day `day`: land the corrected records, count the rest by reason.
pub(super) async fn land_nulled_file(
    ctx: &Ctx,
    day: i32,
    key: &str,
    tally: &mut Tally,
) -> Result<(), Box<dyn std::error::Error>> {
    let Some(bytes) = ctx.lake.get(key).await? else {
        return Ok(());
    };
    let jkey = nulled_journal_key(ctx, day, key);
    let (journal, stopped) = read_journal(ctx, &jkey).await?;
    let groups = groups(ctx, day, &bytes, &journal, tally);
    let shard = format!("{}.nulled.{}", stem_of(key), ctx.tag);
    let mut buffer = ShardBuffer::new(ctx.cleaner.clone(), "reprocess", &shard);
    let mut days: Vec<(i32, u64)> = Vec::new();
    for (lines, corrected) in groups {
        let Some(p) = corrected else { continue };
        buffer.push(&p.line.to_string(), p.arrival_ms, &p.bytes);
        // Every line of the record is done: a value still nulled in the corrected row gets
        // its own `_nulled/` line again, beside the corrected data file.
        days.extend(lines.iter().map(|n| (p.day, *n)));
        tally.nulled_corrected += 1;
    }
    land(ctx, &jkey, (journal, stopped), &mut buffer, &days).await
}

/// The file's lines not yet landed, grouped by record in file order.
fn groups(ctx: &Ctx, day: i32, bytes: &[u8], journal: &Journal, tally: &mut Tally) -> Vec<Group> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<Group> = Vec::new();
    let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    for (i, line) in lines.enumerate() {
        let n = i as u64 + 1;
        tally.nulled_read += 1;
        if journal.landed.contains(&n) {
            tally.nulled_already += 1;
            continue;
        }
        let l = match recheck_line(&ctx.cleaner, n, line, day) {
            Ok(l) => l,
            Err(kind) => {
                *tally.nulled_failing.entry(kind).or_default() += 1;
                continue;
            }
        };
        let g = *index.entry(l.record).or_insert_with(|| {
            groups.push((Vec::new(), None));
            groups.len() - 1
        });
        groups[g].0.push(n);
        match l.corrected {
            Some(p) => {
                tally.nulled_now_valid += 1;
                if groups[g].1.is_none() {
                    groups[g].1 = Some(p);
                }
            }
            None => *tally.nulled_failing.entry(STILL_NULLED.into()).or_default() += 1,
        }
    }
    groups
}
