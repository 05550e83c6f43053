//! Faults on the way in (issue 16 point 7), through the real `firelake consume`: S3 answers
//! 503 SlowDown / 500 / 403, hangs past the client's timeout or drops the connection
//! (tests/fault_proxy.py in front of moto), and a local lake's disk fills up (a tiny tmpfs).
//! Each time the consumer either retries or stops with a one-line error and a non-zero exit;
//! its checkpoint never passes what is durable; and a rerun without the fault leaves every
//! record of the stream in the lake exactly once (compared with a clean read of the same
//! stream, with pyarrow).

mod common;
use common::{FaultProxy, firelake_env, last_line, python, require_emulators, unique};

use std::path::Path;

use serde_json::{Value, json};

fn aws_tool(args: &[&str]) -> String {
    common::python_tool("aws_tool.py", args)
}

/// A one-shard stream holding `records` sample users (a few percent are bad and rejected).
fn stream_with(dir: &Path, records: usize) -> String {
    let stream = unique("faults");
    aws_tool(&["create-stream", &stream, "1"]);
    let to = format!("kinesis://{stream}");
    let _out = common::produce_sample(dir, &to, records, 1, &[]);
    to
}

/// `consume --from stream --lake lake` with small flushes (several files, records buffered
/// while a flush is written), until idle.
fn consume(
    dir: &Path,
    envs: &[(&str, &str)],
    from: &str,
    lake: &str,
    consumer: &str,
) -> (bool, String, String) {
    let catalog = format!("file://{}/catalog-{consumer}.json", dir.display());
    firelake_env(
        dir,
        envs,
        &[
            "consume",
            "--from",
            from,
            "--lake",
            lake,
            "--catalog",
            &catalog,
            "--consumer",
            consumer,
            "--flush-records",
            "500",
            "--read-batch",
            "300",
            "--exit-when-idle",
            "2s",
        ],
    )
}

