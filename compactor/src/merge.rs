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

/// What the survey reads besides row counts when dedupe is on: every file's key and arrival
/// columns, as key rows, so that the key pass needs no second opening of each file (its
/// footer read and decoded again). Up to `budget_rows` rows (`--dedupe-memory-mb`) and for
/// small files only (`WHOLE_FILE_MAX`, as their key rows are held whole): otherwise the day
/// gives its key rows up and runs the key pass on its own (in buckets, row group by row group).
pub struct KeySurvey {
    pub schema: SchemaRef,
    pub columns: DedupeColumns,
    pub budget_rows: u64,
}

/// A day's files, in plan order, with their row counts, and with `KeySurvey` their key rows;
/// the files whose footer or key columns could not be read, with the error, apart.
pub struct Survey {
    pub files: Vec<RawFile>,
    pub key_rows: Option<KeyRows>,
    pub unreadable: Vec<(String, String)>,
}

/// Row counts of a day's listed files, from their footers (read and decoded by a few tasks,
/// each taking a run of files, so footers decode on every core), and with `keys` the key rows
/// of the day, numbered as the plan numbers rows: files in `plan`'s order (by key), then rows
/// in file order.
pub async fn survey(
    lake: &Lake,
    listing: &[LakeObject],
    keys: Option<&KeySurvey>,
) -> Result<Survey, CompactError> {
    let mut listing = listing.to_vec();
    listing.sort_by(|a, b| a.key.cmp(&b.key));
    listing.dedup_by(|a, b| a.key == b.key);
    let projection = keys.map(|k| Arc::new(KeyProjection::new(&k.schema, &k.columns)));
    // Cleared once the day's keys pass the budget: later files are read for their rows only.
    let want_keys = Arc::new(AtomicBool::new(keys.is_some()));
    let mut groups = futures::stream::iter(listing.chunks(SURVEY_GROUP_FILES).map(<[_]>::to_vec))
        .map(|group| {
            let (lake, projection, want_keys) =
                (lake.clone(), projection.clone(), want_keys.clone());
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(group.len());
                for o in group {
                    let mut file = LakeFile::ranged(&lake, &o.key, o.size);
                    let surveyed = match &projection {
                        Some(p)
                            if o.size <= WHOLE_FILE_MAX && want_keys.load(Ordering::Relaxed) =>
                        {
                            p.key_rows(file, &o.key)
                                .await
                                .map(|keys| (keys.len() as u64, Some(keys)))
                        }
                        _ => file.rows().await.map(|rows| (rows, None)),
                    };
                    let surveyed = match surveyed {
                        Ok(s) => s,
                        // A file that is not readable Parquet is reported, not fatal.
                        Err(e) if e.unreadable_file().is_some() => {
                            out.push(Err((o.key, e.to_string())));
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let raw = RawFile {
                        rows: surveyed.0,
                        key: o.key,
                        size: o.size,
                    };
                    out.push(Ok((raw, surveyed.1)));
                }
                Ok::<_, CompactError>(out)
            })
        })
        .buffered(SURVEY_CONCURRENCY);
    let mut files = Vec::with_capacity(listing.len());
    let mut key_rows = keys.map(|k| KeyRows::with_capacity(k.budget_rows));
    let mut first_row = 0u64;
    let mut unreadable = Vec::new();
    while let Some(group) = groups.next().await {
        for surveyed in group?? {
            let (raw, keys_of_file) = match surveyed {
                Ok(s) => s,
                Err(bad) => {
                    unreadable.push(bad);
                    continue;
                }
            };
            match (&mut key_rows, keys_of_file) {
                (Some(out), Some(keys_of_file)) => {
                    if out.len() + keys_of_file.len() > keys.map_or(0, |k| k.budget_rows) as usize {
                        want_keys.store(false, Ordering::Relaxed);
                        key_rows = None;
                    } else {
                        for mut k in keys_of_file {
                            k.row += first_row;
                            out.push(k);
                        }
                    }
                }
                // A file read without its keys: a large one (its keys are read a row group at a
                // time by the key pass), or one read after the keys were given up.
                (Some(_), None) => {
                    want_keys.store(false, Ordering::Relaxed);
                    key_rows = None;
                }
                (None, _) => {}
            }
            first_row += raw.rows;
            files.push(raw);
        }
    }
    Ok(Survey {
        files,
        key_rows,
        unreadable,
    })
}

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

