//! The Firehose Direct PUT publisher against moto_server's Firehose (started by
//! scripts/test.sh), which writes each PutRecordBatch call's records, concatenated, to one S3
//! object as the call comes in: every record published arrives exactly once, in order within
//! its call, one JSON object per line; a record over Firehose's limit is dead-lettered with
//! its reason; partial failures (injected at the SDK's HTTP layer: the failed entries never
//! reach moto) lose nothing and duplicate nothing; failures past the deadline leave the
//! records in the dead-letter location and fail the tick.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_firehose::Client;
use bytes::Bytes;
use common::{DropInjector, Rule, Shared, delivered, firehose_tool, firehose_wire, unique};
use firelake_core::{Cleaner, Lake, SourceDef};
use firelake_producer::dead_letter::DeadLetter;
use firelake_producer::firehose::{FirehosePublisher, MAX_BYTES_PER_CALL, MAX_RECORD_BYTES};
use firelake_producer::retry::RetryPolicy;
use firelake_producer::{OutgoingRecord, PublishError, Publisher, publish_batch};
use serde_json::Value;

const BUCKET: &str = "firelake-firehose-tests";

/// A fresh delivery stream writing under its own prefix; returns (stream, prefix).
fn new_stream(tag: &str) -> (String, String) {
    let stream = unique(tag);
    let prefix = format!("{stream}/");
    firehose_tool(&["create", BUCKET, &stream, &prefix]);
    (stream, prefix)
}

async fn client(injector: Option<Arc<DropInjector>>) -> Client {
    let conf = firelake_aws::sdk_config().await;
    let mut b = aws_sdk_firehose::config::Builder::from(&conf);
    if let Some(i) = injector {
        b = b.interceptor(Shared(i));
    }
    Client::from_conf(b.build())
}

fn quick_retry(deadline: Duration) -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        deadline,
    }
}

fn record(id: &str, pad: usize) -> OutgoingRecord {
    OutgoingRecord {
        partition_key: id.into(),
        data: Bytes::from(format!(r#"{{"id":"{id}","pad":"{}"}}"#, "x".repeat(pad))),
    }
}

fn id_of(line: &[u8]) -> String {
    let v: Value = serde_json::from_slice(line)
        .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line:.80?}"));
    v["id"].as_str().unwrap().to_string()
}

/// The delivered objects as lines of ids, after checking the framing: every object is whole
/// lines, each one JSON object.
fn delivered_ids(prefix: &str) -> Vec<Vec<String>> {
    delivered(BUCKET, prefix)
        .into_iter()
        .map(|(key, body)| {
            assert_eq!(body.last(), Some(&b'\n'), "{key} ends mid-line");
            body[..body.len() - 1]
                .split(|b| *b == b'\n')
                .map(id_of)
                .collect()
        })
        .collect()
}

/// Every id of `sent` is delivered exactly once, and within each object (one call) in the
/// order it was sent.
fn assert_exactly_once_in_order(objects: &[Vec<String>], sent: &[String]) {
    let position: HashMap<&str, usize> = sent
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut seen = vec![0usize; sent.len()];
    for obj in objects {
        let at: Vec<usize> = obj
            .iter()
            .map(|id| {
                *position
                    .get(id.as_str())
                    .unwrap_or_else(|| panic!("{id} was not sent"))
            })
            .collect();
        assert!(
            at.windows(2).all(|w| w[0] < w[1]),
            "out of order in a call: {at:?}"
        );
        for i in at {
            seen[i] += 1;
        }
    }
    let wrong: Vec<_> = seen
        .iter()
        .enumerate()
        .filter(|(_, n)| **n != 1)
        .map(|(i, n)| (&sent[i], *n))
        .collect();
    assert!(wrong.is_empty(), "not delivered exactly once: {wrong:?}");
}

async fn dead_letters(lake: &Lake) -> Vec<Value> {
    let mut lines = Vec::new();
    for f in lake.list("_dead_letter").await.unwrap() {
        let body = lake.get(&f.key).await.unwrap().unwrap();
        for l in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            lines.push(serde_json::from_slice(l).unwrap());
        }
    }
    lines
}

fn data_of(dead_letter: &Value) -> Vec<u8> {
    firelake_core::kept::KeptData::bytes_of(dead_letter).unwrap()
}

