//! Property checks of the handler over arbitrary bytes, shared by the fuzz target (`fuzz/`) and
//! the corpus replay of the normal test suite (`tests/fuzz_corpus.rs`). Panics when a property
//! fails. Not an API.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use firelake_core::fuzzing::pick_source;
use serde_json::Value;

use crate::{ENVELOPE_BYTES, FAILED_FIXED, FirehoseEvent, FirehoseRecord, Transformer, json_str};

/// Input: a byte picking the built-in source, a byte picking the response limit, then either a
/// Firehose event as JSON or records one per line (a line's first byte says whether its data
/// is base64 as Firehose sends it or text that is not). The response always parses as JSON,
/// answers each recordId exactly once and in order, and stays under the limit whenever the
/// limit can hold an answer per record at all.
pub fn check_firehose(data: &[u8]) {
    let [selector, limit_byte, rest @ ..] = data else {
        return;
    };
    let event = serde_json::from_slice::<FirehoseEvent>(rest).unwrap_or_else(|_| lines_event(rest));
    let def = pick_source(*selector);
    let full = Transformer::new(Arc::clone(def)).transform(&event);
    check_response(&event, &full.body, usize::MAX);
    let limit = 64 + *limit_byte as usize * 24;
    let small = Transformer::new(Arc::clone(def))
        .with_response_limit(limit)
        .transform(&event);
    let answers = check_response(&event, &small.body, limit);
    assert_eq!(small.stats.records, event.records.len());
    assert_eq!(small.stats.ok + small.stats.failed, event.records.len());
    let ok = answers.iter().filter(|a| a["result"] == "Ok").count();
    assert_eq!(small.stats.ok, ok, "stats count the Ok answers");
    // Under a limit a record may only lose its Ok, never change it.
    let full_answers: Value = serde_json::from_str(&full.body).expect("checked above");
    for (a, f) in answers
        .iter()
        .zip(full_answers["records"].as_array().expect("records"))
    {
        if a["result"] == "Ok" {
            assert_eq!(a, f, "an Ok answer is the same under the limit");
        }
    }
}

/// Records one per line, ids made to need JSON escaping now and then.
fn lines_event(rest: &[u8]) -> FirehoseEvent {
    let records = rest
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            let (kind, body) = line.split_first().unwrap_or((&0, &[][..]));
            let data = if kind & 1 == 0 {
                B64.encode(body)
            } else {
                String::from_utf8_lossy(body).into_owned()
            };
            let record_id = if kind & 2 == 0 {
                i.to_string()
            } else {
                format!("{i}\"\\\u{1}\u{e9}\u{2028}")
            };
            FirehoseRecord {
                record_id,
                approximate_arrival_timestamp: 1_748_779_200_000,
                data,
                kinesis_record_metadata: None,
            }
        })
        .collect();
    FirehoseEvent {
        records,
        ..Default::default()
    }
}

/// The response's answers, checked against the event: one per record, in order, by recordId;
/// `Ok` with a cleaned row and its partition key, or `ProcessingFailed` with base64 data.
fn check_response(event: &FirehoseEvent, body: &str, limit: usize) -> Vec<Value> {
    let typed: aws_lambda_events::event::firehose::KinesisFirehoseResponse =
        serde_json::from_str(body).expect("the response is a KinesisFirehoseResponse");
    assert_eq!(typed.records.len(), event.records.len());
    let v: Value = serde_json::from_str(body).expect("the response parses as JSON");
    let answers = v["records"]
        .as_array()
        .expect("records is an array")
        .clone();
    assert_eq!(answers.len(), event.records.len(), "one answer per record");
    for (a, r) in answers.iter().zip(&event.records) {
        assert_eq!(
            a["recordId"].as_str(),
            Some(r.record_id.as_str()),
            "in order"
        );
        let bytes = B64.decode(a["data"].as_str().expect("data is a string"));
        let bytes = bytes.expect("data is base64");
        match a["result"].as_str() {
            Some("Ok") => {
                let row: Value = serde_json::from_slice(&bytes).expect("an Ok row is JSON");
                assert!(row.is_object());
                let keys = a["metadata"]["partitionKeys"].as_object().expect("keys");
                assert_eq!(keys.len(), 1, "the partition key");
            }
            Some("ProcessingFailed") => {}
            other => panic!("result {other:?}"),
        }
    }
    // Every record answered ProcessingFailed without its data: the least a response can be.
    let least: usize = ENVELOPE_BYTES
        + event
            .records
            .iter()
            .map(|r| FAILED_FIXED + json_str(&r.record_id).len())
            .sum::<usize>()
        - usize::from(!event.records.is_empty());
    if least <= limit {
        assert!(
            body.len() <= limit,
            "{} bytes over the {limit} limit",
            body.len()
        );
    }
    answers
}
