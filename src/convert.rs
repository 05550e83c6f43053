//! `firelake convert`: an input file -> one cleaned Parquet file (p_date kept as a column), with
//! the self-run cleaner and writer. The file is read by `firelake replay`'s row readers (format
//! from the name, CSV, JSON lines or Parquet, gzip/zstd), so both commands read the same files
//! the same way. Chunks of rows are cleaned on every core while the writer encodes in input
//! order, so memory stays bounded by a few chunks and one row group.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use firelake_core::kept::{Keeper, Origin};
use firelake_core::nulled::NullCounts;
use firelake_core::output::{ParquetError, parquet_writer};
use firelake_core::{BatchBuilder, Cleaner, PartitionColumn, SourceDef};
use firelake_producer::replay::rows::{MAX_LINE_BYTES, RowData, SourceRow, open_rows};
use firelake_producer::replay::{
    Cursor, Format, InputFile, RejectedRow, RejectsFile, ReplayError, resolve_inputs,
};

use crate::flags::{self, count};
use crate::{SourceArgs, exit, init_tracing};

/// Row bytes handed to a cleaning thread at once.
const CHUNK_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Parquet { path: PathBuf, source: ParquetError },
    #[error(transparent)]
    Read(#[from] ReplayError),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConvertReport {
    pub rows_in: u64,
    pub rows_out: u64,
    pub rejected: u64,
    /// Values the cleaner nulled, per column and reason (originals in the nulled file).
    pub nulled: NullCounts,
}

struct Cleaned {
    batch: RecordBatch,
    rejected: Vec<RejectedRow>,
    /// (line, record) of rows that had values nulled, re-cleaned by the writer to keep their
    /// originals (rare, so off the workers' path).
    nulled: Vec<(u64, Vec<u8>)>,
    rows_in: u64,
}

/// Clean a chunk of rows; a row that could not become a record is rejected with its fault.
fn clean_chunk(cleaner: &Cleaner, rows: Vec<SourceRow>, headers: &[String], at: i64) -> Cleaned {
    let def = cleaner.source();
    let mut builder = BatchBuilder::new(def, PartitionColumn::Included, rows.len() + 16);
    let mut rejected = Vec::new();
    let mut nulled = Vec::new();
    let rows_in = rows.len() as u64;
    for row in rows {
        let reject =
            |kind: &str, reason: String, data: Vec<u8>, headers: Vec<String>| RejectedRow {
                file: 0,
                line: row.line,
                kind: kind.into(),
                reason,
                data,
                published: false,
                headers,
            };
        match row.data {
            RowData::Record(data) => match cleaner.clean(&data, at) {
                Ok(clean) => {
                    builder.append(&clean, data.len());
                    if !clean.nulled.is_empty() {
                        nulled.push((row.line, data));
                    }
                }
                Err(r) => rejected.push(reject(r.kind(), r.to_string(), data, Vec::new())),
            },
            RowData::Fault { fault, raw } => rejected.push(reject(
                fault.kind(),
                fault.to_string(),
                raw,
                headers.to_vec(),
            )),
        }
    }
    Cleaned {
        batch: builder.finish(),
        rejected,
        nulled,
        rows_in,
    }
}

/// The one input file, resolved and checked as `replay` does.
fn open_input(
    input: &Path,
    format: Option<Format>,
    def: &SourceDef,
) -> Result<InputFile, ReplayError> {
    let mut inputs = resolve_inputs(&[input.to_string_lossy().into_owned()], format)?;
    if inputs.len() != 1 {
        return Err(ReplayError::Input {
            path: input.display().to_string(),
            message: format!("names {} files; convert takes one", inputs.len()),
        });
    }
    let input = inputs.remove(0);
    firelake_producer::replay::rows::check_input(&input, def)?;
    Ok(input)
}

/// Clean `input` into `output`; rejected rows go to `rejected_out` (kept records,
/// `firelake_core::kept`, as `replay` keeps them: the file and line number, the reason and the
/// row with its never-read values redacted), created only when there are any.
/// Where `convert` writes: the Parquet file, the rejected rows, the nulled values' originals.
pub struct Outputs<'a> {
    pub parquet: &'a Path,
    pub rejected: &'a Path,
    pub nulled: &'a Path,
}

