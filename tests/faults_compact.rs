//! Faults in the compactor (issue 17 point 6), through the real `firelake compact` on a moto
//! S3 lake with a Glue catalog, behind tests/fault_proxy.py: S3 503 SlowDown / 500 and cut
//! connections on the generation's upload and on the raw reads, Glue throttling during the
//! catalog switch. The run retries them; readers (the Glue partitions, read with pyarrow)
//! then see a complete generation holding every raw user once.

mod common;
use common::{FaultProxy, firelake, firelake_env, require_emulators, unique};

use std::collections::BTreeSet;

use serde_json::{Value, json};

fn aws_tool(args: &[&str]) -> String {
    common::python_tool("aws_tool.py", args)
}

fn ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v["user_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// A raw day on a moto S3 lake with a Glue catalog: (dir, lake, glue url, db, distinct ids).
fn raw_day() -> (tempfile::TempDir, String, String, String, Vec<String>) {
    require_emulators();
    let dir = tempfile::tempdir().unwrap();
    let (stream, bucket) = (unique("cfaults"), unique("cfaults"));
    let db = unique("cdb").replace('-', "_");
    aws_tool(&["create-stream", &stream, "1"]);
    aws_tool(&["create-bucket", &bucket]);
    let from = format!("kinesis://{stream}");
    let lake = format!("s3://{bucket}/raw");
    let glue = format!("glue://{db}");
    let (ok, _, err) = firelake(
        dir.path(),
        &[
            "produce",
            "--source",
            "users",
            "--sample-records",
            "3000",
            "--ticks",
            "1",
        ]
        .into_iter()
        .chain(["--every", "0s", "--to", &from])
        .collect::<Vec<_>>(),
    );
    assert!(ok, "{err}");
    let (ok, _, err) = firelake(
        dir.path(),
        &[
            "consume",
            "--from",
            &from,
            "--lake",
            &lake,
            "--catalog",
            &glue,
            "--flush-records",
            "500",
            "--exit-when-idle",
            "2s",
        ],
    );
    assert!(ok, "{err}");
    let raw: Value =
        serde_json::from_str(&aws_tool(&["read-lake", &bucket, "raw", "users"])).unwrap();
    let expected: Vec<String> = ids(&raw)
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    (dir, lake, glue, db, expected)
}

fn compact(
    dir: &std::path::Path,
    proxy: &FaultProxy,
    lake: &str,
    glue: &str,
) -> (bool, String, String) {
    let url = proxy.url();
    firelake_env(
        dir,
        &[("AWS_ENDPOINT_URL", url.as_str()), ("AWS_TIMEOUT", "2s")],
        &[
            "compact",
            "--lake",
            lake,
            "--catalog",
            glue,
            "--all",
            "--grace",
            "0s",
        ],
    )
}

/// What readers see: every row under the Glue partitions of the curated table, sorted.
fn readers_view(db: &str) -> Vec<String> {
    ids(&serde_json::from_str(&aws_tool(&["read-partitions", db, "users_curated"])).unwrap())
}

#[test]
fn s3_and_glue_faults_during_a_compaction_are_retried_and_readers_see_an_exact_generation() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let (dir, lake, glue, db, expected) = raw_day();

    let proxy = FaultProxy::start();
    proxy.set_rules(json!([
        {"method": "GET", "path": "/raw/users/p_date", "action": "internal", "times": 2},
        {"method": "GET", "path": "/raw/users/p_date", "action": "slowdown", "times": 1},
        {"method": "GET", "path": "/raw/users/p_date", "action": "cut", "times": 1},
        {"method": "GET", "path": "/raw/users/p_date", "action": "delay", "seconds": 4, "times": 1},
        {"method": "PUT", "path": "/raw/users_curated/_generations/", "action": "slowdown", "times": 2},
        {"method": "PUT", "path": "/raw/users_curated/_generations/", "action": "internal", "times": 1},
        {"target": r"AWSGlue\.(Batch)?(Update|Create)Partition", "action": "throttle", "times": 3},
    ]));
    let url = proxy.url();
    let (ok, out, err) = firelake_env(
        dir.path(),
        &[("AWS_ENDPOINT_URL", url.as_str()), ("AWS_TIMEOUT", "5s")],
        &[
            "compact",
            "--lake",
            &lake,
            "--catalog",
            &glue,
            "--all",
            "--grace",
            "0s",
        ],
    );
    assert!(
        ok,
        "the compaction gave up on transient faults:\n{out}\n{err}"
    );
    for (i, rule) in proxy.rules().as_array().unwrap().iter().enumerate() {
        assert_eq!(
            rule["fired"], rule["times"],
            "rule {i} did not fire: {rule}"
        );
    }
    assert_eq!(
        readers_view(&db),
        expected,
        "readers' view after the faults"
    );
}

