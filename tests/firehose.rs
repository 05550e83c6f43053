//! Firehose Direct PUT through the real `firelake` binary, against moto_server's Firehose
//! (started by scripts/test.sh), which writes each PutRecordBatch call's records,
//! concatenated, to one S3 object: `firelake produce --to firehose://NAME` and `firelake
//! replay --to firehose://NAME` deliver every record exactly once, in order, one line each,
//! read back with boto3 (tests/firehose_tool.py); a missing delivery stream fails the tick
//! and leaves every record in the dead-letter location with the reason.

mod common;
use common::firelake;
use common::unique;

use base64::Engine;
use firelake_producer::SampleGenerator;
use serde_json::Value;

const BUCKET: &str = "firelake-firehose-cli";

fn firehose_tool(args: &[&str]) -> String {
    common::python_tool("firehose_tool.py", args)
}

/// A fresh delivery stream writing under its own prefix; returns (stream, prefix).
fn new_stream(tag: &str) -> (String, String) {
    let stream = unique(tag);
    let prefix = format!("{stream}/");
    firehose_tool(&["create", BUCKET, &stream, &prefix]);
    (stream, prefix)
}

/// The delivered objects (one per call), each as its lines, after checking that each is
/// whole lines.
fn delivered_lines(prefix: &str) -> Vec<Vec<Vec<u8>>> {
    let v: Value = serde_json::from_str(&firehose_tool(&["read", BUCKET, prefix])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let body = base64::engine::general_purpose::STANDARD
                .decode(o["data_base64"].as_str().unwrap())
                .unwrap();
            assert_eq!(body.last(), Some(&b'\n'), "{} ends mid-line", o["key"]);
            body[..body.len() - 1]
                .split(|b| *b == b'\n')
                .map(<[u8]>::to_vec)
                .collect()
        })
        .collect()
}

/// The objects, each a run of consecutive records, together hold `sent` exactly once: every
/// object starts where some call started, and the runs tile `sent` with no gap or overlap.
fn assert_tiles(objects: &[Vec<Vec<u8>>], sent: &[Vec<u8>]) {
    let mut runs: Vec<(usize, usize)> = objects
        .iter()
        .map(|obj| {
            let start = sent
                .iter()
                .position(|r| *r == obj[0])
                .unwrap_or_else(|| panic!("not sent: {:.80?}", String::from_utf8_lossy(&obj[0])));
            assert_eq!(
                &sent[start..(start + obj.len()).min(sent.len())],
                obj.as_slice(),
                "an object is not a run of consecutive records"
            );
            (start, obj.len())
        })
        .collect();
    runs.sort_unstable();
    let mut next = 0;
    for (start, len) in runs {
        assert_eq!(start, next, "a gap or an overlap at record {next}");
        next += len;
    }
    assert_eq!(next, sent.len(), "records missing at the end");
}

#[test]
fn produce_delivers_every_sample_record_once_in_order_one_per_line() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let (stream, prefix) = new_stream("cli-produce");
    let dir = tempfile::tempdir().unwrap();
    let to = format!("firehose://{stream}");
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "produce",
            "--source",
            "users",
            "--to",
            &to,
            "--sample-records",
            "700",
            "--ticks",
            "2",
            "--every",
            "0s",
            "--seed",
            "9",
            "--state",
            "file://./state",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("records=1400") && out.contains("failed_ticks=0"),
        "{out}"
    );
    // The same generator as the producer's: the records it sent, corrupt ones included (the
    // cleaner judges those downstream; Firehose carries bytes).
    let mut g = SampleGenerator::new(9, 0.03);
    let sent: Vec<Vec<u8>> = (0..1400).map(|_| g.next_record()).collect();
    let objects = delivered_lines(&prefix);
    // Per tick of 700: a call of 500, a call of 200.
    let mut sizes: Vec<usize> = objects.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![200, 200, 500, 500]);
    assert_tiles(&objects, &sent);
    let json = objects
        .iter()
        .flatten()
        .filter(|l| serde_json::from_slice::<Value>(l).is_ok_and(|v| v.is_object()))
        .count();
    assert!(json >= 1300, "most lines are JSON objects: {json}");
    assert!(!dir.path().join("state/_dead_letter").exists());
}