pub fn convert(
    input: &Path,
    format: Option<Format>,
    outputs: Outputs<'_>,
    def: Arc<SourceDef>,
    ingested_at_ms: i64,
    threads: usize,
) -> Result<ConvertReport, ConvertError> {
    let Outputs {
        parquet: output,
        rejected: rejected_out,
        nulled: nulled_out,
    } = outputs;
    let input = open_input(input, format, &def)?;
    let mut rows = open_rows(
        &input,
        Cursor::start(0),
        &def,
        MAX_LINE_BYTES,
        Arc::new(AtomicU64::new(0)),
    )?;
    let headers = rows.headers();
    let cleaner = Arc::new(Cleaner::new(def.clone()));
    let schema = firelake_core::arrow_schema(&def, PartitionColumn::Included);
    let out = File::create(output).map_err(|source| ConvertError::Io {
        path: output.into(),
        source,
    })?;
    let parquet_err = |source| ConvertError::Parquet {
        path: output.into(),
        source,
    };
    let mut writer = parquet_writer(BufWriter::new(out), schema).map_err(parquet_err)?;
    let mut rejects = RejectsFile::open(rejected_out, 0, &def)?;
    let mut nulled = NulledFile::new(nulled_out, &input, &def);
    let inputs = std::slice::from_ref(&input);
    let threads = threads.max(1);
    let (chunk_tx, chunk_rx) = sync_channel::<(u64, Vec<SourceRow>)>(threads);
    let chunk_rx = Arc::new(Mutex::new(chunk_rx));
    let (done_tx, done_rx) = sync_channel::<(u64, Cleaned)>(threads);
    let mut report = ConvertReport::default();
    std::thread::scope(|scope| -> Result<(), ConvertError> {
        let reader = scope.spawn(move || read_chunks(&mut *rows, chunk_tx));
        for _ in 0..threads {
            let rx = chunk_rx.clone();
            let tx = done_tx.clone();
            let (cleaner, headers) = (cleaner.clone(), &headers);
            scope.spawn(move || {
                loop {
                    let next = rx.lock().unwrap().recv();
                    let Ok((idx, chunk)) = next else { return };
                    let cleaned = clean_chunk(&cleaner, chunk, headers, ingested_at_ms);
                    if tx.send((idx, cleaned)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        // Owned here, so an early error return drops it and unblocks the workers.
        let done_rx = done_rx;
        // Writer: in input order.
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        for (idx, cleaned) in done_rx.iter() {
            pending.insert(idx, cleaned);
            while let Some(c) = pending.remove(&next) {
                report.rows_in += c.rows_in;
                report.rows_out += c.batch.num_rows() as u64;
                report.rejected += c.rejected.len() as u64;
                if c.batch.num_rows() > 0 {
                    writer.write(&c.batch).map_err(parquet_err)?;
                }
                rejects.append(&c.rejected, inputs)?;
                nulled.keep(&cleaner, ingested_at_ms, &c.nulled, &mut report.nulled)?;
                next += 1;
            }
        }
        reader.join().expect("reader thread")?;
        Ok(())
    })?;
    writer.close().map_err(parquet_err)?;
    rejects.flush()?;
    nulled.flush()?;
    Ok(report)
}

/// The originals of nulled values (one kept line per value, redacted like rejects,
/// docs/metrics.md), created with the first one.
struct NulledFile<'a> {
    path: &'a Path,
    input: String,
    keeper: Keeper,
    file: Option<BufWriter<File>>,
    line: Vec<u8>,
}

impl<'a> NulledFile<'a> {
    fn new(path: &'a Path, input: &InputFile, def: &SourceDef) -> Self {
        NulledFile {
            path,
            input: input.path.display().to_string(),
            keeper: Keeper::new(def),
            file: None,
            line: Vec::new(),
        }
    }

    /// Re-clean each (line, record) and keep its nulled originals; count them in `counts`.
    fn keep(
        &mut self,
        cleaner: &Cleaner,
        at: i64,
        rows: &[(u64, Vec<u8>)],
        counts: &mut NullCounts,
    ) -> Result<(), ConvertError> {
        for (line, raw) in rows {
            let Ok(row) = cleaner.clean(raw, at) else {
                continue;
            };
            counts.add_row(&row);
            let origin = Origin::File {
                file: self.input.clone(),
                line: Some(*line),
                row: None,
                published: None,
            };
            self.line.clear();
            let key = cleaner.key_of_row(&row);
            self.keeper
                .keep_nulled(&row, key, origin, raw, &mut self.line);
            if self.file.is_none() {
                let f = File::create(self.path).map_err(|source| ConvertError::Io {
                    path: self.path.into(),
                    source,
                })?;
                self.file = Some(BufWriter::new(f));
            }
            let (file, line) = (self.file.as_mut().expect("opened above"), &self.line);
            file.write_all(line).map_err(|source| ConvertError::Io {
                path: self.path.into(),
                source,
            })?;
        }
        Ok(())
    }

    fn flush(self) -> Result<(), ConvertError> {
        match self.file {
            Some(mut f) => f.flush().map_err(|source| ConvertError::Io {
                path: self.path.into(),
                source,
            }),
            None => Ok(()),
        }
    }
}

/// Reader: the file's rows in chunks of about [`CHUNK_BYTES`], numbered in order.
fn read_chunks(
    rows: &mut dyn firelake_producer::replay::rows::RowReader,
    tx: std::sync::mpsc::SyncSender<(u64, Vec<SourceRow>)>,
) -> Result<(), ReplayError> {
    let (mut idx, mut chunk, mut bytes) = (0u64, Vec::new(), 0usize);
    while let Some(row) = rows.next_row()? {
        bytes += match &row.data {
            RowData::Record(d) => d.len(),
            RowData::Fault { raw, .. } => raw.len(),
        } + 64;
        chunk.push(row);
        if bytes >= CHUNK_BYTES {
            if tx.send((idx, std::mem::take(&mut chunk))).is_err() {
                return Ok(());
            }
            (idx, bytes) = (idx + 1, 0);
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send((idx, chunk));
    }
    Ok(())
}

/// Time a conversion and report it like the peers do.
pub fn convert_and_report(
    input: &Path,
    format: Option<Format>,
    output: &Path,
    rejected_out: &Path,
    def: Arc<SourceDef>,
    ingested_at_ms: i64,
    threads: usize,
) -> Result<(String, ConvertReport), ConvertError> {
    let t0 = Instant::now();
    // OUTPUT.rejected.jsonl -> OUTPUT.nulled.jsonl; any other rejects name gets .nulled.jsonl.
    let nulled_out = match rejected_out
        .to_str()
        .and_then(|s| s.strip_suffix(".rejected.jsonl"))
    {
        Some(stem) => PathBuf::from(format!("{stem}.nulled.jsonl")),
        None => {
            let mut p = rejected_out.as_os_str().to_owned();
            p.push(".nulled.jsonl");
            PathBuf::from(p)
        }
    };
    let outputs = Outputs {
        parquet: output,
        rejected: rejected_out,
        nulled: &nulled_out,
    };
    let r = convert(input, format, outputs, def.clone(), ingested_at_ms, threads)?;
    let secs = t0.elapsed().as_secs_f64();
    let line = format!(
        "rows_in={} rows_out={} rejected={} nulled={} nulled_by=\"{}\" seconds={:.3} rows_per_s={:.0}",
        r.rows_in,
        r.rows_out,
        r.rejected,
        r.nulled.total(),
        r.nulled.describe(&def),
        secs,
        if secs > 0.0 {
            r.rows_in as f64 / secs
        } else {
            0.0
        }
    );
    Ok((line, r))
}

/// `firelake convert`'s options.
#[derive(clap::Args, Clone)]
pub struct ConvertArgs {
    pub input: PathBuf,
    pub output: PathBuf,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Input format (default: from the name: .csv, .jsonl/.ndjson, .parquet).
    #[arg(long, env = "FIRELAKE_CONVERT_FORMAT", value_parser = crate::replay::parse_format)]
    pub format: Option<firelake_producer::replay::Format>,
    /// Arrival time of every record: ISO-8601 (2025-06-01T12:00:00.000Z) or epoch ms
    /// (default: now).
    #[arg(long, env = "FIRELAKE_INGESTED_AT", value_parser = parse_ingested_at)]
    pub ingested_at: Option<i64>,
    /// Where rejected lines go (default: OUTPUT.rejected.jsonl, written only if any). The
    /// originals of nulled values go beside it, to OUTPUT.nulled.jsonl.
    #[arg(long, env = "FIRELAKE_REJECTED")]
    pub rejected: Option<PathBuf>,
    /// Cleaning threads (default: the machine's cores).
    #[arg(long, env = "FIRELAKE_THREADS", value_parser = count::<usize>(1, flags::MAX_PARALLEL))]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub rejects: exit::RejectArgs,
}

/// `firelake convert`: one input file cleaned into one Parquet file, then the report line.
pub fn run(args: ConvertArgs) -> Result<(), Box<dyn std::error::Error>> {
    let ConvertArgs {
        input,
        output,
        source,
        format,
        ingested_at,
        rejected,
        threads,
        rejects,
    } = args;
    init_tracing("warn");
    let def = source.load()?;
    let at = ingested_at.unwrap_or_else(firelake_core::stream::now_ms);
    let rejected = rejected.unwrap_or_else(|| {
        let mut p = output.clone().into_os_string();
        p.push(".rejected.jsonl");
        PathBuf::from(p)
    });
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let (line, r) = convert_and_report(&input, format, &output, &rejected, def, at, threads)?;
    println!("{line}");
    rejects.check(r.rejected, r.rows_in, format!("in {}", rejected.display()))?;
    Ok(())
}

/// An arrival time: ISO-8601 or epoch ms, inside the cleaner's range (years 0001-9999).
fn parse_ingested_at(s: &str) -> Result<i64, String> {
    let ms = s
        .parse::<i64>()
        .ok()
        .or_else(|| firelake_core::time::parse_iso8601_ms(s))
        .ok_or_else(|| format!("expected e.g. 2025-06-01T12:00:00.000Z or epoch ms, got {s:?}"))?;
    if !firelake_core::time::in_range(ms) {
        return Err(format!("{s:?} is outside years 0001-9999"));
    }
    Ok(ms)
}
