//! The Kafka publisher against librdkafka's mock cluster (a real Kafka-protocol cluster inside
//! librdkafka) with broker faults: retriable produce errors are ridden out without a duplicate
//! (idempotence), and records the broker refuses, or that the producer cannot send, are
//! dead-lettered with the reason while the rest are delivered. Nothing is silently dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use firelake_core::Lake;
use firelake_core::kafka_url::KafkaUrl;
use firelake_producer::dead_letter::DeadLetter;
use firelake_producer::kafka::KafkaPublisher;
use firelake_producer::retry::RetryPolicy;
use firelake_producer::{OutgoingRecord, PublishError, Publisher};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, DefaultProducerContext, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 3;

/// A mock cluster of three brokers, kept alive by an idle producer that owns it.
struct Cluster {
    owner: BaseProducer,
    bootstrap: String,
}

impl Cluster {
    fn new() -> Cluster {
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", "3")
            .create()
            .unwrap();
        let bootstrap = {
            let mock = owner.client().mock_cluster().unwrap();
            mock.create_topic(TOPIC, PARTITIONS, 1).unwrap();
            mock.bootstrap_servers()
        };
        Cluster { owner, bootstrap }
    }

    fn mock(&self) -> MockCluster<'_, DefaultProducerContext> {
        self.owner.client().mock_cluster().unwrap()
    }

    fn publisher(&self, dead_letter: &Lake, deadline: Duration, query: &str) -> KafkaPublisher {
        let url = KafkaUrl::parse(&format!("kafka://{}/{TOPIC}{query}", self.bootstrap)).unwrap();
        KafkaPublisher::new(
            url.clone(),
            RetryPolicy {
                deadline,
                ..Default::default()
            },
            DeadLetter::new(
                dead_letter.clone(),
                &url.to_string(),
                &firelake_core::SourceDef::resolve("users", None).unwrap(),
            ),
        )
        .unwrap()
    }

    /// Every message on the topic: key -> copies.
    fn read_all(&self) -> BTreeMap<String, usize> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", "reader")
            .set("enable.partition.eof", "true")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
                .unwrap();
        }
        c.assign(&tpl).unwrap();
        drop(tpl);
        let mut keys = BTreeMap::new();
        let mut at_end = BTreeSet::new();
        while at_end.len() < PARTITIONS as usize {
            match c.poll(Duration::from_secs(10)) {
                Some(Ok(m)) => {
                    let k = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
                    *keys.entry(k).or_insert(0) += 1;
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                    at_end.insert(p);
                }
                Some(Err(e)) => panic!("reading the topic: {e}"),
                None => panic!("no message nor end of partition within 10 s"),
            }
        }
        drop(c);
        keys
    }
}

fn records(n: usize, size: usize) -> Vec<OutgoingRecord> {
    (0..n)
        .map(|i| OutgoingRecord {
            partition_key: format!("order-{i:05}"),
            data: Bytes::from(format!(
                "{{\"order_id\":{i},\"pad\":\"{}\"}}",
                "x".repeat(size)
            )),
        })
        .collect()
}

/// The dead-lettered records: key -> reason.
fn dead_letters(lake: &Lake) -> BTreeMap<String, String> {
    let root = lake.local_root().unwrap().join("_dead_letter");
    let mut out = BTreeMap::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let data = firelake_core::kept::KeptData::bytes_of(&v).unwrap();
                assert!(data.starts_with(b"{\"order_id\":"));
                out.insert(
                    v["partition_key"].as_str().unwrap().to_string(),
                    v["reason"].as_str().unwrap().to_string(),
                );
            }
        }
    }
    out
}

fn lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::from_url(&format!("file://{}", dir.path().display())).unwrap();
    (dir, lake)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retriable_broker_errors_are_ridden_out_without_duplicates() {
    let cluster = Cluster::new();
    let (_dir, state) = lake();
    {
        use RDKafkaRespErr::*;
        cluster.mock().request_errors(
            RDKafkaApiKey::Produce,
            &[
                RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RD_KAFKA_RESP_ERR__TRANSPORT,
                RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            ],
        );
    }
    let publisher = cluster.publisher(&state, Duration::from_secs(30), "");
    publisher.publish(records(3000, 50)).await.unwrap();
    let keys = cluster.read_all();
    assert_eq!(keys.len(), 3000, "every record delivered");
    assert!(
        keys.values().all(|n| *n == 1),
        "idempotence: no record twice"
    );
    assert!(dead_letters(&state).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_records_are_dead_lettered_with_the_brokers_reason() {
    let cluster = Cluster::new();
    let (_dir, state) = lake();
    // The broker refuses the next produce requests for good (not retriable).
    cluster.mock().request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 3],
    );
    let publisher = cluster.publisher(&state, Duration::from_secs(30), "");
    let err = publisher.publish(records(600, 50)).await.unwrap_err();
    let PublishError::Undelivered {
        count,
        dead_letter,
        first_reason,
    } = err
    else {
        panic!("expected Undelivered, got {err}")
    };
    assert!(
        first_reason.contains("Topic authorization failed"),
        "{first_reason}"
    );
    assert!(dead_letter.contains("/_dead_letter/"), "{dead_letter}");
    let dead = dead_letters(&state);
    assert_eq!(dead.len(), count);
    assert!(count > 0);
    // Every record is either on the topic or dead-lettered with its reason, never both.
    let delivered = cluster.read_all();
    for i in 0..600 {
        let k = format!("order-{i:05}");
        assert!(
            delivered.contains_key(&k) != dead.contains_key(&k),
            "{k}: delivered {:?}, dead-lettered {:?}",
            delivered.get(&k),
            dead.get(&k)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_the_producer_cannot_send_are_dead_lettered_and_the_rest_delivered() {
    let cluster = Cluster::new();
    let (_dir, state) = lake();
    // Records over message.max.bytes are refused before they are queued; a partition whose
    // leader is gone stays unreachable until the delivery timeout.
    let publisher = cluster.publisher(&state, Duration::from_secs(3), "?message.max.bytes=2000");
    let mut batch = records(200, 50);
    batch[17].data = Bytes::from(format!(
        "{{\"order_id\":17,\"pad\":\"{}\"}}",
        "y".repeat(5000)
    ));
    let err = publisher.publish(batch).await.unwrap_err();
    let PublishError::Undelivered {
        count,
        first_reason,
        ..
    } = err
    else {
        panic!("expected Undelivered, got {err}")
    };
    assert_eq!(count, 1);
    assert!(
        first_reason.contains("MessageSizeTooLarge"),
        "{first_reason}"
    );
    let dead = dead_letters(&state);
    assert_eq!(dead.keys().collect::<Vec<_>>(), vec!["order-00017"]);
    let delivered = cluster.read_all();
    assert_eq!(delivered.len(), 199);
    assert!(!delivered.contains_key("order-00017"));

    // A partition without a leader: its records time out and are dead-lettered.
    cluster.mock().partition_leader(TOPIC, 1, None).unwrap();
    let (_dir2, state2) = lake();
    let publisher = cluster.publisher(&state2, Duration::from_secs(3), "");
    let err = publisher.publish(records(300, 50)).await.unwrap_err();
    let PublishError::Undelivered {
        count,
        first_reason,
        ..
    } = err
    else {
        panic!("expected Undelivered, got {err}")
    };
    assert!(count > 0 && count < 300, "{count}");
    assert!(first_reason.contains("timed out"), "{first_reason}");
    assert_eq!(dead_letters(&state2).len(), count);
}