/// Every user_id row of an S3 lake's table, sorted (duplicates kept: exactly-once is checked).
fn s3_rows(bucket: &str, prefix: &str) -> Vec<String> {
    let v: Value =
        serde_json::from_str(&aws_tool(&["read-lake", bucket, prefix, "users"])).unwrap();
    let mut ids: Vec<String> = v["user_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// The same stream read without faults into `s3://bucket/clean`: what the lake must hold.
/// Fails unless `got` and `want` hold the same rows, as many times each (short message).
fn assert_same_rows(got: &[String], want: &[String]) {
    if got != want {
        let (g, w): (std::collections::BTreeSet<_>, std::collections::BTreeSet<_>) =
            (got.iter().collect(), want.iter().collect());
        panic!(
            "lake rows differ: {} rows ({} distinct) vs {} expected ({} distinct); missing {:?}; extra {:?}",
            got.len(),
            g.len(),
            want.len(),
            w.len(),
            w.difference(&g).take(3).collect::<Vec<_>>(),
            g.difference(&w).take(3).collect::<Vec<_>>()
        );
    }
}

fn clean_rows(dir: &Path, from: &str, bucket: &str) -> Vec<String> {
    let lake = format!("s3://{bucket}/clean");
    let (ok, _, err) = consume(dir, &[], from, &lake, "verifier");
    assert!(ok, "{err}");
    let rows = s3_rows(bucket, "clean");
    assert!(rows.len() > 1000, "{}", rows.len());
    rows
}

// object_store percent-encodes the `=` of a partition folder.
const DATA_PUT: &str = r"/raw/users/p_date(=|%3D)[^/]+/[^/?]+\.parquet$";

#[test]
fn s3_slowdown_500_drops_and_timeouts_mid_put_are_retried_and_every_record_lands_once() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    require_emulators();
    let dir = tempfile::tempdir().unwrap();
    let bucket = unique("faults");
    aws_tool(&["create-bucket", &bucket]);
    let from = stream_with(dir.path(), 3000);
    let proxy = FaultProxy::start();
    proxy.set_rules(json!([
        {"method": "PUT", "path": DATA_PUT, "action": "slowdown", "times": 2},
        {"method": "PUT", "path": DATA_PUT, "action": "internal", "times": 1},
        // Past the client's timeout: the upload lands in S3 after the client gave up.
        {"method": "PUT", "path": DATA_PUT, "action": "delay", "seconds": 3, "times": 1},
        // The connection closes before any answer.
        {"method": "PUT", "path": DATA_PUT, "action": "drop", "times": 1},
        {"method": "PUT", "path": "/_checkpoints/", "action": "slowdown", "times": 2},
        // Unanswered checkpoint write (dropped before it reached S3; a late-landing one is left
        // open: moto does not enforce If-Match on a request that arrives after its successor).
        {"method": "PUT", "path": "/_checkpoints/", "action": "drop", "times": 1},
    ]));
    let url = proxy.url();
    let envs = [("AWS_ENDPOINT_URL", url.as_str()), ("AWS_TIMEOUT", "1s")];
    let lake = format!("s3://{bucket}/raw");
    let (ok, out, err) = consume(dir.path(), &envs, &from, &lake, "faulted");
    assert!(
        ok,
        "the consumer gave up on transient faults:\n{out}\n{err}"
    );
    for (i, rule) in proxy.rules().as_array().unwrap().iter().enumerate() {
        assert_eq!(
            rule["fired"], rule["times"],
            "rule {i} did not fire: {rule}"
        );
    }
    assert_same_rows(
        &s3_rows(&bucket, "raw"),
        &clean_rows(dir.path(), &from, &bucket),
    );
}

/// A consume whose first data file write hangs (the fault proxy holds it 6 s, then lets it
/// land) for longer than `--exit-when-idle 2s`, while records wait on the stream: waiting for
/// the lake is not idleness, so it exits only once everything is read. Used to exit 0 halfway.
fn a_stalled_write_longer_than_the_idle_time_reads_everything(from: &str) {
    let dir = tempfile::tempdir().unwrap();
    let bucket = unique("faults");
    aws_tool(&["create-bucket", &bucket]);
    let proxy = FaultProxy::start();
    proxy.set_rules(json!([
        {"method": "PUT", "path": DATA_PUT, "action": "delay", "seconds": 6, "times": 1},
    ]));
    let url = proxy.url();
    let envs = [("AWS_ENDPOINT_URL", url.as_str())];
    let lake = format!("s3://{bucket}/raw");
    let (ok, out, err) = consume(dir.path(), &envs, from, &lake, "stalled");
    assert!(ok, "{out}\n{err}");
    assert_eq!(proxy.fired(0), 1, "the write was not held");
    assert_same_rows(
        &s3_rows(&bucket, "raw"),
        &clean_rows(dir.path(), from, &bucket),
    );
}

#[test]
fn kinesis_a_stalled_lake_write_is_not_idleness() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    require_emulators();
    let dir = tempfile::tempdir().unwrap();
    a_stalled_write_longer_than_the_idle_time_reads_everything(&stream_with(dir.path(), 3000));
}

#[test]
fn kafka_a_stalled_lake_write_is_not_idleness() {
    if firelake_testkit::skip(firelake_testkit::Needs::AwsAndKafka) {
        return;
    }
    require_emulators();
    let broker = std::env::var("FIRELAKE_KAFKA")
        .expect("FIRELAKE_KAFKA: scripts/test.sh starts the broker with tests/kafka_broker.sh");
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("faults");
    common::create_topic(&broker, &topic, 2, &[]);
    let to = format!("kafka://{broker}/{topic}");
    let state = format!("file://{}/state", dir.path().display());
    let _out = common::produce_sample(dir.path(), &to, 4000, 1, &["--state", &state]);
    a_stalled_write_longer_than_the_idle_time_reads_everything(&to);
}

