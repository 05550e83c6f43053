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
    /// Replace an existing table's definition (columns, parameters), keeping its partitions:
    /// how an evolved schema (crate::schema_evolution) reaches the catalog. Glue UpdateTable.
    fn update_table<'a>(&'a self, table: &'a TableDef) -> BoxFuture<'a, Result<(), CatalogError>> {
        Box::pin(async move {
            Err(CatalogError::Service(format!(
                "the catalog {} cannot update table {}: use the local catalog or Glue",
                self.describe(),
                table.name
            )))
        })
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

    fn update_table(&mut self, t: &TableDef) -> Result<(), CatalogError> {
        let entry = self
            .tables
            .get_mut(&t.name)
            .ok_or_else(|| CatalogError::NoTable(t.name.clone()))?;
        entry.table = t.clone();
        Ok(())
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
    fn update_table<'a>(&'a self, table: &'a TableDef) -> BoxFuture<'a, Result<(), CatalogError>> {
        Box::pin(async move { self.state.lock().unwrap().update_table(table) })
    }
    fn table_names(&self) -> BoxFuture<'_, Result<Option<Vec<String>>, CatalogError>> {
        let names = self.state.lock().unwrap().tables.keys().cloned().collect();
        Box::pin(async move { Ok(Some(names)) })
    }
}

/// A Glue-shaped catalog in one JSON file. Updates take an exclusive file lock and replace the
/// file atomically (write a temporary file, then rename), so concurrent processes and crashes
/// never leave a torn file.
///
/// The catalog beside a lake ([`LocalCatalog::beside_lake`]) stores the locations inside the
/// lake relative to it (`users/p_date=2025-06-01/`), so a copied or moved lake still reads its
/// own files; callers always see absolute `file://` URLs of the lake where it is now (see
/// `locations` below for the catalogs older versions wrote).
#[derive(Debug)]
pub struct LocalCatalog {
    path: PathBuf,
    database: String,
    /// `file://<lake root>` for a catalog beside its lake; `None`: locations kept as given.
    root_url: Option<String>,
}

impl LocalCatalog {
    pub fn new(path: impl Into<PathBuf>, database: impl Into<String>) -> LocalCatalog {
        LocalCatalog {
            path: path.into(),
            database: database.into(),
            root_url: None,
        }
    }

