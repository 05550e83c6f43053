//! Shared by the publisher tests against the emulators (started by scripts/test.sh): the test
//! Python's Firehose helper, and a fault injector at the SDK's HTTP layer that takes entries
//! out of a batch request, so the emulator never gets them, and answers them as failed, as
//! the service does on a partial failure. A retry then has to deliver them, and the stream or
//! delivered objects must end up with every record exactly once.

#![allow(dead_code)] // each test binary uses part of it

use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_kinesis::config::interceptors::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_sdk_kinesis::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::client::interceptors::context::Output;
use aws_smithy_types::body::SdkBody;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[allow(unused_imports)] // each test binary uses part of it
pub use firelake_testkit::{python, repo, unique};

/// Runs tests/firehose_tool.py (boto3 against moto) and returns its output.
pub fn firehose_tool(args: &[&str]) -> String {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "moto is not running: run the suite with `bash scripts/test.sh`"
    );
    let out = Command::new(python())
        .arg(repo().join("tests/firehose_tool.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "firehose_tool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What a delivery stream wrote to S3: per object (one per PutRecordBatch call under moto),
/// its key and bytes, in key order.
pub fn delivered(bucket: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let v: Value = serde_json::from_str(&firehose_tool(&["read", bucket, prefix])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["key"].as_str().unwrap().to_string(),
                BASE64.decode(o["data_base64"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

/// How a service's batch call looks on the wire, and how to put injected failures into its
/// (deserialized) answer.
pub struct Wire {
    /// The request field naming the target ("StreamName", "DeliveryStreamName").
    pub target_field: &'static str,
    /// The answer to the whole request: `failed[i]` entries answered with an injected error,
    /// the others, in order, with the emulator's answers from `accepted` (its output for the
    /// entries it got; `None` when it got none).
    pub splice: fn(accepted: Option<&mut Output>, failed: &[bool]) -> Output,
}

/// Which entries fail: (attempt number from 0, index in the request, the entry's data).
pub type Rule = Box<dyn Fn(usize, usize, &[u8]) -> bool + Send + Sync>;

pub struct DropInjector {
    wire: Wire,
    rule: Rule,
    attempts: AtomicUsize,
    /// The current attempt's failed entries (the publisher makes one call at a time).
    current: Mutex<Option<Vec<bool>>>,
    /// Data of every entry answered as failed.
    pub failed: Mutex<Vec<Vec<u8>>>,
    /// Entries that reached the emulator, per attempt that sent any.
    pub reached: Mutex<Vec<usize>>,
}

impl DropInjector {
    pub fn new(wire: Wire, rule: Rule) -> DropInjector {
        DropInjector {
            wire,
            rule,
            attempts: AtomicUsize::new(0),
            current: Mutex::new(None),
            failed: Mutex::new(Vec::new()),
            reached: Mutex::new(Vec::new()),
        }
    }

    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for DropInjector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DropInjector")
    }
}

impl Intercept for DropInjector {
    fn name(&self) -> &'static str {
        "drop-injector"
    }

    /// Before signing, so the signature covers the body the emulator gets.
    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
        let req = ctx.request_mut();
        let mut body: Value = serde_json::from_slice(req.body().bytes().unwrap_or_default())?;
        let Some(entries) = body["Records"].as_array().cloned() else {
            return Ok(());
        };
        let mut failed = Vec::with_capacity(entries.len());
        let mut kept = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let data = BASE64.decode(e["Data"].as_str().unwrap_or_default())?;
            let fail = (self.rule)(attempt, i, &data);
            if fail {
                self.failed.lock().unwrap().push(data);
            } else {
                kept.push(e);
            }
            failed.push(fail);
        }
        if kept.is_empty() {
            // A call must hold a record: send it to a target that does not exist, so the
            // emulator stores nothing; its error becomes the all-failed answer.
            let target = body[self.wire.target_field].as_str().unwrap_or_default();
            body[self.wire.target_field] = Value::from(format!("{target}-fault-injected"));
        } else {
            self.reached.lock().unwrap().push(kept.len());
            body["Records"] = Value::from(kept);
        }
        let bytes = serde_json::to_vec(&body)?;
        req.headers_mut()
            .insert("content-length", bytes.len().to_string());
        *req.body_mut() = SdkBody::from(bytes);
        *self.current.lock().unwrap() = failed.contains(&true).then_some(failed);
        Ok(())
    }

    fn modify_before_attempt_completion(
        &self,
        ctx: &mut FinalizerInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(failed) = self.current.lock().unwrap().take() else {
            return Ok(());
        };
        let Some(result) = ctx.output_or_error_mut() else {
            return Err("no answer to splice injected failures into".into());
        };
        let all = !failed.contains(&false);
        let spliced = match result {
            Ok(out) if !all => (self.wire.splice)(Some(out), &failed),
            Err(_) if all => (self.wire.splice)(None, &failed),
            other => return Err(format!("unexpected answer to an injected call: {other:?}").into()),
        };
        *result = Ok(spliced);
        Ok(())
    }
}

/// Shares one injector between the client and the test.
pub use firelake_testkit::sdk::Shared;

/// Kinesis PutRecords.
pub fn kinesis_wire() -> Wire {
    use aws_sdk_kinesis::operation::put_records::PutRecordsOutput;
    use aws_sdk_kinesis::types::PutRecordsResultEntry;
    fn splice(accepted: Option<&mut Output>, failed: &[bool]) -> Output {
        let mut ok = accepted
            .and_then(|o| o.downcast_mut::<PutRecordsOutput>())
            .map(|o| std::mem::take(&mut o.records))
            .unwrap_or_default()
            .into_iter();
        let records: Vec<_> = failed
            .iter()
            .map(|f| match f {
                true => PutRecordsResultEntry::builder()
                    .error_code("ProvisionedThroughputExceededException")
                    .error_message("injected")
                    .build(),
                false => ok.next().expect("one answer per entry sent"),
            })
            .collect();
        let out = PutRecordsOutput::builder()
            .set_records(Some(records))
            .failed_record_count(failed.iter().filter(|f| **f).count() as i32)
            .build()
            .expect("records are set");
        Output::erase(out)
    }
    Wire {
        target_field: "StreamName",
        splice,
    }
}

/// Firehose PutRecordBatch.
pub fn firehose_wire() -> Wire {
    use aws_sdk_firehose::operation::put_record_batch::PutRecordBatchOutput;
    use aws_sdk_firehose::types::PutRecordBatchResponseEntry;
    fn splice(accepted: Option<&mut Output>, failed: &[bool]) -> Output {
        let mut ok = accepted
            .and_then(|o| o.downcast_mut::<PutRecordBatchOutput>())
            .map(|o| std::mem::take(&mut o.request_responses))
            .unwrap_or_default()
            .into_iter();
        let responses: Vec<_> = failed
            .iter()
            .map(|f| match f {
                true => PutRecordBatchResponseEntry::builder()
                    .error_code("ServiceUnavailableException")
                    .error_message("injected")
                    .build(),
                false => ok.next().expect("one answer per entry sent"),
            })
            .collect();
        let out = PutRecordBatchOutput::builder()
            .set_request_responses(Some(responses))
            .failed_put_count(failed.iter().filter(|f| **f).count() as i32)
            .build()
            .expect("responses are set");
        Output::erase(out)
    }
    Wire {
        target_field: "DeliveryStreamName",
        splice,
    }
}

/// Creates a 2-shard Kinesis stream and waits until it is ACTIVE.
pub async fn new_stream(client: &aws_sdk_kinesis::Client, name: &str) {
    client
        .create_stream()
        .stream_name(name)
        .shard_count(2)
        .send()
        .await
        .unwrap();
    for _ in 0..100 {
        let s = client
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .unwrap();
        if s.stream_description_summary()
            .unwrap()
            .stream_status()
            .as_str()
            == "ACTIVE"
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("stream {name} never became ACTIVE");
}

/// Each record's data on the stream, by partition key, in shard order.
pub async fn on_stream(
    client: &aws_sdk_kinesis::Client,
    name: &str,
) -> std::collections::HashMap<String, Vec<bytes::Bytes>> {
    let mut seen: std::collections::HashMap<String, Vec<bytes::Bytes>> =
        std::collections::HashMap::new();
    let shards = client.list_shards().stream_name(name).send().await.unwrap();
    for shard in shards.shards() {
        let mut it = client
            .get_shard_iterator()
            .stream_name(name)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(i) = it {
            let out = client.get_records().shard_iterator(i).send().await.unwrap();
            for r in out.records() {
                seen.entry(r.partition_key().unwrap_or_default().to_string())
                    .or_default()
                    .push(bytes::Bytes::copy_from_slice(r.data().as_ref()));
            }
            if out.records().is_empty() {
                break;
            }
            it = out.next_shard_iterator;
        }
    }
    seen
}
