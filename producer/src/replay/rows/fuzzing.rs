//! Property checks of the CSV and JSON-lines row readers over arbitrary bytes, shared by the
//! fuzz targets (`fuzz/`) and the corpus replay of the normal test suite
//! (`tests/fuzz_corpus.rs`). Panics when a property fails. Not an API.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use firelake_core::SourceDef;
use firelake_core::fuzzing::pick_source;

use super::{RowData, open_rows_within};
use crate::replay::batch::Cursor;
use crate::replay::input::{Compression, Format, InputFile};
use crate::replay::record::RowFault;

/// A row as compared between a whole read and a resumed one.
type Row = (u64, RowResult, Cursor);
/// A record, or why the row is none and its content.
type RowResult = Result<Vec<u8>, (RowFault, Vec<u8>)>;

/// Input: a byte picking the built-in source, a byte giving the line limit and one the record
/// limit (small, so the over-long paths are reached), then the file. Every row moves the
/// position forward within the file, row numbers count up by one, records are what the format
/// promises (CSV: a JSON object; JSON lines: the trimmed line), and a replay resumed from any
/// row's saved position reads exactly the rows that followed it.
pub fn check_rows(format: Format, data: &[u8]) {
    let [selector, line_byte, record_byte, file @ ..] = data else {
        return;
    };
    let def = pick_source(*selector);
    let max_line = 16 + *line_byte as usize * 4;
    let max_record = 8 + *record_byte as usize * 4;
    let input = write_input(format, file);
    let read = |at| read_all(&input, at, def, max_record, max_line, file.len());
    let Some(rows) = read(Cursor::start(0)) else {
        let _ = std::fs::remove_file(&input.path);
        return;
    };
    let mut before = Cursor::start(0);
    for (line, data, next) in &rows {
        assert!(
            next.offset > before.offset,
            "row at line {line} did not move on"
        );
        assert!(next.offset <= file.len() as u64, "position past the end");
        assert_eq!(next.row, before.row + 1, "rows count up by one");
        assert!(
            before.line <= *line && *line <= next.line,
            "line numbers in order"
        );
        check_row(format, data, max_record, max_line);
        before = *next;
    }
    // Resumed from the start and from the first rows' positions: the same rows as read whole.
    for k in 0..rows.len().min(16) {
        let resumed = read(rows[k].2).expect("a resumed file opens as the whole one did");
        assert_eq!(resumed, rows[k + 1..], "resumed after row {}", k + 1);
    }
    let _ = std::fs::remove_file(&input.path);
}

fn check_row(format: Format, data: &RowResult, max_record: usize, max_line: usize) {
    match (data, format) {
        (Ok(record), Format::Csv) => {
            let v: serde_json::Value =
                serde_json::from_slice(record).expect("a CSV row becomes JSON");
            assert!(v.is_object(), "a CSV row becomes a JSON object");
        }
        (Ok(record), _) => {
            assert!(!record.is_empty() && record.len() <= max_record);
            assert_eq!(record.trim_ascii(), &record[..], "a JSON line is trimmed");
            assert!(!record.contains(&b'\n'), "one line");
        }
        (Err((RowFault::LineTooLong { bytes, limit, kept }, raw)), _) => {
            assert_eq!(*limit, max_line);
            assert!(*bytes > max_line as u64 && raw.len() == *kept && *kept <= 64 << 10);
        }
        (Err((RowFault::TooLarge { bytes, limit }, _)), _) => assert!(bytes > limit),
        (Err(_), _) => {}
    }
}

/// Every row from `at` on; `None` when the file does not open as the source's (a CSV header
/// that does not name its columns).
fn read_all(
    input: &InputFile,
    at: Cursor,
    def: &SourceDef,
    max_record: usize,
    max_line: usize,
    len: usize,
) -> Option<Vec<Row>> {
    let counter = Arc::new(AtomicU64::new(0));
    let mut reader = open_rows_within(input, at, def, max_record, max_line, counter).ok()?;
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row().expect("reading a local file never fails") {
        let data = match row.data {
            RowData::Record(r) => Ok(r),
            RowData::Fault { fault, raw } => Err((fault, raw)),
        };
        rows.push((row.line, data, row.next));
        assert!(
            rows.len() <= len + 1,
            "more rows than bytes: the reader loops"
        );
    }
    Some(rows)
}

/// The bytes as a file of this process (the readers read files).
fn write_input(format: Format, bytes: &[u8]) -> InputFile {
    let dir = std::env::temp_dir().join(format!("firelake-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path: PathBuf = dir.join(format!(
        "rows-{:?}.{}",
        std::thread::current().id(),
        format.name()
    ));
    std::fs::write(&path, bytes).expect("the input written");
    InputFile {
        path,
        remote: None,
        format,
        compression: Compression::None,
        size: bytes.len() as u64,
    }
}
