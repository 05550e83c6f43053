//! librdkafka's mock cluster: a real Kafka-protocol cluster inside librdkafka, on loopback
//! ports, hosted by the test process, with fault injection.

use rdkafka::ClientConfig;
use rdkafka::bindings::{
    rd_kafka_handle_mock_cluster, rd_kafka_mock_group_initial_rebalance_delay_ms,
};
use rdkafka::producer::{FutureProducer, Producer};

/// A producer that hosts a mock cluster of `brokers` brokers (idempotent, 5 ms linger) with
/// `topic` created on `partitions` partitions; returns it and the cluster's bootstrap servers.
/// The cluster lives as long as the producer.
pub fn cluster(brokers: u32, topic: &str, partitions: i32) -> (FutureProducer, String) {
    let producer: FutureProducer = ClientConfig::new()
        .set("test.mock.num.brokers", brokers.to_string())
        .set("linger.ms", "5")
        .set("enable.idempotence", "true")
        .create()
        .expect("mock cluster");
    no_rebalance_delay(&producer);
    let bootstrap = {
        let mock = producer.client().mock_cluster().expect("a mock cluster");
        mock.create_topic(topic, partitions, 1).expect("mock topic");
        mock.bootstrap_servers()
    };
    (producer, bootstrap)
}

/// The mock waits 3 s before a group's first rebalance; tests need none. rdkafka's safe
/// `MockCluster` has no setter for it, hence the raw call.
fn no_rebalance_delay(producer: &FutureProducer) {
    let client = producer.client();
    // SAFETY: `native_ptr` is the live rd_kafka_t handle `producer` owns (it outlives this
    // call); rd_kafka_handle_mock_cluster only reads it and returns the cluster it hosts, or
    // null, which is checked before use.
    let mc = unsafe { rd_kafka_handle_mock_cluster(client.native_ptr()) };
    assert!(!mc.is_null(), "the producer hosts no mock cluster");
    // SAFETY: `mc` is non-null and owned by the handle above, which is still alive.
    unsafe { rd_kafka_mock_group_initial_rebalance_delay_ms(mc, 0) };
}
