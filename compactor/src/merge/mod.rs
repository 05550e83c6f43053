//! The streaming merge: survey a day's files (footers only), pick the rows to keep (pass 1,
//! key columns only), and stream every kept row into the generation's files (pass 2). Small
//! files are fetched (whole in pass 2, by range in pass 1) and decoded a few to a task, a
//! couple of tasks ahead, in order; large ones are decoded a row group at a time. The caller encodes (a task per column, `encode`) and
//! uploads, fed through a short channel, so decoding and encoding share both cores and memory
//! holds a few batches, one row group being encoded and the upload part, whatever the size of
//! the day.

use std::collections::HashSet;
use std::future::Future;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::{Array, PrimitiveArray, RecordBatch, StringArray};
use arrow::compute::BatchCoalescer;
use arrow::datatypes::{Float64Type, Int32Type, Int64Type, SchemaRef, TimestampMillisecondType};
use firelake_core::Lake;
use firelake_core::lake::LakeObject;
use firelake_core::output::parquet_properties;
use futures::StreamExt;
use object_store::buffered::BufWriter;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use tokio::sync::mpsc;

use crate::dedupe::{
    KeyRow, KeyRows, Lookback, Winners, arrival_times, bucket_of, buckets_for, hash_keys,
};
use crate::encode::ParallelArrowWriter;
use crate::journal::OutputFile;
use crate::layout::output_key;
use crate::plan::{Plan, RawFile};
use crate::reader::{BATCH_ROWS, Conform, LakeFile, WHOLE_FILE_MAX};
use crate::{CompactError, Progress, crash};

/// Groups of files fetched and decoded ahead of the consumer.
const PREFETCH_GROUPS: usize = 2;
/// A group: consecutive files opened by one task, up to this many and this many bytes. A task
/// per small file spent more on waking the other worker thread than on the file (a quarter
/// of the survey's time went to thread switches).
const GROUP_FILES: usize = 4;
const GROUP_BYTES: u64 = 1 << 20;
/// Decoded batches waiting for the encoder.
const CHANNEL_BATCHES: usize = 4;
/// Write and read buffer per spill file of dedupe's key pass.
const SPILL_BUFFER_BYTES: usize = 64 << 10;
/// Footers read by one task of the survey, and tasks at once.
const SURVEY_GROUP_FILES: usize = 32;
const SURVEY_CONCURRENCY: usize = 4;

mod generation;
mod survey;
mod winners;

// The concerns apart (survey, winners, generation writing); their items named here, so that
// each module and the tests see the others' through `super::*`.
pub use generation::write_generation;
pub use survey::{KeySurvey, Survey, survey};
pub use winners::{DedupeColumns, keys_arrived_since, select_winners, winners_from_survey};

/// The key and arrival columns of the curated schema, as a narrow schema for decoding.
struct KeyProjection {
    narrow: SchemaRef,
    key: Vec<usize>,
    arrival: usize,
}

impl KeyProjection {
    fn new(schema: &SchemaRef, columns: &DedupeColumns) -> KeyProjection {
        let mut projection = columns.key.clone();
        projection.push(columns.arrival);
        KeyProjection {
            narrow: Arc::new(schema.project(&projection).expect("columns of the schema")),
            key: (0..columns.key.len()).collect(),
            arrival: columns.key.len(),
        }
    }

    /// Append the key rows of a conformed narrow batch whose first row is `first_row`.
    fn append(
        &self,
        batch: &RecordBatch,
        first_row: u64,
        scratch: &mut (Vec<u128>, Vec<i64>),
        out: &mut dyn FnMut(KeyRow),
    ) {
        let (hashes, times) = scratch;
        hash_keys(batch, &self.key, hashes);
        arrival_times(batch, self.arrival, times);
        for (i, (h, at)) in hashes.iter().zip(times.iter()).enumerate() {
            out(KeyRow {
                hash: *h,
                at: *at,
                row: first_row + i as u64,
            });
        }
    }

    /// A file's key rows, numbered from 0 (the footer's row count checked against the rows
    /// read).
    async fn key_rows(&self, mut file: LakeFile, key: &str) -> Result<Vec<KeyRow>, CompactError> {
        let metadata = file.metadata().await?;
        let rows = metadata.metadata().file_metadata().num_rows().max(0) as u64;
        let conform = Conform::new(metadata.schema(), self.narrow.clone(), key)?;
        let mut batches = file.stream(metadata, conform.columns_to_read())?;
        let mut out = Vec::with_capacity(rows as usize);
        let mut scratch = Default::default();
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(|source| CompactError::Parquet {
                key: key.to_string(),
                source,
            })?;
            let batch = conform.apply(&batch, key)?;
            self.append(&batch, out.len() as u64, &mut scratch, &mut |k| out.push(k));
        }
        if out.len() as u64 != rows {
            return Err(CompactError::InputChanged {
                key: key.to_string(),
                detail: format!("{rows} rows in its footer, {} read", out.len()),
            });
        }
        Ok(out)
    }
}

