//! Row readers, one per input format: each yields the file's rows in order as JSON records (or
//! the reason a row could not become one), with the line or row number and the position after
//! the row, from a saved position on. Reading is streaming: CSV and JSON lines through a
//! bounded buffer, Parquet one record batch at a time.

use std::fs::File;
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use firelake_core::{SourceDef, time};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::ReplayError;
use super::batch::Cursor;
use super::input::{Format, InputFile, open_decoded};
use super::record::{Field, RecordShape, RowFault};

/// The longest line (JSON lines) or CSV record a reader holds. A longer one is a rejected row
/// that the replay steps over (read past, never held whole, so memory stays bounded); lines
/// between the record limit and this are rejected whole (kept in the rejects file).
pub const MAX_LINE_BYTES: usize = 64 << 20;
/// How much of a line over [`MAX_LINE_BYTES`] the rejects file keeps (enough to recognise it).
const KEPT_OF_LONG_LINE: usize = 64 << 10;
const PARQUET_BATCH_ROWS: usize = 4096;

#[doc(hidden)]
pub mod fuzzing;

/// What one row became.
#[derive(Debug)]
pub enum RowData {
    Record(Vec<u8>),
    /// Could not become a record; `raw` is the row's content.
    Fault {
        fault: RowFault,
        raw: Vec<u8>,
    },
}

#[derive(Debug)]
pub struct SourceRow {
    /// Line number (CSV, JSON lines) or 1-based row number (Parquet).
    pub line: u64,
    pub data: RowData,
    /// Where the next row starts.
    pub next: Cursor,
}

pub trait RowReader: Send {
    fn next_row(&mut self) -> Result<Option<SourceRow>, ReplayError>;

