//! The Kinesis publisher against kinesalite (started by scripts/test.sh) with partial failures
//! injected at the SDK's HTTP layer the way the service has them: the failed entries never
//! reach the stream, and only they are retried, so every record ends up on the stream exactly
//! once. (kinesis_faults.rs fails entries the emulator already stored, to count retries.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use bytes::Bytes;
use common::{DropInjector, Rule, Shared, kinesis_wire, new_stream, on_stream, unique};
use firelake_core::Lake;
use firelake_producer::dead_letter::DeadLetter;
use firelake_producer::kinesis::KinesisPublisher;
use firelake_producer::retry::RetryPolicy;
use firelake_producer::{OutgoingRecord, Publisher};

#[tokio::test]
async fn entries_that_failed_on_the_way_in_are_delivered_by_the_retry_exactly_once() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_KINESIS").is_some(),
        "kinesalite is not running: run the suite with `bash scripts/test.sh`"
    );
    let conf = firelake_aws::sdk_config().await;
    let plain = Client::new(&conf);
    let stream = unique("dropped");
    new_stream(&plain, &stream).await;
    // The first three attempts fail every fourth entry, and the fifth attempt all of them.
    let rule: Rule = Box::new(|attempt, i, _| (attempt < 3 && i % 4 == 2) || attempt == 4);
    let injector = Arc::new(DropInjector::new(kinesis_wire(), rule));
    let client = Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(&conf)
            .interceptor(Shared(injector.clone()))
            .build(),
    );
    let retry = RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        deadline: Duration::from_secs(30),
    };
    let dl = DeadLetter::new(
        Lake::from_url("memory://").unwrap(),
        "kinesis://dropped",
        &firelake_core::SourceDef::resolve("users", None).unwrap(),
    );
    let publisher = KinesisPublisher::new(client, &stream, retry, dl);
    let recs: Vec<OutgoingRecord> = (0..1200)
        .map(|i| OutgoingRecord {
            partition_key: format!("k{i}"),
            data: Bytes::from(format!(r#"{{"n":{i}}}"#)),
        })
        .collect();
    publisher.publish(recs.clone()).await.unwrap();

    // The first call of 500 lost 125 entries, their retry 31, then 8; the second call lost
    // all 500 once; only failed entries went again.
    assert_eq!(injector.failed.lock().unwrap().len(), 125 + 31 + 8 + 500);
    assert_eq!(
        *injector.reached.lock().unwrap(),
        vec![375, 94, 23, 8, 500, 200]
    );
    let seen = on_stream(&plain, &stream).await;
    assert_eq!(seen.len(), 1200, "every record is on the stream");
    for r in &recs {
        assert_eq!(
            seen[&r.partition_key],
            vec![r.data.clone()],
            "{}",
            r.partition_key
        );
    }
}
