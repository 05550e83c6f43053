//! Schema evolution at the edges of the binary (docs/schema-evolution.md): the commands that
//! write tables bring the catalog's raw and curated tables to the source definition before
//! they write (`--schema-policy evolve`, the default) or refuse to run (`freeze`, or a change
//! that is never allowed); `firelake schema diff` shows what they would do. The rules are
//! `firelake_core::schema_evolution`.

use clap::{Args, ValueEnum};
use firelake_core::SourceDef;
use firelake_core::catalog::{Catalog, CatalogError, TableDef};
use firelake_core::schema_evolution::{
    EvolutionError, Plan, REQUIRED_PARAMETER, diff_table, evolved_table,
};

/// What a changed source definition does to its tables (like dlt's schema contracts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum SchemaPolicy {
    /// Apply the allowed changes (new nullable columns, widened types, required -> optional)
    /// to the catalog at start; refuse the others.
    #[default]
    Evolve,
    /// Refuse to run when the definition differs from the table in any way.
    Freeze,
}

/// `--schema-policy`, shared by the commands that write tables.
#[derive(Args, Clone, Copy, Debug)]
pub struct PolicyArgs {
    /// evolve: apply allowed schema changes of the source definition to the catalog's tables
    /// at start (refuse drops, renames, other type changes); freeze: refuse any change.
    #[arg(long, env = "FIRELAKE_SCHEMA_POLICY", value_enum, default_value_t)]
    pub schema_policy: SchemaPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum EvolveError {
    #[error(transparent)]
    Refused(#[from] EvolutionError),
    #[error(
        "{plan}: refused by --schema-policy freeze; restore the source definition, or run with --schema-policy evolve to apply it (see `firelake schema diff`)"
    )]
    Frozen { plan: Plan },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// A table of the source as the catalog holds it, and the plan that brings it to `def`.
pub struct TableCheck {
    pub name: String,
    /// `None`: not in the catalog (created with the definition's columns when first written).
    pub current: Option<TableDef>,
    pub plan: Plan,
}

/// The raw table (`table`, default the definition's) and its curated table.
pub fn table_names(def: &SourceDef, table: Option<&str>) -> [String; 2] {
    let raw = table.unwrap_or(&def.table).to_string();
    let curated = format!("{raw}_curated");
    [raw, curated]
}

/// Every table's plan; the first refusal (of any table) is the error, so nothing is applied
/// unless everything can be.
pub async fn check(
    catalog: &dyn Catalog,
    def: &SourceDef,
    table: Option<&str>,
) -> Result<Vec<TableCheck>, EvolveError> {
    let mut out = Vec::new();
    for name in table_names(def, table) {
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
/// that does not say yet ([`REQUIRED_PARAMETER`]), so a later optional -> required change is
/// seen.
pub async fn apply_at_start(
    catalog: &dyn Catalog,
    def: &SourceDef,
    table: Option<&str>,
    policy: SchemaPolicy,
) -> Result<(), EvolveError> {
    let checks = check(catalog, def, table).await?;
    if policy == SchemaPolicy::Freeze
        && let Some(c) = checks.iter().find(|c| !c.plan.is_empty())
    {
        return Err(EvolveError::Frozen {
            plan: c.plan.clone(),
        });
    }
    for c in checks {
        let Some(current) = c.current else { continue };
        // Recording it is a write, which freeze does not make.
        let unrecorded =
            policy == SchemaPolicy::Evolve && !current.parameters.contains_key(REQUIRED_PARAMETER);
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
) -> Result<Vec<String>, EvolveError> {
    let checks = check(catalog, def, table).await?;
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