#[test]
fn replay_delivers_a_json_lines_file_once_in_order() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let (stream, prefix) = new_stream("cli-replay");
    let dir = tempfile::tempdir().unwrap();
    let mut g = SampleGenerator::new(5, 0.0);
    let sent: Vec<Vec<u8>> = (0..1234).map(|_| g.next_record()).collect();
    // Line 501: a JSON record under the replay's 1 MiB but over Firehose's 1,000 KiB: a
    // reject of the replay (file, line, reason), not a dead letter that stops it.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(1_030_000)).into_bytes();
    let mut lines = sent.clone();
    lines.insert(500, big);
    let mut file = lines.join(&b'\n');
    file.push(b'\n');
    std::fs::write(dir.path().join("users.jsonl"), file).unwrap();
    let to = format!("firehose://{stream}");
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "replay",
            "users.jsonl",
            "--source",
            "users",
            "--to",
            &to,
            "--state",
            "file://./state",
            "--progress-file",
            "p.json",
        ],
    );
    assert!(ok, "{out}{err}");
    let rejects = std::fs::read_to_string(dir.path().join("p.json.rejected.jsonl")).unwrap();
    assert_eq!(rejects.lines().count(), 1, "{rejects}");
    let reject: Value = serde_json::from_str(rejects.trim()).unwrap();
    assert_eq!(reject["line"], 501, "{reject}");
    assert!(
        reject["reason"]
            .as_str()
            .unwrap()
            .contains("1023999-byte record limit"),
        "{reject}"
    );
    let objects = delivered_lines(&prefix);
    assert_tiles(&objects, &sent);
    assert!(
        objects
            .iter()
            .flatten()
            .all(|l| serde_json::from_slice::<Value>(l).is_ok())
    );
}

#[test]
fn a_missing_delivery_stream_fails_the_tick_and_dead_letters_every_record() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let to = format!("firehose://{}", unique("cli-missing"));
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "produce",
            "--source",
            "users",
            "--to",
            &to,
            "--sample-records",
            "40",
            "--seed",
            "3",
            "--state",
            "file://./state",
        ],
    );
    assert!(!ok, "{out}{err}");
    assert!(out.contains("failed_ticks=1"), "{out}");
    assert!(err.contains("ticks failed"), "{err}");
    let mut dead = Vec::new();
    let mut dirs = vec![dir.path().join("state/_dead_letter")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                for l in std::fs::read(&p).unwrap().split(|b| *b == b'\n') {
                    if !l.is_empty() {
                        dead.push(serde_json::from_slice::<Value>(l).unwrap());
                    }
                }
            }
        }
    }
    let mut g = SampleGenerator::new(3, 0.03);
    let def = firelake_core::SourceDef::resolve("users", None).unwrap();
    let redactor = firelake_core::redact::Redactor::new(&def.never_read);
    // Kept as produced, but for the never-read values.
    let sent: Vec<Vec<u8>> = (0..40)
        .map(|_| {
            let r = g.next_record();
            let kept = redactor.redact(firelake_core::redact::Raw::Record(&r));
            kept.bytes.into_owned()
        })
        .collect();
    let kept: Vec<Vec<u8>> = dead
        .iter()
        .map(|d| {
            assert!(
                d["reason"].as_str().unwrap().contains("ResourceNotFound"),
                "{d}"
            );
            firelake_core::kept::KeptData::bytes_of(d).unwrap()
        })
        .collect();
    assert_eq!(
        kept, sent,
        "every record kept, as it was produced (redacted)"
    );
}
