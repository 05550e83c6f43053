//! Pure planning: which days to sync, and what the target table must look like. No I/O.

use std::collections::BTreeMap;

use firelake_core::source::{ColumnType, SourceDef};
use firelake_core::time;

use crate::SyncError;

/// A day of the lake as it is now: `version` names its content (the curated generation's run
/// id, or a digest of the raw file set), so an unchanged day has an unchanged version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeDay {
    pub day: i32,
    pub version: String,
    /// The Parquet files of the day: (key, size), sorted by key.
    pub files: Vec<(String, u64)>,
}

/// Which days the user asked for (none of the flags: every day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    Every,
    Date(i32),
    Since(i32),
}

impl Selection {
    fn contains(self, day: i32) -> bool {
        match self {
            Selection::Every => true,
            Selection::Date(d) => day == d,
            Selection::Since(d) => day >= d,
        }
    }
}

/// What to do with a selected day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayAction {
    /// The target holds this version already.
    UpToDate,
    /// New, or its version changed since the last sync (or `force`).
    Sync(LakeDay),
}

/// The selected days, oldest first, each synced or skipped by comparing the lake's version
/// with the one the state table recorded. A `--date` the lake does not have is an error.
pub fn plan_days(
    lake: &[LakeDay],
    state: &BTreeMap<i32, String>,
    selection: Selection,
    force: bool,
) -> Result<Vec<(i32, DayAction)>, SyncError> {
    if let Selection::Date(d) = selection
        && !lake.iter().any(|l| l.day == d)
    {
        return Err(SyncError::NoSuchDay(time::format_day(d)));
    }
    let mut out: Vec<(i32, DayAction)> = lake
        .iter()
        .filter(|l| selection.contains(l.day))
        .map(|l| {
            let same = state.get(&l.day) == Some(&l.version);
            let action = if same && !force {
                DayAction::UpToDate
            } else {
                DayAction::Sync(l.clone())
            };
            (l.day, action)
        })
        .collect();
    out.sort_by_key(|(d, _)| *d);
    Ok(out)
}

/// The version of a raw day: its file set (names and sizes). Raw files are written once under
/// names derived from their records, so a new or replaced file changes this digest.
pub fn raw_version(files: &[(String, u64)]) -> String {
    let mut buf = Vec::new();
    for (key, size) in files {
        let name = key.rsplit('/').next().unwrap_or(key);
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
        buf.extend_from_slice(&size.to_le_bytes());
    }
    let digest = twox_hash::XxHash3_128::oneshot(&buf);
    format!("raw:{}:{digest:032x}", files.len())
}

/// PostgreSQL's type for a source column type.
pub fn pg_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::String => "text",
        ColumnType::Int32 => "integer",
        ColumnType::Int64 => "bigint",
        ColumnType::Float64 => "double precision",
        ColumnType::Bool => "boolean",
        ColumnType::TimestampMs => "timestamp with time zone",
    }
}

/// A column of the target table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgColumn {
    pub name: String,
    /// As `information_schema.columns.data_type` spells it.
    pub pg_type: String,
    pub nullable: bool,
}

/// The target table a source needs: the source's columns, then the partition column as a
/// `date`; for a curated table, the primary key (partition column, dedupe key...): the
/// compactor keeps one row per key and day, so the same key may exist on two days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTable {
    pub schema: String,
    pub name: String,
    pub columns: Vec<PgColumn>,
    pub primary_key: Vec<String>,
    pub partition_column: String,
}

impl TargetTable {
    pub fn for_source(def: &SourceDef, schema: &str, name: &str, curated: bool) -> TargetTable {
        let mut columns: Vec<PgColumn> = def
            .columns
            .iter()
            .map(|c| PgColumn {
                name: c.name.clone(),
                pg_type: pg_type(c.column_type).into(),
                nullable: c.nullable(),
            })
            .collect();
        columns.push(PgColumn {
            name: def.partition_column.clone(),
            pg_type: "date".into(),
            nullable: false,
        });
        let primary_key = if curated && !def.dedupe_key.is_empty() {
            std::iter::once(def.partition_column.clone())
                .chain(def.dedupe_key.iter().cloned())
                .collect()
        } else {
            Vec::new()
        };
        TargetTable {
            schema: schema.into(),
            name: name.into(),
            columns,
            primary_key,
            partition_column: def.partition_column.clone(),
        }
    }