    /// The header of a delimited file (CSV): what a row that could not be split into its
    /// fields is redacted by (`firelake_core::redact::Raw::Row`).
    fn headers(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A reader for `input` positioned at `at` (a cursor of this file). `counter` receives the
/// bytes taken from disk.
pub fn open_rows(
    input: &InputFile,
    at: Cursor,
    def: &SourceDef,
    max_record_bytes: usize,
    counter: Arc<AtomicU64>,
) -> Result<Box<dyn RowReader>, ReplayError> {
    open_rows_within(input, at, def, max_record_bytes, MAX_LINE_BYTES, counter)
}

/// `open_rows` with lines (CSV records) of at most `max_line` bytes.
fn open_rows_within(
    input: &InputFile,
    at: Cursor,
    def: &SourceDef,
    max_record_bytes: usize,
    max_line: usize,
    counter: Arc<AtomicU64>,
) -> Result<Box<dyn RowReader>, ReplayError> {
    Ok(match input.format {
        Format::Csv => Box::new(CsvRows::open(input, at, def, counter, max_line)?),
        Format::Jsonl => Box::new(JsonlRows {
            reader: open_decoded(input, at.offset, Some(counter))?,
            at,
            max_record_bytes,
            max_line,
            line: Vec::new(),
            path: input.path.clone(),
        }),
        Format::Parquet => Box::new(ParquetRows::open(input, at, def, counter)?),
    })
}

/// Whether `input` can be read as records of `def` (a CSV header or Parquet schema that names
/// the source's columns), without reading its rows: a replay checks every file before it
/// publishes anything.
pub fn check_input(input: &InputFile, def: &SourceDef) -> Result<(), ReplayError> {
    let counter = Arc::new(AtomicU64::new(0));
    match input.format {
        Format::Csv => {
            CsvRows::open(input, Cursor::start(0), def, counter, MAX_LINE_BYTES).map(drop)
        }
        Format::Parquet => ParquetRows::open(input, Cursor::start(0), def, counter).map(drop),
        Format::Jsonl => open_decoded(input, 0, None).map(drop),
    }
}

// ------------------------------------------------------------------ CSV

/// One CSV record as framed from the bytes.
struct FramedRecord {
    /// Line number where the record's content begins.
    line: u64,
    /// The record's bytes as in the file (without the line terminator); for a record over
    /// the line limit, its first bytes only.
    raw: Vec<u8>,
    /// Set (to the record's length) when it was over the line limit: its fields were
    /// read past, not kept.
    too_long: Option<u64>,
}

/// Frames CSV records (RFC 4180 quoting; `\n`, `\r\n` or `\r` line ends; blank lines skipped)
/// with csv-core over a buffered reader, counting bytes and lines exactly: the offset after a
/// record is where a resumed reader starts, and line numbers stay right across quoted line
/// breaks, CRLF and blank lines.
struct CsvFramer {
    input: Box<dyn BufRead + Send>,
    core: csv_core::Reader,
    fields: Vec<u8>,
    ends: Vec<usize>,
    field_count: usize,
    /// Byte offset and line number at the reader's position.
    offset: u64,
    line: u64,
    /// The longest record it holds ([`MAX_LINE_BYTES`]).
    max_line: usize,
    path: std::path::PathBuf,
}

impl CsvFramer {
    fn new(
        input: Box<dyn BufRead + Send>,
        offset: u64,
        line: u64,
        max_line: usize,
        path: &std::path::Path,
    ) -> CsvFramer {
        CsvFramer {
            input,
            core: csv_core::Reader::new(),
            fields: vec![0; 1024],
            ends: vec![0; 64],
            field_count: 0,
            offset,
            line,
            max_line,
            path: path.to_path_buf(),
        }
    }

    fn fields(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        let ends = &self.ends[..self.field_count];
        (0..ends.len()).map(move |i| {
            let start = if i == 0 { 0 } else { ends[i - 1] };
            &self.fields[start..ends[i]]
        })
    }

    fn next_record(&mut self) -> Result<Option<FramedRecord>, ReplayError> {
        let (mut out_len, mut ends_len) = (0, 0);
        let mut raw = Vec::new();
        let mut leading = true;
        let mut record_line = self.line;
        // Bytes of the record; past the line limit its fields are dropped as they come.
        let mut record_bytes = 0u64;
        loop {
            let input = self.input.fill_buf().map_err(|e| ReplayError::Read {
                path: self.path.clone(),
                source: e,
            })?;
            let (result, n_in, n_out, n_ends) = self.core.read_record(
                input,
                &mut self.fields[out_len..],
                &mut self.ends[ends_len..],
            );
            for &b in &input[..n_in] {
                if b == b'\n' {
                    self.line += 1;
                }
                // Line ends before a record's first byte are the last record's terminator or
                // blank lines; the record begins after them.
                if leading {
                    if b == b'\n' || b == b'\r' {
                        record_line = self.line;
                        continue;
                    }
                    leading = false;
                }
                record_bytes += 1;
                if raw.len() < self.max_line {
                    raw.push(b);
                }
            }
            self.input.consume(n_in);
            self.offset += n_in as u64;
            out_len += n_out;
            ends_len += n_ends;
            let too_long = record_bytes > self.max_line as u64;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {}
                // A record over the limit is rejected whatever its fields: drop them.
                csv_core::ReadRecordResult::OutputFull if too_long => out_len = 0,
                csv_core::ReadRecordResult::OutputEndsFull if too_long => ends_len = 0,
                csv_core::ReadRecordResult::OutputFull => {
                    let grown = self.fields.len() * 2;
                    self.fields.resize(grown, 0);
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                csv_core::ReadRecordResult::Record => {
                    self.field_count = ends_len;
                    while raw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        raw.pop();
                    }
                    if too_long {
                        raw.truncate(KEPT_OF_LONG_LINE);
                    }
                    return Ok(Some(FramedRecord {
                        line: record_line,
                        raw,
                        too_long: too_long.then_some(record_bytes),
                    }));
                }
                csv_core::ReadRecordResult::End => return Ok(None),
            }
        }
    }
}

struct CsvRows {
    framer: CsvFramer,
    shape: Option<RecordShape>,
    file: usize,
    row: u64,
    json: Vec<u8>,
}

impl CsvRows {
    fn open(
        input: &InputFile,
        at: Cursor,
        def: &SourceDef,
        counter: Arc<AtomicU64>,
        max_line: usize,
    ) -> Result<CsvRows, ReplayError> {
        // The header is always the file's first record; a resumed reader reads it apart.
        let first_counter = (at.offset == 0).then(|| counter.clone());
        let mut framer = CsvFramer::new(
            open_decoded(input, 0, first_counter)?,
            0,
            1,
            max_line,
            &input.path,
        );
        let shape = match framer.next_record()? {
            Some(_) => {
                let names: Vec<String> = framer
                    .fields()
                    .map(|h| String::from_utf8_lossy(h).into_owned())
                    .collect();
                Some(
                    RecordShape::new(def, &names).map_err(|e| ReplayError::Header {
                        path: input.path.clone(),
                        source: e,
                    })?,
                )
            }
            None => None, // an empty file: no header, no rows
        };
        if at.offset > framer.offset {
            framer = CsvFramer::new(
                open_decoded(input, at.offset, Some(counter))?,
                at.offset,
                at.line,
                max_line,
                &input.path,
            );
        }
        Ok(CsvRows {
            framer,
            shape,
            file: at.file,
            row: at.row,
            json: Vec::new(),
        })
    }
}

impl RowReader for CsvRows {
    fn headers(&self) -> Vec<String> {
        self.shape.as_ref().map_or_else(Vec::new, |s| s.headers())
    }

