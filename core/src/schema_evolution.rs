//! Schema evolution, pure: a table's current columns (as its catalog holds them) against the
//! columns its source definition gives now. What every reader of the lake's Parquet files can
//! follow is allowed: a new nullable column (old files read it as null), int32 -> int64 and
//! float32 -> float64 (old values cast exactly), required -> optional. Anything else (a
//! dropped or renamed column, a narrower or other type, a new required column, a column that
//! became required, an upper-case name) is refused with one line saying what changed and what
//! to do instead. The result is a [`Plan`] any catalog can apply (local file and Glue here,
//! Iceberg `update_schema` later), so the rules live in one place.

use std::fmt;

use crate::source::{ColumnType, SourceDef};

/// A column type as catalogs name it; `Other` keeps a type firelake does not write (a table
/// changed by hand) so it can be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Int32,
    Int64,
    Float32,
    Float64,
    String,
    Bool,
    TimestampMs,
    Other(String),
}

impl FieldType {
    pub fn of(t: ColumnType) -> FieldType {
        match t {
            ColumnType::String => FieldType::String,
            ColumnType::Int32 => FieldType::Int32,
            ColumnType::Int64 => FieldType::Int64,
            ColumnType::Float64 => FieldType::Float64,
            ColumnType::Bool => FieldType::Bool,
            ColumnType::TimestampMs => FieldType::TimestampMs,
        }
    }

    /// From a Glue (Hive) type name.
    pub fn from_glue(s: &str) -> FieldType {
        match s.trim().to_ascii_lowercase().as_str() {
            "int" | "integer" => FieldType::Int32,
            "bigint" => FieldType::Int64,
            "float" => FieldType::Float32,
            "double" => FieldType::Float64,
            "string" => FieldType::String,
            "boolean" => FieldType::Bool,
            "timestamp" => FieldType::TimestampMs,
            other => FieldType::Other(other.to_string()),
        }
    }

    /// The Glue (Hive) type name.
    pub fn glue(&self) -> &str {
        match self {
            FieldType::Int32 => "int",
            FieldType::Int64 => "bigint",
            FieldType::Float32 => "float",
            FieldType::Float64 => "double",
            FieldType::String => "string",
            FieldType::Bool => "boolean",
            FieldType::TimestampMs => "timestamp",
            FieldType::Other(s) => s,
        }
    }

    /// The source-definition spelling, for messages.
    pub fn name(&self) -> &str {
        match self {
            FieldType::Int32 => "int32",
            FieldType::Int64 => "int64",
            FieldType::Float32 => "float32",
            FieldType::Float64 => "float64",
            FieldType::String => "string",
            FieldType::Bool => "bool",
            FieldType::TimestampMs => "timestamp_ms",
            FieldType::Other(s) => s,
        }
    }

    /// A change every old value survives exactly.
    fn widens_to(&self, to: &FieldType) -> bool {
        matches!(
            (self, to),
            (FieldType::Int32, FieldType::Int64) | (FieldType::Float32, FieldType::Float64)
        )
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One column. `nullable: None` when the catalog does not say (a Glue table has no
/// nullability; firelake records it in the table parameter [`REQUIRED_PARAMETER`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub field_type: FieldType,
    pub nullable: Option<bool>,
}

/// The table parameter listing the required (non-null) columns, comma-separated.
pub const REQUIRED_PARAMETER: &str = "firelake.required";

/// The columns a source definition gives, in its order.
pub fn source_fields(def: &SourceDef) -> Vec<Field> {
    def.columns
        .iter()
        .map(|c| Field {
            name: c.name.clone(),
            field_type: FieldType::of(c.column_type),
            nullable: Some(c.nullable()),
        })
        .collect()
}

/// An allowed change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new nullable column, appended.
    Add { name: String, field_type: FieldType },
    Widen {
        name: String,
        from: FieldType,
        to: FieldType,
    },
    /// Required -> optional.
    MakeOptional { name: String },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Add { name, field_type } => write!(f, "add column {name} {field_type}"),
            Change::Widen { name, from, to } => write!(f, "widen column {name} {from} -> {to}"),
            Change::MakeOptional { name } => write!(f, "make column {name} optional"),
        }
    }
}

/// The allowed changes that bring a table to its definition (empty: nothing to do).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub table: String,
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The table's columns after the plan: the current ones in their order (widened,
    /// relaxed), then the added ones.
    pub fn apply(&self, current: &[Field]) -> Vec<Field> {
        let mut out = current.to_vec();
        for c in &self.changes {
            match c {
                Change::Add { name, field_type } => out.push(Field {
                    name: name.clone(),
                    field_type: field_type.clone(),
                    nullable: Some(true),
                }),
                Change::Widen { name, to, .. } => {
                    if let Some(f) = out.iter_mut().find(|f| &f.name == name) {
                        f.field_type = to.clone();
                    }
                }
                Change::MakeOptional { name } => {
                    if let Some(f) = out.iter_mut().find(|f| &f.name == name) {
                        f.nullable = Some(true);
                    }
                }
            }
        }
        out
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changes: Vec<String> = self.changes.iter().map(|c| c.to_string()).collect();
        write!(f, "table {}: {}", self.table, changes.join(", "))
    }
}

