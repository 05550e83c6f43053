//! The embedded stream: an in-process, sharded, ordered record log with Kinesis-like sequence
//! numbers and arrival times, so `firelake run` exercises everything after the stream boundary
//! exactly as in production. Memory is bounded: a put waits while the stream holds more than
//! its capacity, and records leave it only when a consumer has made them durable (`trim`).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::Notify;

/// A record as a consumer reads it from a stream shard.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub sequence: u64,
    /// When the stream accepted it (UTC epoch ms), like Kinesis approximateArrivalTimestamp.
    pub arrival_ms: i64,
    pub data: Bytes,
}

#[derive(Debug, Default)]
struct ShardLog {
    records: VecDeque<StreamRecord>,
    next_sequence: u64,
}

#[derive(Debug)]
pub struct EmbeddedStream {
    name: String,
    shards: Vec<Mutex<ShardLog>>,
    bytes_held: AtomicUsize,
    capacity_bytes: usize,
    closed: AtomicBool,
    data_ready: Notify,
    space_ready: Notify,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl EmbeddedStream {
    /// A new stream. Sequence numbers start at the creation time in ms times 10^6, so files
    /// named after them by one run never collide with another run's files in the same lake.
    pub fn new(name: &str, shards: usize, capacity_bytes: usize) -> EmbeddedStream {
        let base = (now_ms().max(0) as u64) * 1_000_000;
        EmbeddedStream {
            name: name.to_string(),
            shards: (0..shards.max(1))
                .map(|_| {
                    Mutex::new(ShardLog {
                        records: VecDeque::new(),
                        next_sequence: base,
                    })
                })
                .collect(),
            bytes_held: AtomicUsize::new(0),
            capacity_bytes: capacity_bytes.max(1),
            closed: AtomicBool::new(false),
            data_ready: Notify::new(),
            space_ready: Notify::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn shard_id(shard: usize) -> String {
        format!("shard-{shard:04}")
    }

    /// The shard a partition key maps to (FNV-1a, stable across runs and platforms).
    pub fn shard_for(&self, partition_key: &str) -> usize {
        let h = crate::layout::StableHash::of(partition_key.as_bytes());
        (h % self.shards.len() as u64) as usize
    }

    /// Append records; waits while the stream is full. Returns (shard, sequence) per record.
    pub async fn put_records(&self, records: Vec<(String, Bytes)>) -> Vec<(usize, u64)> {
        let size: usize = records.iter().map(|(_, d)| d.len()).sum();
        loop {
            let held = self.bytes_held.load(Ordering::Acquire);
            if held == 0 || held + size <= self.capacity_bytes {
                break;
            }
            let wait = self.space_ready.notified();
            // Re-check after registering, so a trim between the check and the wait is seen.
            if self.bytes_held.load(Ordering::Acquire) < held {
                continue;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), wait).await;
        }
        let arrival_ms = now_ms();
        let mut out = Vec::with_capacity(records.len());
        for (key, data) in records {
            let shard = self.shard_for(&key);
            let mut log = self.shards[shard].lock().unwrap();
            let sequence = log.next_sequence;
            log.next_sequence += 1;
            log.records.push_back(StreamRecord {
                sequence,
                arrival_ms,
                data,
            });
            out.push((shard, sequence));
        }
        self.bytes_held.fetch_add(size, Ordering::AcqRel);
        self.data_ready.notify_waiters();
        out
    }

    /// Up to `max` records of `shard` with sequence numbers after `after`.
    pub fn read(&self, shard: usize, after: Option<u64>, max: usize) -> Vec<StreamRecord> {
        let log = self.shards[shard].lock().unwrap();
        let start = match after {
            None => 0,
            Some(a) => log.records.partition_point(|r| r.sequence <= a),
        };
        log.records.iter().skip(start).take(max).cloned().collect()
    }

    /// Release the records of `shard` up to and including `through` (they are durable).
    pub fn trim(&self, shard: usize, through: u64) {
        let mut log = self.shards[shard].lock().unwrap();
        let mut freed = 0;
        while log.records.front().is_some_and(|r| r.sequence <= through) {
            freed += log.records.pop_front().map_or(0, |r| r.data.len());
        }
        drop(log);
        if freed > 0 {
            self.bytes_held.fetch_sub(freed, Ordering::AcqRel);
            self.space_ready.notify_waiters();
        }
    }

    /// No more puts will come; readers finish when they have read everything.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.data_ready.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Wait until new data may be there (or `timeout`).
    pub async fn wait_for_data(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.data_ready.notified()).await;
    }

    pub fn bytes_held(&self) -> usize {
        self.bytes_held.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ordered_reads_and_trim() {
        let s = EmbeddedStream::new("t", 2, 1 << 20);
        let put = s
            .put_records(
                (0..10)
                    .map(|i| (format!("k{i}"), Bytes::from(vec![b'x'; 10])))
                    .collect(),
            )
            .await;
        assert_eq!(put.len(), 10);
        let total: usize = (0..2).map(|sh| s.read(sh, None, 100).len()).sum();
        assert_eq!(total, 10);
        for sh in 0..2 {
            let recs = s.read(sh, None, 100);
            assert!(recs.windows(2).all(|w| w[0].sequence < w[1].sequence));
            if let Some(first) = recs.first() {
                assert_eq!(s.read(sh, Some(first.sequence), 100).len(), recs.len() - 1);
                s.trim(sh, first.sequence);
            }
        }
        assert_eq!(s.bytes_held(), 80);
    }

    #[tokio::test]
    async fn put_waits_for_space() {
        let s = std::sync::Arc::new(EmbeddedStream::new("t", 1, 100));
        s.put_records(vec![("a".into(), Bytes::from(vec![0u8; 80]))])
            .await;
        let s2 = s.clone();
        let waiter = tokio::spawn(async move {
            s2.put_records(vec![("a".into(), Bytes::from(vec![0u8; 80]))])
                .await
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiter.is_finished(),
            "put must wait while the stream is full"
        );
        let seq = s.read(0, None, 1)[0].sequence;
        s.trim(0, seq);
        waiter.await.unwrap();
        assert_eq!(s.bytes_held(), 80);
    }
}
