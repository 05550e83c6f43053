//! Table maintenance of a lake's Iceberg table (docs/iceberg.md, "Maintenance"): expire old
//! snapshots through the catalog (the crate's `expire_snapshots`, committed with the catalog's
//! compare-and-swap), then delete the metadata folder's orphans, the files the
//! current metadata no longer reaches ([`crate::orphans`] decides which). Data files are never
//! touched: they are the lake's Hive-style files too, and they are not in the metadata folder.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use firelake_core::Lake;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, TableIdent};

use crate::catalogs::{LOCAL_CATALOG_FILE, TableCatalog, WAREHOUSE_DIR};
use crate::dry_run::DryRun;
use crate::orphans::{self, Listed};
use crate::{IcebergError, IcebergError as E};

/// What a maintenance run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintainOptions {
    /// Snapshots older than this are expired...
    pub expire_older_than: Duration,
    /// ...but the newest this many are kept (at least 1: the current snapshot).
    pub retain_last: usize,
    /// Orphan files younger than this are kept: a commit under way wrote them.
    pub orphan_older_than: Duration,
    /// Plan only: nothing committed, nothing deleted.
    pub dry_run: bool,
}

/// What a maintenance run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaintainReport {
    pub table: String,
    /// Where the table is kept: the local catalog file, or glue://DATABASE.
    pub kept_in: String,
    pub dry_run: bool,
    /// The expired snapshots' ids.
    pub expired: Vec<i64>,
    pub snapshots_left: usize,
    /// The orphan files deleted (URLs), with their sizes.
    pub deleted: Vec<(String, u64)>,
    /// Unreferenced files kept because they are younger than the grace.
    pub kept_young: usize,
    /// Files of the metadata folder after the run.
    pub metadata_files_left: usize,
}

impl MaintainReport {
    pub fn bytes_freed(&self) -> u64 {
        self.deleted.iter().map(|(_, b)| b).sum()
    }
}

/// Maintains the table `table` of the SQL catalog `<lake>/_catalog/iceberg.sqlite` (catalog
/// and namespace `database`). A lake without the catalog or the table is [`E::NoTable`]; the
/// catalog file is never created.
pub async fn maintain_local(
    lake_root: &Path,
    database: &str,
    table: &str,
    opts: MaintainOptions,
) -> Result<MaintainReport, IcebergError> {
    let lake_root = std::path::absolute(lake_root).map_err(E::io(lake_root))?;
    let url = lake_root.display().to_string();
    maintain(&url, &TableCatalog::Local, database, table, opts).await
}

/// Maintains the table `table` of the lake `lake_url` in `catalog` (namespace: the Glue
/// database, or `database` for the local catalog). A lake without the table is
/// [`E::NoTable`]: nothing is created, not the local lake's folder or catalog file.
pub async fn maintain(
    lake_url: &str,
    catalog: &TableCatalog,
    database: &str,
    table: &str,
    opts: MaintainOptions,
) -> Result<MaintainReport, IcebergError> {
    let ident = TableIdent::new(catalog.namespace(database), table.to_string());
    if let (TableCatalog::Local, Some(root)) = (catalog, local_path(lake_url))
        && !root.join(LOCAL_CATALOG_FILE).is_file()
    {
        let kept_in = root.join(LOCAL_CATALOG_FILE).display().to_string();
        return Err(E::NoTable {
            table: ident.to_string(),
            kept_in,
        });
    }
    let lake = Lake::from_url(lake_url)?;
    let kept_in = catalog.describe(&lake);
    let tables = catalog.open(&lake, database).await?;
    if !tables.table_exists(&ident).await? {
        return Err(E::NoTable {
            table: ident.to_string(),
            kept_in,
        });
    }
    let before = tables.load_table(&ident).await?;
    let dir = metadata_dir(&lake, &before)?;
    let after = expire(tables.as_ref(), &before, &opts).await?;
    let expired = expired_ids(&before, &after);
    let mut referenced = references(&after).await?;
    referenced.extend(orphans::referenced_names(before.metadata_location()));
    let listed = list(&lake, &dir).await?;
    current_is_listed(&lake, &before, &listed, &dir)?;
    let found = orphans::orphans(&listed, &referenced, opts.orphan_older_than);
    let deleted = delete(&lake, &dir, &found.delete, opts.dry_run).await?;
    if !found.too_young.is_empty() {
        tracing::info!(
            files = found.too_young.len(),
            "unreferenced metadata files younger than the grace kept (a commit under way)"
        );
    }
    // A dry run's expiry wrote no metadata file; the real one would have.
    let unwritten = usize::from(opts.dry_run && !expired.is_empty());
    Ok(MaintainReport {
        table: ident.to_string(),
        kept_in,
        dry_run: opts.dry_run,
        expired,
        snapshots_left: after.metadata().snapshots().len(),
        metadata_files_left: listed.len() + unwritten - deleted.len(),
        deleted,
        kept_young: found.too_young.len(),
    })
}