/// The winners of a day from the key rows its survey read (`survey`), when the plan numbers
/// the rows as the survey did (the same files in the same order); `None` otherwise.
pub fn winners_from_survey(
    survey_files: &[String],
    key_rows: KeyRows,
    plan: &Plan,
    lookback: Option<&Lookback>,
) -> Option<Winners> {
    let same = survey_files.len() == plan.files.len()
        && survey_files
            .iter()
            .zip(&plan.files)
            .all(|(a, b)| *a == b.key);
    if !same || key_rows.len() as u64 != plan.rows() {
        return None;
    }
    let mut winners = Winners::none(plan.rows());
    winners.select_dropping(key_rows, &|k| lookback.is_some_and(|l| l.drops(k)));
    Some(winners)
}

/// The key hashes of rows of `files` (a generation) that arrived at `from_ms` or later: the
/// previous day's last minutes, for the look-back across midnight (`dedupe::Lookback`). Reads
/// the key and arrival columns only, a batch at a time.
pub async fn keys_arrived_since(
    lake: &Lake,
    files: &[LakeObject],
    schema: &SchemaRef,
    columns: &DedupeColumns,
    from_ms: i64,
) -> Result<HashSet<u128>, CompactError> {
    let projection = KeyProjection::new(schema, columns);
    let mut out = HashSet::new();
    let mut scratch = Default::default();
    for o in files {
        let mut file = LakeFile::ranged(lake, &o.key, o.size);
        let metadata = file.metadata().await?;
        let conform = Conform::new(metadata.schema(), projection.narrow.clone(), &o.key)?;
        let mut batches = file.stream(metadata, conform.columns_to_read())?;
        while let Some(batch) = batches.next().await {
            let batch = batch.map_err(|source| CompactError::Parquet {
                key: o.key.clone(),
                source,
            })?;
            let batch = conform.apply(&batch, &o.key)?;
            projection.append(&batch, 0, &mut scratch, &mut |k| {
                if k.at >= from_ms {
                    out.insert(k.hash);
                }
            });
        }
    }
    Ok(out)
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

/// What dedupe compares: key columns and the arrival column, as indices of the curated schema.
#[derive(Debug, Clone)]
pub struct DedupeColumns {
    pub key: Vec<usize>,
    pub arrival: usize,
}

/// Pass 1: the winner of every key, reading only the key and arrival columns (see `dedupe`).
pub async fn select_winners(
    lake: &Lake,
    plan: &Plan,
    schema: &SchemaRef,
    columns: &DedupeColumns,
    memory_budget: u64,
    lookback: Option<&Lookback>,
    progress: &dyn Progress,
) -> Result<Winners, CompactError> {
    let drops = |k: &KeyRow| lookback.is_some_and(|l| l.drops(k));
    let rows = plan.rows();
    let buckets = buckets_for(rows, memory_budget);
    let projection = KeyProjection::new(schema, columns);
    let narrow = projection.narrow.clone();
    let mut winners = Winners::none(rows);
    let mut scratch = Default::default();
    let mut each_key_row = |batch: &RecordBatch, first_row: u64, out: &mut dyn FnMut(KeyRow)| {
        projection.append(batch, first_row, &mut scratch, out);
        progress.advanced(batch.num_rows() as u64);
    };
    if buckets == 1 {
        let mut key_rows = KeyRows::with_capacity(rows);
        scan(lake, plan, &narrow, Fetch::Ranges, |_, first_row, batch| {
            each_key_row(&batch, first_row, &mut |k| key_rows.push(k));
            futures::future::ready(Ok(()))
        })
        .await?;
        winners.select_dropping(key_rows, &drops);
        return Ok(winners);
    }

    // A day whose keys do not fit the budget: one scan spills each row's key to its hash
    // bucket's file on local disk, then buckets are read back and decided one at a time.
    let spill = tempfile::Builder::new()
        .prefix("firelake-dedupe-")
        .tempdir()
        .map_err(|source| CompactError::Io {
            path: std::env::temp_dir().display().to_string(),
            source,
        })?;
    let bucket_path = |b: u64| spill.path().join(format!("bucket-{b:05}"));
    let io_err = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| CompactError::Io { path, source }
    };
    let mut spills = Vec::with_capacity(buckets as usize);
    for b in 0..buckets {
        let path = bucket_path(b);
        let file = std::fs::File::create(&path).map_err(io_err(&path))?;
        spills.push(std::io::BufWriter::with_capacity(SPILL_BUFFER_BYTES, file));
    }
    let mut spill_error: Option<std::io::Error> = None;
    scan(lake, plan, &narrow, Fetch::Ranges, |_, first_row, batch| {
        each_key_row(&batch, first_row, &mut |k| {
            let file = &mut spills[bucket_of(k.hash, buckets) as usize];
            if let Err(e) = file.write_all(&k.to_bytes()) {
                spill_error.get_or_insert(e);
            }
        });
        futures::future::ready(match spill_error.take() {
            Some(source) => Err(CompactError::Io {
                path: spill.path().display().to_string(),
                source,
            }),
            None => Ok(()),
        })
    })
    .await?;
    for (b, file) in spills.into_iter().enumerate() {
        file.into_inner()
            .map_err(|e| e.into_error())
            .map_err(io_err(&bucket_path(b as u64)))?;
    }
    for b in 0..buckets {
        let path = bucket_path(b);
        let key_rows = read_key_rows(&path).map_err(io_err(&path))?;
        winners.select_dropping(key_rows, &drops);
        std::fs::remove_file(&path).map_err(io_err(&path))?;
    }
    Ok(winners)
}

