//! Value parity with the reference implementations in ../shared/bench, read back by an
//! independent reader (pyarrow, via check_parquet.py). Needs the Python environment that
//! scripts/test.sh installs (FIRELAKE_PYTHON) and the shared folder (FIRELAKE_SHARED).

mod common;
use common::python;
use common::root;
use common::stdout_of;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn bench() -> PathBuf {
    let shared = std::env::var_os("FIRELAKE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"));
    let b = shared.join("bench");
    assert!(
        b.join("gen_users.py").exists(),
        "reference kit not found at {} (set FIRELAKE_SHARED)",
        b.display()
    );
    b
}

fn py(script: &str) -> Command {
    let mut c = Command::new(python());
    c.arg(bench().join(script));
    c
}

fn kv(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

/// Generated records with every corruption kind, and their manifest.
fn generate(dir: &Path, count: usize, seed: u64) -> (PathBuf, Value) {
    let data = dir.join("users.jsonl");
    let manifest = dir.join("manifest.json");
    stdout_of(py("gen_users.py").args([
        "--count",
        &count.to_string(),
        "--seed",
        &seed.to_string(),
        "--bad-rate",
        "0.05",
        "--out",
        data.to_str().unwrap(),
        "--manifest",
        manifest.to_str().unwrap(),
    ]));
    let m: Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    (data, m)
}

#[test]
fn convert_matches_the_reference_and_duckdb_value_for_value() {
    let dir = tempfile::tempdir().unwrap();
    let (data, manifest) = generate(dir.path(), 4000, 11);
    let ours = dir.path().join("firelake.parquet");
    let line = stdout_of(Command::new(env!("CARGO_BIN_EXE_firelake")).args([
        "convert",
        data.to_str().unwrap(),
        ours.to_str().unwrap(),
        "--source",
        "users",
        "--ingested-at",
        "2025-06-01T12:00:00.000Z",
    ]));
    let last = line.lines().last().unwrap();
    assert_eq!(kv(last, "rows_in"), 4000);
    assert_eq!(
        kv(last, "rows_out"),
        manifest["expected_rows_out"].as_u64().unwrap()
    );
    assert_eq!(
        kv(last, "rejected"),
        manifest["expected_rejected"].as_u64().unwrap()
    );
    // Every rejected line is kept with its line number and reason.
    let rejected =
        std::fs::read_to_string(dir.path().join("firelake.parquet.rejected.jsonl")).unwrap();
    assert_eq!(rejected.lines().count() as u64, kv(last, "rejected"));
    let first: Value = serde_json::from_str(rejected.lines().next().unwrap()).unwrap();
    assert!(first["line"].as_u64().unwrap() >= 1 && first["reason"].is_string());

    // The Python Lambda (the executable spec) on the same records as Firehose events.
    let events = dir.path().join("events");
    stdout_of(
        py("make_firehose_event.py").args([data.to_str().unwrap(), events.to_str().unwrap()]),
    );
    let lambda = dir.path().join("lambda.parquet");
    stdout_of(py("peer_lambda_python.py").args([
        events.to_str().unwrap(),
        "--parquet-out",
        lambda.to_str().unwrap(),
    ]));
    let cmp = stdout_of(py("check_parquet.py").args([
        ours.to_str().unwrap(),
        "--compare",
        lambda.to_str().unwrap(),
    ]));
    assert!(cmp.contains("compare: IDENTICAL values"), "{cmp}");
    // Read back independently: Parquet types as the reference specifies.
    assert!(cmp.contains("timestamp[ms, tz=UTC]"), "{cmp}");
    assert!(cmp.contains("compression=ZSTD"), "{cmp}");

    let duck = dir.path().join("duckdb.parquet");
    stdout_of(py("peer_duckdb.py").args([
        data.to_str().unwrap(),
        duck.to_str().unwrap(),
        "--threads",
        "1",
    ]));
    let cmp = stdout_of(py("check_parquet.py").args([
        ours.to_str().unwrap(),
        "--compare",
        duck.to_str().unwrap(),
    ]));
    assert!(cmp.contains("compare: IDENTICAL values"), "{cmp}");
}

#[test]
fn transform_answers_like_the_python_lambda_record_for_record() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = generate(dir.path(), 3000, 12);
    let users = firelake_core::SourceDef::resolve("users", None).unwrap();
    let redactor = firelake_core::redact::Redactor::new(&users.never_read);
    for source in ["direct", "kinesis"] {
        let events = dir.path().join(format!("events-{source}"));
        stdout_of(py("make_firehose_event.py").args([
            data.to_str().unwrap(),
            events.to_str().unwrap(),
            "--source",
            source,
            "--max-bytes",
            "1000000",
            "--arrival-step-ms",
            "60000",
        ]));
        let mut files: Vec<_> = std::fs::read_dir(&events)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() > 1);
        for f in files {
            let ours: Value = serde_json::from_str(&stdout_of(
                Command::new(env!("CARGO_BIN_EXE_firelake")).args([
                    "transform",
                    "--event",
                    f.to_str().unwrap(),
                ]),
            ))
            .unwrap();
            let theirs: Value = serde_json::from_str(&stdout_of(Command::new(python()).args([
                "-c",
                "import sys, json; sys.path.insert(0, sys.argv[1]); import peer_lambda_python as p; \
                 print(json.dumps(p.handler(json.load(open(sys.argv[2])))))",
                bench().to_str().unwrap(),
                f.to_str().unwrap(),
            ])))
            .unwrap();
            let (a, b) = (
                ours["records"].as_array().unwrap(),
                theirs["records"].as_array().unwrap(),
            );
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(b) {
                assert_eq!(x["recordId"], y["recordId"]);
                assert_eq!(x["result"], y["result"], "{}", x["recordId"]);
                let decode = |v: &Value| {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(v["data"].as_str().unwrap())
                        .unwrap()
                };
                if x["result"] == "Ok" {
                    assert_eq!(
                        x["metadata"]["partitionKeys"],
                        y["metadata"]["partitionKeys"]
                    );
                    let rx: Value = serde_json::from_slice(&decode(x)).unwrap();
                    let ry: Value = serde_json::from_slice(&decode(y)).unwrap();
                    assert_eq!(rx, ry, "row of {}", x["recordId"]);
                } else {
                    // The original, but for its never-read values.
                    let original = decode(y);
                    let kept = redactor.redact(firelake_core::redact::Raw::Record(&original));
                    assert_eq!(
                        decode(x),
                        &*kept.bytes,
                        "original kept for {}",
                        x["recordId"]
                    );
                }
            }
        }
    }
}