/// The folder of a local lake URL (`file://PATH` or a path), without creating it.
fn local_path(url: &str) -> Option<std::path::PathBuf> {
    let path = url.strip_prefix("file://").unwrap_or(url);
    (!path.is_empty() && !path.contains("://")).then(|| std::path::PathBuf::from(path))
}

/// The table's metadata folder's key, `_iceberg/<table>/metadata`, which must be the folder
/// of its current metadata file: a table whose metadata is elsewhere (another lake's, a moved
/// lake's absolute paths) is refused rather than its files judged by the wrong folder.
fn metadata_dir(lake: &Lake, table: &Table) -> Result<String, IcebergError> {
    let name = table.identifier().name();
    let dir = format!("{WAREHOUSE_DIR}/{name}/metadata");
    let location = table.metadata_location().unwrap_or_default();
    let parent = location.rsplit_once('/').map(|(folder, _)| folder);
    if parent == Some(lake.url_of(&dir).as_str()) {
        return Ok(dir);
    }
    Err(E::MetadataElsewhere {
        table: table.identifier().to_string(),
        location: location.to_string(),
        expected: lake.url_of(&dir),
    })
}

/// The table after expiry. The plan is made first without committing (through [`DryRun`]):
/// when it expires nothing, nothing is committed (no new metadata file); otherwise, unless a
/// dry run, the expiry is committed. A conflicting commit (the catalog's compare-and-swap
/// failed: another process committed first) is retried by the transaction on the refreshed
/// table, so the other commit is kept and the expiry planned again on top of it.
async fn expire(
    catalog: &dyn Catalog,
    table: &Table,
    opts: &MaintainOptions,
) -> Result<Table, IcebergError> {
    let planned = expiry(table, opts)?
        .commit(&DryRun { inner: catalog })
        .await?;
    if expired_ids(table, &planned).is_empty() {
        return Ok(table.clone());
    }
    if opts.dry_run {
        return Ok(planned);
    }
    let after = expiry(table, opts)?.commit(catalog).await?;
    tracing::info!(
        expired = expired_ids(table, &after).len(),
        table = %table.identifier(),
        "snapshots expired"
    );
    Ok(after)
}

fn expiry(table: &Table, opts: &MaintainOptions) -> Result<Transaction, IcebergError> {
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let cutoff = now_ms.saturating_sub(opts.expire_older_than.as_millis());
    let tx = Transaction::new(table);
    let action = tx
        .expire_snapshots()
        .expire_older_than_ms(i64::try_from(cutoff).unwrap_or(i64::MAX))
        .retain_last(opts.retain_last);
    Ok(action.apply(tx)?)
}

/// Snapshots of `before` that `after` no longer has (a snapshot another committer added
/// meanwhile is in `after` only, not counted).
fn expired_ids(before: &Table, after: &Table) -> Vec<i64> {
    let left: HashSet<i64> = after
        .metadata()
        .snapshots()
        .map(|s| s.snapshot_id())
        .collect();
    let mut ids: Vec<i64> = before
        .metadata()
        .snapshots()
        .map(|s| s.snapshot_id())
        .filter(|id| !left.contains(id))
        .collect();
    ids.sort_unstable();
    ids
}

