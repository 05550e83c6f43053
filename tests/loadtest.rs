//! `firelake loadtest` through its CLI: the JSON report it prints is held against an
//! independent read of the lake with pyarrow (every record sent is either a row or a kept
//! rejected record, exactly once), on the embedded stream, with a ramp, and against Kinesis
//! (kinesalite, started by scripts/test.sh). No figure here depends on timing: rates and
//! latencies are only checked for being consistent with each other.

mod common;
use common::python;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Reads the table back without our code: rows and their `seq`s from every data file, and the
/// `seq` of every rejected record from its raw bytes (bad records are truncated JSON or carry
/// `seq` as a string, so a pattern finds it).
const READ_LAKE: &str = r#"
import base64, glob, json, re, sys, xml.etree.ElementTree as ET
import pyarrow.parquet as pq
lake, table, run = sys.argv[1], sys.argv[2], sys.argv[3]
files = sorted(glob.glob(f"{lake}/{table}/p_date=*/*.parquet"))
seqs, runs, causal = [], set(), True
for f in files:
    t = pq.read_table(f)
    seqs += t.column("seq").to_pylist()
    runs |= set(t.column("run").to_pylist())
    p = t.column("produced_at").cast("int64").to_pylist()
    a = t.column("ingested_at").cast("int64").to_pylist()
    causal = causal and all(x <= y for x, y in zip(p, a))
rejected, rfiles, kinds = [], 0, {}
for f in sorted(glob.glob(f"{lake}/{table}/_rejected/p_date=*/*.jsonl")):
    rfiles += 1
    for line in open(f):
        r = json.loads(line)
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        raw = r["data"] if "data" in r else base64.b64decode(r["data_base64"]).decode()
        assert f'"run":"{run}"' in raw, raw[:80]
        rejected.append(int(re.search(r'"seq":"?(\d+)', raw).group(1)))
chart = sys.argv[4] if len(sys.argv) > 4 else None
print(json.dumps({
    "data_files": len(files), "rows": len(seqs), "distinct_rows": len(set(seqs)),
    "runs": sorted(runs), "produced_before_arrival": causal,
    "rejected_files": rfiles, "rejected": len(rejected), "kinds": kinds,
    "all_seqs": sorted(seqs + rejected) == list(range(len(seqs) + len(rejected))),
    "chart_root": ET.parse(chart).getroot().tag if chart else None,
}))
"#;

fn firelake(dir: &Path, args: &[&str]) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .arg("loadtest")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("firelake runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "firelake loadtest {args:?} failed:\n{stderr}"
    );
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not the JSON report ({e}):\n{stderr}"));
    (report, stderr)
}

