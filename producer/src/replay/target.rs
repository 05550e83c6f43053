//! Where replayed batches go, and how the replay learns that a batch survives this process
//! (only then may the progress file move past it).
//!
//! - A broker (Kinesis, Kafka): its publisher returns `Ok` only when the broker has the
//!   records, so a published batch is confirmed at once: [`PublisherTarget`] wraps any
//!   [`Publisher`].
//! - The embedded stream lives in this process and dies with it: a batch is confirmed when the
//!   stream-consumer has written it to the lake. The consumer releases records from the stream
//!   (`trim`) only after the files holding them are durable and its checkpoint moved, so a
//!   batch is confirmed once none of its records is left in the stream: [`EmbeddedTarget`].

use std::sync::Arc;

use firelake_core::stream::EmbeddedStream;
use futures::future::BoxFuture;

use super::ReplayError;
use crate::{EmbeddedPublisher, OutgoingRecord, Publisher};

/// What a target needs to tell later whether a batch is durable: per shard, the sequence
/// number of the batch's last record there (empty when the batch was durable on publish).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mark {
    last_sequence: Vec<(usize, u64)>,
}

pub trait ReplayTarget: Send {
    fn describe(&self) -> String;
    /// Publish one batch (all records or an error).
    fn publish(&mut self, records: Vec<OutgoingRecord>)
    -> BoxFuture<'_, Result<Mark, ReplayError>>;
    /// Whether the batch published with `mark` (and so every earlier one) survives this process.
    fn is_durable(&self, mark: &Mark) -> bool;
    /// No more batches: returns when everything published is durable.
    fn finish(&mut self) -> BoxFuture<'_, Result<(), ReplayError>>;
}

/// A durable broker behind a publisher (Kinesis, Kafka): confirmed on publish.
pub struct PublisherTarget {
    publisher: Arc<dyn Publisher>,
}

impl PublisherTarget {
    pub fn new(publisher: Arc<dyn Publisher>) -> PublisherTarget {
        PublisherTarget { publisher }
    }
}

impl ReplayTarget for PublisherTarget {
    fn describe(&self) -> String {
        self.publisher.describe()
    }