/// The names of every file `table`'s metadata reaches: its metadata file and metadata log,
/// statistics files, each snapshot's manifest list and the manifests that list names.
async fn references(table: &Table) -> Result<HashSet<String>, IcebergError> {
    let m = table.metadata();
    let mut locations: Vec<String> = table
        .metadata_location()
        .map(str::to_string)
        .into_iter()
        .collect();
    locations.extend(m.metadata_log().iter().map(|l| l.metadata_file.clone()));
    locations.extend(m.statistics_iter().map(|s| s.statistics_path.clone()));
    locations.extend(
        m.partition_statistics_iter()
            .map(|s| s.statistics_path.clone()),
    );
    for s in m.snapshots() {
        locations.push(s.manifest_list().to_string());
        let list = table.manifest_list_reader(s).load().await?;
        locations.extend(list.entries().iter().map(|e| e.manifest_path.clone()));
    }
    Ok(orphans::referenced_names(
        locations.iter().map(String::as_str),
    ))
}

/// The files directly in the lake's folder `dir` (not in sub-folders), with their ages; a
/// time in the future is age zero.
async fn list(lake: &Lake, dir: &str) -> Result<Vec<Listed>, IcebergError> {
    let now = SystemTime::now();
    let prefix = format!("{dir}/");
    let mut out = Vec::new();
    for (o, written) in lake.list_written(&prefix).await? {
        let Some(name) = o.key.strip_prefix(&prefix).filter(|n| !n.contains('/')) else {
            continue;
        };
        out.push(Listed {
            name: name.to_string(),
            bytes: o.size,
            age: now.duration_since(written).unwrap_or(Duration::ZERO),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The table's current metadata file must be among the listed files: otherwise the listing
/// is not this table's folder, and nothing in it may be judged.
fn current_is_listed(
    lake: &Lake,
    table: &Table,
    listed: &[Listed],
    dir: &str,
) -> Result<(), IcebergError> {
    let current = orphans::referenced_names(table.metadata_location());
    if listed.iter().any(|f| current.contains(&f.name)) {
        return Ok(());
    }
    Err(E::MetadataElsewhere {
        table: table.identifier().to_string(),
        location: table.metadata_location().unwrap_or_default().to_string(),
        expected: lake.url_of(dir),
    })
}

/// Deletes the orphans from the lake's folder `dir` (none when `dry`); deleting one already
/// gone (another maintenance run) is not an error.
async fn delete(
    lake: &Lake,
    dir: &str,
    files: &[Listed],
    dry: bool,
) -> Result<Vec<(String, u64)>, IcebergError> {
    let mut deleted = Vec::new();
    for f in files {
        let key = format!("{dir}/{}", f.name);
        if !dry {
            lake.delete(&key).await?;
            tracing::info!(key, bytes = f.bytes, "orphan metadata file deleted");
        }
        deleted.push((lake.url_of(&key), f.bytes));
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use firelake_core::SourceDef;
    use firelake_core::schema_evolution::Policy;

    use super::*;
    use crate::{CommitPolicy, Landing};

    const NOW: MaintainOptions = MaintainOptions {
        expire_older_than: Duration::ZERO,
        retain_last: 1,
        orphan_older_than: Duration::ZERO,
        dry_run: false,
    };

    #[tokio::test]
    async fn a_lake_without_the_catalog_has_no_table_and_nothing_is_created() {
        let lake = tempfile::tempdir().unwrap();
        let e = maintain_local(lake.path(), "firelake", "users", NOW).await;
        assert!(matches!(e, Err(E::NoTable { .. })), "{e:?}");
        assert_eq!(std::fs::read_dir(lake.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_table_with_nothing_to_expire_gets_no_commit_and_loses_no_file() {
        let lake = tempfile::tempdir().unwrap();
        let def = SourceDef::parse(include_str!("../../sources/users.toml"), "test").unwrap();
        let l = Landing::open_local(
            lake.path(),
            "firelake",
            Arc::new(def),
            CommitPolicy::default(),
            Policy::Evolve,
        )
        .await
        .unwrap();
        let meta = lake.path().join("_iceberg/users/metadata");
        let files = || std::fs::read_dir(&meta).unwrap().count();
        let before = files();
        for dry_run in [true, false] {
            let opts = MaintainOptions { dry_run, ..NOW };
            let r = maintain_local(lake.path(), "firelake", "users", opts)
                .await
                .unwrap();
            assert_eq!((r.expired.len(), r.deleted.len()), (0, 0), "{r:?}");
            assert_eq!(r.metadata_files_left, before);
            assert_eq!(files(), before);
        }
        assert!(l.committed().await.unwrap().is_empty());
    }
}