/// A change that is not applied, and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    Dropped(String),
    Renamed {
        from: String,
        to: String,
    },
    TypeChanged {
        name: String,
        from: FieldType,
        to: FieldType,
    },
    AddedRequired(String),
    MadeRequired(String),
    UpperCase(String),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Dropped(c) => write!(
                f,
                "column {c} was dropped: columns are never dropped (old files hold it); keep it in the definition (it reads null when the API stops sending it)"
            ),
            Refused::Renamed { from, to } => write!(
                f,
                "column {from} looks renamed to {to}: renames are refused (old files keep the old name); keep {from} and add {to} as a new column"
            ),
            Refused::TypeChanged { name, from, to } => write!(
                f,
                "column {name} changed type {from} -> {to}: only int32 -> int64 and float32 -> float64 are allowed; keep {name} as {from} and add a new column of type {to}"
            ),
            Refused::AddedRequired(c) => write!(
                f,
                "new column {c} is required: old rows have no value for it; add it without `required`"
            ),
            Refused::MadeRequired(c) => write!(
                f,
                "column {c} became required: old rows may hold nulls; keep it optional"
            ),
            Refused::UpperCase(c) => write!(
                f,
                "column {c} is not lower-case: Glue and S3 Tables fold names to lower case; name it {}",
                c.to_lowercase()
            ),
        }
    }
}

/// Why a table cannot follow its definition: every refused change, on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("table {table}: schema change refused: {}", .refused.iter().map(|r| r.to_string()).collect::<Vec<_>>().join("; "))]
pub struct EvolutionError {
    pub table: String,
    pub refused: Vec<Refused>,
}

/// The plan that brings `current` to `wanted`, or every change that is refused.
pub fn diff(table: &str, current: &[Field], wanted: &[Field]) -> Result<Plan, EvolutionError> {
    let mut changes = Vec::new();
    let mut refused = Vec::new();
    let find = |list: &[Field], name: &str| list.iter().position(|f| f.name == name);
    for w in wanted {
        if w.name != w.name.to_lowercase() {
            refused.push(Refused::UpperCase(w.name.clone()));
            continue;
        }
        match find(current, &w.name) {
            Some(i) => compare(&current[i], w, &mut changes, &mut refused),
            None if w.nullable == Some(false) => {
                refused.push(Refused::AddedRequired(w.name.clone()))
            }
            None => changes.push(Change::Add {
                name: w.name.clone(),
                field_type: w.field_type.clone(),
            }),
        }
    }
    let dropped: Vec<&Field> = current
        .iter()
        .filter(|c| find(wanted, &c.name).is_none())
        .collect();
    refused.extend(dropped_or_renamed(&dropped, wanted, current, &mut changes));
    if refused.is_empty() {
        Ok(Plan {
            table: table.to_string(),
            changes,
        })
    } else {
        Err(EvolutionError {
            table: table.to_string(),
            refused,
        })
    }
}

/// One column present on both sides.
fn compare(cur: &Field, want: &Field, changes: &mut Vec<Change>, refused: &mut Vec<Refused>) {
    if cur.field_type != want.field_type {
        if cur.field_type.widens_to(&want.field_type) {
            changes.push(Change::Widen {
                name: want.name.clone(),
                from: cur.field_type.clone(),
                to: want.field_type.clone(),
            });
        } else {
            refused.push(Refused::TypeChanged {
                name: want.name.clone(),
                from: cur.field_type.clone(),
                to: want.field_type.clone(),
            });
        }
    }
    match (cur.nullable, want.nullable) {
        (Some(false), Some(true)) => changes.push(Change::MakeOptional {
            name: want.name.clone(),
        }),
        (Some(true), Some(false)) => refused.push(Refused::MadeRequired(want.name.clone())),
        _ => {}
    }
}

/// A dropped column is a rename when exactly one column was dropped and exactly one of the
/// same type added: then the "add" is withdrawn from the plan and the pair reported as one.
fn dropped_or_renamed(
    dropped: &[&Field],
    wanted: &[Field],
    current: &[Field],
    changes: &mut Vec<Change>,
) -> Vec<Refused> {
    let added: Vec<&Field> = wanted
        .iter()
        .filter(|w| !current.iter().any(|c| c.name == w.name))
        .collect();
    if let ([gone], [new]) = (dropped, added.as_slice())
        && gone.field_type == new.field_type
    {
        changes.retain(|c| !matches!(c, Change::Add { name, .. } if name == &new.name));
        return vec![Refused::Renamed {
            from: gone.name.clone(),
            to: new.name.clone(),
        }];
    }
    dropped
        .iter()
        .map(|d| Refused::Dropped(d.name.clone()))
        .collect()
}

