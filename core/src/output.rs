//! Encoders for cleaned rows: the Firehose JSON row and Parquet files.

#[cfg(feature = "lake")]
pub use parquet_out::*;

use crate::clean::{CleanRow, CleanValue};
use crate::source::SourceDef;
use crate::time;

/// Append one cleaned row as a JSON object whose fields are the Glue columns (timestamps as
/// ISO-8601 with `Z`, which Firehose's OpenX JSON SerDe reads) plus the partition column as
/// `YYYY-MM-DD`, and a newline so concatenated rows stay one object per line.
pub fn write_json_row(def: &SourceDef, row: &CleanRow<'_>, out: &mut Vec<u8>) {
    let mut ts = String::with_capacity(24);
    out.push(b'{');
    for (i, (col, v)) in def.columns.iter().zip(&row.values).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(&col.name, out);
        out.push(b':');
        match v {
            CleanValue::Null => out.extend_from_slice(b"null"),
            CleanValue::Str(s) => write_json_str(s, out),
            CleanValue::I32(x) => out.extend_from_slice(itoa::Buffer::new().format(*x).as_bytes()),
            CleanValue::I64(x) => out.extend_from_slice(itoa::Buffer::new().format(*x).as_bytes()),
            CleanValue::F64(x) => {
                // serde_json prints the shortest text that reads back as the same f64.
                let _ = serde_json::to_writer(&mut *out, x);
            }
            CleanValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            CleanValue::TimestampMs(ms) => {
                ts.clear();
                time::format_ms(*ms, &mut ts);
                out.push(b'"');
                out.extend_from_slice(ts.as_bytes());
                out.push(b'"');
            }
        }
    }
    out.push(b',');
    write_json_str(&def.partition_column, out);
    out.extend_from_slice(b":\"");
    ts.clear();
    time::push_day(row.p_date, &mut ts);
    out.extend_from_slice(ts.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

fn write_json_str(s: &str, out: &mut Vec<u8>) {
    // Fast path: nothing to escape. A fold without early exit, so the scan vectorises.
    let needs_escape = s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !needs_escape {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clean::Cleaner;
    use std::sync::Arc;

    #[test]
    fn json_row_round_trips_through_serde() {
        let def = Arc::new(SourceDef::resolve("users", None).unwrap());
        let cleaner = Cleaner::new(def.clone());
        let raw = br#"{"gender":" Female ","name":{"title":"Ms","first":"A\"b\u0001","last":"\u00d8"},"email":"X@Y.Z ","login":{"uuid":"u-1","username":"bob","password":"hunter2"},"dob":{"date":"1982-10-16T14:05:53.220Z","age":42},"location":{"postcode":72429,"coordinates":{"latitude":"-14.6781","longitude":"1e2"}}}"#;
        let row = cleaner.clean(raw, 1_748_779_200_000).unwrap();
        let mut out = Vec::new();
        write_json_row(&def, &row, &mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["gender"], "female");
        assert_eq!(v["first_name"], "A\"b\u{1}");
        assert_eq!(v["last_name"], "Ø");
        assert_eq!(v["email"], "x@y.z");
        assert_eq!(v["date_of_birth"], "1982-10-16T14:05:53.220Z");
        assert_eq!(v["ingested_at"], "2025-06-01T12:00:00.000Z");
        assert_eq!(v["p_date"], "2025-06-01");
        assert_eq!(v["postcode"], "72429");
        assert_eq!(v["latitude"], -14.6781);
        assert_eq!(v["longitude"], 100.0);
        assert_eq!(v["age"], 42);
        assert!(v["cell"].is_null());
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("hunter2"));
        // Every Glue column and the partition key, nothing else.
        assert_eq!(v.as_object().unwrap().len(), def.columns.len() + 1);
    }
}

/// The Parquet half, behind the `lake` feature (the Firehose Lambda writes JSON rows only).
#[cfg(feature = "lake")]
mod parquet_out {
    use std::io::Write;

    use arrow::array::RecordBatch;
    use arrow::datatypes::SchemaRef;
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    pub use parquet::errors::ParquetError;
    use parquet::file::properties::WriterProperties;

    /// Rows per Parquet row group (DuckDB's default, what the peers use).
    pub const ROW_GROUP_ROWS: usize = 122_880;
    /// zstd level 3: the peers' level, so sizes compare.
    pub const ZSTD_LEVEL: i32 = 3;

    /// Writer settings shared by every Parquet file firelake writes.
    pub fn parquet_properties() -> WriterProperties {
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(ZSTD_LEVEL).expect("3 is a valid zstd level"),
            ))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by(format!("firelake version {}", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// A Parquet writer over any `Write` with firelake's settings.
    pub fn parquet_writer<W: Write + Send>(
        out: W,
        schema: SchemaRef,
    ) -> Result<ArrowWriter<W>, ParquetError> {
        ArrowWriter::try_new(out, schema, Some(parquet_properties()))
    }

    /// Encode batches as one Parquet file in memory (lake files are bounded by the flush size).
    pub fn parquet_bytes(
        schema: SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<Vec<u8>, ParquetError> {
        let mut w = parquet_writer(Vec::new(), schema)?;
        for b in batches {
            w.write(b)?;
        }
        w.into_inner()
    }
}
