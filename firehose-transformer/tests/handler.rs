//! The transformation handler against Firehose's contract: every recordId answered once and in
//! order, bad input answered ProcessingFailed with the record kept (never-read values
//! redacted), the 6 MB response limit.

use aws_lambda_events::event::firehose::{KinesisFirehoseEvent, KinesisFirehoseResponse};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use firelake_firehose_transformer::{
    FirehoseEvent, FirehoseRecord, RESPONSE_LIMIT_BYTES, Transformer, handle,
};
use serde_json::{Value, json};

const ARRIVAL: i64 = 1_748_779_200_000;

fn transformer() -> Transformer {
    Transformer::from_env().expect("users is built in")
}

fn good(i: usize) -> Vec<u8> {
    format!(
        r#"{{"gender":"male","name":{{"title":"Mr","first":"N{i}","last":"L"}},"email":"E{i}@X.COM","login":{{"uuid":"uuid-{i}","username":"u","password":"secret-pw-{i}"}},"dob":{{"date":"1982-10-16T14:05:53.220Z","age":42}},"location":{{"postcode":1234,"coordinates":{{"latitude":"10.5","longitude":"-20.25"}}}},"nat":"ES"}}"#
    )
    .into_bytes()
}

fn rec(id: &str, data: String) -> FirehoseRecord {
    FirehoseRecord {
        record_id: id.into(),
        approximate_arrival_timestamp: ARRIVAL,
        data,
        kinesis_record_metadata: None,
    }
}

fn event(records: Vec<FirehoseRecord>) -> FirehoseEvent {
    FirehoseEvent {
        records,
        ..Default::default()
    }
}

fn respond(ev: &FirehoseEvent) -> Value {
    // One thread and several: the same answers.
    let one = transformer().with_threads(1).transform(ev);
    let four = transformer().with_threads(4).transform(ev);
    assert_eq!(one.body, four.body);
    assert_eq!(one.stats, four.stats);
    let bytes = one.body.as_bytes();
    assert!(
        bytes.len() <= RESPONSE_LIMIT_BYTES,
        "response {} bytes",
        bytes.len()
    );
    // The rendered response is a KinesisFirehoseResponse of aws_lambda_events.
    let typed: KinesisFirehoseResponse = serde_json::from_slice(bytes).unwrap();
    assert_eq!(typed.records.len(), ev.records.len());
    serde_json::from_slice(bytes).unwrap()
}

fn decoded(r: &Value) -> Vec<u8> {
    B64.decode(r["data"].as_str().unwrap()).unwrap()
}

#[test]
fn ok_records_carry_the_cleaned_row_and_partition_key() {
    let v = respond(&event(vec![rec("a", B64.encode(good(1)))]));
    let r = &v["records"][0];
    assert_eq!(r["recordId"], "a");
    assert_eq!(r["result"], "Ok");
    assert_eq!(r["metadata"]["partitionKeys"]["p_date"], "2025-06-01");
    let row: Value = serde_json::from_slice(&decoded(r)).unwrap();
    assert_eq!(row["user_id"], "uuid-1");
    assert_eq!(row["email"], "e1@x.com");
    assert_eq!(row["postcode"], "1234");
    assert_eq!(row["date_of_birth"], "1982-10-16T14:05:53.220Z");
    assert_eq!(row["ingested_at"], "2025-06-01T12:00:00.000Z");
    assert!(!String::from_utf8(decoded(r)).unwrap().contains("secret-pw"));
}

