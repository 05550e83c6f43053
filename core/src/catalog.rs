//! The table catalog, Glue-shaped: a table's columns, partition keys and location, and its
//! partitions. Implementations: a local JSON file beside a `file://` lake, memory, and (with
//! the AWS path) the Glue Data Catalog. Everything a catalog holds is derived from the source
//! definition, so the Glue table, the Athena DDL and the Parquet files agree by construction.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::source::{ColumnType, SourceDef};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("catalog file {path} is not valid: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("unsupported catalog URL {0:?}: use glue://DATABASE, file://PATH.json or memory://")]
    UnsupportedUrl(String),
    #[error(
        "the lake {0} is not a local folder, so it has no catalog file beside it: name its catalog with --catalog glue://DATABASE (or file://PATH.json)"
    )]
    NeedsCatalog(String),
    #[error("table {0} is not in the catalog")]
    NoTable(String),
    #[error("catalog service error: {0}")]
    Service(String),
}

/// A Glue column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CatalogColumn {
    pub name: String,
    #[serde(rename = "Type")]
    pub glue_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A Glue table: Parquet files under `location`, partitioned by `partition_keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableDef {
    pub name: String,
    pub columns: Vec<CatalogColumn>,
    pub partition_keys: Vec<CatalogColumn>,
    pub location: String,
    pub input_format: String,
    pub output_format: String,
    pub serialization_library: String,
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
}

/// A partition: its key values and where its files are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionInfo {
    pub values: Vec<String>,
    pub location: String,
}

pub fn glue_type(t: ColumnType) -> &'static str {
    match t {
        ColumnType::String => "string",
        ColumnType::Int32 => "int",
        ColumnType::Int64 => "bigint",
        ColumnType::Float64 => "double",
        ColumnType::Bool => "boolean",
        ColumnType::TimestampMs => "timestamp",
    }
}

impl TableDef {
    /// The Parquet table of a source at `location` (a folder URL ending in `/`).
    pub fn for_source(def: &SourceDef, name: &str, location: String) -> TableDef {
        TableDef {
            name: name.to_string(),
            columns: def
                .columns
                .iter()
                .map(|c| CatalogColumn {
                    name: c.name.clone(),
                    glue_type: glue_type(c.column_type).into(),
                    comment: c.description.clone(),
                })
                .collect(),
            partition_keys: vec![CatalogColumn {
                name: def.partition_column.clone(),
                glue_type: "string".into(),
                comment: Some("UTC day, YYYY-MM-DD".into()),
            }],
            location,
            input_format: "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat".into(),
            output_format: "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat".into(),
            serialization_library: "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
                .into(),
            parameters: BTreeMap::from([
                ("classification".into(), "parquet".into()),
                ("EXTERNAL".into(), "TRUE".into()),
                ("firelake.source".into(), def.name.clone()),
            ]),
        }
    }
}

/// What the pipeline needs of a catalog. Object-safe so a CLI flag can pick the backend.
pub trait Catalog: Send + Sync {
    /// Create the table if it is absent (an existing table is left as it is).
    fn ensure_table<'a>(&'a self, table: &'a TableDef) -> BoxFuture<'a, Result<(), CatalogError>>;
    /// Register partitions; ones that exist are left alone. Returns how many were new.
    fn add_partitions<'a>(
        &'a self,
        table: &'a str,
        partitions: &'a [PartitionInfo],
    ) -> BoxFuture<'a, Result<usize, CatalogError>>;
    /// Create the partition, or point the existing one at `partition.location` (Glue
    /// BatchCreatePartition for a new one, UpdatePartition for an existing one): how the
    /// compactor makes a new generation visible in one step. Returns the location it had.
    fn set_partition<'a>(
        &'a self,
        table: &'a str,
        partition: &'a PartitionInfo,
    ) -> BoxFuture<'a, Result<Option<String>, CatalogError>>;
    fn partitions<'a>(
        &'a self,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartitionInfo>, CatalogError>>;
    fn table<'a>(&'a self, table: &'a str)
    -> BoxFuture<'a, Result<Option<TableDef>, CatalogError>>;
    /// Where it is, for people.
    fn describe(&self) -> String;
    /// The names of the catalog's tables, where the catalog can list them cheaply (the local
    /// and memory catalogs); others answer `None` and their tables must be named.
    fn table_names(&self) -> BoxFuture<'_, Result<Option<Vec<String>>, CatalogError>> {
        Box::pin(async { Ok(None) })
    }
}

/// The local catalog a `--catalog` flag names (`glue://DATABASE` is opened by
/// `firelake_aws::open_catalog`). Left out: the local file beside a `file://` lake
/// (`<lake>/_catalog/<database>.json`), memory for a `memory://` lake, and an error for any
/// other lake (an S3 lake's catalog must outlive the process). `file://PATH`: that JSON file.
pub fn open_catalog(
    url: Option<&str>,
    lake: &crate::Lake,
    database: &str,
) -> Result<Arc<dyn Catalog>, CatalogError> {
    match url {
        None => match lake.local_root() {
            Some(root) => Ok(Arc::new(LocalCatalog::beside_lake(root, database))),
            None if lake.url().starts_with("memory://") => Ok(Arc::new(MemoryCatalog::default())),
            None => Err(CatalogError::NeedsCatalog(lake.url().into())),
        },
        Some("memory://") => Ok(Arc::new(MemoryCatalog::default())),
        Some(u) => match u.strip_prefix("file://") {
            Some(path) if !path.is_empty() => Ok(Arc::new(LocalCatalog::new(path, database))),
            _ => Err(CatalogError::UnsupportedUrl(u.into())),
        },
    }
}

