//! Counters shared between a consumer and whoever watches it (progress bars, loadtest).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use firelake_core::nulled::NullCounts;

#[derive(Debug, Default)]
pub struct ConsumerMetrics {
    pub records_in: AtomicU64,
    pub rows_out: AtomicU64,
    pub rejected: AtomicU64,
    pub files: AtomicU64,
    pub rejected_files: AtomicU64,
    /// `_nulled/` side files written.
    pub nulled_files: AtomicU64,
    pub bytes_written: AtomicU64,
    pub partitions_added: AtomicU64,
    pub flushes: AtomicU64,
    /// Files found already written (a replay after a crash), not written again.
    pub files_existing: AtomicU64,
    /// When the last flush became durable (epoch ms; 0 before the first).
    pub last_durable_ms: AtomicU64,
    /// How long the consumer waited for more records before it stopped (`--exit-when-idle`),
    /// so throughput figures can leave the wait out.
    pub idle_wait_ms: AtomicU64,
    /// Values the cleaner nulled in the rows written, per column and reason (added per flush,
    /// once its `_nulled/` file is durable, so they equal the side files' lines).
    pub nulled: Mutex<NullCounts>,
}

impl ConsumerMetrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

impl ConsumerMetrics {
    /// `nulled values   331 (age wrong_type 102, ...; originals under users/_nulled/)`: the
    /// summary line every command that consumes prints, so no value changes silently.
    pub fn nulled_line(&self, def: &firelake_core::SourceDef) -> String {
        let counts = self.nulled.lock().unwrap();
        format!(
            "  nulled values  {} ({}; originals under {}/_nulled/)",
            counts.total(),
            counts.describe(def),
            def.table
        )
    }
}