/// A file opened for decoding: a small one fetched whole and decoded, a large one to be
/// streamed by the caller a batch at a time (memory: one row group, not one file).
enum Opened {
    Decoded(Vec<RecordBatch>),
    Streaming(Box<(LakeFile, ArrowReaderMetadata, Conform)>),
}

/// Consecutive runs of `files` (as index ranges) for one task each: up to `GROUP_FILES` files
/// and `GROUP_BYTES`, a large file alone.
fn file_groups(files: &[RawFile]) -> Vec<std::ops::Range<usize>> {
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, f) in files.iter().enumerate() {
        if i > start && (i - start == GROUP_FILES || bytes + f.size > GROUP_BYTES) {
            groups.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += f.size;
    }
    if start < files.len() {
        groups.push(start..files.len());
    }
    groups
}

/// Open a group of files in a task of its own (`open_for_decoding` each, in order). Several
/// groups are opened at once, so this work runs on every core while the caller consumes the
/// files in order.
fn open_group(
    lake: Lake,
    files: Vec<RawFile>,
    schema: SchemaRef,
    fetch: Fetch,
) -> tokio::task::JoinHandle<Result<Vec<Opened>, CompactError>> {
    tokio::spawn(async move {
        let mut out = Vec::with_capacity(files.len());
        for file in files {
            out.push(open_for_decoding(&lake, file, schema.clone(), fetch).await?);
        }
        Ok(out)
    })
}

/// How `scan` reads a small file: whole, in one request (every column is read: one request
/// beats a footer read and a request per column), or by range (a few of many columns: the
/// footer and the columns' chunks only, a third of the bytes for dedupe's key pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetch {
    Whole,
    Ranges,
}

/// Open a file: fetch it (a small one whole, for `Fetch::Whole`), decode its footer and, for a
/// small file, all its batches.
async fn open_for_decoding(
    lake: &Lake,
    file: RawFile,
    schema: SchemaRef,
    fetch: Fetch,
) -> Result<Opened, CompactError> {
    let mut lake_file = match fetch {
        Fetch::Whole => LakeFile::open(lake, &file.key, file.size).await?,
        Fetch::Ranges => LakeFile::ranged(lake, &file.key, file.size),
    };
    let metadata = lake_file.metadata().await?;
    let conform = Conform::new(metadata.schema(), schema, &file.key)?;
    if file.size > WHOLE_FILE_MAX {
        return Ok(Opened::Streaming(Box::new((lake_file, metadata, conform))));
    }
    let mut batches = lake_file.stream(metadata, conform.columns_to_read())?;
    let mut out = Vec::new();
    while let Some(batch) = batches.next().await {
        let batch = batch.map_err(|source| CompactError::Parquet {
            key: file.key.clone(),
            source,
        })?;
        out.push(conform.apply(&batch, &file.key)?);
    }
    Ok(Opened::Decoded(out))
}

