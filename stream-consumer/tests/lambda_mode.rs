//! The consumer's Lambda mode: a Kinesis event batch -> Parquet files under the same keys the
//! self-run consumer uses, and a partial batch response naming what was not persisted.

use std::sync::Arc;

use aws_lambda_events::event::kinesis::KinesisEvent;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use firelake_core::catalog::{Catalog, CatalogError, MemoryCatalog, PartitionInfo, TableDef};
use firelake_core::{Cleaner, Lake, SourceDef};
use firelake_stream_consumer::lambda::{handle_kinesis_batch, handle_kinesis_event};
use firelake_stream_consumer::{ConsumerMetrics, LakeWriter};
use futures::future::BoxFuture;
use serde_json::json;

const ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/users";

/// (sequence number, data) of a record.
type Rec<'a> = (&'a str, &'a [u8]);

fn event(shards: &[(&str, Vec<Rec<'_>>)]) -> KinesisEvent {
    let mut records = Vec::new();
    for (shard, recs) in shards {
        for (seq, data) in recs {
            records.push(json!({
                "awsRegion": "us-east-1",
                "eventID": format!("{shard}:{seq}"),
                "eventName": "aws:kinesis:record",
                "eventSource": "aws:kinesis",
                "eventSourceARN": ARN,
                "eventVersion": "1.0",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/x",
                "kinesis": {
                    "approximateArrivalTimestamp": 1748779200.123,
                    "data": B64.encode(data),
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "k",
                    "sequenceNumber": seq,
                }
            }));
        }
    }
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn parts() -> (Arc<Cleaner>, Arc<SourceDef>) {
    let def = Arc::new(SourceDef::resolve("users", None).unwrap());
    (Arc::new(Cleaner::new(def.clone())), def)
}

/// A catalog that is down: nothing it is asked to record can be made visible.
struct DownCatalog;

impl Catalog for DownCatalog {
    fn ensure_table<'a>(&'a self, _: &'a TableDef) -> BoxFuture<'a, Result<(), CatalogError>> {
        Box::pin(async { Err(CatalogError::Service("injected outage".into())) })
    }
    fn add_partitions<'a>(
        &'a self,
        _: &'a str,
        _: &'a [PartitionInfo],
    ) -> BoxFuture<'a, Result<usize, CatalogError>> {
        Box::pin(async { Err(CatalogError::Service("injected outage".into())) })
    }
    fn set_partition<'a>(
        &'a self,
        _: &'a str,
        _: &'a PartitionInfo,
    ) -> BoxFuture<'a, Result<Option<String>, CatalogError>> {
        Box::pin(async { Err(CatalogError::Service("injected outage".into())) })
    }
    fn partitions<'a>(
        &'a self,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartitionInfo>, CatalogError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn table<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Option<TableDef>, CatalogError>> {
        Box::pin(async { Ok(None) })
    }
    fn describe(&self) -> String {
        "down".into()
    }
}

