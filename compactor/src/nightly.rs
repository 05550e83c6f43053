//! The nightly workflow's two requests to the compactor (infra/workflow.asl.json): list the
//! days to compact, each with its raw size (the workflow sends a day too large for Lambda to
//! the container task), then compact one day per request, days in parallel. The Lambda event
//! is parsed here (pure); anything without an `action` (the scheduled event of a bare cron)
//! is the whole nightly run, as before.

use std::sync::Arc;

use firelake_core::catalog::Catalog;
use firelake_core::{Lake, SourceDef, time};
use serde::{Deserialize, Serialize};

use crate::commit::{curated_locations, day_journals};
use crate::layout::day_of_folder;
use crate::plan::{Build, build, candidate_days};
use crate::{CompactError, CompactOptions, Context};

/// What a Lambda invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Every day the nightly selection names, in one invocation (a scheduled event, `{}`).
    Nightly,
    /// `{"action":"list_days"}` -> `{"days":[{"day","bytes","files"}...]}`
    ListDays,
    /// `{"action":"compact","day":"YYYY-MM-DD"}` -> the run's report.
    Compact { day: String },
}

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Action {
    ListDays,
    Compact { day: String },
}

const REQUESTS: &str = r#"send {"action":"list_days"} or {"action":"compact","day":"YYYY-MM-DD"}"#;

/// The request in a Lambda event.
pub fn parse_request(payload: &serde_json::Value) -> Result<Request, CompactError> {
    if payload.get("action").is_none() {
        return Ok(Request::Nightly);
    }
    let action: Action = serde_json::from_value(payload.clone())
        .map_err(|e| CompactError::Options(format!("request {payload}: {e}; {REQUESTS}")))?;
    Ok(match action {
        Action::ListDays => Request::ListDays,
        Action::Compact { day } => {
            if time::parse_day(&day).is_none() {
                return Err(CompactError::Options(format!(
                    "request {payload}: day {day:?} is not YYYY-MM-DD; {REQUESTS}"
                )));
            }
            Request::Compact { day }
        }
    })
}

/// A day with work to do, and how much raw data it has (what decides Lambda or container).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayToCompact {
    pub day: String,
    pub bytes: u64,
    pub files: usize,
}

/// The answer to `list_days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayList {
    pub days: Vec<DayToCompact>,
}

/// The days `options.selection` names that a run would compact: new, or changed since their
/// last compaction (days up to date or whose raw files expired are left out, unless `force`).
pub async fn list_days(
    lake: Lake,
    catalog: Arc<dyn Catalog>,
    def: Arc<SourceDef>,
    raw_table: &str,
    options: CompactOptions,
) -> Result<DayList, CompactError> {
    let ctx = Context::new(lake, catalog, def, raw_table, options);
    let pcol = ctx.def.partition_column.clone();
    let raw_days: Vec<i32> = ctx
        .lake
        .list_folders(&ctx.raw_table)
        .await?
        .iter()
        .filter_map(|f| day_of_folder(f, &pcol))
        .collect();
    let today = ctx
        .options
        .today
        .unwrap_or_else(|| time::day_of_ms(ctx.now_ms()));
    let locations = curated_locations(&ctx).await?;
    let mut days = Vec::new();
    for day in candidate_days(ctx.options.selection, &raw_days, today) {
        let name = time::format_day(day);
        let location = locations.get(&name);
        if let Some(d) = day_to_compact(&ctx, day, location).await? {
            days.push(d);
        }
    }
    Ok(DayList { days })
}

/// `day` if it has raw files and is not up to date with its current generation.
async fn day_to_compact(
    ctx: &Context,
    day: i32,
    location: Option<&String>,
) -> Result<Option<DayToCompact>, CompactError> {
    // Files set aside as unreadable are never read again: they do not make a day due.
    let listing = crate::run::unquarantined_listing(ctx, day).await?;
    if listing.is_empty() {
        return Ok(None);
    }
    let due = || DayToCompact {
        day: time::format_day(day),
        bytes: listing.iter().map(|o| o.size).sum(),
        files: listing.len(),
    };
    let made_from = match location.and_then(|l| ctx.lake.key_of_url(l)) {
        // An unreadable journal blocks only its own day: listed, so that its compaction fails
        // with the journal's name (and the alarm says which day), never the whole night.
        Some(generation) => match day_journals(ctx, day).await {
            Ok(journals) => journals.into_iter().find(|j| j.generation == generation),
            Err(e) => {
                tracing::warn!(day = %time::format_day(day), error = %e, "the day's journals cannot be read; listed so its compaction reports it");
                return Ok(Some(due()));
            }
        },
        None => None,
    };
    let dedupe_key = if ctx.options.dedupe {
        ctx.def.dedupe_key.clone()
    } else {
        Vec::new()
    };
    let keys: Vec<(String, u64)> = listing.iter().map(|o| (o.key.clone(), o.size)).collect();
    let rule_changed = made_from
        .as_ref()
        .is_some_and(|j| j.dedupe_key != dedupe_key);
    // The same rule `firelake compact` applies (`plan::build`): only an up-to-date day is
    // left out; a day with new raw files always is listed, whatever expired.
    let covered = made_from.as_ref().map(|j| j.covered());
    let (force, from_raw) = (ctx.options.force, ctx.options.rebuild_from_raw);
    if build(&keys, covered, force, from_raw, rule_changed) == Build::UpToDate {
        return Ok(None);
    }
    Ok(Some(due()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests() {
        assert_eq!(parse_request(&json!({})).unwrap(), Request::Nightly);
        let scheduled =
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        assert_eq!(parse_request(&scheduled).unwrap(), Request::Nightly);
        assert_eq!(
            parse_request(&json!({"action": "list_days"})).unwrap(),
            Request::ListDays
        );
        assert_eq!(
            parse_request(&json!({"action": "compact", "day": "2026-12-06"})).unwrap(),
            Request::Compact {
                day: "2026-12-06".into()
            }
        );
    }

    #[test]
    fn bad_requests_say_what_to_send() {
        for bad in [
            json!({"action": "compact"}),
            json!({"action": "compact", "day": "yesterday"}),
            json!({"action": "vacuum"}),
        ] {
            let e = parse_request(&bad).unwrap_err().to_string();
            assert!(e.contains(r#"{"action":"list_days"}"#), "{e}");
        }
    }
}
