//! librdkafka's mock cluster as a process of its own, for the Kafka consumer benchmark: a
//! Kafka-protocol cluster in memory on loopback ports that serves fetches far faster than tansu
//! does, so the consumer's own cost shows. Creates the topic, prints `bootstrap=HOST:PORT,...`
//! and serves until it is killed. The mock keeps about 5 MB per partition: size runs to fit.
//!
//!   cargo run --release -p firelake-stream-consumer --example mock_kafka_cluster -- TOPIC PARTITIONS

use std::io::Write;

use rdkafka::mocking::MockCluster;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let topic = args
        .get(1)
        .expect("usage: mock_kafka_cluster TOPIC PARTITIONS");
    let partitions: i32 = args.get(2).map_or(4, |p| p.parse().expect("PARTITIONS"));
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(topic, partitions, 1).expect("topic");
    println!("bootstrap={}", cluster.bootstrap_servers());
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
