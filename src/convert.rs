//! `firelake convert`: a JSONL file -> one cleaned Parquet file (p_date kept as a column), with
//! the self-run cleaner and writer. Chunks of whole lines are cleaned on every core while the
//! writer encodes in input order, so memory stays bounded by a few chunks and one row group.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arrow::array::RecordBatch;
use firelake_core::kept::{Keeper, Origin};
use firelake_core::nulled::NullCounts;
use firelake_core::output::{ParquetError, parquet_writer};
use firelake_core::redact::Raw;
use firelake_core::{BatchBuilder, Cleaner, PartitionColumn, SourceDef};

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
    /// (line within the chunk, 0-based; reason kind; reason; raw bytes)
    rejected: Vec<(u64, &'static str, String, Vec<u8>)>,
    /// Lines (within the chunk, 0-based) whose row had values nulled, re-cleaned by the
    /// writer to keep their originals (rare, so off the workers' path).
    nulled: Vec<(u64, Vec<u8>)>,
    lines: u64,
    rows_in: u64,
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

fn clean_chunk(cleaner: &Cleaner, chunk: &[u8], arrival_ms: i64) -> Cleaned {
    let def = cleaner.source();
    let mut builder = BatchBuilder::new(def, PartitionColumn::Included, chunk.len() / 900 + 16);
    let mut rejected = Vec::new();
    let mut nulled = Vec::new();
    let (mut lines, mut rows_in) = (0u64, 0u64);
    let mut start = 0;
    let mut each_line = |line: &[u8], n: u64| {
        if is_blank(line) {
            return;
        }
        rows_in += 1;
        match cleaner.clean(line, arrival_ms) {
            Ok(row) => {
                if !row.nulled.is_empty() {
                    nulled.push((n, line.to_vec()));
                }
                builder.append(&row, line.len())
            }
            Err(r) => rejected.push((n, r.kind(), r.to_string(), line.to_vec())),
        }
    };
    for end in memchr::memchr_iter(b'\n', chunk) {
        each_line(&chunk[start..end], lines);
        lines += 1;
        start = end + 1;
    }
    if start < chunk.len() {
        each_line(&chunk[start..], lines);
        lines += 1;
    }
    Cleaned {
        batch: builder.finish(),
        rejected,
        nulled,
        lines,
        rows_in,
    }
}

/// Clean `input` into `output`; rejected lines go to `rejected_out` (kept records,
/// `firelake_core::kept`: the file and line number, the reason and the line with its
/// never-read values redacted), created only when there are any; so do the originals of
/// nulled values to `nulled_out` (one kept line per value, docs/metrics.md).
pub fn convert(
    input: &Path,
    output: &Path,
    rejected_out: &Path,
    nulled_out: &Path,
    def: Arc<SourceDef>,
    ingested_at_ms: i64,
    threads: usize,
) -> Result<ConvertReport, ConvertError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ConvertError::Io { path, source }
    };
    let mut file = File::open(input).map_err(io(input))?;
    let cleaner = Arc::new(Cleaner::new(def.clone()));
    let schema = firelake_core::arrow_schema(&def, PartitionColumn::Included);
    let out = File::create(output).map_err(io(output))?;
    let mut writer =
        parquet_writer(BufWriter::new(out), schema).map_err(|source| ConvertError::Parquet {
            path: output.into(),
            source,
        })?;
    let threads = threads.max(1);
    let (chunk_tx, chunk_rx) = sync_channel::<(u64, Vec<u8>)>(threads);
    let chunk_rx = Arc::new(Mutex::new(chunk_rx));
    let (done_tx, done_rx) = sync_channel::<(u64, Cleaned)>(threads);

    let mut report = ConvertReport::default();
    let mut rejected_file: Option<BufWriter<File>> = None;
    let mut nulled_file: Option<BufWriter<File>> = None;
    let keeper = Keeper::new(&def);
    let mut kept_line = Vec::new();
    std::thread::scope(|scope| -> Result<(), ConvertError> {
        // Reader: whole-line chunks.
        let reader = scope.spawn(move || -> std::io::Result<()> {
            let mut carry = Vec::new();
            let mut idx = 0u64;
            loop {
                let mut buf = std::mem::take(&mut carry);
                let filled = buf.len();
                buf.resize(filled + CHUNK_BYTES, 0);
                let n = read_full(&mut file, &mut buf[filled..])?;
                buf.truncate(filled + n);
                if n == 0 {
                    if !buf.is_empty() {
                        let _ = chunk_tx.send((idx, buf));
                    }
                    return Ok(());
                }
                match memchr::memrchr(b'\n', &buf) {
                    Some(i) => {
                        carry = buf[i + 1..].to_vec();
                        buf.truncate(i + 1);
                    }
                    None => {
                        carry = buf;
                        continue;
                    }
                }
                if chunk_tx.send((idx, buf)).is_err() {
                    return Ok(());
                }
                idx += 1;
            }
        });
        for _ in 0..threads {
            let rx = chunk_rx.clone();
            let tx = done_tx.clone();
            let cleaner = cleaner.clone();
            scope.spawn(move || {
                loop {
                    let next = rx.lock().unwrap().recv();
                    let Ok((idx, chunk)) = next else { return };
                    if tx
                        .send((idx, clean_chunk(&cleaner, &chunk, ingested_at_ms)))
                        .is_err()
                    {
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
        let mut line_base = 0u64;
        for (idx, cleaned) in done_rx.iter() {
            pending.insert(idx, cleaned);
            while let Some(c) = pending.remove(&next) {
                report.rows_in += c.rows_in;
                report.rows_out += c.batch.num_rows() as u64;
                report.rejected += c.rejected.len() as u64;
                if c.batch.num_rows() > 0 {
                    writer
                        .write(&c.batch)
                        .map_err(|source| ConvertError::Parquet {
                            path: output.into(),
                            source,
                        })?;
                }
                for (line, kind, reason, raw) in &c.rejected {
                    let w = match &mut rejected_file {
                        Some(w) => w,
                        None => rejected_file.insert(BufWriter::new(
                            File::create(rejected_out).map_err(io(rejected_out))?,
                        )),
                    };
                    let origin = Origin::File {
                        file: input.display().to_string(),
                        line: Some(line_base + line + 1),
                        row: None,
                        published: None,
                    };
                    kept_line.clear();
                    keeper
                        .keep(kind, reason, origin, Raw::Record(raw))
                        .write_line(&mut kept_line);
                    w.write_all(&kept_line).map_err(io(rejected_out))?;
                }
                for (line, raw) in &c.nulled {
                    let Ok(row) = cleaner.clean(raw, ingested_at_ms) else {
                        continue;
                    };
                    report.nulled.add_row(&row);
                    let w = match &mut nulled_file {
                        Some(w) => w,
                        None => nulled_file.insert(BufWriter::new(
                            File::create(nulled_out).map_err(io(nulled_out))?,
                        )),
                    };
                    let origin = Origin::File {
                        file: input.display().to_string(),
                        line: Some(line_base + line + 1),
                        row: None,
                        published: None,
                    };
                    kept_line.clear();
                    let key = cleaner.key_of_row(&row);
                    keeper.keep_nulled(&row, key, origin, raw, &mut kept_line);
                    w.write_all(&kept_line).map_err(io(nulled_out))?;
                }
                line_base += c.lines;
                next += 1;
            }
        }
        reader.join().expect("reader thread").map_err(io(input))?;
        Ok(())
    })?;
    writer.close().map_err(|source| ConvertError::Parquet {
        path: output.into(),
        source,
    })?;
    if let Some(mut w) = rejected_file {
        w.flush().map_err(io(rejected_out))?;
    }
    if let Some(mut w) = nulled_file {
        w.flush().map_err(io(nulled_out))?;
    }
    Ok(report)
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Time a conversion and report it like the peers do.
pub fn convert_and_report(
    input: &Path,
    output: &Path,
    rejected_out: &Path,
    def: Arc<SourceDef>,
    ingested_at_ms: i64,
    threads: usize,
) -> Result<String, ConvertError> {
    let t0 = Instant::now();
    let mut nulled_out = rejected_out.as_os_str().to_owned();
    nulled_out.push(".nulled.jsonl");
    let nulled_out = match rejected_out
        .to_str()
        .and_then(|s| s.strip_suffix(".rejected.jsonl"))
    {
        Some(stem) => PathBuf::from(format!("{stem}.nulled.jsonl")),
        None => PathBuf::from(nulled_out),
    };
    let r = convert(
        input,
        output,
        rejected_out,
        &nulled_out,
        def.clone(),
        ingested_at_ms,
        threads,
    )?;
    let secs = t0.elapsed().as_secs_f64();
    Ok(format!(
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
    ))
}