#[cfg(feature = "lake")]
mod catalog_table;

#[cfg(feature = "lake")]
pub use catalog_table::{diff_table, evolved_table, required_parameter, table_fields};

#[cfg(feature = "lake")]
mod at_start;

#[cfg(feature = "lake")]
pub use at_start::{
    Policy, StartError, TableCheck, Tables, apply_at_start, apply_to, check, diff_lines,
    table_names,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, t: FieldType, nullable: bool) -> Field {
        Field {
            name: name.into(),
            field_type: t,
            nullable: Some(nullable),
        }
    }

    fn base() -> Vec<Field> {
        vec![
            f("id", FieldType::String, false),
            f("n", FieldType::Int32, true),
            f("x", FieldType::Float32, true),
        ]
    }

    #[test]
    fn same_columns_need_nothing_and_order_does_not_matter() {
        assert!(diff("t", &base(), &base()).unwrap().is_empty());
        let mut rev = base();
        rev.reverse();
        assert!(diff("t", &base(), &rev).unwrap().is_empty());
    }

    #[test]
    fn allowed_changes_make_a_plan_that_applies() {
        let mut want = vec![
            f("id", FieldType::String, true),
            f("n", FieldType::Int64, true),
            f("x", FieldType::Float64, true),
        ];
        want.push(f("note", FieldType::String, true));
        let plan = diff("t", &base(), &want).unwrap();
        assert_eq!(
            plan.to_string(),
            "table t: make column id optional, widen column n int32 -> int64, widen column x float32 -> float64, add column note string"
        );
        assert_eq!(plan.apply(&base()), want);
    }

    fn refused(cur: &[Field], want: &[Field]) -> String {
        diff("t", cur, want).unwrap_err().to_string()
    }

    #[test]
    fn drops_renames_and_type_changes_are_refused_with_what_to_do() {
        let dropped = &base()[..2];
        let e = refused(&base(), dropped);
        assert!(
            e.starts_with("table t: schema change refused: column x was dropped"),
            "{e}"
        );
        let mut renamed = base();
        renamed[1].name = "count".into();
        let e = refused(&base(), &renamed);
        assert!(e.contains("column n looks renamed to count"), "{e}");
        assert!(e.contains("add count as a new column"), "{e}");
        let mut narrowed = base();
        narrowed[1].field_type = FieldType::String;
        let e = refused(&base(), &narrowed);
        assert!(e.contains("column n changed type int32 -> string"), "{e}");
        let wide = vec![
            f("id", FieldType::String, false),
            f("n", FieldType::Int64, true),
        ];
        let e = refused(
            &wide,
            &[
                f("id", FieldType::String, false),
                f("n", FieldType::Int32, true),
            ],
        );
        assert!(e.contains("int64 -> int32"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn required_and_upper_case_columns_are_refused() {
        let mut want = base();
        want.push(f("must", FieldType::Int64, false));
        assert!(refused(&base(), &want).contains("new column must is required"));
        let mut want = base();
        want[1].nullable = Some(false);
        assert!(refused(&base(), &want).contains("column n became required"));
        let mut want = base();
        want.push(f("Note", FieldType::String, true));
        assert!(refused(&base(), &want).contains("column Note is not lower-case"));
        // Every refusal is reported at once, and nothing is planned.
        want.truncate(2);
        want.push(f("Note", FieldType::String, true));
        let e = diff("t", &base(), &want).unwrap_err();
        assert_eq!(e.refused.len(), 2, "{e}");
    }

    #[test]
    fn unknown_nullability_is_not_a_change() {
        let cur: Vec<Field> = base()
            .into_iter()
            .map(|mut c| {
                c.nullable = None;
                c
            })
            .collect();
        assert!(diff("t", &cur, &base()).unwrap().is_empty());
    }

    #[cfg(feature = "lake")]
    #[test]
    fn a_catalog_table_evolves_to_its_definition() {
        use crate::catalog::TableDef;
        let def = SourceDef::resolve("spacex_launches", None).unwrap();
        let mut t = TableDef::for_source(&def, "spacex_launches", "x/".into());
        // An older definition: flight_number int32 (now too), and no `details` column.
        t.columns.retain(|c| c.name != "details");
        let plan = diff_table(&t, &def).unwrap();
        assert_eq!(plan.changes.len(), 1, "{plan}");
        let evolved = evolved_table(&t, &plan, &def);
        assert_eq!(
            evolved.columns.last().unwrap().name,
            "details",
            "appended at the end"
        );
        assert_eq!(
            evolved.parameters[REQUIRED_PARAMETER],
            "launch_id,ingested_at"
        );
        assert!(diff_table(&evolved, &def).unwrap().is_empty());
        assert_eq!(evolved.location, "x/");
    }
}
