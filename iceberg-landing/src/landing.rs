//! The I/O: the local SQL catalog, the table, and committing the lake's written data files.
//! The lake's files are the truth: a commit adds the files of the table's `p_date=` folders
//! that the table does not reference yet, so a crash between writing and committing loses
//! nothing (the next commit finds the files) and a repeated commit adds nothing twice.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use firelake_core::SourceDef;
use futures::TryStreamExt;
use iceberg::io::LocalFsStorageFactory;
use iceberg::spec::{DataContentType, DataFile, DataFileBuilder, DataFileFormat, Literal, Struct};
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, CatalogBuilder, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use iceberg_catalog_sql::{SqlCatalog, SqlCatalogBuilder};

use crate::policy::CommitPolicy;
use crate::{IcebergError, positions, spec};

/// The SQL catalog file inside a local lake.
pub const LOCAL_CATALOG_FILE: &str = "_catalog/iceberg.sqlite";
/// Where table metadata goes inside a local lake (`_`: Hive-style readers skip it).
pub const WAREHOUSE_DIR: &str = "_iceberg";
/// Commits retried after another committer added some of the same files.
const DUPLICATE_RETRIES: usize = 5;

/// One written data file of the lake.
#[derive(Debug, Clone)]
pub struct LakeFile {
    pub url: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub day: i32,
    pub written: SystemTime,
}

/// What a sync committed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CommitReport {
    pub commits: u64,
    pub files: u64,
    pub rows: u64,
    /// Files left out because they are not readable Parquet (logged; the compactor
    /// quarantines them).
    pub unreadable: u64,
}

/// An Iceberg landing table of a local lake, in the lake's SQL catalog.
pub struct Landing {
    catalog: SqlCatalog,
    ident: TableIdent,
    lake_root: PathBuf,
    def: Arc<SourceDef>,
    policy: CommitPolicy,
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

impl Landing {
    /// Opens (creating if needed) the catalog `<lake>/_catalog/iceberg.sqlite` (catalog and
    /// namespace named `database`) and the source's table in it.
    pub async fn open_local(
        lake_root: &Path,
        database: &str,
        def: Arc<SourceDef>,
        policy: CommitPolicy,
    ) -> Result<Landing, IcebergError> {
        let lake_root = std::path::absolute(lake_root).map_err(IcebergError::io(lake_root))?;
        let db = lake_root.join(LOCAL_CATALOG_FILE);
        let dir = db.parent().expect("catalog file has a folder");
        std::fs::create_dir_all(dir).map_err(IcebergError::io(dir))?;
        let props = HashMap::from([
            (
                "uri".to_string(),
                format!("sqlite://{}?mode=rwc", db.display()),
            ),
            (
                "warehouse".to_string(),
                file_url(&lake_root.join(WAREHOUSE_DIR)),
            ),
            ("sql_bind_style".to_string(), "QMark".to_string()),
        ]);
        let catalog = SqlCatalogBuilder::default()
            .with_storage_factory(Arc::new(LocalFsStorageFactory))
            .load(database, props)
            .await?;
        let ns = NamespaceIdent::new(database.to_string());
        let ident = TableIdent::new(ns, def.table.clone());
        let landing = Landing {
            catalog,
            ident,
            lake_root,
            def,
            policy,
        };
        landing.ensure_table().await?;
        Ok(landing)
    }

    /// `sqlite:///...` for a reader (pyiceberg's SQLAlchemy URL of the same file).
    pub fn catalog_file(&self) -> PathBuf {
        self.lake_root.join(LOCAL_CATALOG_FILE)
    }

    pub fn ident(&self) -> &TableIdent {
        &self.ident
    }

