//! Applying the plan at the start of a command or Lambda that writes tables: every table
//! of the source is checked before any is changed, so a refusal changes nothing.

use super::*;
use crate::catalog::{Catalog, CatalogError, TableDef};

/// What a changed source definition does to its tables (like dlt's schema contracts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// Apply the allowed changes; refuse the others.
    #[default]
    Evolve,
    /// Refuse any change.
    Freeze,
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Policy, String> {
        match s {
            "evolve" => Ok(Policy::Evolve),
            "freeze" => Ok(Policy::Freeze),
            _ => Err(format!("unknown schema policy {s:?}: use evolve or freeze")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Refused(#[from] EvolutionError),
    #[error(
        "{plan}: refused by the schema policy freeze; restore the source definition, or run with --schema-policy evolve (FIRELAKE_SCHEMA_POLICY) to apply it (see `firelake schema diff`)"
    )]
    Frozen { plan: Plan },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// A table of the source as the catalog holds it, and the plan that brings it to `def`.
pub struct TableCheck {
    pub name: String,
    /// `None`: not in the catalog (created with the definition's columns when written).
    pub current: Option<TableDef>,
    pub plan: Plan,
}

/// The raw table (`table`, default the definition's) and its curated table.
pub fn table_names(def: &SourceDef, table: Option<&str>) -> [String; 2] {
    let raw = table.unwrap_or(&def.table).to_string();
    let curated = format!("{raw}_curated");
    [raw, curated]
}

/// Which of a source's tables a process brings to the definition: each deployed writer only
/// its own (the stream-consumer Lambda the raw table, the compactor the curated one), as its
/// role allows; the CLI both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tables {
    Both,
    Raw,
    Curated,
}

impl Tables {
    fn names(self, def: &SourceDef, table: Option<&str>) -> Vec<String> {
        let [raw, curated] = table_names(def, table);
        match self {
            Tables::Both => vec![raw, curated],
            Tables::Raw => vec![raw],
            Tables::Curated => vec![curated],
        }
    }
}

/// Every table's plan; any refusal is the error.
pub async fn check(
    catalog: &dyn Catalog,
    def: &SourceDef,
    table: Option<&str>,
    which: Tables,
) -> Result<Vec<TableCheck>, StartError> {
    let mut out = Vec::new();
    for name in which.names(def, table) {
        let current = catalog.table(&name).await?;
        let plan = match &current {
            Some(t) => diff_table(t, def)?,
            None => Plan {
                table: name.clone(),
                changes: Vec::new(),
            },
        };
        out.push(TableCheck {
            name,
            current,
            plan,
        });
    }
    Ok(out)
}

/// Brings the catalog's tables of `def` to it under `policy`, before anything is written.
/// A refusal changes nothing. Under evolve, also records the required columns of a table
/// that does not say yet ([`REQUIRED_PARAMETER`]), so a later optional -> required change
/// is seen.
pub async fn apply_at_start(
    catalog: &dyn Catalog,
    def: &SourceDef,
    table: Option<&str>,
    policy: Policy,
) -> Result<(), StartError> {
    apply_to(catalog, def, table, Tables::Both, policy).await
}

/// [`apply_at_start`] for some of the source's tables only.
pub async fn apply_to(
    catalog: &dyn Catalog,
    def: &SourceDef,
    table: Option<&str>,
    which: Tables,
    policy: Policy,
) -> Result<(), StartError> {
    let checks = check(catalog, def, table, which).await?;
    if policy == Policy::Freeze
        && let Some(c) = checks.iter().find(|c| !c.plan.is_empty())
    {
        return Err(StartError::Frozen {
            plan: c.plan.clone(),
        });
    }
    for c in checks {
        let Some(current) = c.current else { continue };
        // Recording it is a write, which freeze does not make.
        let unrecorded =
            policy == Policy::Evolve && !current.parameters.contains_key(REQUIRED_PARAMETER);
        if c.plan.is_empty() && !unrecorded {
            continue;
        }
        catalog
            .update_table(&evolved_table(&current, &c.plan, def))
            .await?;
        if !c.plan.is_empty() {
            tracing::warn!(catalog = %catalog.describe(), "schema evolved: {}", c.plan);
        }
    }
    Ok(())
}

/// `firelake schema diff`: one line per table; a refused change is the error.
pub async fn diff_lines(
    catalog: &dyn Catalog,
    def: &SourceDef,
    table: Option<&str>,
) -> Result<Vec<String>, StartError> {
    let checks = check(catalog, def, table, Tables::Both).await?;
    Ok(checks
        .iter()
        .map(|c| match (&c.current, c.plan.is_empty()) {
            (None, _) => format!(
                "table {}: not in the catalog (created with the definition's columns when first written)",
                c.name
            ),
            (Some(_), true) => format!("table {}: up to date", c.name),
            (Some(_), false) => format!(
                "{} (applied at the next start under --schema-policy evolve; refused under freeze)",
                c.plan
            ),
        })
        .collect())
}
