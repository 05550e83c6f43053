//! Counters shared between a consumer and whoever watches it (progress bars, loadtest).

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct ConsumerMetrics {
    pub records_in: AtomicU64,
    pub rows_out: AtomicU64,
    pub rejected: AtomicU64,
    pub files: AtomicU64,
    pub rejected_files: AtomicU64,
    pub bytes_written: AtomicU64,
    pub partitions_added: AtomicU64,
    pub flushes: AtomicU64,
    /// Files found already written (a replay after a crash), not written again.
    pub files_existing: AtomicU64,
}

impl ConsumerMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