    fn next_row(&mut self) -> Result<Option<SourceRow>, ReplayError> {
        let Some(shape) = &self.shape else {
            return Ok(None);
        };
        let Some(record) = self.framer.next_record()? else {
            return Ok(None);
        };
        self.row += 1;
        let next = Cursor {
            file: self.file,
            offset: self.framer.offset,
            line: self.framer.line,
            row: self.row,
        };
        let written = match record.too_long {
            Some(bytes) => Err(RowFault::LineTooLong {
                bytes,
                limit: self.framer.max_line,
                kept: record.raw.len(),
            }),
            None => shape.write_csv_row(self.framer.fields(), &mut self.json),
        };
        let data = match written {
            Ok(()) => RowData::Record(std::mem::take(&mut self.json)),
            Err(fault) => RowData::Fault {
                fault,
                raw: record.raw,
            },
        };
        Ok(Some(SourceRow {
            line: record.line,
            data,
            next,
        }))
    }
}

// ------------------------------------------------------------------ JSON lines

/// One JSON text per line, passed on as is (the cleaner judges it); blank lines are skipped.
struct JsonlRows {
    reader: Box<dyn BufRead + Send>,
    at: Cursor,
    max_record_bytes: usize,
    /// The longest line it holds ([`MAX_LINE_BYTES`]).
    max_line: usize,
    line: Vec<u8>,
    path: std::path::PathBuf,
}

impl JsonlRows {
    /// Read one line into `self.line` (at most `max_line` bytes of it: the rest of a longer
    /// line is read past, not held). Returns the bytes the line took in the file (terminator
    /// included; 0 at the end) and whether it was over the limit.
    fn read_line(&mut self) -> Result<(u64, bool), ReplayError> {
        self.line.clear();
        let mut consumed = 0u64;
        let mut over = false;
        loop {
            let buf = self.reader.fill_buf().map_err(|e| ReplayError::Read {
                path: self.path.clone(),
                source: e,
            })?;
            if buf.is_empty() {
                break;
            }
            let (take, done) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if over {
                // Read past.
            } else if self.line.len() + take > self.max_line {
                over = true;
                self.line.truncate(KEPT_OF_LONG_LINE);
                let room = KEPT_OF_LONG_LINE.saturating_sub(self.line.len());
                self.line.extend_from_slice(&buf[..take.min(room)]);
            } else {
                self.line.extend_from_slice(&buf[..take]);
            }
            self.reader.consume(take);
            consumed += take as u64;
            if done {
                break;
            }
        }
        Ok((consumed, over))
    }
}

impl RowReader for JsonlRows {
    fn next_row(&mut self) -> Result<Option<SourceRow>, ReplayError> {
        loop {
            let line_no = self.at.line;
            let (consumed, over) = self.read_line()?;
            if consumed == 0 {
                return Ok(None);
            }
            self.at.offset += consumed;
            self.at.line += 1;
            if over {
                // A rejected row, stepped over: a resume starts after it.
                self.at.row += 1;
                let raw = std::mem::take(&mut self.line);
                return Ok(Some(SourceRow {
                    line: line_no,
                    data: RowData::Fault {
                        fault: RowFault::LineTooLong {
                            bytes: consumed,
                            limit: self.max_line,
                            kept: raw.len(),
                        },
                        raw,
                    },
                    next: self.at,
                }));
            }
            let text = self.line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            self.at.row += 1;
            let data = if text.len() > self.max_record_bytes {
                RowData::Fault {
                    fault: RowFault::TooLarge {
                        bytes: text.len(),
                        limit: self.max_record_bytes,
                    },
                    raw: text.to_vec(),
                }
            } else {
                RowData::Record(text.to_vec())
            };
            return Ok(Some(SourceRow {
                line: line_no,
                data,
                next: self.at,
            }));
        }
    }
}

// ------------------------------------------------------------------ Parquet

/// Parquet rows, rendered field by field as text and typed from the source like CSV (one
/// conversion path); nulls stay null.
struct ParquetRows {
    batches: ParquetRecordBatchReader,
    shape: RecordShape,
    /// The current record batch rendered as text, column by column.
    current: Vec<Vec<Option<String>>>,
    index: usize,
    at: Cursor,
    total_rows: u64,
    size: u64,
    counter: Arc<AtomicU64>,
    /// The counter's value when this file began (progress is size x rows read / rows).
    counter_base: u64,
    json: Vec<u8>,
    path: std::path::PathBuf,
}

impl ParquetRows {
    fn open(
        input: &InputFile,
        at: Cursor,
        def: &SourceDef,
        counter: Arc<AtomicU64>,
    ) -> Result<ParquetRows, ReplayError> {
        let perr = |e: parquet::errors::ParquetError| ReplayError::Parquet {
            path: input.path.clone(),
            message: e.to_string(),
        };
        match &input.remote {
            Some(object) => {
                let chunks = super::remote::ObjectChunks(object.clone());
                let builder = ParquetRecordBatchReaderBuilder::try_new(chunks).map_err(perr)?;
                Self::from_builder(builder, input, at, def, counter)
            }
            None => {
                let file = File::open(&input.path).map_err(|e| ReplayError::Read {
                    path: input.path.clone(),
                    source: e,
                })?;
                let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
                Self::from_builder(builder, input, at, def, counter)
            }
        }
    }