#[tokio::test]
async fn every_record_arrives_exactly_once_in_order_one_json_object_per_line() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let (stream, prefix) = new_stream("fh-once");
    let dl = DeadLetter::new(
        Lake::from_url("memory://").unwrap(),
        "firehose://once",
        &firelake_core::SourceDef::resolve("users", None).unwrap(),
    );
    let publisher = FirehosePublisher::new(
        client(None).await,
        &stream,
        quick_retry(Duration::from_secs(30)),
        dl,
    );
    // 1200 small records (calls of 500 by count), then six of the largest size that fits
    // (three per call by bytes: base64 of four times 1,000 KiB would pass 4 MiB), then a
    // pretty-printed record over several lines.
    let mut recs: Vec<OutgoingRecord> = (0..1200)
        .map(|i| record(&format!("s{i}"), i % 50))
        .collect();
    let big_pad = MAX_RECORD_BYTES - record("b0", 0).data.len() - 1;
    recs.extend((0..6).map(|i| record(&format!("b{i}"), big_pad)));
    assert_eq!(recs.last().unwrap().data.len() + 1, MAX_RECORD_BYTES);
    recs.push(OutgoingRecord {
        partition_key: "pretty".into(),
        data: Bytes::from_static(b"{\n  \"id\": \"pretty\",\n  \"pad\": \"a\\nb\"\n}"),
    });
    let sent: Vec<String> = recs.iter().map(|r| id_of(&r.data)).collect();
    publisher.publish(recs).await.unwrap();

    let objects = delivered_ids(&prefix);
    assert_exactly_once_in_order(&objects, &sent);
    let mut sizes: Vec<usize> = objects.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    // 500 + 500 small; the last 200 small with three big (the fourth would pass 4 MiB);
    // three big and the pretty one.
    assert_eq!(sizes, vec![4, 203, 500, 500]);
    for (key, body) in delivered(BUCKET, &prefix) {
        assert!(
            body.len().div_ceil(3) * 4 <= MAX_BYTES_PER_CALL,
            "{key}: {} bytes",
            body.len()
        );
    }
}

#[tokio::test]
async fn a_record_over_the_limit_is_rejected_with_its_reason_and_the_rest_delivered() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let (stream, prefix) = new_stream("fh-big");
    let lake = Lake::from_url("memory://").unwrap();
    let dl = DeadLetter::new(
        lake.clone(),
        "firehose://big",
        &firelake_core::SourceDef::resolve("users", None).unwrap(),
    );
    let publisher = FirehosePublisher::new(
        client(None).await,
        &stream,
        quick_retry(Duration::from_secs(30)),
        dl,
    );
    let fits = MAX_RECORD_BYTES - record("fits", 0).data.len() - 1;
    let recs = vec![
        record("a", 1),
        record("over", fits + 1), // one byte over, counting the newline
        record("fits", fits),
        record("z", 1),
    ];
    let err = publisher.publish(recs.clone()).await.unwrap_err();
    let PublishError::Undelivered {
        count,
        first_reason,
        ..
    } = &err
    else {
        panic!("expected Undelivered, got {err}")
    };
    assert_eq!(*count, 1);
    assert_eq!(
        first_reason,
        &format!(
            "record of {} bytes (data + newline) exceeds Firehose's 1,000 KiB limit",
            MAX_RECORD_BYTES + 1
        )
    );
    let dead = dead_letters(&lake).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["reason"].as_str().unwrap(), first_reason);
    assert_eq!(data_of(&dead[0]), recs[1].data.to_vec(), "kept as it came");
    assert_exactly_once_in_order(
        &delivered_ids(&prefix),
        &["a".into(), "fits".into(), "z".into()],
    );
}

#[tokio::test]
async fn partial_failures_are_retried_for_the_failed_entries_and_lose_nothing() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let (stream, prefix) = new_stream("fh-partial");
    // The first four attempts fail every third entry; the emulator never gets those.
    let rule: Rule = Box::new(|attempt, i, _| attempt < 4 && i % 3 == 1);
    let injector = Arc::new(DropInjector::new(firehose_wire(), rule));
    let dl = DeadLetter::new(
        Lake::from_url("memory://").unwrap(),
        "firehose://partial",
        &firelake_core::SourceDef::resolve("users", None).unwrap(),
    );
    let publisher = FirehosePublisher::new(
        client(Some(injector.clone())).await,
        &stream,
        quick_retry(Duration::from_secs(30)),
        dl,
    );
    let recs: Vec<OutgoingRecord> = (0..1200).map(|i| record(&format!("p{i}"), i % 7)).collect();
    let sent: Vec<String> = recs.iter().map(|r| id_of(&r.data)).collect();
    publisher.publish(recs).await.unwrap();

    // The first call of 500 lost 167 entries, their retry 56 of them, then 19, then 6; the
    // fifth attempt delivered the last 6, then the calls of 500 and 200 went through whole.
    let failed = injector.failed.lock().unwrap().len();
    assert_eq!(failed, 167 + 56 + 19 + 6);
    let reached = injector.reached.lock().unwrap().clone();
    assert_eq!(reached, vec![333, 111, 37, 13, 6, 500, 200]);
    let objects = delivered_ids(&prefix);
    assert_exactly_once_in_order(&objects, &sent);
    // One object per call that reached moto: nothing but the entries sent landed.
    let mut per_object: Vec<usize> = objects.iter().map(Vec::len).collect();
    let mut per_call = reached;
    per_object.sort_unstable();
    per_call.sort_unstable();
    assert_eq!(per_object, per_call);
}

