//! `--schema-policy` of the commands that write tables (docs/schema-evolution.md): before
//! they write, they bring the catalog's raw and curated tables to the source definition
//! (`evolve`, the default) or refuse to run (`freeze`, or a change that is never allowed);
//! `firelake schema diff` shows what they would do. The rules and their application are
//! `firelake_core::schema_evolution`, shared with the Lambdas.

use clap::Args;
pub use firelake_core::schema_evolution::{Policy, apply_at_start, diff_lines};

/// `--schema-policy`, shared by the commands that write tables.
#[derive(Args, Clone, Copy, Debug)]
pub struct PolicyArgs {
    /// evolve: apply allowed schema changes of the source definition (new nullable columns,
    /// int32 -> int64, required -> optional) to the catalog's tables at start and refuse the
    /// others (drops, renames, other type changes); freeze: refuse any change.
    #[arg(long, env = "FIRELAKE_SCHEMA_POLICY", default_value = "evolve")]
    pub schema_policy: Policy,
}
