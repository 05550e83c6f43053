//! Issue 20 points 1, 2 and 6: `firelake run --iceberg` lands the source's table as an Apache
//! Iceberg table in the SQL catalog file inside the lake, read back by pyiceberg (an
//! independent reader) and compared with the same lake's Hive-style folders read by pyarrow.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{python, root};
use serde_json::Value;

/// `firelake` run in `dir` with no FIRELAKE_* settings of this environment.
fn firelake(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firelake"));
    cmd.current_dir(dir).env_remove("RUST_LOG");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FIRELAKE_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = firelake(dir).arg("run").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "firelake run {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A number of the run summary (`  rows out       2912`).
fn field(summary: &str, name: &str) -> u64 {
    let line = summary
        .lines()
        .find(|l| l.trim_start().starts_with(name))
        .unwrap_or_else(|| panic!("no {name:?} in {summary}"));
    line.trim_start()[name.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// What pyiceberg reads from the lake's Iceberg table (tests/iceberg_check.py).
fn check(dir: &Path) -> Value {
    let out = Command::new(python())
        .arg(root().join("tests/iceberg_check.py"))
        .arg(dir.join("lake"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "iceberg_check.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The table holds each of the lake's data files once and the same rows as its folders.
fn assert_table_is_the_lake(c: &Value) {
    assert_eq!(c["same_rows"], true, "{c}");
    assert_eq!(c["rows"], c["hive_rows"], "{c}");
    assert_eq!(
        c["files"], c["distinct_files"],
        "a file committed twice: {c}"
    );
    assert_eq!(c["committed_are_lake_files"], true, "{c}");
    assert_eq!(c["partition_ok"], true, "{c}");
}

#[test]
fn run_lands_an_iceberg_table_that_pyiceberg_reads_and_a_rerun_adds_only_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s1 = run(
        d,
        &[
            "--records",
            "3000",
            "--seed",
            "7",
            "--flush-records",
            "400",
            "--iceberg",
        ],
    );
    let (rows1, rejected1) = (field(&s1, "rows out"), field(&s1, "rejected"));
    assert_eq!(rows1 + rejected1, 3000);
    assert!(rejected1 > 0, "the sample source makes bad records");
    assert!(s1.contains("iceberg "), "{s1}");
    let c1 = check(d);
    assert_table_is_the_lake(&c1);
    assert_eq!(c1["rows"], rows1, "records minus the rejected: {c1}");
    assert_eq!(
        c1["partition_spec"],
        serde_json::json!(["day(ingested_at)"])
    );
    let columns = c1["columns"].as_array().unwrap();
    assert!(columns.iter().all(|c| {
        let c = c.as_str().unwrap();
        c == c.to_lowercase()
    }));
    assert!(
        !columns.contains(&Value::from("p_date")),
        "p_date is hidden"
    );
    let days: u64 = c1["days"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(days, rows1);
    let files1 = c1["files"].as_u64().unwrap();
    assert!(files1 > 1);
    let positions = c1["positions"].as_array().unwrap();
    // Both shards of the embedded stream, each with the ranges its files cover.
    let p = positions[0].as_str().unwrap();
    assert!(
        p.starts_with("embedded.users-shard-0000:") && p.contains(";embedded.users-shard-0001:"),
        "{c1}"
    );

    // A rerun commits its own files, in batches of at most two files, and nothing again.
    let s2 = run(
        d,
        &[
            "--records",
            "2000",
            "--seed",
            "8",
            "--flush-records",
            "400",
            "--iceberg",
            "--iceberg-commit-files",
            "2",
        ],
    );
    let rows2 = field(&s2, "rows out");
    let c2 = check(d);
    assert_table_is_the_lake(&c2);
    assert_eq!(c2["rows"], rows1 + rows2, "{c2}");
    let files2 = c2["files"].as_u64().unwrap() - files1;
    let snapshots2 = c2["snapshots"].as_u64().unwrap() - c1["snapshots"].as_u64().unwrap();
    assert!(
        snapshots2 >= files2.div_ceil(2),
        "{files2} files in {snapshots2} commits"
    );

    // Run once more with nothing new written by a crash: no commit adds anything twice.
    run(d, &["--records", "1", "--seed", "9", "--iceberg"]);
    assert_table_is_the_lake(&check(d));
}

#[test]
fn files_written_before_a_kill_9_are_committed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No commit during the run (an hour's wait, a million files): a kill after the first
    // file is written is a kill between writing and committing.
    let mut child = firelake(d)
        .args([
            "run",
            "--records",
            "2000000",
            "--flush-records",
            "500",
            "--iceberg",
            "--iceberg-commit-interval",
            "1h",
            "--iceberg-commit-files",
            "1000000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let written = |d: &Path| -> usize {
        let Ok(days) = std::fs::read_dir(d.join("lake/users")) else {
            return 0;
        };
        days.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("p_date="))
            .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
            .filter(|f| f.file_name().to_string_lossy().ends_with(".parquet"))
            .count()
    };
    while written(d) < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed = check(d);
    assert_eq!(
        killed["files"], 0,
        "nothing committed before the kill: {killed}"
    );
    assert!(killed["lake_files"].as_u64().unwrap() >= 2);

    run(d, &["--records", "1000", "--seed", "3", "--iceberg"]);
    let c = check(d);
    assert_table_is_the_lake(&c);
    assert!(c["files"].as_u64().unwrap() > killed["lake_files"].as_u64().unwrap());
}

#[test]
fn two_committers_at_once_add_every_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Files written and not committed, then two runs with nothing to write commit them at
    // once, one file per commit: they race on the catalog's compare-and-swap and on the
    // same files.
    let written = run(d, &["--records", "3000", "--flush-records", "150"]);
    let rows = field(&written, "rows out");
    let committer = || {
        let mut c = firelake(d);
        c.args([
            "run",
            "--records",
            "0",
            "--iceberg",
            "--iceberg-commit-files",
            "1",
        ]);
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (committer(), committer());
    let mut committed = 0;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with("iceberg"))
            .unwrap();
        committed += field(line, "iceberg");
    }
    let c = check(d);
    assert_table_is_the_lake(&c);
    assert_eq!(c["rows"], rows, "{c}");
    assert_eq!(
        c["files"], committed,
        "each file committed by one of the two: {c}"
    );
}

#[test]
fn embedded_replay_lands_an_iceberg_table_partitioned_by_its_event_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 3000 order lines over 30 days (2024-03-01 on), and two lines the source rejects.
    let mut csv = String::from("order_id,product_id,add_to_cart_order,reordered,ordered_at\n");
    for i in 0..3000u64 {
        let ordered_at = 1_709_251_200_000 + (i % 30) * 86_400_000 + i * 1000;
        csv.push_str(&format!(
            "{},{},{},{},{ordered_at}\n",
            i / 8 + 1,
            i % 8 + 1,
            i % 8 + 1,
            i % 2
        ));
    }
    csv.push_str("not-a-number,1,1,1,1709251200000\n,2,1,1,1709251200000\n");
    std::fs::write(d.join("lines.csv"), csv).unwrap();
    let out = firelake(d)
        .args([
            "replay",
            "lines.csv",
            "--source",
            "order_lines",
            "--iceberg",
        ])
        .output()
        .unwrap();
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = field(&summary, "lake rows");
    assert_eq!(rows, 3000, "{summary}");
    let out = Command::new(python())
        .arg(root().join("tests/iceberg_check.py"))
        .args([d.join("lake").to_str().unwrap(), "order_lines"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_table_is_the_lake(&c);
    assert_eq!(c["rows"], rows);
    assert_eq!(c["partition_spec"], serde_json::json!(["day(ordered_at)"]));
    assert_eq!(c["days"].as_object().unwrap().len(), 30, "{c}");

    // Another partition timestamp would put files in folders of another day than their
    // partition value says: refused before anything is written.
    let out = firelake(d)
        .args([
            "replay",
            "lines.csv",
            "--source",
            "order_lines",
            "--iceberg",
        ])
        .args([
            "--event-time",
            "ingested_at",
            "--progress-file",
            "other.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("partitioned by another column than ingested_at"),
        "{err}"
    );
    let files = |d: &Path| {
        std::fs::read_dir(d.join("lake/order_lines"))
            .unwrap()
            .count()
    };
    assert_eq!(
        files(d),
        c["days"].as_object().unwrap().len() + 1,
        "30 days and _rejected"
    );
}
