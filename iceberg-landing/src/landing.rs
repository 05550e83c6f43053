//! The I/O: the local SQL catalog, the table, and committing the lake's written data files.
//! The lake's files are the truth: a commit adds the files of the table's `p_date=` folders
//! that the table does not reference yet, so a crash between writing and committing loses
//! nothing (the next commit finds the files) and a repeated commit adds nothing twice.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use firelake_core::SourceDef;
use firelake_core::schema_evolution::{Plan, Policy, StartError};
use futures::TryStreamExt;
use iceberg::io::LocalFsStorageFactory;
use iceberg::spec::TableProperties;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Literal, Struct, Type,
};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::{Catalog, CatalogBuilder, ErrorKind, NamespaceIdent, TableCreation, TableIdent};
use iceberg_catalog_sql::{SqlCatalog, SqlCatalogBuilder};

use crate::policy::CommitPolicy;
use crate::widening::Widening;
use crate::{IcebergError, evolution, positions, spec};

/// The SQL catalog file inside a local lake.
pub const LOCAL_CATALOG_FILE: &str = "_catalog/iceberg.sqlite";
/// Where table metadata goes inside a local lake (`_`: Hive-style readers skip it).
pub const WAREHOUSE_DIR: &str = "_iceberg";
/// The table property readers map file columns to field ids by (files carry no ids).
const NAME_MAPPING: &str = "schema.name-mapping.default";
/// How many earlier metadata versions the table's metadata log keeps (Iceberg's default is
/// 100). Every version lists every retained snapshot, so at a commit a minute the earlier
/// versions, not the current one, are most of the metadata folder; `iceberg-maintain`
/// deletes the versions that fell out of the log.
const PREVIOUS_VERSIONS_KEPT: &str = "10";
const PREVIOUS_VERSIONS: &str = TableProperties::PROPERTY_METADATA_PREVIOUS_VERSIONS_MAX;
/// Looks again after another committer added some of the same files, in a pass that is
/// due: then the rest waits for the next pass (the other committer made progress).
const DUPLICATE_RETRIES: usize = 5;
/// The same in a forced pass (the end of a run), which must commit everything: two
/// committers working down the same files one commit each lost more than 5 in a row
/// (tests/iceberg_consume.rs), each loss a file the other committed.
const FORCED_DUPLICATE_RETRIES: usize = 200;

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
    /// namespace named `database`) and the source's table in it, and brings an existing
    /// table's schema to the definition under `schema_policy` (a refusal changes nothing).
    pub async fn open_local(
        lake_root: &Path,
        database: &str,
        def: Arc<SourceDef>,
        policy: CommitPolicy,
        schema_policy: Policy,
    ) -> Result<Landing, IcebergError> {
        let lake_root = std::path::absolute(lake_root).map_err(IcebergError::io(lake_root))?;
        let catalog = local_catalog(&lake_root, database).await?;
        let ns = NamespaceIdent::new(database.to_string());
        let ident = TableIdent::new(ns, def.table.clone());
        let landing = Landing {
            catalog,
            ident,
            lake_root,
            def,
            policy,
        };
        landing.ensure_table(schema_policy).await?;
        Ok(landing)
    }

    /// What [`Landing::open_local`] would refuse for an existing table (another partition
    /// column, a refused schema change, any change under freeze), found without writing
    /// anything (a lake without the catalog file has nothing to refuse): run before the
    /// Hive-style tables are changed, so a refusal leaves every table as it was.
    pub async fn check_local(
        lake_root: &Path,
        database: &str,
        def: &SourceDef,
        schema_policy: Policy,
    ) -> Result<(), IcebergError> {
        Self::plan_local(lake_root, database, def, schema_policy)
            .await
            .map(|_| ())
    }

    /// The schema change the next start applies to the source's existing table (what
    /// `firelake schema diff` shows), found without writing anything; `None` when the lake
    /// has no such table (the catalog file is not created). Refusals are the error.
    pub async fn plan_local(
        lake_root: &Path,
        database: &str,
        def: &SourceDef,
        schema_policy: Policy,
    ) -> Result<Option<Plan>, IcebergError> {
        let lake_root = std::path::absolute(lake_root).map_err(IcebergError::io(lake_root))?;
        if !lake_root.join(LOCAL_CATALOG_FILE).exists() {
            return Ok(None);
        }
        let catalog = local_catalog(&lake_root, database).await?;
        let ident = TableIdent::new(NamespaceIdent::new(database.to_string()), def.table.clone());
        if !catalog.table_exists(&ident).await? {
            return Ok(None);
        }
        let table = catalog.load_table(&ident).await?;
        start_check(&ident, &table, def, schema_policy).map(Some)
    }

    /// `sqlite:///...` for a reader (pyiceberg's SQLAlchemy URL of the same file).
    pub fn catalog_file(&self) -> PathBuf {
        self.lake_root.join(LOCAL_CATALOG_FILE)
    }

    pub fn ident(&self) -> &TableIdent {
        &self.ident
    }

    /// Creates the namespace and the table unless they exist; another process creating them
    /// at the same time is not an error. An existing table is evolved to the definition.
    async fn ensure_table(&self, schema_policy: Policy) -> Result<(), IcebergError> {
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
            let table = self.catalog.load_table(&self.ident).await?;
            return self.evolve(table, schema_policy).await;
        }
        let location = self.lake_root.join(WAREHOUSE_DIR).join(&self.def.table);
        let schema = spec::schema(&self.def)?;
        let mapping = evolution::name_mapping(&schema);
        let creation = TableCreation::builder()
            .name(self.def.table.clone())
            .location(file_url(&location))
            .schema(schema)
            .partition_spec(spec::partition_spec(&self.def)?)
            .properties([
                (NAME_MAPPING.to_string(), mapping),
                (
                    PREVIOUS_VERSIONS.to_string(),
                    PREVIOUS_VERSIONS_KEPT.to_string(),
                ),
            ])
            .build();
        match self.catalog.create_table(ns, creation).await {
            Err(e) if !self.catalog.table_exists(&self.ident).await? => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Brings the table's schema to the definition with the core diff's rules, before
    /// anything is written: a refused change, or any change under freeze, is the error and
    /// changes nothing. Then the name mapping is made to match the schema, and a table made
    /// before firelake kept its metadata log short gets the length (a commit of their own, so
    /// one lost to a crash is made at the next start).
    async fn evolve(&self, table: Table, schema_policy: Policy) -> Result<(), IcebergError> {
        let plan = start_check(&self.ident, &table, &self.def, schema_policy)?;
        if schema_policy == Policy::Freeze {
            // Freeze makes no write, not even the mapping's.
            return Ok(());
        }
        let table = if evolution::changes(&plan).is_empty() {
            table
        } else {
            self.update_schema(table, &plan).await?
        };
        let missing = missing_properties(&table);
        if !missing.is_empty() {
            let tx = Transaction::new(&table);
            let set = missing
                .into_iter()
                .fold(tx.update_table_properties(), |set, (k, v)| set.set(k, v));
            set.apply(tx)?.commit(&self.catalog).await?;
        }
        Ok(())
    }

    /// One schema commit: new columns (the crate gives each the table's next field id, so no
    /// id is ever reused) and widened types (through [`Widening`]). Another process that
    /// evolved the table to the same definition first makes this one's commit fail: then the
    /// table it left is taken if it needs nothing more.
    async fn update_schema(&self, table: Table, plan: &Plan) -> Result<Table, IcebergError> {
        let changes = evolution::changes(plan);
        let catalog = Widening {
            inner: &self.catalog,
            widen: &changes.widen,
        };
        let base = catalog.widened(table)?;
        let tx = Transaction::new(&base);
        let mut action = tx.update_schema();
        for (name, t) in &changes.add {
            action = action.add_column(AddColumn::optional(name, Type::Primitive(t.clone())));
        }
        match action.apply(tx)?.commit(&catalog).await {
            Ok(table) => {
                tracing::warn!(table = %self.ident, "Iceberg schema evolved: {plan}");
                Ok(table)
            }
            Err(e) => {
                let table = self.catalog.load_table(&self.ident).await?;
                let schema = table.metadata().current_schema();
                match evolution::plan(&plan.table, schema, &self.def) {
                    Ok(again) if evolution::changes(&again).is_empty() => Ok(table),
                    _ => Err(e.into()),
                }
            }
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
    /// makes this one look again, after a short pause that differs between processes (so two
    /// committers fall out of step), and commit only what is still missing; a due pass that
    /// keeps losing leaves the rest to its next pass, a forced one keeps going.
    pub async fn commit_pending(&self, force: bool) -> Result<CommitReport, IcebergError> {
        let mut report = CommitReport::default();
        let retries = if force {
            FORCED_DUPLICATE_RETRIES
        } else {
            DUPLICATE_RETRIES
        };
        for attempt in 0..=retries {
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
                Err(IcebergError::Iceberg(e)) if is_duplicate(&e) && attempt < retries => {
                    tracing::info!(error = %e, "another committer added some of these files; looking again");
                    tokio::time::sleep(duplicate_pause()).await;
                }
                Err(IcebergError::Iceberg(e)) if is_duplicate(&e) && !force => {
                    tracing::info!(error = %e, "another committer keeps adding these files; the rest at the next pass");
                    return Ok(report);
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

/// The table properties firelake keeps that `table` lacks or holds out of date: the name
/// mapping of its current schema, and the metadata log's length on a table made before
/// firelake set it (a length set by hand is kept).
fn missing_properties(table: &Table) -> Vec<(String, String)> {
    let props = table.metadata().properties();
    let schema = table.metadata().current_schema();
    let mut missing = Vec::new();
    let held = props.get(NAME_MAPPING).map(String::as_str);
    if !evolution::mapping_is_current(held, schema) {
        missing.push((NAME_MAPPING.to_string(), evolution::name_mapping(schema)));
    }
    if !props.contains_key(PREVIOUS_VERSIONS) {
        missing.push((
            PREVIOUS_VERSIONS.to_string(),
            PREVIOUS_VERSIONS_KEPT.to_string(),
        ));
    }
    missing
}

/// A table partitioned by another timestamp (a replay's `--event-time`) would get files
/// whose folder day is not the day of its partition column: refused. The column is found
/// by name: in an evolved table ids do not follow the definition's order.
fn same_partition_source(
    ident: &TableIdent,
    table: &Table,
    def: &SourceDef,
) -> Result<(), IcebergError> {
    let spec = table.metadata().default_partition_spec();
    let column = &def.columns[def.partition_from].name;
    let ours = table.metadata().current_schema().field_by_name(column);
    match (spec.fields().first(), ours) {
        (Some(p), Some(f)) if p.source_id == f.id => Ok(()),
        _ => Err(IcebergError::OtherPartition {
            table: ident.to_string(),
            column: column.clone(),
        }),
    }
}

/// The refusals of an existing table at start, and the plan that brings it to `def`.
fn start_check(
    ident: &TableIdent,
    table: &Table,
    def: &SourceDef,
    schema_policy: Policy,
) -> Result<Plan, IcebergError> {
    same_partition_source(ident, table, def)?;
    let schema = table.metadata().current_schema();
    let plan = evolution::plan(&ident.to_string(), schema, def).map_err(StartError::Refused)?;
    if schema_policy == Policy::Freeze && !plan.is_empty() {
        return Err(StartError::Frozen { plan }.into());
    }
    Ok(plan)
}

/// The SQL catalog file of a local lake (`lake_root` absolute), created if missing.
pub(crate) async fn local_catalog(
    lake_root: &Path,
    database: &str,
) -> Result<SqlCatalog, IcebergError> {
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
    Ok(catalog)
}

/// 10-60 ms, varying with the process and the moment: after a lost race, two committers
/// should not look again in step.
fn duplicate_pause() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = (nanos ^ std::process::id().wrapping_mul(2_654_435_761)) % 50;
    Duration::from_millis(10 + u64::from(jitter))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `users` with street_number as `street` and `extra` columns (string) appended.
    fn users(street: &str, extra: &[&str]) -> Arc<SourceDef> {
        let int32 = "pointer = \"/location/street/number\"\ntype = \"int32\"";
        let mut text = include_str!("../../sources/users.toml")
            .replace(int32, &int32.replace("int32", street));
        for name in extra {
            text.push_str(&format!(
                "\n[[columns]]\nname = \"{name}\"\npointer = \"/{name}\"\ntype = \"string\"\n"
            ));
        }
        Arc::new(SourceDef::parse(&text, "test").unwrap())
    }

    async fn open(lake: &Path, def: Arc<SourceDef>, p: Policy) -> Result<Landing, IcebergError> {
        Landing::open_local(lake, "firelake", def, CommitPolicy::default(), p).await
    }

    async fn table(l: &Landing) -> Table {
        l.catalog.load_table(&l.ident).await.unwrap()
    }

    #[tokio::test]
    async fn the_metadata_log_is_kept_short_on_new_tables_and_on_ones_made_before() {
        let lake = tempfile::tempdir().unwrap();
        let l = open(lake.path(), users("int32", &[]), Policy::Evolve)
            .await
            .unwrap();
        let held = |t: &Table| t.metadata().properties().get(PREVIOUS_VERSIONS).cloned();
        assert_eq!(held(&table(&l).await).as_deref(), Some("10"));
        // A table made before firelake set the length (Iceberg's default, 100) gets it at the
        // next start; under freeze nothing is written.
        let t = table(&l).await;
        let tx = Transaction::new(&t);
        let unset = tx
            .update_table_properties()
            .remove(PREVIOUS_VERSIONS.into());
        unset.apply(tx).unwrap().commit(&l.catalog).await.unwrap();
        let l = open(lake.path(), users("int32", &[]), Policy::Freeze)
            .await
            .unwrap();
        assert_eq!(held(&table(&l).await), None);
        let l = open(lake.path(), users("int32", &[]), Policy::Evolve)
            .await
            .unwrap();
        assert_eq!(held(&table(&l).await).as_deref(), Some("10"));
    }

    #[tokio::test]
    async fn the_table_follows_an_evolved_definition_and_refusals_change_nothing() {
        let lake = tempfile::tempdir().unwrap();
        let l = open(lake.path(), users("int32", &[]), Policy::Evolve)
            .await
            .unwrap();
        let t1 = table(&l).await;
        let s1 = t1.metadata().current_schema().clone();
        let last = t1.metadata().last_column_id();

        let l = open(lake.path(), users("int64", &["nat"]), Policy::Evolve)
            .await
            .unwrap();
        let t2 = table(&l).await;
        let s2 = t2.metadata().current_schema();
        let street = s2.field_by_name("street_number").unwrap();
        assert_eq!(street.id, s1.field_by_name("street_number").unwrap().id);
        assert_eq!(
            *street.field_type,
            Type::Primitive(iceberg::spec::PrimitiveType::Long)
        );
        assert_eq!(s2.field_by_name("nat").unwrap().id, last + 1);
        assert_ne!(s2.schema_id(), s1.schema_id());
        let mapping = t2
            .metadata()
            .properties()
            .get(NAME_MAPPING)
            .map(String::as_str);
        assert!(evolution::mapping_is_current(mapping, s2));
        // The same definition again: nothing to do, no commit.
        let l = open(lake.path(), users("int64", &["nat"]), Policy::Freeze)
            .await
            .unwrap();
        assert_eq!(table(&l).await.metadata_location(), t2.metadata_location());

        // Dropped, or frozen: refused, the table as it was; the check alone says so too.
        let root = lake.path();
        let check = |def: Arc<SourceDef>, p| async move {
            Landing::check_local(root, "firelake", &def, p).await
        };
        assert!(
            check(users("int64", &["nat"]), Policy::Freeze)
                .await
                .is_ok()
        );
        let e = check(users("int64", &[]), Policy::Evolve)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("column nat was dropped"), "{e}");
        let e = check(users("int64", &["nat", "x"]), Policy::Freeze)
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("refused by the schema policy freeze"),
            "{e}"
        );
        let dropped = open(lake.path(), users("int64", &[]), Policy::Evolve).await;
        let e = dropped.err().unwrap().to_string();
        assert!(e.contains("column nat was dropped"), "{e}");
        let frozen = open(lake.path(), users("int64", &["nat", "x"]), Policy::Freeze).await;
        let e = frozen.err().unwrap().to_string();
        assert!(
            e.contains("add column x string: refused by the schema policy freeze"),
            "{e}"
        );
        assert_eq!(table(&l).await.metadata_location(), t2.metadata_location());

        // A later column gets the next id (no reuse), and the partition column is still found.
        let l = open(lake.path(), users("int64", &["nat", "x"]), Policy::Evolve)
            .await
            .unwrap();
        let t3 = table(&l).await;
        assert_eq!(
            t3.metadata()
                .current_schema()
                .field_by_name("x")
                .unwrap()
                .id,
            last + 2
        );
        assert_eq!(t3.metadata().last_column_id(), last + 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_processes_evolving_at_once_both_start_and_add_the_column_once() {
        let lake = tempfile::tempdir().unwrap();
        open(lake.path(), users("int32", &[]), Policy::Evolve)
            .await
            .unwrap();
        let v2 = || open(lake.path(), users("int64", &["nat"]), Policy::Evolve);
        let (a, b) = tokio::join!(v2(), v2());
        let (a, _b) = (a.unwrap(), b.unwrap());
        let t = table(&a).await;
        let schema = t.metadata().current_schema();
        let nats = schema
            .as_struct()
            .fields()
            .iter()
            .filter(|f| f.name == "nat");
        assert_eq!(nats.count(), 1);
        let mapping = t
            .metadata()
            .properties()
            .get(NAME_MAPPING)
            .map(String::as_str);
        assert!(evolution::mapping_is_current(mapping, schema));
    }

    #[tokio::test]
    async fn the_check_of_a_lake_without_a_catalog_writes_nothing() {
        let lake = tempfile::tempdir().unwrap();
        Landing::check_local(
            lake.path(),
            "firelake",
            &users("int32", &[]),
            Policy::Freeze,
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read_dir(lake.path()).unwrap().count(), 0);
    }
}