/// The key rows a bucket's spill file holds.
fn read_key_rows(path: &std::path::Path) -> std::io::Result<KeyRows> {
    let len = std::fs::metadata(path)?.len();
    let mut out = KeyRows::with_capacity(len / KeyRow::BYTES as u64);
    let mut reader =
        std::io::BufReader::with_capacity(SPILL_BUFFER_BYTES, std::fs::File::open(path)?);
    let mut buf = [0u8; KeyRow::BYTES];
    loop {
        match reader.read_exact(&mut buf) {
            Ok(()) => out.push(KeyRow::from_bytes(&buf)),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

/// A batch on its way to the encoder, with the bin it belongs to.
struct Piece {
    bin: usize,
    batch: RecordBatch,
}

/// Pass 2: stream every kept row (all of them without `winners`) into new files under
/// `generation`, one or more per bin, in plan order. Returns the files written with their row
/// counts (sizes are filled in by verification).
pub async fn write_generation(
    lake: &Lake,
    plan: Arc<Plan>,
    schema: SchemaRef,
    winners: Option<Arc<Winners>>,
    generation: &str,
    zstd_level: ZstdLevel,
    progress: &dyn Progress,
) -> Result<Vec<OutputFile>, CompactError> {
    let (tx, mut rx) = mpsc::channel::<Result<Piece, CompactError>>(CHANNEL_BATCHES);
    let reader = {
        let (lake, plan, schema) = (lake.clone(), plan.clone(), schema.clone());
        tokio::spawn(async move {
            let bin_of: Vec<usize> = plan
                .bins
                .iter()
                .enumerate()
                .flat_map(|(b, bin)| bin.files.clone().map(move |_| b))
                .collect();
            // Small files give small batches; the encoder works better on a few thousand rows
            // at a time, so kept rows are gathered per bin into batches of BATCH_ROWS.
            let mut coalescer = BatchCoalescer::new(schema.clone(), BATCH_ROWS);
            let mut coalescing_bin = 0;
            let result = scan(
                &lake,
                &plan,
                &schema,
                Fetch::Whole,
                |file, first_row, batch| {
                    let tx = tx.clone();
                    let bin = bin_of[file];
                    let key = &plan.files[file].key;
                    let arrow_err = |source| CompactError::Arrow {
                        key: key.clone(),
                        source,
                    };
                    let mut ready = Vec::new();
                    let pushed = (|| {
                        if bin != coalescing_bin {
                            coalescer.finish_buffered_batch()?;
                            while let Some(b) = coalescer.next_completed_batch() {
                                ready.push(Piece {
                                    bin: coalescing_bin,
                                    batch: b,
                                });
                            }
                            coalescing_bin = bin;
                        }
                        match winners
                            .as_ref()
                            .and_then(|w| w.mask(first_row, batch.num_rows()))
                        {
                            Some(mask) => coalescer.push_batch_with_filter(batch, &mask)?,
                            None => coalescer.push_batch(batch)?,
                        }
                        while let Some(b) = coalescer.next_completed_batch() {
                            ready.push(Piece { bin, batch: b });
                        }
                        Ok(())
                    })()
                    .map_err(arrow_err);
                    async move {
                        pushed?;
                        for piece in ready {
                            // A closed channel means the writer failed; its error is the one to
                            // report.
                            let _ = tx.send(Ok(piece)).await;
                        }
                        Ok(())
                    }
                },
            )
            .await
            .and_then(|()| {
                coalescer
                    .finish_buffered_batch()
                    .map_err(|source| CompactError::Arrow {
                        key: "the last rows".into(),
                        source,
                    })
            });
            match result {
                Ok(()) => {
                    while let Some(batch) = coalescer.next_completed_batch() {
                        let piece = Piece {
                            bin: coalescing_bin,
                            batch,
                        };
                        let _ = tx.send(Ok(piece)).await;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                }
            }
        })
    };

    let mut outputs: Vec<OutputFile> = Vec::new();
    let mut current: Option<(ParallelArrowWriter<BufWriter>, OutputFile)> = None;
    let mut current_bin = usize::MAX;
    let close = |w: ParallelArrowWriter<BufWriter>, mut out: OutputFile| async move {
        let metadata = w.close().await.map_err(|source| CompactError::Parquet {
            key: out.key.clone(),
            source,
        })?;
        out.rows = metadata.file_metadata().num_rows() as u64;
        crash::point("output");
        Ok::<_, CompactError>(out)
    };
    while let Some(piece) = rx.recv().await {
        let Piece { bin, batch } = piece?;
        progress.advanced(batch.num_rows() as u64);
        if batch.num_rows() == 0 {
            continue;
        }
        // A new bin starts a new file; so does a file about to pass the target size (input
        // size only estimates output size).
        let full = current
            .as_ref()
            .is_some_and(|(w, _)| w.estimated_size() >= plan.target_bytes);
        if bin != current_bin || full {
            if let Some((w, out)) = current.take() {
                outputs.push(close(w, out).await?);
            }
            current_bin = bin;
        }
        if current.is_none() {
            let key = output_key(generation, outputs.len());
            let writer = ParallelArrowWriter::try_new(
                lake.upload(&key),
                schema.clone(),
                writer_properties(&batch, zstd_level),
            )
            .map_err(|source| CompactError::Parquet {
                key: key.clone(),
                source,
            })?;
            current = Some((
                writer,
                OutputFile {
                    key,
                    size: 0,
                    rows: 0,
                },
            ));
        }
        let (w, out) = current.as_mut().expect("opened above");
        w.write(&batch)
            .await
            .map_err(|source| CompactError::Parquet {
                key: out.key.clone(),
                source,
            })?;
    }
    if let Some((w, out)) = current.take() {
        outputs.push(close(w, out).await?);
    }
    reader.await?;
    Ok(outputs)
}

/// Rows of a file's first batch that decide its dictionary settings.
const DICTIONARY_SAMPLE_MIN_ROWS: usize = 512;

/// Writer settings for an output file: the lake's (122,880-row groups), zstd at `zstd_level`
/// (`CompactOptions::zstd_level`), and the dictionary turned off for columns that are (nearly) all distinct in the first batch: ids,
/// e-mail addresses, phone numbers, coordinates, timestamps. Their dictionary only costs: a
/// string column's overflows and falls back to plain encoding after hashing tens of thousands
/// of values per row group, an 8-byte column's holds every value of the row group. Repetitive
/// columns keep theirs. Decided from the data, so the same input gives the same file.
fn writer_properties(first: &RecordBatch, zstd_level: ZstdLevel) -> WriterProperties {
    let mut builder = parquet_properties()
        .into_builder()
        .set_compression(Compression::ZSTD(zstd_level));
    for (field, column) in first.schema().fields().iter().zip(first.columns()) {
        if mostly_distinct(column.as_ref()) {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    builder.build()
}

/// Whether at least 95% of a column's non-null values differ (and there are enough to say).
fn mostly_distinct(column: &dyn Array) -> bool {
    fn judge<T: std::hash::Hash + Eq>(values: impl Iterator<Item = T>) -> bool {
        let values: Vec<T> = values.collect();
        let n = values.len();
        let distinct: HashSet<T> = values.into_iter().collect();
        n >= DICTIONARY_SAMPLE_MIN_ROWS && distinct.len() * 20 >= n * 19
    }
    let any = column.as_any();
    if let Some(a) = any.downcast_ref::<StringArray>() {
        return judge(a.iter().flatten());
    }
    macro_rules! primitive {
        ($($t:ty),*) => {$(
            if let Some(a) = any.downcast_ref::<PrimitiveArray<$t>>() {
                return judge(a.iter().flatten().map(|v| v.to_le_bytes()));
            }
        )*};
    }
    primitive!(Int32Type, Int64Type, Float64Type, TimestampMillisecondType);
    false
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
