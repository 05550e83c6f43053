//! `firelake catalog --sql` and the views file `compact` keeps beside a local catalog: DuckDB
//! views over the tables where the catalog points (firelake_core::duckdb_views), so a local
//! reader sees the curated table's current generations and nothing else.

use std::path::PathBuf;

use firelake_core::Lake;
use firelake_core::catalog::{Catalog, CatalogError, PartitionInfo, TableDef};
use firelake_core::duckdb_views::{TableFiles, hive_layout, partition_glob, views_sql};

/// The views of `table` (or of every table the catalog lists), in schema `database`.
pub async fn views(
    lake: &Lake,
    catalog: &dyn Catalog,
    table: Option<&str>,
    database: &str,
) -> Result<String, CatalogError> {
    let names = match table {
        Some(t) => vec![t.to_string()],
        None => catalog.table_names().await?.ok_or_else(|| {
            CatalogError::Service(format!(
                "{} cannot list its tables: name one with --table",
                catalog.describe()
            ))
        })?,
    };
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        let def = catalog
            .table(&name)
            .await?
            .ok_or_else(|| CatalogError::NoTable(name.clone()))?;
        let mut def = def;
        let mut partitions = catalog.partitions(&name).await?;
        rebase(lake, &mut def, &mut partitions);
        let globs = match hive_layout(&def, &partitions) {
            Some(glob) if has_files(lake, &def).await? => vec![glob],
            Some(_) => vec![],
            None => partitions.iter().map(partition_glob).collect(),
        };
        tables.push(TableFiles { table: def, globs });
    }
    let described = catalog.describe();
    let schema = database_of(&described).unwrap_or(database);
    Ok(views_sql(schema, &tables))
}

/// A copied or moved local lake: its catalog still names the folder it was made in, and a
/// local table is always `<lake>/<table>/`, so the views read the lake where it is now.
fn rebase(lake: &Lake, table: &mut TableDef, partitions: &mut [PartitionInfo]) {
    if lake.local_root().is_none() || lake.key_of_url(&table.location).is_some() {
        return;
    }
    let Some(old) = table
        .location
        .strip_prefix("file://")
        .map(|_| table.location.clone())
    else {
        return;
    };
    let old = old.trim_end_matches('/').to_string();
    let new = lake.url_of(&table.name);
    for p in partitions.iter_mut() {
        if let Some(rest) = p.location.strip_prefix(&old) {
            p.location = format!("{new}{rest}");
        }
    }
    table.location = format!("{new}/");
}

/// Whether a Hive-layout table has a Parquet file in a partition folder (DuckDB fails on a
/// glob that matches nothing). A table outside the lake is assumed to have some.
async fn has_files(lake: &Lake, table: &TableDef) -> Result<bool, CatalogError> {
    let Some(key) = lake.key_of_url(&table.location) else {
        return Ok(true);
    };
    let prefix = format!("{}/", key.trim_end_matches('/'));
    let objects = lake
        .list(&prefix)
        .await
        .map_err(|e| CatalogError::Service(format!("listing {prefix}: {e}")))?;
    Ok(objects.iter().any(|o| {
        let rest = o.key.strip_prefix(&prefix).unwrap_or(&o.key);
        matches!(rest.split_once('/'), Some((folder, file))
            if !folder.starts_with(['_', '.']) && folder.contains('=')
                && !file.contains('/') && file.ends_with(".parquet"))
    }))
}

/// A Glue catalog's database is in its URL (`glue://DB`).
fn database_of(describe: &str) -> Option<&str> {
    describe.strip_prefix("glue://").filter(|d| !d.is_empty())
}

/// `<lake>/_catalog/<database>.duckdb.sql`, beside the local catalog file; `None` for a lake
/// that is not a local folder or a catalog named by --catalog.
pub fn views_file(lake: &Lake, catalog_url: Option<&str>, database: &str) -> Option<PathBuf> {
    if catalog_url.is_some() {
        return None;
    }
    lake.local_root()
        .map(|root| root.join("_catalog").join(format!("{database}.duckdb.sql")))
}

/// Rewrite the views file of a local lake after a compaction moved partitions.
pub async fn refresh_views_file(
    lake: &Lake,
    catalog: &dyn Catalog,
    catalog_url: Option<&str>,
    database: &str,
) -> Result<Option<PathBuf>, Box<dyn std::error::Error>> {
    let Some(path) = views_file(lake, catalog_url, database) else {
        return Ok(None);
    };
    let sql = views(lake, catalog, None, database).await?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    firelake_core::lake::replace_file_durably(&path, sql.as_bytes())
        .map_err(|e| format!("cannot write the DuckDB views {}: {e}", path.display()))?;
    Ok(Some(path))
}
