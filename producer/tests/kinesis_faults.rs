//! The Kinesis publisher against kinesalite (started by scripts/test.sh) with faults injected
//! at the SDK's HTTP layer: PutRecords partial failures, throttled calls, and a deadline that
//! runs out. Nothing is lost: every record reaches the stream or the dead-letter location.

mod common;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::interceptors::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextMut,
};
use aws_sdk_kinesis::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
use aws_sdk_kinesis::types::PutRecordsResultEntry;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use common::{Shared, new_stream, on_stream, unique};
use firelake_core::Lake;
use firelake_producer::dead_letter::DeadLetter;
use firelake_producer::kinesis::KinesisPublisher;
use firelake_producer::retry::RetryPolicy;
use firelake_producer::{OutgoingRecord, PublishError, Publisher};
use serde_json::Value;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The first `n` PutRecords answers mark every other entry failed.
    PartialFailure(usize),
    /// The first `n` PutRecords calls are answered ProvisionedThroughputExceededException.
    Throttle(usize),
    /// Every answer marks every entry failed.
    AlwaysFail,
}

#[derive(Debug)]
struct Injector {
    fault: Fault,
    calls: AtomicUsize,
    /// Partition keys of the entries of the current request, in order.
    request_keys: Mutex<Vec<String>>,
    /// Partition keys answered as failed.
    failed: Mutex<Vec<String>>,
}

impl Injector {
    fn new(fault: Fault) -> Injector {
        Injector {
            fault,
            calls: AtomicUsize::new(0),
            request_keys: Mutex::new(Vec::new()),
            failed: Mutex::new(Vec::new()),
        }
    }
}

impl Intercept for Injector {
    fn name(&self) -> &'static str {
        "fault-injector"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body: Value = serde_json::from_slice(ctx.request().body().bytes().unwrap_or_default())?;
        *self.request_keys.lock().unwrap() = body["Records"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| r["PartitionKey"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        Ok(())
    }

    /// Throttling: the whole answer becomes a ProvisionedThroughputExceededException.
    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Fault::Throttle(n) = self.fault
            && self.calls.fetch_add(1, Ordering::SeqCst) < n
        {
            let resp = ctx.response_mut();
            *resp.status_mut() = 400.try_into()?;
            *resp.body_mut() = SdkBody::from(
                r#"{"__type":"ProvisionedThroughputExceededException","message":"injected"}"#,
            );
        }
        Ok(())
    }

    /// Partial failures: entries of the (already stored) answer are turned into failures.
    fn modify_before_attempt_completion(
        &self,
        ctx: &mut FinalizerInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let fail_all = match self.fault {
            Fault::PartialFailure(n) if self.calls.fetch_add(1, Ordering::SeqCst) < n => false,
            Fault::AlwaysFail => true,
            _ => return Ok(()),
        };
        let keys = self.request_keys.lock().unwrap().clone();
        let Some(Ok(output)) = ctx.output_or_error_mut() else {
            return Ok(());
        };
        let Some(out) = output.downcast_mut::<PutRecordsOutput>() else {
            return Ok(());
        };
        let mut failed = 0;
        for (i, entry) in out.records.iter_mut().enumerate() {
            if fail_all || i % 2 == 1 {
                *entry = PutRecordsResultEntry::builder()
                    .error_code("ProvisionedThroughputExceededException")
                    .error_message("injected")
                    .build();
                failed += 1;
                self.failed.lock().unwrap().push(keys[i].clone());
            }
        }
        out.failed_record_count = Some(failed);
        Ok(())
    }
}

async fn sdk() -> aws_config::SdkConfig {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_KINESIS").is_some(),
        "kinesalite is not running: run the suite with `bash scripts/test.sh`"
    );
    firelake_aws::sdk_config().await
}

/// How many times each record (by partition key) is in the stream.
async fn stream_counts(client: &Client, name: &str) -> HashMap<String, usize> {
    on_stream(client, name)
        .await
        .into_iter()
        .map(|(key, copies)| (key, copies.len()))
        .collect()
}

fn records(n: usize, tag: &str) -> Vec<OutgoingRecord> {
    (0..n)
        .map(|i| OutgoingRecord {
            partition_key: format!("{tag}-{i}"),
            data: Bytes::from(format!(r#"{{"login":{{"uuid":"{tag}-{i}"}}}}"#)),
        })
        .collect()
}

fn quick_retry(deadline: Duration) -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        deadline,
    }
}