#[test]
fn a_put_refused_for_good_while_records_are_buffered_stops_with_one_line_and_a_rerun_is_exact() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    require_emulators();
    let dir = tempfile::tempdir().unwrap();
    let bucket = unique("faults");
    aws_tool(&["create-bucket", &bucket]);
    let from = stream_with(dir.path(), 3000);
    let proxy = FaultProxy::start();
    // The first data file lands; every later one is refused (403 is not retried).
    proxy.set_rules(json!([
        {"method": "PUT", "path": DATA_PUT, "action": "denied", "skip": 1, "times": -1},
    ]));
    let url = proxy.url();
    let envs = [("AWS_ENDPOINT_URL", url.as_str())];
    let lake = format!("s3://{bucket}/raw");
    let (ok, _, err) = consume(dir.path(), &envs, &from, &lake, "faulted");
    assert!(!ok, "the consumer exited 0 with a refused write:\n{err}");
    let line = last_line(&err);
    assert!(
        line.starts_with("firelake: error:") && line.contains(".parquet") && line.contains("403"),
        "not a one-line error naming the file: {err}"
    );
    assert_eq!(
        proxy.rules()[0]["fired"],
        1,
        "it stopped at the first refusal"
    );
    let partial = s3_rows(&bucket, "raw");
    assert!(
        !partial.is_empty() && partial.len() <= 600,
        "{}",
        partial.len()
    );

    // The fault gone, the rerun resumes from the checkpoint: nothing skipped, nothing twice.
    proxy.set_rules(json!([]));
    let (ok, _, err) = consume(dir.path(), &envs, &from, &lake, "faulted");
    assert!(ok, "{err}");
    assert_same_rows(
        &s3_rows(&bucket, "raw"),
        &clean_rows(dir.path(), &from, &bucket),
    );
}

/// A tmpfs of `size` mounted at `dir` for the test's life (the tests run as root).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(
            st.success(),
            "mount -t tmpfs failed: the disk-full tests need root (or CAP_SYS_ADMIN)"
        );
        Tmpfs(dir.to_path_buf())
    }

    fn resize(&self, size: &str) {
        let st = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// Every user_id row of a local lake's table, sorted; fails on any file under a partition
/// that is not a whole Parquet file (pyarrow reads each one).
fn local_rows(lake: &Path) -> Vec<String> {
    let script = r#"
import json, os, sys, pyarrow.parquet as pq
root = os.path.join(sys.argv[1], "users")
ids = []
for d in sorted(os.listdir(root)):
    if not d.startswith("p_date="):
        continue
    for f in sorted(os.listdir(os.path.join(root, d))):
        if not f.endswith(".parquet"):
            sys.exit(f"not a data file under a partition: {d}/{f}")
        ids += pq.read_table(os.path.join(root, d, f)).column("user_id").to_pylist()
print(json.dumps(sorted(ids)))
sys.stdout.flush()
os._exit(0)
"#;
    let out = std::process::Command::new(python())
        .args(["-c", script])
        .arg(lake)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_full_local_disk_stops_the_consumer_cleanly_and_a_rerun_with_room_is_exact() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    require_emulators();
    let dir = tempfile::tempdir().unwrap();
    let from = stream_with(dir.path(), 3000);
    let mnt = dir.path().join("small");
    let fs = Tmpfs::mount(&mnt, "192k");
    let lake_dir = mnt.join("lake");
    let lake = format!("file://{}", lake_dir.display());
    let (ok, _, err) = consume(dir.path(), &[], &from, &lake, "faulted");
    assert!(!ok, "the consumer exited 0 on a full disk:\n{err}");
    let line = last_line(&err);
    assert!(
        line.starts_with("firelake: error:"),
        "not a one-line error: {err}"
    );
    // What is there is whole (pyarrow reads every file under the final names).
    let partial = local_rows(&lake_dir);
    assert!(partial.len() < 2500, "{}", partial.len());

    fs.resize("16m");
    let (ok, _, err) = consume(dir.path(), &[], &from, &lake, "faulted");
    assert!(ok, "{err}");
    let clean_dir = dir.path().join("clean");
    let clean = format!("file://{}", clean_dir.display());
    let (ok, _, err) = consume(dir.path(), &[], &from, &clean, "verifier");
    assert!(ok, "{err}");
    assert_same_rows(&local_rows(&lake_dir), &local_rows(&clean_dir));
}