/// The catalog's content, as the local file stores it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CatalogState {
    pub database: String,
    pub tables: BTreeMap<String, TableEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableEntry {
    pub table: TableDef,
    /// Keyed by the partition values joined with `/`.
    pub partitions: BTreeMap<String, PartitionInfo>,
}

impl CatalogState {
    fn ensure_table(&mut self, t: &TableDef) {
        self.tables
            .entry(t.name.clone())
            .or_insert_with(|| TableEntry {
                table: t.clone(),
                partitions: BTreeMap::new(),
            });
    }

    fn add_partitions(
        &mut self,
        table: &str,
        parts: &[PartitionInfo],
    ) -> Result<usize, CatalogError> {
        let entry = self
            .tables
            .get_mut(table)
            .ok_or_else(|| CatalogError::NoTable(table.into()))?;
        let mut added = 0;
        for p in parts {
            let key = p.values.join("/");
            if let std::collections::btree_map::Entry::Vacant(slot) = entry.partitions.entry(key) {
                slot.insert(p.clone());
                added += 1;
            }
        }
        Ok(added)
    }

    fn set_partition(
        &mut self,
        table: &str,
        part: &PartitionInfo,
    ) -> Result<Option<String>, CatalogError> {
        let entry = self
            .tables
            .get_mut(table)
            .ok_or_else(|| CatalogError::NoTable(table.into()))?;
        Ok(entry
            .partitions
            .insert(part.values.join("/"), part.clone())
            .map(|old| old.location))
    }

    fn partitions(&self, table: &str) -> Result<Vec<PartitionInfo>, CatalogError> {
        Ok(self
            .tables
            .get(table)
            .ok_or_else(|| CatalogError::NoTable(table.into()))?
            .partitions
            .values()
            .cloned()
            .collect())
    }
}

/// A catalog kept in memory (tests, `memory://` lakes).
#[derive(Debug, Default)]
pub struct MemoryCatalog {
    state: Mutex<CatalogState>,
}

impl Catalog for MemoryCatalog {
    fn ensure_table<'a>(&'a self, table: &'a TableDef) -> BoxFuture<'a, Result<(), CatalogError>> {
        Box::pin(async move {
            self.state.lock().unwrap().ensure_table(table);
            Ok(())
        })
    }
    fn add_partitions<'a>(
        &'a self,
        table: &'a str,
        partitions: &'a [PartitionInfo],
    ) -> BoxFuture<'a, Result<usize, CatalogError>> {
        Box::pin(async move { self.state.lock().unwrap().add_partitions(table, partitions) })
    }
    fn set_partition<'a>(
        &'a self,
        table: &'a str,
        partition: &'a PartitionInfo,
    ) -> BoxFuture<'a, Result<Option<String>, CatalogError>> {
        Box::pin(async move { self.state.lock().unwrap().set_partition(table, partition) })
    }
    fn partitions<'a>(
        &'a self,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartitionInfo>, CatalogError>> {
        Box::pin(async move { self.state.lock().unwrap().partitions(table) })
    }
    fn table<'a>(
        &'a self,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Option<TableDef>, CatalogError>> {
        Box::pin(async move {
            Ok(self
                .state
                .lock()
                .unwrap()
                .tables
                .get(table)
                .map(|e| e.table.clone()))
        })
    }
    fn describe(&self) -> String {
        "memory://".into()
    }
    fn table_names(&self) -> BoxFuture<'_, Result<Option<Vec<String>>, CatalogError>> {
        let names = self.state.lock().unwrap().tables.keys().cloned().collect();
        Box::pin(async move { Ok(Some(names)) })
    }
}

/// A Glue-shaped catalog in one JSON file. Updates take an exclusive file lock and replace the
/// file atomically (write a temporary file, then rename), so concurrent processes and crashes
/// never leave a torn file.
#[derive(Debug)]
pub struct LocalCatalog {
    path: PathBuf,
    database: String,
}

impl LocalCatalog {
    pub fn new(path: impl Into<PathBuf>, database: impl Into<String>) -> LocalCatalog {
        LocalCatalog {
            path: path.into(),
            database: database.into(),
        }
    }

