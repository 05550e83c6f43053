//! The AWS path end to end through the real binaries, against local emulators that
//! scripts/test.sh starts (moto_server for S3 and Glue, kinesalite for Kinesis): a local HTTP
//! server serving randomuser-shaped pages -> `firelake produce` -> Kinesis -> `firelake
//! consume` -> Parquet in S3 + Glue partitions, read back with pyarrow over S3.

mod common;
use common::firelake;
use common::{python, require_emulators, root, unique};

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn aws_tool(args: &[&str]) -> String {
    common::python_tool("aws_tool.py", args)
}

struct FakeApi {
    child: Child,
    port: u16,
    expect: PathBuf,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fake_api(dir: &Path, records: usize, fail_every: usize) -> FakeApi {
    let expect = dir.join("expected.txt");
    let mut child = Command::new(python())
        .arg(root().join("tests/fake_api.py"))
        .args([
            "--records",
            &records.to_string(),
            "--expect",
            expect.to_str().unwrap(),
        ])
        .args(["--fail-every", &fail_every.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening ")
        .expect("fake API announces its port")
        .parse()
        .unwrap();
    FakeApi {
        child,
        port,
        expect,
    }
}

fn expected_ids(api: &FakeApi) -> BTreeSet<String> {
    std::fs::read_to_string(&api.expect)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn lake_ids(bucket: &str, prefix: &str) -> (Vec<String>, Value) {
    let v: Value =
        serde_json::from_str(&aws_tool(&["read-lake", bucket, prefix, "users"])).unwrap();
    let ids = v["user_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    (ids, v)
}

#[test]
fn api_to_kinesis_to_s3_parquet_and_glue() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    require_emulators();
    let dir = tempfile::tempdir().unwrap();
    let stream = unique("users");
    let bucket = unique("lake");
    let db = unique("db").replace('-', "_");
    aws_tool(&["create-stream", &stream, "2"]);
    aws_tool(&["create-bucket", &bucket]);
    // Every 3rd API call fails with HTTP 500: the producer retries it.
    let api = fake_api(dir.path(), 2000, 3);
    let url = format!("http://127.0.0.1:{}/api/?results=500", api.port);
    let to = format!("kinesis://{stream}");
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "produce",
            "--source",
            "users",
            "--source-url",
            &url,
            "--to",
            &to,
            "--ticks",
            "4",
            "--every",
            "0s",
        ],
    );
    assert!(ok, "produce failed: {out}\n{err}");
    assert!(out.contains("failed_ticks=0"), "{out}");
    let expected = expected_ids(&api);
    assert!(expected.len() > 1800, "{}", expected.len());

    let lake = format!("s3://{bucket}/raw");
    let glue = format!("glue://{db}");
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "consume",
            "--from",
            &to,
            "--lake",
            &lake,
            "--catalog",
            &glue,
            "--exit-when-idle",
            "3s",
            "--flush-interval",
            "1s",
            "--emf",
        ],
    );
    assert!(ok, "consume failed: {out}\n{err}");
    assert!(
        out.contains("\"CloudWatchMetrics\""),
        "EMF metric lines: {out}"
    );

    let (ids, v) = lake_ids(&bucket, "raw");
    let got: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(ids.len(), got.len(), "no duplicates in one clean run");
    assert_eq!(
        got, expected,
        "rows read back = the source's records minus the rejected"
    );
    for f in v["files"].as_array().unwrap() {
        assert!(f.as_str().unwrap().contains("/users/p_date="), "{f}");
    }
    let parts: Value = serde_json::from_str(&aws_tool(&["partitions", &db, "users"])).unwrap();
    let parts = parts.as_array().unwrap();
    assert!(!parts.is_empty());
    for p in parts {
        let loc = p["location"].as_str().unwrap();
        assert!(
            loc.starts_with(&format!("s3://{bucket}/raw/users/p_date=")),
            "{loc}"
        );
    }

