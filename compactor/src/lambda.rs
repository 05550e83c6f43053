//! The Lambda requests (`firelake_compactor::nightly`): list the days to compact, compact one
//! day, or (no `action`) the whole nightly run.

use std::sync::Arc;

use firelake_compactor::nightly::{Request, list_days, parse_request};
use firelake_compactor::{CompactOptions, CompactReport, selection_from};
use firelake_core::{Lake, SourceDef};

use crate::{Args, BoxError, run};

pub async fn handle(
    mut a: Args,
    payload: serde_json::Value,
) -> Result<serde_json::Value, BoxError> {
    match parse_request(&payload)? {
        Request::Nightly => answer(run(a).await?),
        Request::Compact { day } => {
            a.date = Some(day);
            answer(run(a).await?)
        }
        Request::ListDays => {
            let def = Arc::new(SourceDef::resolve(&a.source, a.source_dir.as_deref())?);
            let lake = Lake::from_url(&a.lake)?;
            let catalog =
                firelake_aws::open_catalog(a.catalog.as_deref(), &lake, &a.database).await?;
            let options = CompactOptions {
                selection: selection_from(a.date.as_deref(), a.since.as_deref(), a.all)?,
                dedupe: !a.no_dedupe,
                force: a.force,
                ..CompactOptions::default()
            };
            let table = a.table.unwrap_or_else(|| def.table.clone());
            Ok(serde_json::to_value(
                list_days(lake, catalog, def, &table, options).await?,
            )?)
        }
    }
}

/// A failed day fails the invocation (the Errors alarm, the workflow's retry and notify
/// steps); the other days are done.
fn answer(report: CompactReport) -> Result<serde_json::Value, BoxError> {
    match report.failure() {
        Some(failure) => Err(BoxError::from(failure)),
        None => Ok(serde_json::to_value(report)?),
    }
}