    /// `"schema"."table"`
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    fn create_sql(&self) -> Vec<String> {
        let mut cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let null = if c.nullable { "" } else { " NOT NULL" };
                format!("{} {}{null}", quote_ident(&c.name), c.pg_type)
            })
            .collect();
        if !self.primary_key.is_empty() {
            let pk: Vec<String> = self.primary_key.iter().map(|c| quote_ident(c)).collect();
            cols.push(format!("PRIMARY KEY ({})", pk.join(", ")));
        }
        let mut sql = vec![format!(
            "CREATE TABLE {} ({})",
            self.qualified(),
            cols.join(", ")
        )];
        if self.primary_key.is_empty() {
            // Each sync deletes a day: without a key starting with the day, index it.
            sql.push(format!(
                "CREATE INDEX ON {} ({})",
                self.qualified(),
                quote_ident(&self.partition_column)
            ));
        }
        sql
    }
}

/// The statements that bring the target to `want`: CREATE TABLE when it is absent
/// (`existing` is `None`), ADD COLUMN for nullable columns the source gained, ALTER COLUMN
/// TYPE bigint for an integer column widened to int64; any other difference is an error
/// naming the column.
pub fn plan_ddl(
    want: &TargetTable,
    existing: Option<&[PgColumn]>,
) -> Result<Vec<String>, SyncError> {
    let Some(existing) = existing else {
        return Ok(want.create_sql());
    };
    let differs = |detail: String| SyncError::SchemaDiffers {
        table: format!("{}.{}", want.schema, want.name),
        detail,
    };
    for have in existing {
        if !want.columns.iter().any(|w| w.name == have.name) {
            return Err(differs(format!(
                "column {:?} is in the target but not in the source definition (drop it by hand, or restore it in the definition)",
                have.name
            )));
        }
    }
    let mut sql = Vec::new();
    for w in &want.columns {
        match existing.iter().find(|h| h.name == w.name) {
            // int32 -> int64, the one widening a source can make (schema evolution).
            Some(h) if h.pg_type == "integer" && w.pg_type == "bigint" => sql.push(format!(
                "ALTER TABLE {} ALTER COLUMN {} TYPE bigint",
                want.qualified(),
                quote_ident(&w.name)
            )),
            Some(h) if h.pg_type != w.pg_type => {
                return Err(differs(format!(
                    "column {:?} is {} in the target but {} in the source definition",
                    w.name, h.pg_type, w.pg_type
                )));
            }
            Some(_) => {}
            None if w.nullable => sql.push(format!(
                "ALTER TABLE {} ADD COLUMN {} {}",
                want.qualified(),
                quote_ident(&w.name),
                w.pg_type
            )),
            None => {
                return Err(differs(format!(
                    "the source definition has a new required column {:?}: only nullable columns can be added",
                    w.name
                )));
            }
        }
    }
    Ok(sql)
}

