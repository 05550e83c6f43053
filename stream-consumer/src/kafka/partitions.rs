//! The partitions this consumer holds: a buffer and offset bookkeeping per partition (no I/O
//! here). The consume loop and the rebalance callback share it behind a mutex; neither holds
//! the lock across a poll of the consumer or an await.

use std::collections::BTreeMap;
use std::sync::Arc;

use firelake_core::Cleaner;

use crate::buffer::{DayFlush, FlushLimits, Pushed, ShardBuffer};
use crate::kafka::offsets::{PartitionOffsets, Read};

/// Offsets are zero-padded in file names, so a partition's files sort in offset order (the
/// compactor breaks ties between copies by key order).
pub fn position(offset: i64) -> String {
    let mut buf = [0u8; 20];
    padded(offset, &mut buf).to_string()
}

/// `position` without an allocation (it runs once per record).
fn padded(offset: i64, buf: &mut [u8; 20]) -> &str {
    let mut v = offset.max(0) as u64;
    for b in buf.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
    std::str::from_utf8(buf).expect("ASCII digits")
}

/// A partition's name in file keys.
pub fn shard_name(partition: i32) -> String {
    format!("{partition:05}")
}

struct Partition {
    buffer: ShardBuffer,
    offsets: PartitionOffsets,
}

/// What the last `push` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushOutcome {
    pub pushed: Pushed,
    /// The partition's buffer reached its record or size limit: flush it.
    pub full: bool,
    /// Records dropped from the buffer first because the partition was read again from an
    /// earlier offset (they are read again, so nothing is lost).
    pub dropped: usize,
}

/// One partition's buffer, taken for writing.
pub struct TakenFlush {
    pub partition: i32,
    pub flushes: Vec<DayFlush>,
    /// The last offset the flush holds: durable once the write returns.
    pub last: i64,
}

pub struct Partitions {
    cleaner: Arc<Cleaner>,
    origin: String,
    limits: FlushLimits,
    held: BTreeMap<i32, Partition>,
}

impl Partitions {
    pub fn new(cleaner: Arc<Cleaner>, origin: &str, limits: FlushLimits) -> Partitions {
        Partitions {
            cleaner,
            origin: origin.to_string(),
            limits,
            held: BTreeMap::new(),
        }
    }

    fn partition(&mut self, partition: i32) -> &mut Partition {
        let (cleaner, origin) = (&self.cleaner, &self.origin);
        self.held.entry(partition).or_insert_with(|| Partition {
            buffer: ShardBuffer::new(cleaner.clone(), origin, &shard_name(partition)),
            offsets: PartitionOffsets::default(),
        })
    }

    /// Clean one record into its partition's buffer.
    pub fn push(
        &mut self,
        partition: i32,
        offset: i64,
        arrival_ms: i64,
        data: &[u8],
    ) -> PushOutcome {
        // Record and size limits here; age is checked by `due` now and then.
        let limits = FlushLimits {
            max_age: std::time::Duration::MAX,
            ..self.limits
        };
        let p = self.partition(partition);
        let mut dropped = 0;
        if p.offsets.read(offset) == Read::Rewound {
            dropped = p.buffer.len();
            drop(p.buffer.take());
        }
        let mut buf = [0u8; 20];
        let pushed = p.buffer.push(padded(offset, &mut buf), arrival_ms, data);
        let full = p.buffer.should_flush(&limits);
        PushOutcome {
            pushed,
            full,
            dropped,
        }
    }

