//! Writing a shard's flush to the lake: Parquet data files and rejected-record files, both
//! create-if-absent under keys derived from their content's positions, then the partitions in
//! the catalog. Only after this returns may the shard's checkpoint move.

use std::collections::HashSet;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use firelake_core::catalog::{Catalog, CatalogError, PartitionInfo, TableDef};
use firelake_core::layout::{data_file_key, nulled_file_key, partition_prefix, rejected_file_key};
use firelake_core::output::{ParquetError, parquet_bytes};
use firelake_core::{Lake, LakeError, PartitionColumn, PutOutcome, SourceDef, arrow_schema, time};
use tokio::sync::OnceCell;

use crate::buffer::DayFlush;
use crate::metrics::ConsumerMetrics;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("parquet encoding failed: {0}")]
    Parquet(#[from] ParquetError),
    #[error("encoding task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Told about each data file once it is durable in the lake, with the rows it holds (the
/// loadtest measures produced -> durable latency from them). Called right after the file's
/// put (also when an earlier attempt had already written it), before the catalog update.
pub trait DurableObserver: Send + Sync {
    fn data_durable(&self, key: &str, rows: &RecordBatch);
}

pub struct LakeWriter {
    lake: Lake,
    catalog: Arc<dyn Catalog>,
    def: Arc<SourceDef>,
    schema: SchemaRef,
    table_ready: OnceCell<()>,
    registered: Mutex<HashSet<i32>>,
    metrics: Arc<ConsumerMetrics>,
    observer: Option<Arc<dyn DurableObserver>>,
}

impl LakeWriter {
    pub fn new(
        lake: Lake,
        catalog: Arc<dyn Catalog>,
        def: Arc<SourceDef>,
        metrics: Arc<ConsumerMetrics>,
    ) -> LakeWriter {
        LakeWriter {
            schema: arrow_schema(&def, PartitionColumn::FolderOnly),
            lake,
            catalog,
            def,
            table_ready: OnceCell::new(),
            registered: Mutex::new(HashSet::new()),
            metrics,
            observer: None,
        }
    }

    /// Call `observer` for every data file made durable (none by default).
    pub fn with_observer(mut self, observer: Arc<dyn DurableObserver>) -> LakeWriter {
        self.observer = Some(observer);
        self
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// The source definition whose rows this writer writes.
    pub fn definition(&self) -> &SourceDef {
        &self.def
    }

    pub fn metrics(&self) -> &Arc<ConsumerMetrics> {
        &self.metrics
    }

    /// Put `bytes` at `key` create-if-absent; `files` counts it when created.
    async fn put(&self, key: &str, bytes: Vec<u8>, files: &AtomicU64) -> Result<(), WriteError> {
        let n = bytes.len() as u64;
        match self.lake.put_if_absent(key, Bytes::from(bytes)).await? {
            PutOutcome::Created => {
                ConsumerMetrics::add(files, 1);
                ConsumerMetrics::add(&self.metrics.bytes_written, n);
            }
            PutOutcome::AlreadyExisted => {
                tracing::info!(key, "file already written by an earlier attempt; kept");
                ConsumerMetrics::add(&self.metrics.files_existing, 1);
            }
        }
        Ok(())
    }

    /// Make a flush durable. Returns when every file is in the lake and every new partition
    /// is in the catalog.
    pub async fn write(&self, flushes: Vec<DayFlush>) -> Result<(), WriteError> {
        let table = &self.def.table;
        let pcol = &self.def.partition_column;
        let mut new_days = Vec::new();
        for f in flushes {
            if let Some(batch) = f.batch {
                let schema = self.schema.clone();
                // Arrays are shared, not copied: the observer sees the rows after the put.
                let observed = self.observer.as_ref().map(|o| (o, batch.clone()));
                let bytes =
                    tokio::task::spawn_blocking(move || parquet_bytes(schema, &[batch])).await??;
                let key = data_file_key(table, pcol, f.day, &f.origin);
                self.put(&key, bytes, &self.metrics.files).await?;
                if let Some((observer, rows)) = observed {
                    observer.data_durable(&key, &rows);
                }
                if !self.registered.lock().unwrap().contains(&f.day) {
                    new_days.push(f.day);
                }
            }
            if let Some(lines) = f.nulled {
                let key = nulled_file_key(table, pcol, f.day, &f.origin);
                self.put(&key, lines, &self.metrics.nulled_files).await?;
                self.metrics.nulled.lock().unwrap().merge(&f.nulled_counts);
            }
            if let Some(lines) = f.rejected {
                self.put(
                    &rejected_file_key(table, pcol, f.day, &f.origin),
                    lines,
                    &self.metrics.rejected_files,
                )
                .await?;
            }
        }
        if !new_days.is_empty() {
            self.table_ready
                .get_or_try_init(|| async {
                    let location = format!("{}/", self.lake.url_of(table));
                    self.catalog
                        .ensure_table(&TableDef::for_source(&self.def, table, location))
                        .await
                })
                .await?;
            let parts: Vec<PartitionInfo> = new_days
                .iter()
                .map(|d| PartitionInfo {
                    values: vec![time::format_day(*d)],
                    location: format!("{}/", self.lake.url_of(&partition_prefix(table, pcol, *d))),
                })
                .collect();
            let added = self.catalog.add_partitions(table, &parts).await?;
            ConsumerMetrics::add(&self.metrics.partitions_added, added as u64);
            self.registered.lock().unwrap().extend(new_days);
        }
        ConsumerMetrics::add(&self.metrics.flushes, 1);
        self.metrics.last_durable_ms.store(
            firelake_core::stream::now_ms().max(0) as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(())
    }
}
