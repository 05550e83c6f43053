//! The baseline of the consumer benchmark: a bare GetRecords loop over every shard of a stream
//! (same SDK client, same records per call, same 5-calls-per-second-per-shard pacing as the
//! consumer), reading from TRIM_HORIZON until the shards are caught up. Prints
//! `records=N bytes=B seconds=S records_per_s=R`.
//!
//!   cargo run --release -p firelake-stream-consumer --example bare_get_records -- STREAM [--unpaced]

use std::time::{Duration, Instant};

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::types::ShardIteratorType;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let stream = args
        .get(1)
        .expect("usage: bare_get_records STREAM [--unpaced]")
        .clone();
    let paced = !args.iter().any(|a| a == "--unpaced");
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let client = Client::new(&conf);
    let shards = client
        .list_shards()
        .stream_name(&stream)
        .send()
        .await
        .unwrap();
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for shard in shards.shards() {
        let (client, stream, id) = (client.clone(), stream.clone(), shard.shard_id().to_string());
        tasks.push(tokio::spawn(async move {
            let mut it = client
                .get_shard_iterator()
                .stream_name(&stream)
                .shard_id(&id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .unwrap()
                .shard_iterator;
            let (mut n, mut bytes) = (0u64, 0u64);
            while let Some(i) = it {
                let started = Instant::now();
                let out = client
                    .get_records()
                    .shard_iterator(i)
                    .limit(10_000)
                    .send()
                    .await
                    .unwrap();
                n += out.records().len() as u64;
                bytes += out
                    .records()
                    .iter()
                    .map(|r| r.data().as_ref().len() as u64)
                    .sum::<u64>();
                if out.records().is_empty() && out.millis_behind_latest().unwrap_or(0) == 0 {
                    break;
                }
                it = out.next_shard_iterator;
                if paced
                    && let Some(rest) = Duration::from_millis(200).checked_sub(started.elapsed())
                {
                    tokio::time::sleep(rest).await;
                }
            }
            (n, bytes)
        }));
    }
    let (mut n, mut bytes) = (0, 0);
    for t in tasks {
        let (a, b) = t.await.unwrap();
        n += a;
        bytes += b;
    }
    let s = t0.elapsed().as_secs_f64();
    println!(
        "records={n} bytes={bytes} seconds={s:.3} records_per_s={:.0}",
        n as f64 / s
    );
}