    fn from_builder<T: parquet::file::reader::ChunkReader + 'static>(
        builder: ParquetRecordBatchReaderBuilder<T>,
        input: &InputFile,
        at: Cursor,
        def: &SourceDef,
        counter: Arc<AtomicU64>,
    ) -> Result<ParquetRows, ReplayError> {
        let perr = |e: parquet::errors::ParquetError| ReplayError::Parquet {
            path: input.path.clone(),
            message: e.to_string(),
        };
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let names: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let shape = RecordShape::new(def, &names).map_err(|e| ReplayError::Header {
            path: input.path.clone(),
            source: e,
        })?;
        let batches = builder
            .with_batch_size(PARQUET_BATCH_ROWS)
            .with_offset(at.row as usize)
            .build()
            .map_err(perr)?;
        let counter_base = counter.load(Ordering::Relaxed);
        Ok(ParquetRows {
            batches,
            shape,
            current: Vec::new(),
            index: 0,
            at,
            total_rows,
            size: input.size,
            counter,
            counter_base,
            json: Vec::new(),
            path: input.path.clone(),
        })
    }
}

impl ParquetRows {
    /// Every value of a record batch as text, column by column (nulls as `None`).
    fn render(&self, batch: &RecordBatch) -> Result<Vec<Vec<Option<String>>>, ReplayError> {
        batch
            .columns()
            .iter()
            .map(|column| {
                render_column(column.as_ref()).map_err(|e| ReplayError::Parquet {
                    path: self.path.clone(),
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

/// One column's values as text. Instants are rendered here, as UTC ISO-8601 with
/// milliseconds (a zone name in the schema is only a display hint: the values are UTC epoch
/// counts), dates as `YYYY-MM-DD`; everything else through arrow's formatter.
fn render_column(column: &dyn Array) -> Result<Vec<Option<String>>, arrow::error::ArrowError> {
    let n = column.len();
    let ms_text = |ms: i64| {
        let mut s = String::with_capacity(24);
        time::format_ms(ms, &mut s);
        s
    };
    let instants = |to_ms: &dyn Fn(usize) -> i64| -> Vec<Option<String>> {
        (0..n)
            .map(|i| (!column.is_null(i)).then(|| ms_text(to_ms(i))))
            .collect()
    };
    Ok(match column.data_type() {
        DataType::Timestamp(unit, _) => {
            let (values, per_ms): (&[i64], i64) = match unit {
                TimeUnit::Second => (column.as_primitive::<TimestampSecondType>().values(), -1000),
                TimeUnit::Millisecond => (
                    column.as_primitive::<TimestampMillisecondType>().values(),
                    1,
                ),
                TimeUnit::Microsecond => (
                    column.as_primitive::<TimestampMicrosecondType>().values(),
                    1000,
                ),
                TimeUnit::Nanosecond => (
                    column.as_primitive::<TimestampNanosecondType>().values(),
                    1_000_000,
                ),
            };
            // Sub-millisecond digits are dropped toward the past, as the cleaner does.
            instants(&|i| {
                if per_ms < 0 {
                    values[i].saturating_mul(-per_ms)
                } else {
                    values[i].div_euclid(per_ms)
                }
            })
        }
        DataType::Date32 => {
            let days = column.as_primitive::<Date32Type>().values();
            (0..n)
                .map(|i| (!column.is_null(i)).then(|| time::format_day(days[i])))
                .collect()
        }
        DataType::Date64 => {
            let ms = column.as_primitive::<Date64Type>().values();
            (0..n)
                .map(|i| (!column.is_null(i)).then(|| time::format_day(time::day_of_ms(ms[i]))))
                .collect()
        }
        _ => {
            let f = ArrayFormatter::try_new(column, &FormatOptions::default())?;
            (0..n)
                .map(|i| (!column.is_null(i)).then(|| f.value(i).to_string()))
                .collect()
        }
    })
}

impl RowReader for ParquetRows {
    fn next_row(&mut self) -> Result<Option<SourceRow>, ReplayError> {
        while self.current.first().is_none_or(|c| self.index >= c.len()) {
            match self.batches.next() {
                None => return Ok(None),
                Some(b) => {
                    let batch = b.map_err(|e| ReplayError::Parquet {
                        path: self.path.clone(),
                        message: e.to_string(),
                    })?;
                    self.current = self.render(&batch)?;
                    self.index = 0;
                    let done = self.size * (self.at.row + batch.num_rows() as u64)
                        / self.total_rows.max(1);
                    self.counter
                        .store(self.counter_base + done.min(self.size), Ordering::Relaxed);
                }
            }
        }
        let i = self.index;
        self.index += 1;
        let fields: Vec<Field<'_>> = self
            .current
            .iter()
            .map(|column| column[i].as_deref().map_or(Field::Null, Field::Text))
            .collect();
        self.at.row += 1;
        let data = match self.shape.write_row(&fields, &mut self.json) {
            Ok(()) => RowData::Record(std::mem::take(&mut self.json)),
            Err(fault) => RowData::Fault {
                fault,
                raw: Vec::new(),
            },
        };
        Ok(Some(SourceRow {
            line: self.at.row,
            data,
            next: self.at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::input::resolve_inputs;

    fn order_lines() -> SourceDef {
        SourceDef::resolve("order_lines", None).unwrap()
    }

    fn rows_from(path: &std::path::Path, at: Cursor) -> Vec<SourceRow> {
        rows_within(path, at, MAX_LINE_BYTES)
    }

    fn rows_within(path: &std::path::Path, at: Cursor, max_line: usize) -> Vec<SourceRow> {
        let input = &resolve_inputs(&[path.display().to_string()], None).unwrap()[0];
        let mut r = open_rows_within(
            input,
            at,
            &order_lines(),
            1 << 20,
            max_line,
            Arc::new(AtomicU64::new(0)),
        )
        .unwrap();
        let mut out = Vec::new();
        while let Some(row) = r.next_row().unwrap() {
            out.push(row);
        }
        out
    }

    fn record(row: &SourceRow) -> String {
        match &row.data {
            RowData::Record(r) => String::from_utf8(r.clone()).unwrap(),
            RowData::Fault { fault, .. } => panic!("fault {fault}"),
        }
    }

    #[test]
    fn csv_rows_carry_lines_and_resume_at_any_row_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.csv");
        // CRLF, a quoted line break, a short row, a blank line, no final line end.
        std::fs::write(
            &p,
            "order_id,product_id,reordered\r\n1,10,1\r\n2,\"2\n0\",0\r\n3,30\r\n\r\n4,40,1",
        )
        .unwrap();
        let all = rows_from(&p, Cursor::start(0));
        let lines: Vec<u64> = all.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 5, 7]);
        assert_eq!(
            record(&all[0]),
            r#"{"order_id":1,"product_id":10,"reordered":true}"#
        );
        match &all[2].data {
            RowData::Fault { fault, raw } => {
                assert_eq!(fault.kind(), "field_count");
                assert_eq!(raw, b"3,30");
            }
            other => panic!("{other:?}"),
        }
        // Resuming after any row gives exactly the rows after it, with the same numbers.
        for (k, row) in all.iter().enumerate() {
            let rest = rows_from(&p, row.next);
            let want: Vec<(u64, u64)> = all[k + 1..].iter().map(|r| (r.line, r.next.row)).collect();
            let got: Vec<(u64, u64)> = rest.iter().map(|r| (r.line, r.next.row)).collect();
            assert_eq!(got, want, "resumed after row {k}");
        }
        assert_eq!(
            all.last().unwrap().next.offset,
            std::fs::metadata(&p).unwrap().len()
        );
        let lf = dir.path().join("lf.csv");
        std::fs::write(&lf, "order_id,product_id\n\n1,10\n2,20\n").unwrap();
        let all = rows_from(&lf, Cursor::start(0));
        assert_eq!(all.iter().map(|r| r.line).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(rows_from(&lf, all[0].next)[0].line, 4);
    }

    #[test]
    fn jsonl_rows_skip_blank_lines_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l.jsonl");
        std::fs::write(&p, "{\"order_id\":1}\n\n  \n{oops\n{\"order_id\":3}").unwrap();
        let all = rows_from(&p, Cursor::start(0));
        assert_eq!(
            all.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![1, 4, 5]
        );
        assert_eq!(record(&all[1]), "{oops");
        let rest = rows_from(&p, all[0].next);
        assert_eq!(rest.len(), 2);
        assert_eq!(rest[0].line, 4);
        assert_eq!(rest[1].next.row, 3);
    }

    #[test]
    fn rows_over_the_line_limit_are_rejected_and_stepped_over() {
        let dir = tempfile::tempdir().unwrap();
        // A small line limit, above what a long line keeps (tests/inflow.rs: the real one).
        let limit = 3 * KEPT_OF_LONG_LINE;
        let long = limit + 10;
        // JSON lines: a line of one long string; CSV: an unterminated-looking quoted field
        // spanning lines, then a record of many tiny fields (grows the field ends).
        let mut jsonl = b"{\"order_id\":1}\n{\"pad\":\"".to_vec();
        jsonl.resize(jsonl.len() + long, b'x');
        jsonl.extend_from_slice(b"\"}\n{\"order_id\":3}\n");
        let mut csv = b"order_id,product_id\n1,10\n2,\"".to_vec();
        csv.extend(std::iter::repeat_n(b"ab\n".as_slice(), long / 3).flatten());
        csv.extend_from_slice(b"\"\n");
        csv.resize(csv.len() + long, b',');
        csv.extend_from_slice(b"\n4,40\n");
        for (name, bytes, want_lines) in [
            ("l.jsonl", jsonl, vec![1, 2, 3]),
            (
                "l.csv",
                csv,
                vec![2, 3, 3 + long as u64 / 3 + 1, 3 + long as u64 / 3 + 2],
            ),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, &bytes).unwrap();
            let all = rows_within(&p, Cursor::start(0), limit);
            assert_eq!(all.iter().map(|r| r.line).collect::<Vec<_>>(), want_lines);
            let faults: Vec<_> = all
                .iter()
                .filter_map(|r| match &r.data {
                    RowData::Fault { fault, raw } => Some((fault.kind(), raw.len())),
                    RowData::Record(_) => None,
                })
                .collect();
            let n_long = if name.ends_with("csv") { 2 } else { 1 };
            assert_eq!(
                faults,
                vec![("line_too_long", KEPT_OF_LONG_LINE); n_long],
                "{name}"
            );
            assert!(matches!(all.last().unwrap().data, RowData::Record(_)));
            assert_eq!(all.last().unwrap().next.offset, bytes.len() as u64);
            // A resume after the long row starts at the next one.
            let after = all
                .iter()
                .position(|r| matches!(r.data, RowData::Fault { .. }));
            let rest = rows_within(&p, all[after.unwrap()].next, limit);
            assert_eq!(rest[0].line, all[after.unwrap() + 1].line, "{name}");
        }
    }

    #[test]
    fn parquet_instants_render_as_utc_text_whatever_the_unit_and_zone() {
        use arrow::array::{Date32Array, Int64Array, TimestampMicrosecondArray};
        let micros = TimestampMicrosecondArray::from(vec![Some(1_709_287_200_123_999), None])
            .with_timezone("Europe/Paris");
        assert_eq!(
            render_column(&micros).unwrap(),
            vec![Some("2024-03-01T10:00:00.123Z".to_string()), None]
        );
        let days = Date32Array::from(vec![19_783]);
        assert_eq!(
            render_column(&days).unwrap(),
            vec![Some("2024-03-01".to_string())]
        );
        let ints = Int64Array::from(vec![Some(-5), None]);
        assert_eq!(
            render_column(&ints).unwrap(),
            vec![Some("-5".to_string()), None]
        );
    }

    #[test]
    fn empty_csv_has_no_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.csv");
        std::fs::write(&p, "").unwrap();
        assert!(rows_from(&p, Cursor::start(0)).is_empty());
    }
}
