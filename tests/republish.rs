//! Issue 21 point 9, dead letters, through the binary: records `produce` could not deliver
//! (its Kinesis stream does not exist) are sent again by `firelake republish`: while the
//! target still refuses them they stay dead letters with their reason; once it takes them they
//! are sent once (a rerun sends nothing) and a consumer lands them, redacted values never
//! among the landed data.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{firelake, kv_field, python, require_emulators};

fn jsonl_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(jsonl_under(&p));
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn lines(file: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn republish(dir: &Path, to: &str) -> (bool, String, String) {
    let args = ["republish", "--to", to, "--state", "state", "--all"];
    firelake(dir, &[&args[..], &["--publish-deadline", "2s"]].concat())
}

/// Rows of the consumed lake, and how many hold the redaction marker in any column.
fn lake_rows(lake: &Path) -> (u64, u64) {
    const SQL: &str = r#"
import duckdb, sys
t = sys.argv[1] + "/users/p_date=*/*.parquet"
n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{t}')").fetchall()[0][0]
m = duckdb.sql(f"SELECT count(*) FROM read_parquet('{t}') r WHERE r::VARCHAR LIKE '%<redacted>%'").fetchall()[0][0]
print(n, m)
"#;
    let out = Command::new(python())
        .args(["-c", SQL])
        .arg(lake)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (n, m) = text.trim().split_once(' ').unwrap();
    (n.parse().unwrap(), m.parse().unwrap())
}

fn consume(dir: &Path, from: &str) -> String {
    let catalog = format!("file://{}/catalog.json", dir.display());
    let args = [
        "consume",
        "--from",
        from,
        "--lake",
        "lake",
        "--catalog",
        &catalog,
    ];
    let (ok, out, err) = firelake(dir, &[&args[..], &["--exit-when-idle", "2s"]].concat());
    assert!(ok, "consume failed: {err}\n{out}");
    out
}

/// `republish` stopped (the crash hook of test builds) after its first publish, then killed.
fn kill_after_publish(dir: &Path, to: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(["republish", "--to", to, "--state", "state", "--all"])
        .current_dir(dir)
        .env("FIRELAKE_COMPACT_PAUSE_AT", "republish_published")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reached = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("paused at republish_published"));
    assert!(reached, "republish ended without publishing");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn dead_letters_are_sent_again_once_and_what_fails_again_stays_a_dead_letter() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    require_emulators();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let stream = firelake_testkit::unique("republish");
    let to = format!("kinesis://{stream}");
    const N: u64 = 300;
    // The stream does not exist: produce dead-letters the whole tick and fails.
    let args = [
        "produce",
        "--to",
        &to,
        "--sample-records",
        "300",
        "--seed",
        "5",
    ];
    let more = [
        "--every",
        "0s",
        "--state",
        "state",
        "--publish-deadline",
        "2s",
    ];
    let (ok, out, err) = firelake(dir, &[&args[..], &more].concat());
    assert!(
        !ok && out.contains(&format!("dead_lettered={N}")),
        "{out}\n{err}"
    );
    let folder = dir
        .join("state/_dead_letter")
        .join(format!("kinesis___{stream}"));
    let first = jsonl_under(&folder);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(lines(&first[0]).len() as u64, N);

    // Still missing: refused again, dead letters again with their reason; an error line says so.
    let (ok, out, err) = republish(dir, &to);
    assert!(!ok, "{out}");
    assert_eq!(
        (kv_field(&out, "sent"), kv_field(&out, "failed_again")),
        (0, N),
        "{out}"
    );
    let line = common::last_line(&err);
    assert!(
        line.starts_with("firelake: error: 300 records were refused again"),
        "{err}"
    );
    assert!(line.contains("ResourceNotFound"), "{err}");
    let again: Vec<_> = jsonl_under(&folder)
        .into_iter()
        .filter(|p| *p != first[0])
        .collect();
    assert_eq!(again.len(), 1, "{again:?}");
    let kept = lines(&again[0]);
    assert_eq!(kept.len() as u64, N);
    assert!(
        kept.iter().all(|l| l["kind"] == "undelivered"
            && l["reason"].as_str().unwrap().contains("ResourceNotFound")),
        "{}",
        kept[0]
    );

    // The stream exists. Killed (-9) after publishing, before the journal: the rerun sends
    // the records again (at least once, nothing lost); the first file's are done already
    // (they moved to the second).
    common::python_tool("aws_tool.py", &["create-stream", &stream, "1"]);
    kill_after_publish(dir, &to);
    let (ok, out, err) = republish(dir, &to);
    assert!(ok, "{err}\n{out}");
    assert_eq!(kv_field(&out, "sent"), N, "{out}");
    assert_eq!(kv_field(&out, "already_sent"), N, "{out}");
    assert_eq!(
        (kv_field(&out, "failed_again"), kv_field(&out, "held")),
        (0, 0),
        "{out}"
    );
    let consumed = consume(dir, &to);
    assert_eq!(kv_field(&consumed, "records_in"), 2 * N, "{consumed}");
    let (rows, marked) = lake_rows(&dir.join("lake"));
    assert_eq!(rows, kv_field(&consumed, "rows_out"), "{consumed}");
    assert!(rows > 2 * N * 9 / 10, "{rows}");
    assert_eq!(marked, 0, "a redacted value landed as data");

    // Twice sends nothing: the consumer finds nothing new.
    let (ok, out, err) = republish(dir, &to);
    assert!(ok, "{err}\n{out}");
    assert_eq!(
        (kv_field(&out, "sent"), kv_field(&out, "already_sent")),
        (0, 2 * N),
        "{out}"
    );
    assert_eq!(kv_field(&consume(dir, &to), "records_in"), 0);
    assert_eq!(lake_rows(&dir.join("lake")).0, rows);
}
