//! DuckDB views over a catalog's tables, for a local reader (DuckDB, dbt-duckdb). A curated
//! day's current generation is a `_`-prefixed folder that only the catalog names (dataset
//! readers skip it by design), so the views list, per table, exactly the folders the catalog
//! points at: one `CREATE OR REPLACE VIEW` per table, in a schema named after the catalog
//! database (as Athena sees it), with the definition's columns in order and typed as Glue types
//! them (timestamps as UTC `TIMESTAMP`, like Athena's `timestamp`; the partition column a
//! `VARCHAR`, like the Glue partition key).

use crate::catalog::{PartitionInfo, TableDef};

/// A table and the file globs that hold its rows (reader paths, see `reader_path`).
#[derive(Debug, Clone)]
pub struct TableFiles {
    pub table: TableDef,
    pub globs: Vec<String>,
}

/// The glob of a partition's files.
pub fn partition_glob(p: &PartitionInfo) -> String {
    format!("{}/*.parquet", reader_path(&p.location))
}

/// Whether every partition is the Hive folder `<table>/<key>=<value>/` (a raw table): such a
/// table is read by globbing its folder, like Athena's partition projection, so days nobody
/// registered (Firehose's) are read too. A curated table's partitions point at generations.
pub fn hive_layout(table: &TableDef, partitions: &[PartitionInfo]) -> Option<String> {
    let [key] = table.partition_keys.as_slice() else {
        return None;
    };
    let root = reader_path(&table.location);
    let standard = partitions.iter().all(|p| {
        p.values.len() == 1
            && reader_path(&p.location) == format!("{root}/{}={}", key.name, p.values[0])
    });
    standard.then(|| format!("{root}/{}=*/*.parquet", key.name))
}

/// The DuckDB type of a Glue column type.
pub fn duckdb_type(glue_type: &str) -> &'static str {
    match glue_type {
        "int" => "INTEGER",
        "bigint" => "BIGINT",
        "double" => "DOUBLE",
        "boolean" => "BOOLEAN",
        "timestamp" => "TIMESTAMP",
        _ => "VARCHAR",
    }
}

/// The path DuckDB reads for a catalog location: a local folder for `file://`, the URL itself
/// otherwise (`s3://` needs DuckDB's httpfs extension).
pub fn reader_path(location: &str) -> String {
    let path = location.strip_prefix("file://").unwrap_or(location);
    path.trim_end_matches('/').to_string()
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The `CREATE SCHEMA` and `CREATE OR REPLACE VIEW` statements for `tables`, in `schema`.
pub fn views_sql(schema: &str, tables: &[TableFiles]) -> String {
    let mut out = format!(
        "-- DuckDB views over the firelake catalog {schema} (written by firelake; regenerate with\n\
         -- `firelake catalog --sql` after a compaction or when the lake moves).\n\
         CREATE SCHEMA IF NOT EXISTS {};\n",
        quote_ident(schema)
    );
    for t in tables {
        out.push_str(&view_sql(schema, t));
    }
    out
}

fn view_sql(schema: &str, t: &TableFiles) -> String {
    let name = format!("{}.{}", quote_ident(schema), quote_ident(&t.table.name));
    let mut columns: Vec<String> = t
        .table
        .columns
        .iter()
        .map(|c| {
            let id = quote_ident(&c.name);
            match c.glue_type.as_str() {
                // Parquet's UTC instants read as TIMESTAMPTZ; the UTC wall time is what Athena
                // shows, whatever the reader's time zone.
                "timestamp" => format!("timezone('UTC', {id}) AS {id}"),
                t => format!("CAST({id} AS {}) AS {id}", duckdb_type(t)),
            }
        })
        .collect();
    columns.extend(
        t.table
            .partition_keys
            .iter()
            .map(|k| format!("CAST({0} AS VARCHAR) AS {0}", quote_ident(&k.name))),
    );
    let select = columns.join(",\n       ");
    if t.globs.is_empty() {
        // No files yet: an empty view with the table's columns, so models still compile.
        let typed: Vec<String> = t
            .table
            .columns
            .iter()
            .chain(&t.table.partition_keys)
            .map(|c| {
                let ty = match t.table.partition_keys.iter().any(|k| k.name == c.name) {
                    true => "VARCHAR",
                    false => duckdb_type(&c.glue_type),
                };
                format!("CAST(NULL AS {ty}) AS {}", quote_ident(&c.name))
            })
            .collect();
        return format!(
            "CREATE OR REPLACE VIEW {name} AS\nSELECT {}\nWHERE false;\n",
            typed.join(", ")
        );
    }
    let globs: Vec<String> = t.globs.iter().map(|g| quote_str(g)).collect();
    let hive_types: Vec<String> = t
        .table
        .partition_keys
        .iter()
        .map(|k| format!("{}: 'VARCHAR'", quote_str(&k.name)))
        .collect();
    format!(
        "CREATE OR REPLACE VIEW {name} AS\nSELECT {select}\nFROM read_parquet([\n    {}\n  ], hive_partitioning = true, hive_types = {{{}}}, union_by_name = true);\n",
        globs.join(",\n    "),
        hive_types.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CatalogColumn;

    fn table(globs: Vec<String>) -> TableFiles {
        let col = |n: &str, t: &str| CatalogColumn {
            name: n.into(),
            glue_type: t.into(),
            comment: None,
        };
        TableFiles {
            table: TableDef {
                name: "users_curated".into(),
                columns: vec![col("user_id", "string"), col("born", "timestamp")],
                partition_keys: vec![col("p_date", "string")],
                location: "file:///l/users_curated/".into(),
                input_format: String::new(),
                output_format: String::new(),
                serialization_library: String::new(),
                parameters: Default::default(),
            },
            globs,
        }
    }

    #[test]
    fn a_view_reads_exactly_the_folders_the_catalog_names() {
        let sql = views_sql(
            "firelake",
            &[table(vec![partition_glob(&PartitionInfo {
                values: vec!["2025-06-01".into()],
                location: "file:///l/users_curated/_generations/p_date=2025-06-01/g'1/".into(),
            })])],
        );
        assert!(sql.contains("CREATE OR REPLACE VIEW \"firelake\".\"users_curated\""));
        assert!(sql.contains("'/l/users_curated/_generations/p_date=2025-06-01/g''1/*.parquet'"));
        assert!(sql.contains("timezone('UTC', \"born\") AS \"born\""));
        assert!(sql.contains("CAST(\"p_date\" AS VARCHAR) AS \"p_date\""));
    }

    #[test]
    fn only_a_hive_folder_layout_is_globbed() {
        let t = table(vec![]).table;
        let part = |loc: &str| PartitionInfo {
            values: vec!["2025-06-01".into()],
            location: loc.into(),
        };
        assert_eq!(
            hive_layout(&t, &[part("file:///l/users_curated/p_date=2025-06-01/")]).as_deref(),
            Some("/l/users_curated/p_date=*/*.parquet")
        );
        let generation = part("file:///l/users_curated/_generations/p_date=2025-06-01/g1/");
        assert_eq!(hive_layout(&t, &[generation]), None);
    }

    #[test]
    fn a_table_without_partitions_is_an_empty_typed_view() {
        let sql = views_sql("firelake", &[table(vec![])]);
        assert!(sql.contains("CAST(NULL AS TIMESTAMP) AS \"born\""));
        assert!(sql.contains("WHERE false"));
    }
}