/// An SQL identifier, always quoted (names come from source definitions).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: &str, v: &str) -> LakeDay {
        LakeDay {
            day: time::parse_day(d).unwrap(),
            version: v.into(),
            files: vec![],
        }
    }

    #[test]
    fn only_new_and_changed_days_are_synced() {
        let lake = vec![
            day("2025-06-02", "b"),
            day("2025-06-01", "a"),
            day("2025-06-03", "c"),
        ];
        let state = BTreeMap::from([
            (time::parse_day("2025-06-01").unwrap(), "a".to_string()),
            (time::parse_day("2025-06-02").unwrap(), "old".to_string()),
        ]);
        let plan = plan_days(&lake, &state, Selection::Every, false).unwrap();
        let synced: Vec<String> = plan
            .iter()
            .filter(|(_, a)| matches!(a, DayAction::Sync(_)))
            .map(|(d, _)| time::format_day(*d))
            .collect();
        assert_eq!(synced, ["2025-06-02", "2025-06-03"]);
        assert_eq!(plan[0].1, DayAction::UpToDate);
        let forced = plan_days(&lake, &state, Selection::Since(plan[1].0), true).unwrap();
        assert_eq!(forced.len(), 2);
        assert!(forced.iter().all(|(_, a)| matches!(a, DayAction::Sync(_))));
        let missing = plan_days(&lake, &state, Selection::Date(1), false).unwrap_err();
        assert!(missing.to_string().contains("1970-01-02"), "{missing}");
    }

    #[test]
    fn raw_version_follows_names_and_sizes() {
        let a = vec![("t/p_date=2025-06-01/a.parquet".to_string(), 10)];
        let mut b = a.clone();
        assert_eq!(raw_version(&a), raw_version(&b));
        b[0].1 = 11;
        assert_ne!(raw_version(&a), raw_version(&b));
        b.push(("t/p_date=2025-06-01/b.parquet".into(), 1));
        assert!(raw_version(&b).starts_with("raw:2:"));
    }

    fn users() -> SourceDef {
        SourceDef::resolve("users", None).unwrap()
    }

    #[test]
    fn a_curated_table_is_created_with_its_key_and_a_date() {
        let t = TargetTable::for_source(&users(), "lake", "users_curated", true);
        let sql = plan_ddl(&t, None).unwrap();
        assert_eq!(sql.len(), 1);
        assert!(
            sql[0]
                .starts_with("CREATE TABLE \"lake\".\"users_curated\" (\"user_id\" text NOT NULL"),
            "{}",
            sql[0]
        );
        assert!(sql[0].contains("\"p_date\" date NOT NULL"), "{}", sql[0]);
        assert!(
            sql[0].ends_with("PRIMARY KEY (\"p_date\", \"user_id\"))"),
            "{}",
            sql[0]
        );
        let raw = TargetTable::for_source(&users(), "lake", "users", false);
        let sql = plan_ddl(&raw, None).unwrap();
        assert!(!sql[0].contains("PRIMARY KEY"));
        assert!(sql[1].starts_with("CREATE INDEX ON"));
    }

    #[test]
    fn added_nullable_columns_are_added_and_other_differences_refused() {
        let t = TargetTable::for_source(&users(), "s", "u", true);
        assert!(plan_ddl(&t, Some(&t.columns)).unwrap().is_empty());
        let mut older = t.columns.clone();
        let age = older.iter().position(|c| c.name == "age").unwrap();
        older.remove(age);
        assert_eq!(
            plan_ddl(&t, Some(&older)).unwrap(),
            ["ALTER TABLE \"s\".\"u\" ADD COLUMN \"age\" integer"]
        );
        let mut narrower = t.columns.clone();
        let mut wider = t.clone();
        wider.columns[age].pg_type = "bigint".into();
        narrower[age].pg_type = "integer".into();
        assert_eq!(
            plan_ddl(&wider, Some(&narrower)).unwrap(),
            ["ALTER TABLE \"s\".\"u\" ALTER COLUMN \"age\" TYPE bigint"]
        );
        assert!(
            plan_ddl(&t, Some(&wider.columns)).is_err(),
            "never narrowed"
        );
        let mut retyped = t.columns.clone();
        retyped[age].pg_type = "text".into();
        let e = plan_ddl(&t, Some(&retyped)).unwrap_err().to_string();
        assert!(
            e.contains("\"age\" is text in the target but integer"),
            "{e}"
        );
        let mut extra = t.columns.clone();
        extra.push(PgColumn {
            name: "gone".into(),
            pg_type: "text".into(),
            nullable: true,
        });
        let e = plan_ddl(&t, Some(&extra)).unwrap_err().to_string();
        assert!(
            e.contains("\"gone\" is in the target but not in the source"),
            "{e}"
        );
        let mut no_id = t.columns.clone();
        no_id.remove(0);
        let e = plan_ddl(&t, Some(&no_id)).unwrap_err().to_string();
        assert!(e.contains("new required column \"user_id\""), "{e}");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