#[test]
fn glue_failing_for_good_at_the_switch_fails_the_day_clearly_and_a_rerun_is_exact() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let (dir, lake, glue, db, expected) = raw_day();
    let proxy = FaultProxy::start();
    proxy.set_rules(json!([
        {"target": r"AWSGlue\.(Batch)?(Update|Create)Partition", "action": "service", "times": -1},
    ]));
    let (ok, _, err) = compact(dir.path(), &proxy, &lake, &glue);
    assert!(
        !ok,
        "the compaction exited 0 with the catalog switch failing:\n{err}"
    );
    let line = common::last_line(&err);
    assert!(
        line.starts_with("firelake: error:") && line.contains("Partition"),
        "not a one-line error naming the Glue call: {err}"
    );
    // Readers see no curated day, or a complete one: never a partial generation.
    let seen = readers_view(&db);
    assert!(
        seen.is_empty() || seen == expected,
        "{} rows visible",
        seen.len()
    );
    proxy.set_rules(json!([]));
    let (ok, _, err) = compact(dir.path(), &proxy, &lake, &glue);
    assert!(ok, "{err}");
    assert_eq!(readers_view(&db), expected, "readers' view after the rerun");
}

/// Every row the local catalog's curated partitions point at, sorted (pyarrow), and the
/// distinct user ids of the raw table.
fn local_views(lake: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let script = r#"
import json, os, sys, pyarrow.parquet as pq, pyarrow.dataset as ds
lake = sys.argv[1]
cat = json.load(open(os.path.join(lake, "_catalog/firelake.json")))
cur = []
for p in (cat["Tables"].get("users_curated", {}).get("Partitions") or {}).values():
    loc = p["StorageDescriptor"]["Location"] if "StorageDescriptor" in p else p["Location"]
    path = os.path.join(lake, loc.removeprefix("file://"))
    for f in sorted(os.listdir(path)):
        cur += pq.read_table(os.path.join(path, f)).column("user_id").to_pylist()
raw = set()
for root, _, files in os.walk(os.path.join(lake, "users")):
    for f in files:
        if f.endswith(".parquet"):
            raw.update(pq.read_table(os.path.join(root, f)).column("user_id").to_pylist())
print(json.dumps([sorted(cur), sorted(raw)]))
sys.stdout.flush()
os._exit(0)
"#;
    let out = std::process::Command::new(common::python())
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
fn a_full_spill_disk_fails_the_compaction_clearly_and_a_rerun_with_room_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = firelake(dir.path(), &["run", "--records", "40000", "--seed", "3"]);
    assert!(ok, "{err}");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mount = |opts: &str| {
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(&tmp)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs: the disk-full tests need root");
    };
    mount("size=64k");
    let spill = tmp.to_str().unwrap();
    let args = [
        "compact",
        "--all",
        "--grace",
        "0s",
        "--dedupe-memory-mb",
        "1",
    ];
    let (ok, _, err) = firelake_env(dir.path(), &[("TMPDIR", spill)], &args);
    let lake = dir.path().join("lake");
    let before = local_views(&lake);
    let (ok2, _, err2) = {
        mount("remount,size=64m");
        firelake_env(dir.path(), &[("TMPDIR", spill)], &args)
    };
    let _ = std::process::Command::new("umount").arg(&tmp).status();
    assert!(
        !ok,
        "the compaction exited 0 with a full spill disk:\n{err}"
    );
    let line = common::last_line(&err);
    assert!(
        line.starts_with("firelake: error:") && line.contains("No space left"),
        "not a one-line error: {err}"
    );
    assert!(
        before.0.is_empty(),
        "a curated day is visible after the failed run"
    );
    assert!(ok2, "{err2}");
    let (curated, raw) = local_views(&lake);
    assert_eq!(curated.len(), raw.len(), "one row per user");
    assert_eq!(curated, raw);
}
