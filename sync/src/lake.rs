//! The lake side: a table's days through the catalog, and their rows as Arrow batches in the
//! source definition's column order.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use firelake_compactor::layout::{GENERATIONS, day_of_folder, run_id_of_generation};
use firelake_compactor::reader::{BATCH_ROWS, Conform, LakeFile};
use firelake_core::Lake;
use firelake_core::catalog::Catalog;
use firelake_core::time;
use futures::{Stream, StreamExt, TryStreamExt};
use parquet::arrow::ProjectionMask;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;

use crate::SyncError;
use crate::plan::{LakeDay, raw_version};

/// Every day of `table` the catalog has, with its version and files. A curated day is the
/// generation its partition points at (version `gen:<run id>`: a re-compaction makes a new
/// one); a raw day is its folder's Parquet files (version: their names and sizes).
pub async fn lake_days(
    lake: &Lake,
    catalog: &dyn Catalog,
    table: &str,
    partition_column: &str,
) -> Result<Vec<LakeDay>, SyncError> {
    let mut folders: Vec<(i32, String)> = Vec::new();
    if table.ends_with("_curated") {
        for p in catalog.partitions(table).await? {
            let Some(day) = p.values.first().and_then(|v| time::parse_day(v)) else {
                continue;
            };
            let prefix = lake
                .key_of_url(&p.location)
                .ok_or_else(|| SyncError::Outside {
                    table: table.into(),
                    location: p.location.clone(),
                    lake: lake.url().into(),
                })?;
            folders.push((day, prefix));
        }
    } else {
        // A raw table's days are its folders, as the compactor finds them (a folder can exist
        // before its catalog partition).
        for f in lake.list_folders(table).await? {
            let name = f.trim_end_matches('/');
            if let Some(day) = day_of_folder(name, partition_column) {
                folders.push((day, name.to_string()));
            }
        }
    }
    let mut out = Vec::new();
    for (day, prefix) in folders {
        out.push(day_of(lake, day, prefix).await?);
    }
    out.sort_by_key(|d| d.day);
    Ok(out)
}

async fn day_of(lake: &Lake, day: i32, prefix: String) -> Result<LakeDay, SyncError> {
    let files: Vec<(String, u64)> = lake
        .list(&format!("{prefix}/"))
        .await?
        .into_iter()
        .filter(|o| o.key.ends_with(".parquet") && is_direct_child(&o.key, &prefix))
        .map(|o| (o.key, o.size))
        .collect();
    let version = if prefix.contains(&format!("/{GENERATIONS}/")) {
        format!("gen:{}", run_id_of_generation(&prefix).unwrap_or(&prefix))
    } else {
        raw_version(&files)
    };
    Ok(LakeDay {
        day,
        version,
        files,
    })
}

fn is_direct_child(key: &str, folder: &str) -> bool {
    key.strip_prefix(folder)
        .and_then(|r| r.strip_prefix('/'))
        .is_some_and(|name| !name.contains('/') && !name.starts_with(['_', '.']))
}

/// The rows of a day's files, batch by batch, conformed to `target` (the source's columns;
/// a column a file lacks is null). One file is open at a time and the reader decodes a batch
/// at a time, so memory is bounded by a row group's column chunks, not by the day.
pub fn day_batches(
    lake: Lake,
    files: Vec<(String, u64)>,
    target: SchemaRef,
) -> impl Stream<Item = Result<RecordBatch, SyncError>> {
    futures::stream::iter(files)
        .then(move |(key, size)| {
            let (lake, target) = (lake.clone(), target.clone());
            async move { file_batches(lake, key, size, target, 0).await }
        })
        .try_flatten()
}

/// The rows of one file from row `offset` on (a staged day resumes inside a file), batch by
/// batch, conformed to `target`.
pub async fn file_batches(
    lake: Lake,
    key: String,
    size: u64,
    target: SchemaRef,
    offset: u64,
) -> Result<impl Stream<Item = Result<RecordBatch, SyncError>>, SyncError> {
    let mut file = LakeFile::open(&lake, &key, size).await?;
    let metadata = file.metadata().await?;
    let conform = Arc::new(Conform::new(metadata.schema(), target, &key)?);
    let mask = ProjectionMask::roots(
        metadata.parquet_schema(),
        conform.columns_to_read().iter().copied(),
    );
    let parquet_err = |source| firelake_compactor::CompactError::Parquet {
        key: key.clone(),
        source,
    };
    let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(file, metadata)
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .with_offset(offset as usize)
        .build()
        .map_err(parquet_err)?;
    Ok(stream.map(move |b| {
        let b = b.map_err(|source| firelake_compactor::CompactError::Parquet {
            key: key.clone(),
            source,
        })?;
        Ok(conform.apply(&b, &key)?)
    }))
}