    /// The default catalog of a local lake: `<lake>/_catalog/<database>.json`, its locations
    /// relative to `lake_root` (the lake's canonical folder, as [`crate::Lake`] names it).
    pub fn beside_lake(lake_root: &Path, database: &str) -> LocalCatalog {
        LocalCatalog {
            root_url: Some(format!("file://{}", lake_root.display())),
            ..LocalCatalog::new(
                lake_root.join("_catalog").join(format!("{database}.json")),
                database,
            )
        }
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

    /// The state with every location absolute, in the lake where it is now.
    fn read(&self) -> Result<CatalogState, CatalogError> {
        let mut state = self.read_stored()?;
        if let Some(root) = &self.root_url {
            locations::resolve(&mut state, root);
        }
        Ok(state)
    }

    fn read_stored(&self) -> Result<CatalogState, CatalogError> {
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
        if let Some(root) = &self.root_url {
            // Every write stores the whole file relative, so an older catalog is migrated by
            // its first update.
            locations::relativize(&mut state, root);
        }
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
    fn update_table<'a>(&'a self, table: &'a TableDef) -> BoxFuture<'a, Result<(), CatalogError>> {
        Box::pin(async move { self.update(|s| s.update_table(table)) })
    }
}

/// Locations of a catalog beside its lake: stored relative to the lake, read absolute.
mod locations {
    use super::CatalogState;

    /// Every location of `state` absolute under `root` (`file://<lake>`). A relative one is
    /// joined to it. An absolute one from an older version names the folder the lake was made
    /// in: a local table is always `<lake>/<table>/`, so a table location ending in
    /// `/<table>/` gives that old root, and its locations under it are rebased onto `root`
    /// (a no-op for a lake that never moved).
    pub fn resolve(state: &mut CatalogState, root: &str) {
        for (name, entry) in state.tables.iter_mut() {
            let old_root = old_root(&entry.table.location, name, root);
            let fix = |loc: &mut String| {
                if let Some(new) = resolved(loc, root, old_root.as_deref()) {
                    *loc = new;
                }
            };
            fix(&mut entry.table.location);
            entry
                .partitions
                .values_mut()
                .for_each(|p| fix(&mut p.location));
        }
    }

    /// Every location under `root` stored relative to it; others (outside the lake) as given.
    pub fn relativize(state: &mut CatalogState, root: &str) {
        let prefix = format!("{}/", root.trim_end_matches('/'));
        let fix = |loc: &mut String| {
            if let Some(rest) = loc.strip_prefix(&prefix).filter(|r| !r.is_empty()) {
                *loc = rest.to_string();
            }
        };
        for entry in state.tables.values_mut() {
            fix(&mut entry.table.location);
            entry
                .partitions
                .values_mut()
                .for_each(|p| fix(&mut p.location));
        }
    }

    fn is_relative(loc: &str) -> bool {
        !loc.contains("://") && !loc.starts_with('/')
    }

    /// `file:///old/lake` for a table `name` stored at `file:///old/lake/<name>/` elsewhere
    /// than `root`.
    fn old_root(table_location: &str, name: &str, root: &str) -> Option<String> {
        if is_relative(table_location) || !table_location.starts_with("file://") {
            return None;
        }
        let old = table_location
            .trim_end_matches('/')
            .strip_suffix(name)?
            .strip_suffix('/')?;
        (old != root.trim_end_matches('/')).then(|| old.to_string())
    }

    fn resolved(loc: &str, root: &str, old_root: Option<&str>) -> Option<String> {
        let root = root.trim_end_matches('/');
        if is_relative(loc) {
            return Some(format!("{root}/{loc}"));
        }
        let rest = loc.strip_prefix(old_root?)?;
        rest.starts_with('/').then(|| format!("{root}{rest}"))
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
        let root = format!("file://{}", dir.path().display());
        let t = TableDef::for_source(&def, "users", format!("{root}/users/"));
        cat.ensure_table(&t).await.unwrap();
        cat.ensure_table(&t).await.unwrap();
        let p = PartitionInfo {
            values: vec!["2025-06-01".into()],
            location: format!("{root}/users/p_date=2025-06-01/"),
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
        let root = format!("file://{}", dir.path().display());
        for cat in [&local as &dyn Catalog, &memory] {
            let t = TableDef::for_source(&def, "users_curated", format!("{root}/users_curated/"));
            cat.ensure_table(&t).await.unwrap();
            let gen1 = PartitionInfo {
                values: vec!["2025-06-01".into()],
                location: format!("{root}/users_curated/_generations/p_date=2025-06-01/g1/"),
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

    /// A lake's catalog stores lake-relative locations and reads them in the lake where it is
    /// now; one an older version wrote (absolute, under the folder the lake was made in) is
    /// rebased, and migrated by the next write. Locations outside the lake stay as they are.
    #[tokio::test]
    async fn locations_follow_a_moved_lake() {
        let def = SourceDef::resolve("users", None).unwrap();
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (root_a, root_b) = (
            format!("file://{}", a.path().display()),
            format!("file://{}", b.path().display()),
        );
        let part = |root: &str, day: &str| PartitionInfo {
            values: vec![day.into()],
            location: format!("{root}/users/p_date={day}/"),
        };
        let outside = PartitionInfo {
            values: vec!["2025-06-03".into()],
            location: "s3://elsewhere/users/p_date=2025-06-03/".into(),
        };
        // An older version's file: absolute locations under lake A.
        let mut old = CatalogState {
            database: "firelake".into(),
            ..Default::default()
        };
        old.ensure_table(&TableDef::for_source(
            &def,
            "users",
            format!("{root_a}/users/"),
        ));
        old.add_partitions("users", &[part(&root_a, "2025-06-01"), outside.clone()])
            .unwrap();
        let file = b.path().join("_catalog/firelake.json");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, serde_json::to_vec(&old).unwrap()).unwrap();
        // Read where the lake is now (B).
        let cat = LocalCatalog::beside_lake(b.path(), "firelake");
        let t = cat.table("users").await.unwrap().unwrap();
        assert_eq!(t.location, format!("{root_b}/users/"));
        let want = vec![part(&root_b, "2025-06-01"), outside.clone()];
        assert_eq!(cat.partitions("users").await.unwrap(), want);
        // A write stores the whole file relative.
        cat.add_partitions("users", &[part(&root_b, "2025-06-02")])
            .await
            .unwrap();
        let stored: CatalogState = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let entry = &stored.tables["users"];
        assert_eq!(entry.table.location, "users/");
        let locs: Vec<&str> = entry
            .partitions
            .values()
            .map(|p| p.location.as_str())
            .collect();
        assert_eq!(
            locs,
            [
                "users/p_date=2025-06-01/",
                "users/p_date=2025-06-02/",
                outside.location.as_str()
            ]
        );
        // And a copy of that file reads its own lake (A again).
        let copy = a.path().join("_catalog");
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::copy(&file, copy.join("firelake.json")).unwrap();
        let cat_a = LocalCatalog::beside_lake(a.path(), "firelake");
        assert_eq!(
            cat_a.partitions("users").await.unwrap()[1],
            part(&root_a, "2025-06-02")
        );
    }
}
