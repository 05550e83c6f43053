//! The I/O: the table in its catalog, and committing the lake's written data files.
//! The lake's files are the truth: a commit adds the files of the table's `p_date=` folders
//! that the table does not reference yet, so a crash between writing and committing loses
//! nothing (the next commit finds the files) and a repeated commit adds nothing twice.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use firelake_core::schema_evolution::{Plan, Policy, StartError};
use firelake_core::{Lake, SourceDef};
use iceberg::spec::TableProperties;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Literal, Struct, Type,
};
use iceberg::table::Table;
use iceberg::transaction::{AddColumn, ApplyTransactionAction, Transaction};
use iceberg::{Catalog, ErrorKind, TableCreation, TableIdent};

pub use crate::catalogs::{LOCAL_CATALOG_FILE, TableCatalog, WAREHOUSE_DIR};
use crate::policy::CommitPolicy;
use crate::widening::Widening;
use crate::{IcebergError, evolution, positions, spec};
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
    /// The file's key in the lake.
    pub key: String,
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

/// An Iceberg landing table of a lake, in its catalog.
pub struct Landing {
    catalog: Box<dyn Catalog>,
    ident: TableIdent,
    lake: Lake,
    /// Where the table is kept, for people (the catalog file, or glue://DATABASE).
    kept_in: String,
    def: Arc<SourceDef>,
    policy: CommitPolicy,
    /// The data files each manifest of the table lists, by manifest location: a manifest is
    /// never rewritten, so a pass reads only the manifests the last one did not see (on S3
    /// one GET each; `fast_append` keeps every earlier manifest in every snapshot).
    manifests: tokio::sync::Mutex<HashMap<String, Vec<String>>>,
}

/// A local lake at `lake_root` (created if missing).
fn local_lake(lake_root: &Path) -> Result<Lake, IcebergError> {
    Ok(Lake::from_url(&lake_root.display().to_string())?)
}

impl Landing {
    /// Opens (creating if needed) the source's table in `catalog` (for the local catalog, the
    /// file `<lake>/_catalog/iceberg.sqlite`, catalog and namespace named `database`), and
    /// brings an existing table's schema to the definition under `schema_policy` (a refusal
    /// changes nothing).
    pub async fn open(
        lake: &Lake,
        catalog: &TableCatalog,
        database: &str,
        def: Arc<SourceDef>,
        policy: CommitPolicy,
        schema_policy: Policy,
    ) -> Result<Landing, IcebergError> {
        let ident = TableIdent::new(catalog.namespace(database), def.table.clone());
        let landing = Landing {
            catalog: catalog.open(lake, database).await?,
            ident,
            lake: lake.clone(),
            kept_in: catalog.describe(lake),
            def,
            policy,
            manifests: Default::default(),
        };
        landing.ensure_table(schema_policy).await?;
        Ok(landing)
    }

    /// [`Landing::open`] of a local lake's table in its SQL catalog file.
    pub async fn open_local(
        lake_root: &Path,
        database: &str,
        def: Arc<SourceDef>,
        policy: CommitPolicy,
        schema_policy: Policy,
    ) -> Result<Landing, IcebergError> {
        let lake = local_lake(lake_root)?;
        Self::open(
            &lake,
            &TableCatalog::Local,
            database,
            def,
            policy,
            schema_policy,
        )
        .await
    }

    /// What [`Landing::open_local`] would refuse for an existing table (another partition
    /// column, a refused schema change, any change under freeze), found without writing
    /// anything (a lake without the catalog file has nothing to refuse): run before the
    /// Hive-style tables are changed, so a refusal leaves every table as it was.
    pub async fn check(
        lake: &Lake,
        catalog: &TableCatalog,
        database: &str,
        def: &SourceDef,
        schema_policy: Policy,
    ) -> Result<(), IcebergError> {
        Self::plan(lake, catalog, database, def, schema_policy)
            .await
            .map(|_| ())
    }

    /// The schema change the next start applies to the source's existing table (what
    /// `firelake schema diff` shows), found without writing anything; `None` when the lake
    /// has no such table (the catalog file is not created). Refusals are the error.
    pub async fn plan(
        lake: &Lake,
        catalog: &TableCatalog,
        database: &str,
        def: &SourceDef,
        schema_policy: Policy,
    ) -> Result<Option<Plan>, IcebergError> {
        if let (TableCatalog::Local, Some(root)) = (catalog, lake.local_root())
            && !root.join(LOCAL_CATALOG_FILE).exists()
        {
            return Ok(None);
        }
        let ident = TableIdent::new(catalog.namespace(database), def.table.clone());
        let catalog = catalog.open(lake, database).await?;
        if !catalog.table_exists(&ident).await? {
            return Ok(None);
        }
        let table = catalog.load_table(&ident).await?;
        start_check(&ident, &table, def, schema_policy).map(Some)
    }

