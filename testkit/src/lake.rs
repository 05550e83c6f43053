//! Reading a local lake's Parquet files back, as the tests check them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// The `.parquet` files directly in `dir`, sorted by name (none when `dir` does not exist).
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|x| x == "parquet"));
    files.sort();
    files
}

/// The days of a Hive-style table folder (its `p_date=DAY` folders), sorted.
pub fn days(table_dir: &Path) -> Vec<String> {
    let mut days: Vec<String> = std::fs::read_dir(table_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", table_dir.display()))
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("p_date=")
                .map(str::to_string)
        })
        .collect();
    days.sort();
    days
}

/// Every file below `dir`, in its subfolders too, in no order (none when `dir` does not exist).
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_below(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The string column `column` of every row of a Hive-style table folder: its `p_date=` days'
/// `.parquet` files (not a write's staging copy or temporary file), with repeats.
pub fn string_column(table_dir: &Path, column: &str) -> Vec<String> {
    let mut values = Vec::new();
    let Ok(folders) = std::fs::read_dir(table_dir) else {
        return values;
    };
    for day in folders
        .flatten()
        .filter(|d| d.file_name().to_string_lossy().starts_with("p_date="))
    {
        for file in parquet_files(&day.path()) {
            for b in read_batches(&file) {
                let col = b
                    .column_by_name(column)
                    .unwrap_or_else(|| panic!("no {column}"));
                let col = col.as_any().downcast_ref::<StringArray>().unwrap();
                values.extend((0..col.len()).map(|i| col.value(i).to_string()));
            }
        }
    }
    values
}

/// Every batch of one Parquet file.
pub fn read_batches(file: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// Each row as `column=value|...`, every column (timestamps as epoch milliseconds).
pub fn format_rows(batch: &RecordBatch) -> Vec<String> {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            DataType::Timestamp(..) => arrow::compute::cast(c, &DataType::Int64).unwrap(),
            _ => c.clone(),
        })
        .collect();
    let opts = FormatOptions::default().with_null("<null>");
    let fmt: Vec<ArrayFormatter> = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
        .collect();
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|i| {
            schema
                .fields()
                .iter()
                .zip(&fmt)
                .map(|(f, v)| format!("{}={}", f.name(), v.value(i)))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// Each row's `user_id` and `ingested_at` (epoch ms) in a batch of the users source.
pub fn ids_and_times(batch: &RecordBatch) -> Vec<(String, i64)> {
    let ids = batch.column_by_name("user_id").expect("a user_id column");
    let ids = ids.as_any().downcast_ref::<StringArray>().unwrap();
    let at = batch
        .column_by_name("ingested_at")
        .expect("an ingested_at column");
    let at = at
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .unwrap();
    (0..batch.num_rows())
        .map(|i| (ids.value(i).to_string(), at.value(i)))
        .collect()
}

/// `user_id` and `ingested_at` of every row of one Parquet file, in file order.
pub fn file_ids_and_times(file: &Path) -> Vec<(String, i64)> {
    read_batches(file).iter().flat_map(ids_and_times).collect()
}

/// The distinct rows of a day folder as `format_rows` shows them: per user_id the row with the
/// latest ingested_at, ties to the first in file-name then row order. Sorted. What a
/// compaction of the folder must hold.
pub fn distinct_rows(day_dir: &Path) -> Vec<String> {
    let mut best: HashMap<String, (i64, String)> = HashMap::new();
    for f in parquet_files(day_dir) {
        for batch in read_batches(&f) {
            let rows = format_rows(&batch);
            for ((id, t), row) in ids_and_times(&batch).into_iter().zip(rows) {
                if best.get(&id).is_none_or(|(bt, _)| *bt < t) {
                    best.insert(id, (t, row));
                }
            }
        }
    }
    let mut rows: Vec<String> = best.into_values().map(|(_, r)| r).collect();
    rows.sort();
    rows
}
