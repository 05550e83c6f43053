//! What the report, the ramp's verdicts and the reconciliation all use: the run's counts and
//! the number format. Apart from `report`, which shows the ramp and the reconciliation, so the
//! modules form no cycle.

use serde::Serialize;

/// Every count of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Records made and handed to the publisher.
    pub produced: u64,
    /// Records the publisher confirmed on the stream.
    pub published: u64,
    /// Records the publisher gave up on (dead-lettered, with their reason).
    pub undelivered: u64,
    /// Good records sent: the rows the lake should get.
    pub expected_rows: u64,
    /// Bad records sent: the rejected records the lake should keep.
    pub expected_rejected: u64,
    /// What the consumer read, wrote and rejected.
    pub records_in: u64,
    pub rows_out: u64,
    pub rejected: u64,
    pub files: u64,
    pub rejected_files: u64,
    pub bytes_written: u64,
    /// Rows whose produced -> durable latency was measured.
    pub durable_rows_measured: u64,
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
