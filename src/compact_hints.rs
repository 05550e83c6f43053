//! What `firelake compact` tells an operator when it has nothing to do: a table the lake does
//! not have is an error; no eligible day gets a hint on how to select one.

use firelake_core::Lake;
use firelake_core::catalog::Catalog;

/// An error naming what the lake has, when neither its files nor its catalog know `table`.
pub async fn check_table(
    lake: &Lake,
    catalog: &dyn Catalog,
    table: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    if !lake.list_folders(table).await?.is_empty() || catalog.table(table).await?.is_some() {
        return Ok(());
    }
    let tables: Vec<String> = lake
        .list_folders("")
        .await?
        .into_iter()
        .map(|f| f.trim_end_matches('/').to_string())
        .filter(|f| !f.starts_with('_') && !f.ends_with("_curated"))
        .collect();
    let have = if tables.is_empty() {
        "none".to_string()
    } else {
        tables.join(", ")
    };
    Err(format!(
        "the lake {} has no table {table} (its tables: {have}); name one with --table or --source, or check --lake",
        lake.url()
    )
    .into())
}

/// The hint printed when no day was eligible, for the selection the flags made.
pub fn nothing_eligible(default_selection: bool, today: &str) -> String {
    if default_selection {
        format!(
            "  hint           nothing eligible: days before today are compacted when new or changed, and today ({today}, UTC) is excluded until it ends; compact it now with --date {today}, or every raw day with --all"
        )
    } else {
        "  hint           nothing eligible: the selected days have no raw files, or are up to date (--force rebuilds them)".into()
    }
}