    /// The default catalog of a local lake: `<lake>/_catalog/<database>.json`.
    pub fn beside_lake(lake_root: &Path, database: &str) -> LocalCatalog {
        LocalCatalog::new(
            lake_root.join("_catalog").join(format!("{database}.json")),
            database,
        )
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> CatalogError + '_ {
        |source| CatalogError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn read(&self) -> Result<CatalogState, CatalogError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| CatalogError::Corrupt {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CatalogState {
                database: self.database.clone(),
                ..Default::default()
            }),
            Err(e) => Err(self.io()(e)),
        }
    }

    /// Read-modify-write under the lock.
    fn update<T>(
        &self,
        f: impl FnOnce(&mut CatalogState) -> Result<T, CatalogError>,
    ) -> Result<T, CatalogError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(self.io())?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path.with_extension("lock"))
            .map_err(self.io())?;
        lock.lock().map_err(self.io())?;
        let mut state = self.read()?;
        let out = f(&mut state)?;
        let bytes = serde_json::to_vec_pretty(&state).expect("catalog state serialises");
        crate::lake::replace_file_durably(&self.path, &bytes).map_err(self.io())?;
        Ok(out)
    }
}

impl Catalog for LocalCatalog {
    fn table_names(&self) -> BoxFuture<'_, Result<Option<Vec<String>>, CatalogError>> {
        Box::pin(async move { Ok(Some(self.read()?.tables.keys().cloned().collect())) })
    }
    fn ensure_table<'a>(&'a self, table: &'a TableDef) -> BoxFuture<'a, Result<(), CatalogError>> {
        Box::pin(async move {
            if self.read()?.tables.contains_key(&table.name) {
                return Ok(());
            }
            self.update(|s| {
                s.ensure_table(table);
                Ok(())
            })
        })
    }
    fn add_partitions<'a>(
        &'a self,
        table: &'a str,
        partitions: &'a [PartitionInfo],
    ) -> BoxFuture<'a, Result<usize, CatalogError>> {
        Box::pin(async move { self.update(|s| s.add_partitions(table, partitions)) })
    }
    fn set_partition<'a>(
        &'a self,
        table: &'a str,
        partition: &'a PartitionInfo,
    ) -> BoxFuture<'a, Result<Option<String>, CatalogError>> {
        Box::pin(async move { self.update(|s| s.set_partition(table, partition)) })
    }
    fn partitions<'a>(
        &'a self,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartitionInfo>, CatalogError>> {
        Box::pin(async move { self.read()?.partitions(table) })
    }
    fn table<'a>(
        &'a self,
        table: &'a str,
    ) -> BoxFuture<'a, Result<Option<TableDef>, CatalogError>> {
        Box::pin(async move { Ok(self.read()?.tables.get(table).map(|e| e.table.clone())) })
    }
    fn describe(&self) -> String {
        format!("file://{}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_catalog_registers_partitions_once() {
        let dir = tempfile::tempdir().unwrap();
        let def = SourceDef::resolve("users", None).unwrap();
        let cat = LocalCatalog::beside_lake(dir.path(), "firelake");
        let t = TableDef::for_source(&def, "users", "file:///lake/users/".into());
        cat.ensure_table(&t).await.unwrap();
        cat.ensure_table(&t).await.unwrap();
        let p = PartitionInfo {
            values: vec!["2025-06-01".into()],
            location: "file:///lake/users/p_date=2025-06-01/".into(),
        };
        assert_eq!(
            cat.add_partitions("users", std::slice::from_ref(&p))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            cat.add_partitions("users", std::slice::from_ref(&p))
                .await
                .unwrap(),
            0
        );
        assert_eq!(cat.partitions("users").await.unwrap(), vec![p]);
        let stored = cat.table("users").await.unwrap().unwrap();
        assert_eq!(stored.columns.len(), 24);
        assert_eq!(stored.columns[7].glue_type, "timestamp");
        assert!(matches!(
            cat.add_partitions("nope", &[]).await,
            Err(CatalogError::NoTable(_))
        ));
    }

    #[tokio::test]
    async fn set_partition_creates_then_repoints() {
        let dir = tempfile::tempdir().unwrap();
        let def = SourceDef::resolve("users", None).unwrap();
        let local = LocalCatalog::beside_lake(dir.path(), "firelake");
        let memory = MemoryCatalog::default();
        for cat in [&local as &dyn Catalog, &memory] {
            let t =
                TableDef::for_source(&def, "users_curated", "file:///lake/users_curated/".into());
            cat.ensure_table(&t).await.unwrap();
            let gen1 = PartitionInfo {
                values: vec!["2025-06-01".into()],
                location: "file:///lake/users_curated/_generations/p_date=2025-06-01/g1/".into(),
            };
            let gen2 = PartitionInfo {
                location: gen1.location.replace("g1", "g2"),
                ..gen1.clone()
            };
            assert_eq!(
                cat.set_partition("users_curated", &gen1).await.unwrap(),
                None
            );
            assert_eq!(
                cat.set_partition("users_curated", &gen2).await.unwrap(),
                Some(gen1.location.clone())
            );
            assert_eq!(cat.partitions("users_curated").await.unwrap(), vec![gen2]);
            assert!(matches!(
                cat.set_partition("nope", &gen1).await,
                Err(CatalogError::NoTable(_))
            ));
        }
    }
}
