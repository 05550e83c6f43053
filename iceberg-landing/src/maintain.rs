//! Table maintenance of a local lake's Iceberg table (docs/iceberg.md, "Maintenance"): expire
//! old snapshots through the catalog (the crate's `expire_snapshots`, committed with the SQL
//! catalog's compare-and-swap), then delete the metadata folder's orphans, the files the
//! current metadata no longer reaches ([`crate::orphans`] decides which). Data files are never
//! touched: they are the lake's Hive-style files too, and they are not in the metadata folder.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::{Catalog, NamespaceIdent, TableIdent};

use crate::catalogs::{LOCAL_CATALOG_FILE, WAREHOUSE_DIR, local_catalog};
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
    pub catalog_file: PathBuf,
    pub dry_run: bool,
    /// The expired snapshots' ids.
    pub expired: Vec<i64>,
    pub snapshots_left: usize,
    /// The orphan files deleted, with their sizes.
    pub deleted: Vec<(PathBuf, u64)>,
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
    let catalog_file = lake_root.join(LOCAL_CATALOG_FILE);
    let ident = TableIdent::new(NamespaceIdent::new(database.to_string()), table.to_string());
    let no_table = || E::NoTable {
        table: ident.to_string(),
        catalog: catalog_file.clone(),
    };
    if !catalog_file.is_file() {
        return Err(no_table());
    }
    let catalog = local_catalog(&lake_root, database).await?;
    if !catalog.table_exists(&ident).await? {
        return Err(no_table());
    }
    let before = catalog.load_table(&ident).await?;
    let dir = metadata_dir(&lake_root, &before)?;
    let after = expire(&catalog, &before, &opts).await?;
    let expired = expired_ids(&before, &after);
    let mut referenced = references(&after).await?;
    referenced.extend(orphans::referenced_names(before.metadata_location()));
    let listed = list(&dir)?;
    current_is_listed(&before, &listed, &dir)?;
    let found = orphans::orphans(&listed, &referenced, opts.orphan_older_than);
    let deleted = delete(&dir, &found.delete, opts.dry_run)?;
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
        catalog_file,
        dry_run: opts.dry_run,
        expired,
        snapshots_left: after.metadata().snapshots().len(),
        metadata_files_left: listed.len() + unwritten - deleted.len(),
        deleted,
        kept_young: found.too_young.len(),
    })
}

/// The table's metadata folder, `<lake>/_iceberg/<table>/metadata`, which must be the folder
/// of its current metadata file: a table whose metadata is elsewhere (another lake's, a moved
/// lake's absolute paths) is refused rather than its files judged by the wrong folder.
fn metadata_dir(lake_root: &Path, table: &Table) -> Result<PathBuf, IcebergError> {
    let name = table.identifier().name();
    let expected = lake_root.join(WAREHOUSE_DIR).join(name).join("metadata");
    let location = table.metadata_location().unwrap_or_default();
    let current = Path::new(location.strip_prefix("file://").unwrap_or(location));
    let found = current.parent().and_then(|d| d.canonicalize().ok());
    match (found, expected.canonicalize().ok()) {
        (Some(a), Some(b)) if a == b => Ok(expected),
        _ => Err(E::MetadataElsewhere {
            table: table.identifier().to_string(),
            location: location.to_string(),
            expected,
        }),
    }
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

/// The regular files directly in `dir` (sub-folders and links are not looked into), with
/// their ages; a time in the future is age zero.
fn list(dir: &Path) -> Result<Vec<Listed>, IcebergError> {
    let now = SystemTime::now();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(E::io(dir))? {
        let entry = entry.map_err(E::io(dir))?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(E::io(&path))?;
        if !meta.is_file() {
            continue;
        }
        let written = meta.modified().map_err(E::io(&path))?;
        out.push(Listed {
            name: entry.file_name().to_string_lossy().into_owned(),
            bytes: meta.len(),
            age: now.duration_since(written).unwrap_or(Duration::ZERO),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The table's current metadata file must be among the listed files: otherwise the listing
/// is not this table's folder, and nothing in it may be judged.
fn current_is_listed(table: &Table, listed: &[Listed], dir: &Path) -> Result<(), IcebergError> {
    let current = orphans::referenced_names(table.metadata_location());
    if listed.iter().any(|f| current.contains(&f.name)) {
        return Ok(());
    }
    Err(E::MetadataElsewhere {
        table: table.identifier().to_string(),
        location: table.metadata_location().unwrap_or_default().to_string(),
        expected: dir.to_path_buf(),
    })
}

/// Deletes the orphans from `dir` (none when `dry`); one already gone (another maintenance
/// run) is not counted.
fn delete(dir: &Path, files: &[Listed], dry: bool) -> Result<Vec<(PathBuf, u64)>, IcebergError> {
    let mut deleted = Vec::new();
    for f in files {
        let path = dir.join(&f.name);
        if !dry {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), bytes = f.bytes, "orphan metadata file deleted")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(E::io(&path)(e)),
            }
        }
        deleted.push((path, f.bytes));
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