#[tokio::test]
async fn a_batch_lands_under_deterministic_keys_and_a_retry_rewrites_nothing() {
    let (cleaner, def) = parts();
    let lake = Lake::from_url("memory://").unwrap();
    let metrics = Arc::new(ConsumerMetrics::default());
    let writer = LakeWriter::new(
        lake.clone(),
        Arc::new(MemoryCatalog::default()),
        def,
        metrics.clone(),
    );
    let ev = event(&[
        (
            "shardId-000000000000",
            vec![("100", br#"{"login":{"uuid":"a"}}"#), ("101", b"{bad")],
        ),
        (
            "shardId-000000000001",
            vec![("200", br#"{"login":{"uuid":"b"}}"#)],
        ),
    ]);
    let resp = handle_kinesis_event(ev.clone(), &cleaner, &writer).await;
    assert!(resp.batch_item_failures.is_empty());
    let keys: Vec<String> = lake
        .list("users")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(
        keys,
        vec![
            "users/_rejected/p_date=2025-06-01/kinesis.users-shardId-000000000000-100-101.jsonl",
            "users/p_date=2025-06-01/kinesis.users-shardId-000000000000-100-101.parquet",
            "users/p_date=2025-06-01/kinesis.users-shardId-000000000001-200-200.parquet",
        ]
    );
    // Lambda retries a batch at least once sometimes: the same files, not new ones.
    let resp = handle_kinesis_event(ev, &cleaner, &writer).await;
    assert!(resp.batch_item_failures.is_empty());
    assert_eq!(lake.list("users").await.unwrap().len(), 3);
    assert_eq!(ConsumerMetrics::get(&metrics.files_existing), 3);
}

#[tokio::test]
async fn what_was_not_persisted_is_reported_per_shard() {
    let (cleaner, def) = parts();
    let lake = Lake::from_url("memory://").unwrap();
    let writer = LakeWriter::new(
        lake,
        Arc::new(DownCatalog),
        def,
        Arc::new(ConsumerMetrics::default()),
    );
    let ev = event(&[
        (
            "shardId-000000000000",
            vec![
                ("100", br#"{"login":{"uuid":"a"}}"#),
                ("101", br#"{"login":{"uuid":"c"}}"#),
            ],
        ),
        (
            "shardId-000000000001",
            vec![("200", br#"{"login":{"uuid":"b"}}"#)],
        ),
    ]);
    let resp = handle_kinesis_event(ev, &cleaner, &writer).await;
    let ids: Vec<_> = resp
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["100", "200"],
        "each shard retries from its first record"
    );
}

#[tokio::test]
async fn a_batch_reports_its_counts_and_nulled_values_as_emf() {
    let (cleaner, def) = parts();
    let writer = LakeWriter::new(
        Lake::from_url("memory://").unwrap(),
        Arc::new(MemoryCatalog::default()),
        def,
        Arc::new(ConsumerMetrics::default()),
    );
    let ev = event(&[(
        "shardId-000000000000",
        vec![
            ("100", br#"{"login":{"uuid":"a"},"dob":{"age":"old"}}"#),
            ("101", br#"{"login":{"uuid":"b"},"dob":{"age":41}}"#),
            ("102", b"{bad"),
        ],
    )]);
    let handled = handle_kinesis_batch(ev, &cleaner, &writer).await;
    assert!(handled.response.batch_item_failures.is_empty());
    let lines: Vec<serde_json::Value> = handled
        .emf
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let table = &lines[0];
    assert_eq!(table["Table"], "users");
    assert_eq!(
        (
            &table["RecordsIn"],
            &table["RecordsOut"],
            &table["Rejected"],
            &table["NulledValues"]
        ),
        (&json!(3), &json!(2), &json!(1), &json!(1))
    );
    assert_eq!(lines.len(), 2, "{:?}", handled.emf);
    assert_eq!(
        (&lines[1]["Column"], &lines[1]["NulledValues"]),
        (&json!("age"), &json!(1))
    );
    assert_eq!(
        lines[1]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "firelake"
    );
}

#[tokio::test]
async fn a_shard_not_persisted_counts_no_nulled_values_until_it_lands() {
    let (cleaner, def) = parts();
    let writer = LakeWriter::new(
        Lake::from_url("memory://").unwrap(),
        Arc::new(DownCatalog),
        def,
        Arc::new(ConsumerMetrics::default()),
    );
    let ev = event(&[(
        "shardId-000000000000",
        vec![("100", br#"{"login":{"uuid":"a"},"dob":{"age":"old"}}"#)],
    )]);
    let handled = handle_kinesis_batch(ev, &cleaner, &writer).await;
    assert_eq!(handled.response.batch_item_failures.len(), 1);
    assert_eq!(handled.emf.len(), 1, "{:?}", handled.emf);
    let table: serde_json::Value = serde_json::from_str(&handled.emf[0]).unwrap();
    assert_eq!(table["NulledValues"], 0);
}