    /// [`Landing::plan`] of a local lake's SQL catalog file.
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
        let lake = local_lake(&lake_root)?;
        Self::plan(&lake, &TableCatalog::Local, database, def, schema_policy).await
    }

    /// Where the table is kept: the local catalog file (pyiceberg's `sqlite:///` URL of it),
    /// or `glue://DATABASE`.
    pub fn kept_in(&self) -> &str {
        &self.kept_in
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
        let location = self
            .lake
            .url_of(&format!("{WAREHOUSE_DIR}/{}", self.def.table));
        let schema = spec::schema(&self.def)?;
        let mapping = evolution::name_mapping(&schema);
        let creation = TableCreation::builder()
            .name(self.def.table.clone())
            .location(location)
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
            set.apply(tx)?.commit(self.catalog.as_ref()).await?;
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
            inner: self.catalog.as_ref(),
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

    /// The table's data files (every live file of its current snapshot's manifests).
    pub async fn committed(&self) -> Result<HashSet<String>, IcebergError> {
        let table = self.catalog.load_table(&self.ident).await?;
        let Some(snapshot) = table.metadata().current_snapshot() else {
            return Ok(HashSet::new());
        };
        let list = table.manifest_list_reader(snapshot).load().await?;
        let mut known = self.manifests.lock().await;
        let mut current = HashMap::new();
        for m in list.entries() {
            let files = match known.remove(&m.manifest_path) {
                Some(files) => files,
                None => {
                    let manifest = m.load_manifest(table.file_io()).await?;
                    let live = manifest.entries().iter().filter(|e| e.is_alive());
                    live.map(|e| e.file_path().to_string()).collect()
                }
            };
            current.insert(m.manifest_path.clone(), files);
        }
        // Manifests no longer in the table (none with appends only) are forgotten.
        *known = current;
        Ok(known.values().flatten().cloned().collect())
    }

    /// The data files in the table's `p_date=` folders, oldest name first. Temporary files
    /// (`.tmp`, a local write's `NAME.parquet#N` staging copy) and `_`-prefixed folders
    /// (rejected records) are not data files.
    pub async fn lake_files(&self) -> Result<Vec<LakeFile>, IcebergError> {
        let table_dir = format!("{}/", self.def.table);
        let listed = self.lake.list_written(&table_dir).await?;
        let files = listed.into_iter().filter_map(|(o, written)| {
            let day = data_file_day(&o.key, &self.def.table, &self.def.partition_column)?;
            Some(LakeFile {
                url: self.lake.url_of(&o.key),
                key: o.key,
                bytes: o.size,
                day,
                written,
            })
        });
        let mut out: Vec<LakeFile> = files.collect();
        out.sort_by(|a, b| a.url.cmp(&b.url));
        Ok(out)
    }

    /// Written files the table does not reference yet.
    pub async fn pending(&self) -> Result<Vec<LakeFile>, IcebergError> {
        let committed = self.committed().await?;
        let mut files = self.lake_files().await?;
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
                match data_file(&self.lake, f, spec_id).await {
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
            append.apply(tx)?.commit(self.catalog.as_ref()).await?;
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

/// The day of a data file's key `TABLE/COLUMN=YYYY-MM-DD/NAME.parquet`; `None` for anything
/// else under the table's folder (rejected records, staging copies, hidden files).
fn data_file_day(key: &str, table: &str, column: &str) -> Option<i32> {
    let rest = key.strip_prefix(table)?.strip_prefix('/')?;
    let (folder, name) = rest.split_once('/')?;
    if name.contains('/') || name.starts_with('.') || !name.ends_with(".parquet") {
        return None;
    }
    let day = folder.strip_prefix(column)?.strip_prefix('=')?;
    firelake_core::time::parse_day(day)
}

/// The Parquet footer's row count: the footer's last 8 bytes give the metadata's length, read
/// in the same request when it is under 64 KiB (it almost always is).
async fn footer_rows(lake: &Lake, key: &str, size: u64) -> Result<i64, String> {
    use parquet58::file::metadata::{FooterTail, ParquetMetaDataReader};
    const FOOTER: u64 = 8;
    const GUESS: u64 = 64 << 10;
    if size < FOOTER + 4 {
        return Err(format!("{size} bytes is too short for a Parquet file"));
    }
    let start = size.saturating_sub(GUESS);
    let tail = lake
        .get_range(key, start..size)
        .await
        .map_err(|e| e.to_string())?;
    let footer = FooterTail::try_from(&tail[tail.len() - 8..]).map_err(|e| e.to_string())?;
    let len = footer.metadata_length() as u64;
    if len + FOOTER > size {
        return Err(format!(
            "its footer says {len} bytes of metadata in a {size}-byte file"
        ));
    }
    let meta_start = size - FOOTER - len;
    let metadata = if meta_start >= start {
        let at = (meta_start - start) as usize;
        ParquetMetaDataReader::decode_metadata(&tail[at..tail.len() - 8])
    } else {
        let bytes = lake
            .get_range(key, meta_start..size - FOOTER)
            .await
            .map_err(|e| e.to_string())?;
        ParquetMetaDataReader::decode_metadata(&bytes)
    };
    Ok(metadata
        .map_err(|e| e.to_string())?
        .file_metadata()
        .num_rows())
}

/// A data file entry: its row count from the Parquet footer, its day as the partition value.
async fn data_file(lake: &Lake, f: &LakeFile, spec_id: i32) -> Result<DataFile, IcebergError> {
    let unreadable = |reason: String| IcebergError::Unreadable {
        path: f.url.clone(),
        reason,
    };
    let rows = footer_rows(lake, &f.key, f.bytes)
        .await
        .map_err(unreadable)?;
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(f.url.clone())
        .file_format(DataFileFormat::Parquet)
        .partition(Struct::from_iter([Some(Literal::date(f.day))]))
        .partition_spec_id(spec_id)
        .record_count(rows.max(0) as u64)
        .file_size_in_bytes(f.bytes)
        .build()
        .map_err(|e| unreadable(e.to_string()))
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
        unset
            .apply(tx)
            .unwrap()
            .commit(l.catalog.as_ref())
            .await
            .unwrap();
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
            Landing::plan_local(root, "firelake", &def, p)
                .await
                .map(|_| ())
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

    #[test]
    fn only_parquet_files_of_the_day_folders_are_data_files() {
        let day = |k| data_file_day(k, "users", "p_date");
        let d = firelake_core::time::parse_day("2025-06-01").unwrap();
        assert_eq!(day("users/p_date=2025-06-01/a.parquet"), Some(d));
        for not in [
            "users/p_date=2025-06-01/a.parquet#1",
            "users/p_date=2025-06-01/.a.parquet",
            "users/p_date=2025-06-01/a.parquet.tmp",
            "users/p_date=2025-06-01/x/a.parquet",
            "users/_rejected/p_date=2025-06-01/a.parquet",
            "users/p_date=bad/a.parquet",
            "users_curated/p_date=2025-06-01/a.parquet",
            "users/a.parquet",
        ] {
            assert_eq!(day(not), None, "{not}");
        }
    }

    #[tokio::test]
    async fn the_row_count_comes_from_the_footer_whatever_its_size() {
        let lake = Lake::from_url("memory://").unwrap();
        // Not Parquet: the reason says so, nothing panics.
        lake.put(
            "x/junk.parquet",
            bytes::Bytes::from_static(b"not parquet at all"),
        )
        .await
        .unwrap();
        let e = footer_rows(&lake, "x/junk.parquet", 18).await.unwrap_err();
        assert!(!e.is_empty());
        let e = footer_rows(&lake, "x/junk.parquet", 5).await.unwrap_err();
        assert!(e.contains("too short"), "{e}");
        // Metadata inside the first read, and metadata longer than it (a second read).
        for (rows, padding) in [(7, 0), (1234, 200 << 10)] {
            let file = parquet_file(rows, padding);
            let size = file.len() as u64;
            lake.put("x/a.parquet", file.into()).await.unwrap();
            assert_eq!(footer_rows(&lake, "x/a.parquet", size).await, Ok(rows));
        }
    }

    /// A Parquet file of `rows` ids whose footer carries `padding` bytes of key-value metadata.
    fn parquet_file(rows: i64, padding: usize) -> Vec<u8> {
        use parquet58::data_type::Int64Type;
        use parquet58::file::metadata::KeyValue;
        use parquet58::file::properties::WriterProperties;
        use parquet58::file::writer::SerializedFileWriter;
        let schema =
            parquet58::schema::parser::parse_message_type("message m { required int64 id; }");
        let pad = KeyValue::new("pad".into(), "x".repeat(padding));
        let props = WriterProperties::builder()
            .set_key_value_metadata(Some(vec![pad]))
            .build();
        let mut buf = Vec::new();
        let mut w = SerializedFileWriter::new(&mut buf, Arc::new(schema.unwrap()), Arc::new(props))
            .unwrap();
        let mut group = w.next_row_group().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        let ids: Vec<i64> = (0..rows).collect();
        column
            .typed::<Int64Type>()
            .write_batch(&ids, None, None)
            .unwrap();
        column.close().unwrap();
        group.close().unwrap();
        w.close().unwrap();
        buf
    }

    #[tokio::test]
    async fn the_check_of_a_lake_without_a_catalog_writes_nothing() {
        let lake = tempfile::tempdir().unwrap();
        Landing::plan_local(
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
