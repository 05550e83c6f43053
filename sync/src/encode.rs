//! PostgreSQL's binary COPY format, written straight from Arrow columns (pure, no I/O).
//!
//! The same bytes `tokio_postgres::binary_copy::BinaryCopyInWriter` sends, without its
//! per-value `&dyn ToSql` dispatch and type check: a batch's columns are matched to their
//! encoder once, then each row is a run of length-prefixed big-endian values.

use arrow::array::{
    Array, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use bytes::{BufMut, BytesMut};

use crate::SyncError;

/// PostgreSQL's epoch (2000-01-01) in Unix days and microseconds.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The COPY header: signature, flags, header extension length.
pub fn header(buf: &mut BytesMut) {
    buf.put_slice(b"PGCOPY\n\xff\r\n\0");
    buf.put_i32(0);
    buf.put_i32(0);
}

/// The COPY trailer.
pub fn trailer(buf: &mut BytesMut) {
    buf.put_i16(-1);
}

enum Col<'a> {
    Str(&'a StringArray),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    F64(&'a Float64Array),
    Bool(&'a BooleanArray),
    Ts(&'a TimestampMillisecondArray),
}

impl<'a> Col<'a> {
    fn of(a: &'a dyn Array, name: &str) -> Result<Col<'a>, SyncError> {
        let any = a.as_any();
        let col = if let Some(x) = any.downcast_ref::<StringArray>() {
            Col::Str(x)
        } else if let Some(x) = any.downcast_ref::<Int32Array>() {
            Col::I32(x)
        } else if let Some(x) = any.downcast_ref::<Int64Array>() {
            Col::I64(x)
        } else if let Some(x) = any.downcast_ref::<Float64Array>() {
            Col::F64(x)
        } else if let Some(x) = any.downcast_ref::<BooleanArray>() {
            Col::Bool(x)
        } else if let Some(x) = any.downcast_ref::<TimestampMillisecondArray>() {
            Col::Ts(x)
        } else {
            return Err(SyncError::Unsupported {
                column: name.into(),
                data_type: a.data_type().to_string(),
            });
        };
        Ok(col)
    }

    fn put(&self, i: usize, buf: &mut BytesMut) {
        match self {
            Col::Str(a) => {
                let s = a.value(i).as_bytes();
                buf.put_i32(s.len() as i32);
                buf.put_slice(s);
            }
            Col::I32(a) => {
                buf.put_i32(4);
                buf.put_i32(a.value(i));
            }
            Col::I64(a) => {
                buf.put_i32(8);
                buf.put_i64(a.value(i));
            }
            Col::F64(a) => {
                buf.put_i32(8);
                buf.put_f64(a.value(i));
            }
            Col::Bool(a) => {
                buf.put_i32(1);
                buf.put_u8(a.value(i) as u8);
            }
            Col::Ts(a) => {
                buf.put_i32(8);
                buf.put_i64(a.value(i) * 1000 - PG_EPOCH_MICROS);
            }
        }
    }
}

/// Appends the rows of `batch` (the source's columns, in the COPY column list's order) and the
/// partition column `day` (Unix days) as the last field. Returns the row count.
pub fn encode_batch(batch: &RecordBatch, day: i32, buf: &mut BytesMut) -> Result<u64, SyncError> {
    let schema = batch.schema();
    let cols: Vec<Col> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| Col::of(c.as_ref(), f.name()))
        .collect::<Result<_, _>>()?;
    let fields = (cols.len() + 1) as i16;
    let pg_day = day - PG_EPOCH_DAYS;
    for i in 0..batch.num_rows() {
        buf.put_i16(fields);
        for (c, a) in cols.iter().zip(batch.columns()) {
            if a.is_null(i) {
                buf.put_i32(-1);
            } else {
                c.put(i, buf);
            }
        }
        buf.put_i32(4);
        buf.put_i32(pg_day);
    }
    Ok(batch.num_rows() as u64)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::ArrayRef;

    use super::*;

    #[test]
    fn rows_are_length_prefixed_big_endian_values() {
        let batch = RecordBatch::try_from_iter([
            (
                "s",
                Arc::new(StringArray::from(vec![Some("ab"), None])) as ArrayRef,
            ),
            ("n", Arc::new(Int32Array::from(vec![7, -1])) as ArrayRef),
            (
                "t",
                Arc::new(TimestampMillisecondArray::from(vec![946_684_800_001, 0])) as ArrayRef,
            ),
        ])
        .unwrap();
        let mut buf = BytesMut::new();
        // 2000-01-02
        assert_eq!(encode_batch(&batch, 10_958, &mut buf).unwrap(), 2);
        let first: Vec<u8> = [
            &4i16.to_be_bytes()[..],
            &2i32.to_be_bytes(),
            b"ab",
            &4i32.to_be_bytes(),
            &7i32.to_be_bytes(),
            &8i32.to_be_bytes(),
            &1000i64.to_be_bytes(),
            &4i32.to_be_bytes(),
            &1i32.to_be_bytes(),
        ]
        .concat();
        assert_eq!(&buf[..first.len()], &first[..]);
        assert_eq!(
            &buf[first.len() + 2..first.len() + 6],
            &(-1i32).to_be_bytes()
        );
        let mut h = BytesMut::new();
        header(&mut h);
        assert_eq!(h.len(), 19);
    }

    #[test]
    fn other_arrow_types_are_refused_by_column() {
        let batch = RecordBatch::try_from_iter([(
            "d",
            Arc::new(arrow::array::Date32Array::from(vec![1])) as ArrayRef,
        )])
        .unwrap();
        let e = encode_batch(&batch, 0, &mut BytesMut::new()).unwrap_err();
        assert!(e.to_string().contains("column \"d\""), "{e}");
    }
}
