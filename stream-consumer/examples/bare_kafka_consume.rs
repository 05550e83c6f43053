//! The baseline of the Kafka consumer benchmark: a bare consume loop over a topic through the
//! same client (rdkafka's StreamConsumer with the consumer's own settings, a group of its own,
//! from the earliest offset) that only counts records and bytes, until no record has come for
//! 2 s. Prints `records=N bytes=B busy_ms=T records_per_s=R`, the time being from the first
//! record to the last (as the consumer's own `busy_ms`), so the group join is left out of both.
//!
//!   cargo run --release -p firelake-stream-consumer --example bare_kafka_consume -- kafka://HOST:PORT/TOPIC

use std::time::{Duration, Instant};

use firelake_core::kafka_url::KafkaUrl;
use firelake_stream_consumer::ConsumerOptions;
use firelake_stream_consumer::kafka::{KafkaOptions, KafkaStart, consumer_config};
use futures::StreamExt;
use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};

#[tokio::main]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .expect("usage: bare_kafka_consume kafka://HOST:PORT/TOPIC");
    let url = KafkaUrl::parse(&url).unwrap();
    let opts = KafkaOptions {
        group: format!("bare-{}", std::process::id()),
        url,
        start: KafkaStart::Earliest,
        common: ConsumerOptions::default(),
    };
    let consumer: StreamConsumer = consumer_config(&opts).create().unwrap();
    consumer.subscribe(&[&opts.url.topic]).unwrap();
    let mut stream = consumer.stream();
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    loop {
        let idle = if first.is_some() {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(60)
        };
        match tokio::time::timeout(idle, stream.next()).await {
            Err(_) => break,
            Ok(Some(Ok(m))) => {
                last = Instant::now();
                first.get_or_insert(last);
                n += 1;
                bytes += m.payload().map_or(0, <[u8]>::len) as u64;
            }
            Ok(Some(Err(e))) => eprintln!("consumer error: {e}"),
            Ok(None) => break,
        }
    }
    drop(stream);
    let busy = first.map_or(0.0, |f| (last - f).as_secs_f64());
    println!(
        "records={n} bytes={bytes} busy_ms={:.0} records_per_s={:.0}",
        busy * 1000.0,
        n as f64 / busy.max(1e-9)
    );
}