#[tokio::test]
async fn failures_past_the_deadline_are_dead_lettered_and_fail_the_tick() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let (stream, prefix) = new_stream("fh-dead");
    // Every entry of a "poison" record fails, every time.
    let rule: Rule = Box::new(|_, _, data| memchr::memmem::find(data, b"poison").is_some());
    let injector = Arc::new(DropInjector::new(firehose_wire(), rule));
    let lake = Lake::from_url("memory://").unwrap();
    let dl = DeadLetter::new(
        lake.clone(),
        "firehose://dead",
        &firelake_core::SourceDef::resolve("users", None).unwrap(),
    );
    let publisher = FirehosePublisher::new(
        client(Some(injector.clone())).await,
        &stream,
        quick_retry(Duration::from_millis(400)),
        dl,
    );
    let raw: Vec<Vec<u8>> = (0..100)
        .map(|i| {
            let kind = if i % 10 == 3 { "poison" } else { "fine" };
            format!(r#"{{"id":"d{i}","kind":"{kind}"}}"#).into_bytes()
        })
        .collect();
    let cleaner = Cleaner::new(Arc::new(SourceDef::resolve("users", None).unwrap()));
    // What a producer tick does with its records.
    let err = publish_batch(&cleaner, &publisher, raw.clone())
        .await
        .unwrap_err();
    let PublishError::Undelivered { count, .. } = err else {
        panic!("expected Undelivered, got {err}")
    };
    assert_eq!(count, 10);
    assert!(injector.attempts() > 2, "retried until the deadline");

    let dead = dead_letters(&lake).await;
    let mut dead_data: Vec<Vec<u8>> = dead.iter().map(data_of).collect();
    dead_data.sort();
    let mut poison: Vec<Vec<u8>> = raw
        .iter()
        .filter(|r| memchr::memmem::find(r, b"poison").is_some())
        .cloned()
        .collect();
    poison.sort();
    assert_eq!(dead_data, poison);
    for d in &dead {
        assert_eq!(
            d["reason"],
            "undelivered at the deadline; last error ServiceUnavailableException: injected"
        );
    }
    let fine: Vec<String> = raw
        .iter()
        .map(|r| id_of(r))
        .filter(|id| !dead.iter().any(|d| id_of(&data_of(d)) == *id))
        .collect();
    assert_eq!(fine.len(), 90);
    assert_exactly_once_in_order(&delivered_ids(&prefix), &fine);
}

#[tokio::test]
async fn a_missing_delivery_stream_is_not_retried_and_nothing_is_dropped() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let lake = Lake::from_url("memory://").unwrap();
    let dl = DeadLetter::new(
        lake.clone(),
        "firehose://missing",
        &firelake_core::SourceDef::resolve("users", None).unwrap(),
    );
    // Fails nothing: counts the attempts.
    let injector = Arc::new(DropInjector::new(
        firehose_wire(),
        Box::new(|_, _, _| false),
    ));
    let publisher = FirehosePublisher::new(
        client(Some(injector.clone())).await,
        &unique("fh-missing"),
        quick_retry(Duration::from_secs(30)),
        dl,
    );
    let err = publisher
        .publish((0..20).map(|i| record(&format!("m{i}"), 3)).collect())
        .await
        .unwrap_err();
    let PublishError::Undelivered {
        count,
        first_reason,
        ..
    } = err
    else {
        panic!("expected Undelivered, got {err}")
    };
    assert_eq!(count, 20);
    assert!(first_reason.contains("ResourceNotFound"), "{first_reason}");
    assert_eq!(dead_letters(&lake).await.len(), 20);
    // Refused for good: dead-lettered after one call, not retried until the deadline.
    assert_eq!(injector.attempts(), 1);
}