/// Decode the columns of `schema` from every file of `plan`, in order, calling `each` with
/// each conformed batch, its file and the global row number of its first row. Checks that
/// each file still has the rows the survey counted.
async fn scan<F, Fut>(
    lake: &Lake,
    plan: &Plan,
    schema: &SchemaRef,
    fetch: Fetch,
    mut each: F,
) -> Result<(), CompactError>
where
    F: FnMut(usize, u64, RecordBatch) -> Fut + Send,
    Fut: Future<Output = Result<(), CompactError>> + Send,
{
    let offsets = plan.row_offsets();
    let mut groups = futures::stream::iter(file_groups(&plan.files))
        .map(|g| open_group(lake.clone(), plan.files[g].to_vec(), schema.clone(), fetch))
        .buffered(PREFETCH_GROUPS);
    let mut i = 0;
    while let Some(group) = groups.next().await {
        for opened in group?? {
            let f = &plan.files[i];
            let mut row = offsets[i];
            match opened {
                Opened::Decoded(batches) => {
                    for batch in batches {
                        let n = batch.num_rows() as u64;
                        each(i, row, batch).await?;
                        row += n;
                    }
                }
                Opened::Streaming(opened) => {
                    let (file, metadata, conform) = *opened;
                    let mut batches = file.stream(metadata, conform.columns_to_read())?;
                    while let Some(batch) = batches.next().await {
                        let batch = batch.map_err(|source| CompactError::Parquet {
                            key: f.key.clone(),
                            source,
                        })?;
                        let n = batch.num_rows() as u64;
                        each(i, row, conform.apply(&batch, &f.key)?).await?;
                        row += n;
                    }
                }
            }
            if row - offsets[i] != f.rows {
                return Err(CompactError::InputChanged {
                    key: f.key.clone(),
                    detail: format!("{} rows in its footer, {} read", f.rows, row - offsets[i]),
                });
            }
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::{Int32Array, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    /// Raw files of (id, arrival ms) rows, each id's value column its row's place in the test.
    async fn lake_of(files: &[(&str, &[(&str, i64)])]) -> (Lake, SchemaRef) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            ),
            Field::new("v", DataType::Int32, true),
        ]));
        let lake = Lake::from_url("memory://").unwrap();
        for (name, rows) in files {
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                    Arc::new(
                        TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.1))
                            .with_timezone("UTC"),
                    ),
                    Arc::new(Int32Array::from_iter_values(0..rows.len() as i32)),
                ],
            )
            .unwrap();
            let bytes = firelake_core::output::parquet_bytes(schema.clone(), &[batch]).unwrap();
            lake.put(&format!("d/{name}"), bytes.into()).await.unwrap();
        }
        (lake, schema)
    }

    #[tokio::test]
    async fn the_survey_reads_the_winners_the_key_pass_reads() {
        let (lake, schema) = lake_of(&[
            ("f2.parquet", &[("a", 5), ("b", 1)]),
            ("f1.parquet", &[("a", 3), ("c", 1), ("b", 9)]),
            ("f3.parquet", &[("c", 1)]),
        ])
        .await;
        let mut listing = lake.list("d/").await.unwrap();
        listing.reverse(); // the survey numbers rows in plan order, whatever the listing's
        let columns = DedupeColumns {
            key: vec![0],
            arrival: 1,
        };
        let keys = KeySurvey {
            schema: schema.clone(),
            columns: columns.clone(),
            budget_rows: 6,
        };
        let Survey {
            files, key_rows, ..
        } = survey(&lake, &listing, Some(&keys)).await.unwrap();
        let order: Vec<String> = files.iter().map(|f| f.key.clone()).collect();
        let plan = crate::plan::plan(files, 1 << 20);
        let from_survey = winners_from_survey(&order, key_rows.unwrap(), &plan, None).unwrap();
        let key_pass = select_winners(
            &lake,
            &plan,
            &schema,
            &columns,
            1 << 20,
            None,
            &crate::Quiet,
        )
        .await
        .unwrap();
        // Plan order f1, f2, f3: a's latest is f2's (row 3), b's is f1's (row 2), c ties and
        // its first occurrence (row 1) wins.
        let kept = |w: &Winners| {
            (0..plan.rows())
                .filter(|r| w.contains(*r))
                .collect::<Vec<_>>()
        };
        assert_eq!(kept(&from_survey), [1, 2, 3]);
        assert_eq!(kept(&key_pass), [1, 2, 3]);

        // A day over the budget gives its key rows up, and still has every file's rows.
        let over = KeySurvey {
            schema: schema.clone(),
            columns: columns.clone(),
            budget_rows: 5,
        };
        let surveyed = survey(&lake, &listing, Some(&over)).await.unwrap();
        assert!(surveyed.key_rows.is_none());
        assert_eq!(surveyed.files.iter().map(|f| f.rows).sum::<u64>(), 6);
        // Rows numbered for another plan are not used.
        let Survey {
            files, key_rows, ..
        } = survey(&lake, &listing, Some(&keys)).await.unwrap();
        let plan_of_two = crate::plan::plan(files[..2].to_vec(), 1 << 20);
        assert!(winners_from_survey(&order, key_rows.unwrap(), &plan_of_two, None).is_none());
    }

    fn files(sizes: &[u64]) -> Vec<RawFile> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| RawFile {
                key: format!("f{i:03}"),
                size,
                rows: 1,
            })
            .collect()
    }

    #[test]
    fn file_groups_are_consecutive_runs_within_the_limits() {
        let big = GROUP_BYTES + 1;
        let sizes = [
            10,
            10,
            10,
            10,
            10,
            10,
            big,
            10,
            GROUP_BYTES / 2,
            GROUP_BYTES / 2,
            1,
        ];
        let groups = file_groups(&files(&sizes));
        assert_eq!(groups, vec![0..4, 4..6, 6..7, 7..9, 9..11]);
        // Every file once, in order; each group within both limits or a single file.
        let flat: Vec<usize> = groups.iter().cloned().flatten().collect();
        assert_eq!(flat, (0..sizes.len()).collect::<Vec<_>>());
        for g in &groups {
            let bytes: u64 = sizes[g.clone()].iter().sum();
            assert!(
                g.len() == 1 || (g.len() <= GROUP_FILES && bytes <= GROUP_BYTES),
                "{g:?}"
            );
        }
        assert!(file_groups(&[]).is_empty());
    }
}