#[tokio::test]
async fn partial_failures_retry_only_the_failed_entries() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let conf = sdk().await;
    let plain = Client::new(&conf);
    let stream = unique("partial");
    new_stream(&plain, &stream).await;
    let injector = std::sync::Arc::new(Injector::new(Fault::PartialFailure(2)));
    let client = Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(&conf)
            .interceptor(Shared(injector.clone()))
            .build(),
    );
    let dl = DeadLetter::new(
        Lake::from_url("memory://").unwrap(),
        "test",
        &firelake_core::SourceDef::resolve("users", None).unwrap(),
    );
    let publisher =
        KinesisPublisher::new(client, &stream, quick_retry(Duration::from_secs(30)), dl);
    // 1200 records: calls of 500, 500 and 200; the first two answers fail every other entry.
    publisher.publish(records(1200, "p")).await.unwrap();
    // Each answer marked failed is one more copy of that record on the stream (the emulator
    // had stored it); a record never marked failed was sent exactly once: only failed entries
    // are retried.
    let mut marks: HashMap<String, usize> = HashMap::new();
    for k in injector.failed.lock().unwrap().iter() {
        *marks.entry(k.clone()).or_insert(0) += 1;
    }
    assert!(
        marks.len() >= 250,
        "the first answer failed half of its 500 entries"
    );
    let counts = stream_counts(&plain, &stream).await;
    assert_eq!(counts.len(), 1200, "every record is on the stream");
    for (k, n) in &counts {
        assert_eq!(*n, 1 + marks.get(k).copied().unwrap_or(0), "{k}");
    }
}

#[tokio::test]
async fn throttled_calls_are_retried_until_they_pass() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let conf = sdk().await;
    let plain = Client::new(&conf);
    let stream = unique("throttle");
    new_stream(&plain, &stream).await;
    let injector = std::sync::Arc::new(Injector::new(Fault::Throttle(5)));
    let client = Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(&conf)
            .interceptor(Shared(injector.clone()))
            .build(),
    );
    let dl = DeadLetter::new(
        Lake::from_url("memory://").unwrap(),
        "test",
        &firelake_core::SourceDef::resolve("users", None).unwrap(),
    );
    let publisher =
        KinesisPublisher::new(client, &stream, quick_retry(Duration::from_secs(30)), dl);
    publisher.publish(records(300, "t")).await.unwrap();
    assert!(injector.calls.load(Ordering::SeqCst) > 5);
    let counts = stream_counts(&plain, &stream).await;
    assert_eq!(counts.len(), 300, "every record is on the stream");
}

#[tokio::test]
async fn what_cannot_be_sent_by_the_deadline_is_dead_lettered_with_its_reason() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let conf = sdk().await;
    let plain = Client::new(&conf);
    let stream = unique("dead");
    new_stream(&plain, &stream).await;
    let client = Client::from_conf(
        aws_sdk_kinesis::config::Builder::from(&conf)
            .interceptor(Shared(std::sync::Arc::new(Injector::new(
                Fault::AlwaysFail,
            ))))
            .build(),
    );
    let lake = Lake::from_url("memory://").unwrap();
    let dl = DeadLetter::new(
        lake.clone(),
        "kinesis://dead",
        &firelake_core::SourceDef::resolve("users", None).unwrap(),
    );
    let publisher =
        KinesisPublisher::new(client, &stream, quick_retry(Duration::from_millis(300)), dl);
    let mut recs = records(50, "d");
    recs.push(OutgoingRecord {
        partition_key: "too-big".into(),
        data: Bytes::from(vec![b'x'; 1024 * 1024 + 1]),
    });
    let err = publisher.publish(recs).await.unwrap_err();
    let PublishError::Undelivered { count, .. } = err else {
        panic!("expected Undelivered, got {err}")
    };
    assert_eq!(count, 51);
    let files = lake.list("_dead_letter").await.unwrap();
    assert_eq!(files.len(), 1);
    let body = lake.get(&files[0].key).await.unwrap().unwrap();
    let lines: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 51);
    let big = lines
        .iter()
        .find(|l| l["partition_key"] == "too-big")
        .unwrap();
    assert!(big["reason"].as_str().unwrap().contains("1 MiB"));
    let other = lines.iter().find(|l| l["partition_key"] == "d-7").unwrap();
    assert!(
        other["reason"]
            .as_str()
            .unwrap()
            .contains("ProvisionedThroughputExceeded")
    );
    let data = firelake_core::kept::KeptData::bytes_of(other).unwrap();
    assert_eq!(data, br#"{"login":{"uuid":"d-7"}}"#);
}
