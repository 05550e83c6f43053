//! The plan against a catalog's table (local file, Glue): its columns, and the table
//! after the plan.

use super::*;
use crate::catalog::{CatalogColumn, TableDef};

/// A catalog table's columns, with the nullability its [`REQUIRED_PARAMETER`] records.
pub fn table_fields(t: &TableDef) -> Vec<Field> {
    let required: Option<Vec<&str>> = t
        .parameters
        .get(REQUIRED_PARAMETER)
        .map(|s| s.split(',').filter(|n| !n.is_empty()).collect());
    t.columns
        .iter()
        .map(|c| Field {
            name: c.name.clone(),
            field_type: FieldType::from_glue(&c.glue_type),
            nullable: required.as_ref().map(|r| !r.contains(&c.name.as_str())),
        })
        .collect()
}

/// The required columns, as [`REQUIRED_PARAMETER`] records them.
pub fn required_parameter(fields: &[Field]) -> String {
    fields
        .iter()
        .filter(|f| f.nullable == Some(false))
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// `t` after `plan`: columns widened, relaxed and appended (comments from `def`), the
/// required columns recorded; location, partition keys and other parameters kept.
pub fn evolved_table(t: &TableDef, plan: &Plan, def: &SourceDef) -> TableDef {
    let fields = plan.apply(&table_fields(t));
    let comment = |name: &str| {
        t.columns
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.comment.clone())
            .or_else(|| {
                def.columns
                    .iter()
                    .find(|c| c.name == name)
                    .and_then(|c| c.description.clone())
            })
    };
    let mut out = t.clone();
    out.columns = fields
        .iter()
        .map(|f| CatalogColumn {
            name: f.name.clone(),
            glue_type: f.field_type.glue().to_string(),
            comment: comment(&f.name),
        })
        .collect();
    // The definition's nullability where the table did not record any.
    let wanted = source_fields(def);
    let known: Vec<Field> = fields
        .into_iter()
        .map(|mut f| {
            if f.nullable.is_none() {
                f.nullable = wanted
                    .iter()
                    .find(|w| w.name == f.name)
                    .and_then(|w| w.nullable);
            }
            f
        })
        .collect();
    out.parameters
        .insert(REQUIRED_PARAMETER.into(), required_parameter(&known));
    out
}

/// The plan for a catalog table and its source definition.
pub fn diff_table(t: &TableDef, def: &SourceDef) -> Result<Plan, EvolutionError> {
    diff(&t.name, &table_fields(t), &source_fields(def))
}
