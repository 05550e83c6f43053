//! `firelake status`, the curated state (with the compactor): which generation of a day is
//! current (the catalog's partition, as readers see it; not the newest folder, which may be a
//! run stopped before its switch) and whether raw files arrived that it does not hold. That is
//! decided exactly as `firelake compact` decides it: the generation's journal lists the raw
//! files it covers, and `plan::build` says whether the day is up to date.

use std::collections::BTreeMap;

use firelake_compactor::journal::Journal;
use firelake_compactor::plan::{Build, build};
use firelake_compactor::quarantine::not_quarantined;
use firelake_core::Lake;
use firelake_core::catalog::{Catalog, CatalogError};
use firelake_core::lake::LakeObject;
use firelake_core::status::{DayFacts, current_generation};

use crate::compact::CatalogArgs;
use crate::status::Tables;

type Error = Box<dyn std::error::Error>;

/// Fill in each day's catalog generation and its stale raw files.
pub(crate) async fn add(lake: &Lake, args: &CatalogArgs, tables: &mut Tables) -> Result<(), Error> {
    let catalog = match args.open(lake).await {
        Ok(c) => Some(c),
        // An S3 lake without --catalog: the folders are all there is to go by.
        Err(CatalogError::NeedsCatalog(_)) => None,
        Err(e) => return Err(format!("opening the catalog: {e}").into()),
    };
    for (table, days) in tables.iter_mut() {
        let curated = format!("{table}_curated");
        let located = match &catalog {
            Some(c) => Some(partitions(lake, c.as_ref(), &curated).await?),
            None => None,
        };
        for (day, f) in days.iter_mut() {
            let key = match &located {
                Some(by_day) => {
                    let key = by_day.get(day).cloned();
                    f.catalog_generation = Some(key.as_deref().map(|k| run_of(k).to_string()));
                    key
                }
                None => newest_folder_key(f),
            };
            if let Some(key) = key {
                f.stale_raw_files = stale_raw_files(lake, &key, f).await;
            }
        }
    }
    Ok(())
}

/// The curated table's partitions: day -> the key of the folder it points at.
async fn partitions(
    lake: &Lake,
    catalog: &dyn Catalog,
    curated: &str,
) -> Result<BTreeMap<String, String>, Error> {
    let parts = match catalog.partitions(curated).await {
        Ok(p) => p,
        Err(CatalogError::NoTable(_)) => Vec::new(),
        Err(e) => return Err(format!("reading {curated} from the catalog: {e}").into()),
    };
    Ok(parts
        .into_iter()
        .filter_map(|p| {
            let day = p.values.first()?.clone();
            // A location outside the lake is shown by its name; its files are not ours to read.
            let key = lake.key_of_url(&p.location).unwrap_or(p.location);
            Some((day, key))
        })
        .collect())
}

/// The last path segment of a generation folder key: its run id.
fn run_of(key: &str) -> &str {
    key.trim_end_matches('/').rsplit('/').next().unwrap_or(key)
}

/// Without a catalog: the folder of the newest generation (from one of its files' keys).
fn newest_folder_key(f: &DayFacts) -> Option<String> {
    let g = current_generation(f)?;
    let file = f.generations.get(g)?.first()?;
    Some(file.key.rsplit_once('/')?.0.to_string())
}

/// Raw files of the day that the generation at `key` does not hold, as the compactor counts
/// them (quarantined files left out; a generation whose journal is gone holds none, so the
/// compactor reads every raw file again). `None`: not a generation of ours, or its journal
/// is unreadable.
async fn stale_raw_files(lake: &Lake, key: &str, f: &DayFacts) -> Option<u64> {
    let (curated, folder) = key.split_once("/_generations/")?;
    let (day_folder, run) = folder.split_once('/')?;
    let journal_key = format!("{curated}/_journal/{day_folder}/{run}.json");
    let journal = match Journal::load(lake, &journal_key).await {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!(key = journal_key, error = %e, "staleness of the day not told");
            return None;
        }
    };
    let quarantined = lake
        .list(&format!("{curated}/_quarantine/{day_folder}"))
        .await
        .unwrap_or_default();
    let raw: Vec<LakeObject> = f
        .raw
        .iter()
        .map(|r| LakeObject {
            key: r.key.clone(),
            size: r.bytes,
        })
        .collect();
    let listing: Vec<(String, u64)> = not_quarantined(raw, &quarantined)
        .into_iter()
        .map(|o| (o.key, o.size))
        .collect();
    let covered = journal.as_ref().map_or(&[][..], |j| j.covered());
    match build(&listing, Some(covered), false, false, false) {
        Build::UpToDate => Some(0),
        Build::FromGeneration(new) | Build::FromRaw(new) => Some(new.len() as u64),
    }
}