    /// Partitions whose buffer reached a flush limit (age included).
    pub fn due(&self) -> Vec<i32> {
        self.held
            .iter()
            .filter(|(_, p)| p.buffer.should_flush(&self.limits))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Every partition with buffered records.
    pub fn buffered(&self) -> Vec<i32> {
        self.held
            .iter()
            .filter(|(_, p)| !p.buffer.is_empty())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Take a partition's buffer for writing.
    pub fn take(&mut self, partition: i32) -> Option<TakenFlush> {
        let p = self.held.get_mut(&partition)?;
        let (_, last) = p.offsets.flushing()?;
        Some(TakenFlush {
            partition,
            flushes: p.buffer.take(),
            last,
        })
    }

    /// The flush of `partition` up to `last` is durable.
    pub fn durable(&mut self, partition: i32, last: i64) {
        if let Some(p) = self.held.get_mut(&partition) {
            p.offsets.durable(last);
        }
    }

    /// Commit positions due: (partition, next offset).
    pub fn commits_due(&self, only: Option<&[i32]>) -> Vec<(i32, i64)> {
        self.held
            .iter()
            .filter(|(id, _)| only.is_none_or(|o| o.contains(id)))
            .filter_map(|(id, p)| p.offsets.commit_due().map(|next| (*id, next)))
            .collect()
    }

    pub fn committed(&mut self, partition: i32, next: i64) {
        if let Some(p) = self.held.get_mut(&partition) {
            p.offsets.committed(next);
        }
    }

    /// Let a partition go; returns how many buffered records were dropped unwritten (they
    /// were not committed, so the partition's next owner reads them again).
    pub fn release(&mut self, partition: i32) -> usize {
        self.held.remove(&partition).map_or(0, |p| p.buffer.len())
    }

    /// Let every partition go (see `release`).
    pub fn release_all(&mut self) -> usize {
        std::mem::take(&mut self.held)
            .into_values()
            .map(|p| p.buffer.len())
            .sum()
    }

    pub fn held(&self) -> Vec<i32> {
        self.held.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firelake_core::SourceDef;

    fn partitions() -> Partitions {
        let def = Arc::new(SourceDef::resolve("users", None).unwrap());
        Partitions::new(
            Arc::new(Cleaner::new(def)),
            "kafka.users",
            FlushLimits {
                max_records: 3,
                ..Default::default()
            },
        )
    }

    #[test]
    fn positions_are_zero_padded() {
        assert_eq!(position(0), "00000000000000000000");
        assert_eq!(position(1234), "00000000000000001234");
        assert_eq!(position(i64::MAX), "09223372036854775807");
    }

    #[test]
    fn names_files_by_partition_and_padded_offsets_and_commits_after_durable() {
        let mut ps = partitions();
        let day = 20_240 * firelake_core::time::MS_PER_DAY;
        assert!(!ps.push(3, 7, day, br#"{"login":{"uuid":"a"}}"#).full);
        ps.push(3, 8, day, b"not json");
        assert!(ps.due().is_empty());
        ps.push(1, 0, day, br#"{"login":{"uuid":"b"}}"#);
        assert_eq!(ps.buffered(), vec![1, 3]);
        let t = ps.take(3).unwrap();
        assert_eq!(t.last, 8);
        assert_eq!(t.flushes.len(), 1);
        assert_eq!(
            t.flushes[0].origin.stem(),
            "kafka.users-00003-00000000000000000007-00000000000000000008"
        );
        assert_eq!(t.flushes[0].rejected_count, 1);
        assert!(ps.commits_due(None).is_empty(), "not durable yet");
        ps.durable(3, t.last);
        assert_eq!(ps.commits_due(None), vec![(3, 9)]);
        assert_eq!(ps.commits_due(Some(&[1])), vec![]);
        ps.committed(3, 9);
        assert!(ps.commits_due(None).is_empty());
        // Partition 1 is revoked with a record buffered: dropped, never committed.
        assert_eq!(ps.release(1), 1);
        assert_eq!(ps.held(), vec![3]);
    }

    #[test]
    fn p_date_is_the_kafka_timestamp_unless_the_source_has_an_event_time() {
        let day = |d: i64| d * firelake_core::time::MS_PER_DAY;
        // users: p_date from the arrival (the Kafka timestamp).
        let mut ps = partitions();
        ps.push(0, 0, day(20_240) + 5, br#"{"login":{"uuid":"a"}}"#);
        assert_eq!(ps.take(0).unwrap().flushes[0].day, 20_240);
        // order_lines: p_date from the order time, whatever the Kafka timestamp.
        let def = Arc::new(SourceDef::resolve("order_lines", None).unwrap());
        let mut ps = Partitions::new(
            Arc::new(Cleaner::new(def)),
            "kafka.orders",
            FlushLimits::default(),
        );
        let line = br#"{"order_id":1,"product_id":2,"ordered_at":"2024-03-01T10:00:00Z"}"#;
        ps.push(0, 0, day(20_240), line);
        let t = ps.take(0).unwrap();
        assert_eq!(
            firelake_core::time::format_day(t.flushes[0].day),
            "2024-03-01"
        );
        assert_eq!(t.flushes[0].batch.as_ref().unwrap().num_rows(), 1);
    }

    #[test]
    fn a_rewound_partition_drops_its_buffer() {
        let mut ps = partitions();
        for off in 0..5 {
            let full = ps.push(0, off, 0, br#"{"login":{"uuid":"a"}}"#).full;
            assert_eq!(full, off >= 2, "the limit is 3 records");
        }
        assert_eq!(ps.due(), vec![0]);
        let out = ps.push(0, 2, 0, br#"{"login":{"uuid":"a"}}"#);
        assert_eq!(out.dropped, 5);
        let t = ps.take(0).unwrap();
        assert_eq!(t.flushes[0].origin.first, position(2));
        assert_eq!(t.flushes[0].batch.as_ref().unwrap().num_rows(), 1);
    }
}