fn read_lake(lake: &Path, run: &str, chart: Option<&Path>) -> Value {
    let mut c = Command::new(python());
    c.arg("-c")
        .arg(READ_LAKE)
        .arg(lake)
        .arg("loadtest")
        .arg(run);
    if let Some(chart) = chart {
        c.arg(chart);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "reading the lake: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// The report's counts equal the lake's, read independently, and every record sent is in
/// the lake exactly once (as a row or a rejected record).
fn check_against_lake(report: &Value, lake: &Value) {
    let c = &report["counts"];
    let rc = &report["reconciliation"];
    assert_eq!(rc["ok"], true, "{rc:#}");
    assert_eq!(n(&c["undelivered"]), 0);
    assert_eq!(n(&c["produced"]), n(&c["published"]));
    assert_eq!(n(&c["records_in"]), n(&c["produced"]));
    assert_eq!(n(&lake["rows"]), n(&c["rows_out"]), "rows");
    assert_eq!(n(&lake["rows"]), n(&c["expected_rows"]));
    assert_eq!(n(&lake["distinct_rows"]), n(&lake["rows"]), "no row twice");
    assert_eq!(n(&lake["rejected"]), n(&c["rejected"]), "rejected");
    assert_eq!(n(&lake["rejected"]), n(&c["expected_rejected"]));
    assert_eq!(n(&lake["data_files"]), n(&c["files"]));
    assert_eq!(n(&lake["rejected_files"]), n(&c["rejected_files"]));
    assert_eq!(
        n(&lake["rows"]) + n(&lake["rejected"]),
        n(&c["produced"]),
        "every record sent is in the lake"
    );
    assert_eq!(
        lake["all_seqs"], true,
        "sequence numbers 0..produced, each once"
    );
    assert_eq!(lake["runs"], serde_json::json!([report["run_id"]]));
    assert_eq!(lake["produced_before_arrival"], true);
    // The lake's own figures in the report, too.
    assert_eq!(n(&rc["lake"]["rows"]), n(&lake["rows"]));
    assert_eq!(n(&rc["lake"]["rejected"]), n(&lake["rejected"]));
    // A latency for every row, and percentiles in order.
    let l = &report["latency_ms"];
    assert_eq!(n(&l["count"]), n(&lake["rows"]));
    assert!(n(&l["p50"]) <= n(&l["p95"]) && n(&l["p95"]) <= n(&l["p99"]));
    assert!(n(&l["p99"]) <= n(&l["max"]));
    let timeline = report["timeline"].as_array().unwrap();
    let produced: u64 = timeline.iter().map(|p| n(&p["produced"])).sum();
    let durable: u64 = timeline.iter().map(|p| n(&p["durable"])).sum();
    assert_eq!(produced, n(&c["produced"]));
    assert_eq!(durable, n(&lake["rows"]));
}

#[test]
fn embedded_run_reconciles_with_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let chart = dir.path().join("chart.svg");
    let lake_url = format!("file://{}", lake.display());
    let (report, stderr) = firelake(
        dir.path(),
        &[
            "--stream",
            "embedded",
            "--rate",
            "20000/s",
            "--duration",
            "3s",
            "--flush-interval",
            "1s",
            "--bad-rate",
            "0.03",
            "--record-bytes",
            "300",
            "--lake",
            &lake_url,
            "--chart",
            chart.to_str().unwrap(),
        ],
    );
    let seen = read_lake(&lake, report["run_id"].as_str().unwrap(), Some(&chart));
    check_against_lake(&report, &seen);
    assert_eq!(seen["chart_root"], "{http://www.w3.org/2000/svg}svg");
    assert!(n(&report["counts"]["produced"]) > 0);
    assert!(n(&seen["rejected"]) > 0, "3% bad records: {seen}");
    for kind in ["invalid_json", "missing_required"] {
        assert!(seen["kinds"][kind].as_u64().is_some(), "{kind}: {seen}");
    }
    assert_eq!(report["settings"]["target_latency_ms"], 2000);
    assert!(stderr.contains("reconcile     OK"), "{stderr}");

    // A second run into the same lake reconciles on its own files only.
    let (again, _) = firelake(
        dir.path(),
        &[
            "--rate",
            "5000/s",
            "--duration",
            "1s",
            "--bad-rate",
            "0",
            "--lake",
            &lake_url,
            "--chart",
            "none",
            "--quiet",
        ],
    );
    assert_eq!(again["reconciliation"]["ok"], true);
    assert_eq!(
        n(&again["reconciliation"]["lake"]["rows"]),
        n(&again["counts"]["produced"])
    );
    assert_eq!(n(&again["counts"]["rejected"]), 0);
}

#[test]
fn ramp_reports_steps_and_a_sustainable_rate() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let report_file = dir.path().join("report.json");
    let (report, stderr) = firelake(
        dir.path(),
        &[
            "--ramp",
            "--rate",
            "2000/s",
            "--ramp-factor",
            "2",
            "--step",
            "2s",
            "--duration",
            "6s",
            "--flush-interval",
            "500ms",
            "--lake",
            lake.to_str().unwrap(),
            "--report",
            report_file.to_str().unwrap(),
            "--chart",
            "none",
        ],
    );
    let seen = read_lake(&lake, report["run_id"].as_str().unwrap(), None);
    check_against_lake(&report, &seen);
    let from_file: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_file).unwrap()).unwrap();
    assert_eq!(from_file, report, "--report writes the same JSON");
    let ramp = &report["ramp"];
    let steps = ramp["steps"].as_array().unwrap();
    assert!(!steps.is_empty() && steps.len() <= 3, "{ramp:#}");
    for (k, s) in steps.iter().enumerate() {
        assert_eq!(n(&s["target_rate"]), 2000 << k);
        let v = s["verdict"].as_str().unwrap();
        assert!(["holds", "breaks"].contains(&v), "{s}");
        assert_eq!(v == "breaks", s["reason"].is_string(), "{s}");
    }
    // The sustainable rate is the last step that held before the first that broke.
    let first_break = steps.iter().position(|s| s["verdict"] == "breaks");
    let held = steps[..first_break.unwrap_or(steps.len())]
        .iter()
        .rev()
        .find(|s| s["verdict"] == "holds");
    assert_eq!(
        ramp["sustainable_rate"],
        held.map_or(Value::Null, |s| s["target_rate"].clone())
    );
    assert!(stderr.contains("ramp"), "{stderr}");
}

#[test]
fn kinesis_run_reconciles_with_the_lake() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    assert!(
        std::env::var_os("FIRELAKE_EMULATORS").is_some()
            && std::env::var_os("AWS_ENDPOINT_URL_KINESIS").is_some(),
        "the AWS emulators are not running: run the suite with `bash scripts/test.sh`, which starts them"
    );
    let stream = format!(
        "loadtest-{}-{}",
        std::process::id(),
        nanos_now() % 1_000_000_000
    );
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (report, _) = firelake(
        dir.path(),
        &[
            "--stream",
            &format!("kinesis://{stream}"),
            "--create-stream",
            "--shards",
            "2",
            "--rate",
            "1000/s",
            "--duration",
            "3s",
            "--flush-interval",
            "1s",
            "--lake",
            lake.to_str().unwrap(),
            "--chart",
            "none",
            "--quiet",
        ],
    );
    assert_eq!(report["settings"]["stream"], format!("kinesis://{stream}"));
    let seen = read_lake(&lake, report["run_id"].as_str().unwrap(), None);
    check_against_lake(&report, &seen);
}

fn nanos_now() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn kafka_run_reconciles_with_the_lake() {
    let Some(broker) = firelake_testkit::kafka_broker() else {
        return;
    };
    let topic = format!(
        "loadtest-{}-{}",
        std::process::id(),
        nanos_now() % 1_000_000_000
    );
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let url = format!("kafka://{broker}/{topic}");
    let (report, _) = firelake(
        dir.path(),
        &[
            "--stream",
            &url,
            "--create-stream",
            "--shards",
            "3",
            "--rate",
            "2000/s",
            "--duration",
            "3s",
            "--flush-interval",
            "1s",
            "--lake",
            lake.to_str().unwrap(),
            "--chart",
            "none",
            "--quiet",
        ],
    );
    assert_eq!(report["settings"]["stream"], url);
    let seen = read_lake(&lake, report["run_id"].as_str().unwrap(), None);
    check_against_lake(&report, &seen);
}