#[test]
fn bad_inputs_are_processing_failed_with_the_original_kept() {
    let long_json = format!(
        r#"{{"login":{{"uuid":"big"}},"pad":"{}"}}"#,
        "x".repeat(1 << 20)
    );
    let cases: Vec<(&str, String, Option<Vec<u8>>)> = vec![
        ("not-base64", "@@@not base64@@@".into(), None),
        ("empty", String::new(), Some(Vec::new())),
        (
            "truncated",
            B64.encode(&good(2)[..50]),
            Some(good(2)[..50].to_vec()),
        ),
        (
            "bad-utf8",
            B64.encode(b"{\"login\":{\"uuid\":\"\xff\"}}"),
            Some(b"{\"login\":{\"uuid\":\"\xff\"}}".to_vec()),
        ),
        (
            "no-uuid",
            B64.encode(br#"{"login":{}}"#),
            Some(br#"{"login":{}}"#.to_vec()),
        ),
        ("array", B64.encode(b"[1]"), Some(b"[1]".to_vec())),
        // A 1 MiB record that is garbage: rejected, echoed whole.
        (
            "mib-garbage",
            B64.encode(vec![b'{'; 1 << 20]),
            Some(vec![b'{'; 1 << 20]),
        ),
    ];
    let mut records: Vec<FirehoseRecord> = cases
        .iter()
        .map(|(id, data, _)| rec(id, data.clone()))
        .collect();
    // A valid 1 MiB record is simply cleaned (its padding field is not a column).
    records.push(rec("mib-valid", B64.encode(long_json.as_bytes())));
    let v = respond(&event(records));
    let out = v["records"].as_array().unwrap();
    assert_eq!(out.len(), cases.len() + 1);
    for ((id, data, original), r) in cases.iter().zip(out) {
        assert_eq!(r["recordId"], *id);
        assert_eq!(r["result"], "ProcessingFailed", "{id}");
        match original {
            Some(orig) => assert_eq!(&decoded(r), orig, "{id}"),
            // Not base64: the received text itself is kept.
            None => assert_eq!(decoded(r), data.as_bytes()),
        }
        assert!(
            r["metadata"]["partitionKeys"]
                .as_object()
                .unwrap()
                .is_empty()
        );
    }
    let last = out.last().unwrap();
    assert_eq!(last["result"], "Ok");
    assert!(decoded(last).len() < 2000);
}

#[test]
fn failed_answers_keep_the_record_with_never_read_values_redacted() {
    let no_uuid = br#"{"login":{"username":"u","password":"QZXJ-pw","sha1":"QZXJ-sha1"}}"#;
    let g = good(7);
    let at = g.windows(9).position(|w| w == b"secret-pw").unwrap() + 8;
    let cut = &g[..at];
    let v = respond(&event(vec![
        rec("a", B64.encode(no_uuid)),
        rec("b", B64.encode(cut)),
    ]));
    let (a, b) = (&v["records"][0], &v["records"][1]);
    assert_eq!(a["result"], "ProcessingFailed");
    assert_eq!(
        decoded(a),
        br#"{"login":{"username":"u","password":"<redacted>","sha1":"<redacted>"}}"#
    );
    // Cut inside the password: redacted as text.
    assert_eq!(b["result"], "ProcessingFailed");
    let data = String::from_utf8(decoded(b)).unwrap();
    assert!(data.ends_with(r#""password":"<redacted>"#), "{data}");
}

#[test]
fn record_ids_are_answered_once_in_order() {
    let records: Vec<_> = (0..3000)
        .map(|i| {
            let data = if i % 7 == 0 {
                B64.encode(b"{")
            } else {
                B64.encode(good(i))
            };
            rec(&format!("id-{i:05}"), data)
        })
        .collect();
    let v = respond(&event(records));
    let ids: Vec<&str> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["recordId"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..3000).map(|i| format!("id-{i:05}")).collect();
    assert_eq!(ids, expected);
    let failed = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["result"] == "ProcessingFailed")
        .count();
    assert_eq!(failed, 3000_usize.div_ceil(7));
}

#[test]
fn thousands_of_records_near_six_mb_stay_under_the_limit() {
    // Tiny records (a uuid only) whose rows, with every column written, are ~20x larger, in
    // a 3 MB request (Firehose's largest Lambda buffer).
    let grow = |i: usize| format!(r#"{{"login":{{"uuid":"g{i}"}}}}"#).into_bytes();
    let mut records = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < 3_000_000 {
        let data = B64.encode(grow(i));
        // As Firehose sends it: {"recordId":"..","approximateArrivalTimestamp":..,"data":".."},
        size += data.len() + format!("r{i}").len() + 70;
        records.push(rec(&format!("r{i}"), data));
        i += 1;
    }
    assert!(records.len() > 2000);
    let v = respond(&event(records.clone()));
    assert_eq!(v["records"].as_array().unwrap().len(), records.len());
    // Records whose rows grow past the limit answer ProcessingFailed, nothing is dropped.
    let out = transformer().transform(&event(records.clone()));
    assert_eq!(out.stats.ok + out.stats.failed, records.len());
    assert!(out.stats.failed_for_size > 0);
    assert!(out.stats.ok > 0, "as many as fit are still Ok");

    // Realistic records (fields that are no column, like the API's id and pictures, make a
    // raw record larger than its row) near 6 MB: all Ok.
    let mut records = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < 5_950_000 {
        let mut raw = good(i);
        raw.pop();
        raw.extend_from_slice(format!(r#","id":{{"name":"{}"}}}}"#, "i".repeat(600)).as_bytes());
        let data = B64.encode(raw);
        size += data.len() + 90;
        records.push(rec(&format!("{i:056}"), data));
        i += 1;
    }
    let out = transformer().transform(&event(records.clone()));
    assert_eq!(out.stats.failed, 0);
    let v = respond(&event(records.clone()));
    assert_eq!(v["records"].as_array().unwrap().len(), records.len());
    assert!(
        records.len() > 4_000 && out.body.len() > 3_000_000,
        "{} {}",
        records.len(),
        out.body.len()
    );
}

#[test]
fn a_request_over_the_limit_still_answers_every_record_within_it() {
    // Bigger than Lambda would ever pass: failed echoes are left out (Firehose keeps its copy).
    let records: Vec<_> = (0..7)
        .map(|i| rec(&format!("x{i}"), B64.encode(vec![b'['; 1_000_000])))
        .collect();
    let v = respond(&event(records));
    assert_eq!(v["records"].as_array().unwrap().len(), 7);
    assert!(
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["result"] == "ProcessingFailed")
    );
}

#[test]
fn kinesis_source_events_use_the_stream_arrival_time() {
    let ev: FirehoseEvent = serde_json::from_value(json!({
        "invocationId": "i", "deliveryStreamArn": "arn", "sourceKinesisStreamArn": "arn2", "region": "us-east-1",
        "records": [{
            "recordId": "k1", "approximateArrivalTimestamp": ARRIVAL,
            "data": B64.encode(good(1)),
            "kinesisRecordMetadata": {"shardId": "shardId-000000000000", "partitionKey": "p",
                "approximateArrivalTimestamp": ARRIVAL - 86_400_000, "sequenceNumber": "1", "subsequenceNumber": 0}
        }]
    }))
    .unwrap();
    let v = respond(&ev);
    assert_eq!(
        v["records"][0]["metadata"]["partitionKeys"]["p_date"],
        "2025-05-31"
    );
}

#[tokio::test]
async fn the_handler_takes_the_aws_lambda_events_type_too() {
    let typed: KinesisFirehoseEvent = serde_json::from_value(json!({
        "invocationId": "i", "deliveryStreamArn": "arn", "region": "us-east-1",
        "records": [{"recordId": "t1", "approximateArrivalTimestamp": ARRIVAL, "data": B64.encode(good(3))}]
    }))
    .unwrap();
    let raw = handle(&transformer(), FirehoseEvent::from(typed)).await;
    let resp: KinesisFirehoseResponse = serde_json::from_str(raw.get()).unwrap();
    assert_eq!(resp.records.len(), 1);
    assert_eq!(resp.records[0].result.as_deref(), Some("Ok"));
    assert_eq!(
        resp.records[0].metadata.partition_keys["p_date"],
        "2025-06-01"
    );
}
