//! Cutting a stream of rows into publish batches within the streams' limits, each batch
//! carrying the input position after its last row (what the progress file records once the
//! batch is confirmed). Pure: no I/O.

use serde::{Deserialize, Serialize};

use crate::OutgoingRecord;

/// Where the replay is in its inputs: the next row to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cursor {
    /// Index into the replay's input list.
    pub file: usize,
    /// Byte offset of the next row in the file's (decompressed) bytes.
    pub offset: u64,
    /// Line number of the next row (1-based; text formats).
    pub line: u64,
    /// Rows of the file before the next one (Parquet resumes by row).
    pub row: u64,
}

impl Cursor {
    /// The start of input `file`.
    pub fn start(file: usize) -> Cursor {
        Cursor {
            file,
            offset: 0,
            line: 1,
            row: 0,
        }
    }
}

/// The publishers' limits (Kinesis PutRecords: 500 records and 5 MB per call, 1 MiB per
/// record, partition keys included; Kafka's default message size is 1 MB too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_record_bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_records: 500,
            max_bytes: 5_000_000,
            max_record_bytes: 1 << 20,
        }
    }
}

impl BatchLimits {
    /// Smaller batches under a rate limit: a tenth of a second's worth, so the limiter's
    /// burst (one batch) stays small against the rate and the pace is even.
    pub fn for_rate(self, records_per_s: u32) -> BatchLimits {
        BatchLimits {
            max_records: self.max_records.min((records_per_s as usize / 10).max(1)),
            ..self
        }
    }
}

/// A row kept out of the lake's data: rejected by the reader (not published) or by the
/// cleaner (published all the same, so the consumer files it under `_rejected`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub file: usize,
    /// Line number (CSV, JSON lines) or 1-based row number (Parquet) in the file.
    pub line: u64,
    pub kind: String,
    pub reason: String,
    /// The record as published, or the row's content when it could not become one.
    pub data: Vec<u8>,
    pub published: bool,
    /// The file's CSV header when `data` is a row that could not become a record (it is
    /// then redacted whole if the header names a never-read field); empty otherwise.
    pub headers: Vec<String>,
}

/// One batch: records to publish, the rows rejected on the way, and where the input stands
/// after it.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<OutgoingRecord>,
    /// Record bytes plus partition keys (what the 5 MB call limit counts).
    pub bytes: usize,
    pub rejected: Vec<RejectedRow>,
    /// Rows read into this batch (published or not).
    pub rows: u64,
    pub end: Cursor,
}

/// Collects rows into batches that respect `BatchLimits`.
pub struct Batcher {
    limits: BatchLimits,
    current: Batch,
}

impl Batcher {
    pub fn new(limits: BatchLimits, at: Cursor) -> Batcher {
        Batcher {
            limits,
            current: Batch {
                end: at,
                ..Batch::default()
            },
        }
    }

    pub fn limits(&self) -> &BatchLimits {
        &self.limits
    }

    /// Whether a record of `bytes` (data and key) still fits in the current batch.
    pub fn fits(&self, bytes: usize) -> bool {
        self.current.records.is_empty()
            || (self.current.records.len() < self.limits.max_records
                && self.current.bytes + bytes <= self.limits.max_bytes)
    }

    /// Rejected rows are bounded too, so a file of bad rows cannot grow a batch without end.
    pub fn is_full(&self) -> bool {
        self.current.records.len() >= self.limits.max_records
            || self.current.rejected.len() >= self.limits.max_records
    }

    /// Add a record; call `fits` first.
    pub fn push(&mut self, record: OutgoingRecord) {
        self.current.bytes += record.data.len() + record.partition_key.len();
        self.current.records.push(record);
    }

    pub fn reject(&mut self, row: RejectedRow) {
        self.current.rejected.push(row);
    }

    /// The row just added ends at `next`.
    pub fn advance(&mut self, next: Cursor) {
        self.current.rows += 1;
        self.current.end = next;
    }

    /// Move the position without a row (the next file begins).
    pub fn move_to(&mut self, next: Cursor) {
        self.current.end = next;
    }

    pub fn is_empty(&self) -> bool {
        self.current.records.is_empty() && self.current.rejected.is_empty()
    }

    /// The batch so far; the next one starts where it ends.
    pub fn take(&mut self) -> Batch {
        let end = self.current.end;
        std::mem::replace(
            &mut self.current,
            Batch {
                end,
                ..Batch::default()
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn rec(n: usize) -> OutgoingRecord {
        OutgoingRecord {
            partition_key: "k".into(),
            data: Bytes::from(vec![b'x'; n]),
        }
    }

    fn at(line: u64) -> Cursor {
        Cursor {
            file: 0,
            offset: line * 10,
            line,
            row: line - 1,
        }
    }

    #[test]
    fn batches_respect_record_and_byte_limits_and_carry_positions() {
        let limits = BatchLimits {
            max_records: 3,
            max_bytes: 25,
            max_record_bytes: 20,
        };
        let mut b = Batcher::new(limits, Cursor::start(0));
        let mut batches = Vec::new();
        for (i, size) in [5usize, 5, 5, 5, 19, 1].into_iter().enumerate() {
            if !b.fits(size + 1) {
                batches.push(b.take());
            }
            b.push(rec(size));
            b.advance(at(i as u64 + 2));
        }
        batches.push(b.take());
        let sizes: Vec<usize> = batches.iter().map(|b| b.records.len()).collect();
        // 3 by count; then 6+20 > 25 bytes; then the last two fit (20 + 2 bytes).
        assert_eq!(sizes, vec![3, 1, 2]);
        assert_eq!(batches[0].end, at(4));
        assert_eq!(batches[1].end, at(5));
        assert_eq!(batches[2].end, at(7));
        assert_eq!(batches[0].bytes, 18);
        assert!(b.is_empty());
        assert_eq!(b.take().end, at(7), "an empty batch keeps the position");
    }

    #[test]
    fn a_lone_record_always_fits_and_rejects_bound_a_batch() {
        let limits = BatchLimits {
            max_records: 2,
            max_bytes: 10,
            max_record_bytes: 100,
        };
        let mut b = Batcher::new(limits, Cursor::start(0));
        assert!(b.fits(50), "a record alone is never refused by the batch");
        b.reject(RejectedRow {
            file: 0,
            line: 2,
            kind: "field_count".into(),
            reason: "r".into(),
            data: b"a".to_vec(),
            published: false,
            headers: Vec::new(),
        });
        assert!(!b.is_full() && !b.is_empty());
        b.reject(b.current.rejected[0].clone());
        assert!(b.is_full());
    }

    #[test]
    fn rate_limited_batches_are_a_tenth_of_a_second() {
        let l = BatchLimits::default();
        assert_eq!(l.for_rate(2000).max_records, 200);
        assert_eq!(l.for_rate(5).max_records, 1);
        assert_eq!(l.for_rate(1_000_000).max_records, 500);
    }
}