    // A second consumer run finds every shard checkpointed: nothing is written twice.
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "consume",
            "--from",
            &to,
            "--lake",
            &lake,
            "--catalog",
            &glue,
            "--exit-when-idle",
            "2s",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("records_in=0"), "{out}");
    let (ids2, _) = lake_ids(&bucket, "raw");
    assert_eq!(ids2.len(), ids.len());

    // The compactor over the S3 lake with Glue: the curated table is created from the source
    // definition and its partitions point at generations holding exactly the distinct rows.
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "compact",
            "--lake",
            &lake,
            "--catalog",
            &glue,
            "--all",
            "--grace",
            "0s",
            "--json",
        ],
    );
    assert!(ok, "compact failed: {out}\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert!(!report["days"].as_array().unwrap().is_empty(), "{out}");
    let curated: Value =
        serde_json::from_str(&aws_tool(&["read-partitions", &db, "users_curated"])).unwrap();
    let curated_ids: BTreeSet<String> = curated["user_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        curated["user_ids"].as_array().unwrap().len(),
        curated_ids.len(),
        "one row per user"
    );
    assert_eq!(
        curated_ids, expected,
        "the curated rows are the distinct raw rows"
    );
    for f in curated["files"].as_array().unwrap() {
        assert!(f.as_str().unwrap().contains("users_curated/"), "{f}");
    }
    // `firelake catalog` reads the same partitions back from Glue.
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "catalog",
            "--lake",
            &lake,
            "--catalog",
            &glue,
            "--table",
            "users_curated",
            "--json",
        ],
    );
    assert!(ok, "catalog failed: {out}\n{err}");
    let view: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        view["partitions"].as_array().unwrap().len() as u64,
        curated["partitions"].as_u64().unwrap(),
        "{out}"
    );
}

#[test]
fn consumer_killed_mid_run_loses_nothing_on_restart() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    require_emulators();
    let dir = tempfile::tempdir().unwrap();
    let stream = unique("kill");
    let bucket = unique("lake");
    aws_tool(&["create-stream", &stream, "2"]);
    aws_tool(&["create-bucket", &bucket]);
    let to = format!("kinesis://{stream}");
    let lake = format!("s3://{bucket}/raw");
    let catalog = format!("file://{}/catalog.json", dir.path().display());
    let _out = common::produce_sample(dir.path(), &to, 3000, 4, &[]);
    let consume = |extra: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_firelake"));
        c.args([
            "consume",
            "--from",
            &to,
            "--lake",
            &lake,
            "--catalog",
            &catalog,
        ])
        .args(["--flush-records", "700", "--read-batch", "500"])
        .args(extra)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    };
    // kill -9 the consumer at a few points of its run, each time restarting it.
    for delay_ms in [700u64, 1300, 2100] {
        let mut child = consume(&[]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let t0 = Instant::now();
    let status = consume(&["--exit-when-idle", "3s"]).status().unwrap();
    assert!(status.success());
    assert!(t0.elapsed() < Duration::from_secs(120));

    let (ids, v) = lake_ids(&bucket, "raw");
    let distinct: BTreeSet<&String> = ids.iter().collect();
    // The sample source makes ~3% bad records; about 60% of those are rejected.
    assert!(
        distinct.len() > 11_500 && distinct.len() <= 12_000,
        "{}",
        distinct.len()
    );
    // Any duplicate is a whole file re-written for the same records (not a half file):
    // each file's rows are the stream records between its first and last sequence number.
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(!files.is_empty());
    eprintln!(
        "after kills: {} files, {} rows, {} distinct users",
        files.len(),
        ids.len(),
        distinct.len()
    );
    // Rejected records are all kept too.
    let (_, all_rows) = (ids.len(), v["rows"].as_u64().unwrap());
    assert!(all_rows as usize >= distinct.len());
    // Every record of the stream is in the lake or in _rejected: compare with a clean read
    // of the whole stream into a second prefix.
    let (ok, _, err) = firelake(
        dir.path(),
        &[
            "consume",
            "--from",
            &to,
            "--lake",
            &format!("s3://{bucket}/clean"),
            "--catalog",
            &catalog,
            "--consumer",
            "verifier",
            "--exit-when-idle",
            "2s",
        ],
    );
    assert!(ok, "{err}");
    let (clean_ids, _) = lake_ids(&bucket, "clean");
    let clean: BTreeSet<&String> = clean_ids.iter().collect();
    assert_eq!(
        distinct, clean,
        "after kills and restarts the lake holds every kept record"
    );
}

#[test]
fn resharding_drains_the_parent_before_its_children_and_loses_nothing() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    require_emulators();
    let kl = std::env::var("FIRELAKE_KINESIS_LOCAL")
        .expect("FIRELAKE_KINESIS_LOCAL (kinesis-local's main.js) is set by scripts/test.sh");
    assert!(Path::new(&kl).exists(), "{kl}");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args(["--net", "bash"])
        .arg(root().join("tests/reshard.sh"))
        .arg(env!("CARGO_BIN_EXE_firelake"))
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "reshard.sh failed: {stdout}\n{}\nconsumer log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.path().join("consume.log")).unwrap_or_default()
    );
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["shards"], 3, "{v}");
    assert!(v["on_stream"].as_u64().unwrap() > 2800, "{v}");
    assert_eq!(v["missing"], 0, "{v}");
    assert_eq!(v["extra"], 0, "{v}");
    assert_eq!(
        v["order_ok"], true,
        "parent drained before its children were read: {v}"
    );
}