    /// Creates the namespace and the table unless they exist; another process creating them
    /// at the same time is not an error.
    async fn ensure_table(&self) -> Result<(), IcebergError> {
        let ns = self.ident.namespace();
        if !self.catalog.namespace_exists(ns).await? {
            let made = self.catalog.create_namespace(ns, HashMap::new()).await;
            // Losing the race to another process shows as a unique-key error of SQLite.
            if let Err(e) = made
                && !self.catalog.namespace_exists(ns).await?
            {
                return Err(e.into());
            }
        }
        if self.catalog.table_exists(&self.ident).await? {
            return self.same_partition_source().await;
        }
        let location = self.lake_root.join(WAREHOUSE_DIR).join(&self.def.table);
        let creation = TableCreation::builder()
            .name(self.def.table.clone())
            .location(file_url(&location))
            .schema(spec::schema(&self.def)?)
            .partition_spec(spec::partition_spec(&self.def)?)
            .properties([(
                "schema.name-mapping.default".to_string(),
                spec::name_mapping(&self.def),
            )])
            .build();
        match self.catalog.create_table(ns, creation).await {
            Err(e) if !self.catalog.table_exists(&self.ident).await? => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// A table partitioned by another timestamp (a replay's `--event-time`) would get files
    /// whose folder day is not the day of its partition column: refused.
    async fn same_partition_source(&self) -> Result<(), IcebergError> {
        let table = self.catalog.load_table(&self.ident).await?;
        let spec = table.metadata().default_partition_spec();
        let ours = spec::field_id(self.def.partition_from);
        match spec.fields().first().map(|f| f.source_id) {
            Some(id) if id == ours => Ok(()),
            _ => Err(IcebergError::OtherPartition {
                table: self.ident.to_string(),
                column: self.def.columns[self.def.partition_from].name.clone(),
            }),
        }
    }

    /// The table's data files (every file of its current snapshot).
    pub async fn committed(&self) -> Result<HashSet<String>, IcebergError> {
        let table = self.catalog.load_table(&self.ident).await?;
        if table.metadata().current_snapshot().is_none() {
            return Ok(HashSet::new());
        }
        let tasks = table.scan().build()?.plan_files().await?;
        let paths = tasks
            .map_ok(|t| t.data_file_path().to_string())
            .try_collect::<HashSet<_>>()
            .await?;
        Ok(paths)
    }

    /// The data files in the table's `p_date=` folders, oldest name first. Temporary files
    /// (`.tmp`) and `_`-prefixed folders (rejected records) are not data files.
    pub fn lake_files(&self) -> Result<Vec<LakeFile>, IcebergError> {
        let table_dir = self.lake_root.join(&self.def.table);
        let prefix = format!("{}=", self.def.partition_column);
        let mut out = Vec::new();
        let Ok(days) = std::fs::read_dir(&table_dir) else {
            return Ok(out);
        };
        for day_dir in days.flatten() {
            let name = day_dir.file_name().to_string_lossy().into_owned();
            let Some(day) = name
                .strip_prefix(&prefix)
                .and_then(firelake_core::time::parse_day)
            else {
                continue;
            };
            let dir = day_dir.path();
            for f in std::fs::read_dir(&dir)
                .map_err(IcebergError::io(&dir))?
                .flatten()
            {
                let path = f.path();
                let fname = f.file_name().to_string_lossy().into_owned();
                if !fname.ends_with(".parquet") || fname.starts_with('.') {
                    continue;
                }
                let meta = f.metadata().map_err(IcebergError::io(&path))?;
                let written = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                let url = file_url(&path);
                out.push(LakeFile {
                    url,
                    path,
                    bytes: meta.len(),
                    day,
                    written,
                });
            }
        }
        out.sort_by(|a, b| a.url.cmp(&b.url));
        Ok(out)
    }

    /// Written files the table does not reference yet.
    pub async fn pending(&self) -> Result<Vec<LakeFile>, IcebergError> {
        let committed = self.committed().await?;
        let mut files = self.lake_files()?;
        files.retain(|f| !committed.contains(&f.url));
        Ok(files)
    }

    /// Commits the pending files if the policy says they are due (or `force`): one snapshot
    /// per batch of the policy's size. Another committer adding some of the same files first
    /// makes this one look again and commit only what is still missing.
    pub async fn commit_pending(&self, force: bool) -> Result<CommitReport, IcebergError> {
        let mut report = CommitReport::default();
        for attempt in 0..=DUPLICATE_RETRIES {
            let pending = self.pending().await?;
            let bytes = pending.iter().map(|f| f.bytes).sum();
            let oldest = pending
                .iter()
                .map(|f| f.written)
                .min()
                .and_then(|t| t.elapsed().ok());
            let oldest = oldest.unwrap_or(Duration::ZERO);
            if pending.is_empty() || !(force || self.policy.due(pending.len(), bytes, oldest)) {
                return Ok(report);
            }
            match self.commit_batches(&pending, &mut report).await {
                Err(IcebergError::Iceberg(e))
                    if is_duplicate(&e) && attempt < DUPLICATE_RETRIES =>
                {
                    tracing::info!(error = %e, "another committer added some of these files; looking again");
                }
                other => return other.map(|()| report),
            }
        }
        Ok(report)
    }

    async fn commit_batches(
        &self,
        pending: &[LakeFile],
        report: &mut CommitReport,
    ) -> Result<(), IcebergError> {
        let sizes: Vec<u64> = pending.iter().map(|f| f.bytes).collect();
        for range in self.policy.batches(&sizes) {
            let batch = &pending[range];
            let table = self.catalog.load_table(&self.ident).await?;
            let spec_id = table.metadata().default_partition_spec_id();
            let (mut files, mut urls) = (Vec::new(), Vec::new());
            for f in batch {
                match data_file(f, spec_id) {
                    Ok(d) => {
                        files.push(d);
                        urls.push(f.url.clone());
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "not committed");
                        report.unreadable += 1;
                    }
                }
            }
            if files.is_empty() {
                continue;
            }
            let rows: u64 = files.iter().map(|f| f.record_count()).sum();
            let summary = HashMap::from([
                (
                    positions::SUMMARY_KEY.to_string(),
                    positions::summary(&urls),
                ),
                (positions::FILES_KEY.to_string(), urls.len().to_string()),
            ]);
            let tx = Transaction::new(&table);
            let append = tx
                .fast_append()
                .add_data_files(files)
                .set_snapshot_properties(summary);
            // Retries on a conflicting commit (the catalog's compare-and-swap) are the
            // transaction's own, on the refreshed table, checking duplicates again.
            append.apply(tx)?.commit(&self.catalog).await?;
            report.commits += 1;
            report.files += urls.len() as u64;
            report.rows += rows;
            tracing::info!(files = urls.len(), rows, table = %self.ident, "iceberg commit");
        }
        Ok(())
    }
}

/// The fast-append check that refuses files the table already references.
fn is_duplicate(e: &iceberg::Error) -> bool {
    e.kind() == ErrorKind::DataInvalid && e.message().contains("already referenced")
}

/// A data file entry: its row count from the Parquet footer, its day as the partition value.
fn data_file(f: &LakeFile, spec_id: i32) -> Result<DataFile, IcebergError> {
    let file = std::fs::File::open(&f.path).map_err(IcebergError::io(&f.path))?;
    let reader = parquet58::file::reader::SerializedFileReader::new(file).map_err(|e| {
        IcebergError::Unreadable {
            path: f.path.clone(),
            reason: e.to_string(),
        }
    })?;
    use parquet58::file::reader::FileReader;
    let rows = reader.metadata().file_metadata().num_rows();
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(f.url.clone())
        .file_format(DataFileFormat::Parquet)
        .partition(Struct::from_iter([Some(Literal::date(f.day))]))
        .partition_spec_id(spec_id)
        .record_count(rows.max(0) as u64)
        .file_size_in_bytes(f.bytes)
        .build()
        .map_err(|e| IcebergError::Unreadable {
            path: f.path.clone(),
            reason: e.to_string(),
        })
}