    fn publish(
        &mut self,
        records: Vec<OutgoingRecord>,
    ) -> BoxFuture<'_, Result<Mark, ReplayError>> {
        Box::pin(async move {
            self.publisher.publish(records).await?;
            Ok(Mark::default())
        })
    }

    fn is_durable(&self, _: &Mark) -> bool {
        true
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<(), ReplayError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The consumer task of an embedded target: ends when the stream is closed and drained.
pub type ConsumerTask = BoxFuture<'static, Result<(), String>>;

/// The in-process stream, with its consumer running beside the replay. The replay must be the
/// stream's only producer (it owns the stream), so a shard's sequence numbers after its last
/// known one are this replay's records.
pub struct EmbeddedTarget {
    stream: Arc<EmbeddedStream>,
    publisher: EmbeddedPublisher,
    /// Per shard: the sequence number of the last record this replay saw there (a lower
    /// bound when a batch left the stream before it was looked at).
    last_sequence: Vec<Option<u64>>,
    consumer: Option<ConsumerTask>,
}

impl EmbeddedTarget {
    pub fn new(stream: Arc<EmbeddedStream>, consumer: ConsumerTask) -> EmbeddedTarget {
        EmbeddedTarget {
            publisher: EmbeddedPublisher::new(stream.clone()),
            last_sequence: vec![None; stream.shard_count()],
            stream,
            consumer: Some(consumer),
        }
    }

    fn consumer_stopped(result: Result<(), String>) -> ReplayError {
        ReplayError::Consumer(match result {
            Ok(()) => "it stopped before the replay ended".into(),
            Err(e) => e,
        })
    }
}

enum Raced<T> {
    Published(T),
    ConsumerDone(Result<(), String>),
}

impl ReplayTarget for EmbeddedTarget {
    fn describe(&self) -> String {
        self.publisher.describe()
    }

    fn publish(
        &mut self,
        records: Vec<OutgoingRecord>,
    ) -> BoxFuture<'_, Result<Mark, ReplayError>> {
        Box::pin(async move {
            let mut per_shard = vec![0usize; self.stream.shard_count()];
            for r in &records {
                per_shard[self.stream.shard_for(&r.partition_key)] += 1;
            }
            let Some(consumer) = self.consumer.as_mut() else {
                return Err(Self::consumer_stopped(Ok(())));
            };
            // A put waits while the stream is full; should the consumer fail meanwhile, the
            // space would never come: race the two.
            let raced = tokio::select! {
                r = self.publisher.publish(records) => Raced::Published(r),
                done = consumer => Raced::ConsumerDone(done),
            };
            match raced {
                Raced::Published(r) => r?,
                Raced::ConsumerDone(done) => {
                    self.consumer = None;
                    return Err(Self::consumer_stopped(done));
                }
            }
            let mut mark = Mark::default();
            for (shard, n) in per_shard.into_iter().enumerate() {
                if n == 0 {
                    continue;
                }
                // This batch's records on the shard are the first `n` after the last one seen
                // (fewer if the consumer already released some: those are durable).
                let held = self.stream.read(shard, self.last_sequence[shard], n);
                if let Some(last) = held.last() {
                    self.last_sequence[shard] = Some(last.sequence);
                    mark.last_sequence.push((shard, last.sequence));
                }
            }
            Ok(mark)
        })
    }

    fn is_durable(&self, mark: &Mark) -> bool {
        mark.last_sequence.iter().all(|&(shard, sequence)| {
            // Records leave a shard in order, so the batch is out once the oldest record
            // still held is newer than its last one.
            self.stream
                .read(shard, None, 1)
                .first()
                .is_none_or(|oldest| oldest.sequence > sequence)
        })
    }

    fn finish(&mut self) -> BoxFuture<'_, Result<(), ReplayError>> {
        Box::pin(async move {
            self.stream.close();
            match self.consumer.take() {
                Some(consumer) => consumer.await.map_err(ReplayError::Consumer),
                None => Err(Self::consumer_stopped(Ok(()))),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn records(n: usize) -> Vec<OutgoingRecord> {
        (0..n)
            .map(|i| OutgoingRecord {
                partition_key: format!("k{i}"),
                data: Bytes::from(vec![b'x'; 10]),
            })
            .collect()
    }

    /// Stand-in for the stream-consumer: releases what it is told to, in order per shard.
    fn release_all(stream: &EmbeddedStream) {
        for shard in 0..stream.shard_count() {
            if let Some(last) = stream.read(shard, None, usize::MAX).last() {
                stream.trim(shard, last.sequence);
            }
        }
    }

    #[tokio::test]
    async fn embedded_batches_are_durable_once_released_by_the_consumer() {
        let stream = Arc::new(EmbeddedStream::new("t", 2, 1 << 20));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let consumer: ConsumerTask = Box::pin(async move {
            let _ = rx.await;
            Ok(())
        });
        let mut target = EmbeddedTarget::new(stream.clone(), consumer);
        let first = target.publish(records(20)).await.unwrap();
        let second = target.publish(records(20)).await.unwrap();
        assert!(!target.is_durable(&first) && !target.is_durable(&second));
        // Release the first batch only: shard by shard, up to its last record.
        for &(shard, seq) in &first.last_sequence {
            stream.trim(shard, seq);
        }
        assert!(target.is_durable(&first));
        assert!(!target.is_durable(&second));
        release_all(&stream);
        assert!(target.is_durable(&second));
        // With the stream emptied, the next batch is tracked from the last sequence seen.
        let third = target.publish(records(20)).await.unwrap();
        assert!(!target.is_durable(&third));
        release_all(&stream);
        assert!(target.is_durable(&third));
        assert!(target.is_durable(&Mark::default()));
        tx.send(()).unwrap();
        target.finish().await.unwrap();
        assert!(stream.is_closed());
    }

    #[tokio::test]
    async fn a_failed_consumer_fails_a_waiting_publish() {
        // Capacity for one batch: the second put waits for space that never comes.
        let stream = Arc::new(EmbeddedStream::new("t", 1, 100));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let consumer: ConsumerTask = Box::pin(async move {
            let _ = rx.await;
            Err("the lake is gone".to_string())
        });
        let mut target = EmbeddedTarget::new(stream, consumer);
        target.publish(records(10)).await.unwrap();
        let waiting = tokio::spawn(async move {
            let r = target.publish(records(10)).await;
            (r, target)
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        tx.send(()).unwrap();
        let (r, mut target) = waiting.await.unwrap();
        let e = r.unwrap_err().to_string();
        assert!(e.contains("the lake is gone"), "{e}");
        assert!(target.finish().await.is_err());
    }
}
