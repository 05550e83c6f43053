//! One compactor per day on an S3 lake (moto for S3 and Glue, which scripts/test.sh starts):
//! two `firelake compact` processes started together on the same day never corrupt it (the
//! Glue partition always points at a complete generation of exactly the distinct rows), a
//! live lock makes a run skip the day as busy, and a stale one (its run crashed, its lease
//! over) is taken over.

mod common;
use common::{firelake, python_tool, require_emulators, unique};

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

fn tool(args: &[&str]) -> String {
    python_tool("compact_s3_tool.py", args)
}

/// An S3 lake (`s3://BUCKET/raw`) whose raw users table holds a local run's files (with
/// duplicates), a fresh Glue database, and the distinct user count of each raw day.
struct S3Lake {
    dir: tempfile::TempDir,
    bucket: String,
    lake: String,
    glue: String,
    db: String,
    distinct: BTreeMap<String, usize>,
}

fn s3_lake() -> S3Lake {
    require_emulators();
    let dir = tempfile::tempdir().unwrap();
    for records in ["900", "400"] {
        let (ok, out, err) = firelake(dir.path(), &["run", "--records", records, "--seed", "21"]);
        assert!(ok, "run: {out}{err}");
    }
    let raw = dir.path().join("lake/users");
    let mut distinct = BTreeMap::new();
    for day in std::fs::read_dir(&raw).unwrap().flatten() {
        let name = day.file_name().to_str().unwrap().to_string();
        let Some(d) = name.strip_prefix("p_date=") else {
            continue;
        };
        distinct.insert(d.to_string(), distinct_ids(&day.path()).len());
    }
    let bucket = unique("curated");
    let db = unique("db").replace('-', "_");
    common::python_tool("aws_tool.py", &["create-bucket", &bucket]);
    tool(&[
        "upload",
        dir.path().join("lake").to_str().unwrap(),
        &bucket,
        "raw",
    ]);
    S3Lake {
        lake: format!("s3://{bucket}/raw"),
        glue: format!("glue://{db}"),
        dir,
        bucket,
        db,
        distinct,
    }
}

fn distinct_ids(day_dir: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for f in std::fs::read_dir(day_dir).unwrap().flatten() {
        let rows = firelake_testkit::lake::file_ids_and_times(&f.path());
        ids.extend(rows.into_iter().map(|(id, _)| id));
    }
    ids
}

impl S3Lake {
    fn compact_args<'a>(&'a self, day: &'a str) -> Vec<&'a str> {
        vec![
            "compact",
            "--lake",
            &self.lake,
            "--catalog",
            &self.glue,
            "--date",
            day,
            "--grace",
            "0s",
            "--force",
            "--json",
        ]
    }

    /// One `firelake compact` of `day`: its report's outcome for the day.
    fn compact(&self, day: &str) -> String {
        let (ok, out, err) = firelake(self.dir.path(), &self.compact_args(day));
        assert!(ok, "compact failed: {out}\n{err}");
        outcome(&out)
    }

    fn lock_key(&self, day: &str) -> String {
        format!("raw/users_curated/_locks/p_date={day}.lock")
    }

    fn lock(&self, day: &str) -> Value {
        serde_json::from_str(&tool(&["get", &self.bucket, &self.lock_key(day)])).unwrap()
    }

    /// What readers of the curated table see for `day`: it must be a complete generation
    /// holding exactly the day's distinct rows. Returns its location.
    fn assert_curated_exact(&self, day: &str) -> String {
        let parts: Value =
            serde_json::from_str(&tool(&["curated", &self.db, "users_curated"])).unwrap();
        let p = parts
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["day"] == day)
            .unwrap_or_else(|| panic!("no curated partition for {day}: {parts}"));
        let expected = self.distinct[day] as u64;
        assert!(
            p["files"].as_u64().unwrap() > 0,
            "a deleted generation: {p}"
        );
        assert_eq!(p["rows"].as_u64().unwrap(), expected, "{p}");
        assert_eq!(p["distinct"].as_u64().unwrap(), expected, "{p}");
        p["location"].as_str().unwrap().to_string()
    }
}

fn outcome(report: &str) -> String {
    let v: Value = serde_json::from_str(report).unwrap();
    v["days"][0]["outcome"].as_str().unwrap().to_string()
}

fn biggest_day(l: &S3Lake) -> String {
    l.distinct
        .iter()
        .max_by_key(|(_, n)| **n)
        .unwrap()
        .0
        .clone()
}

#[test]
fn two_compactors_started_together_on_one_s3_day_leave_it_exact() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let l = s3_lake();
    let day = biggest_day(&l);
    assert_eq!(l.compact(&day), "compacted");
    let mut location = l.assert_curated_exact(&day);
    let mut outcomes = BTreeMap::<String, usize>::new();
    for round in 0..5 {
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_firelake"))
                    .args(l.compact_args(&day))
                    .current_dir(l.dir.path())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut compacted = 0;
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "round {round}: compact failed: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let o = outcome(&stdout);
            assert!(o == "compacted" || o == "busy", "round {round}: {stdout}");
            compacted += usize::from(o == "compacted");
            *outcomes.entry(o).or_default() += 1;
        }
        assert!(compacted >= 1, "round {round}: a run did the day");
        let now = l.assert_curated_exact(&day);
        assert_ne!(now, location, "round {round}: a new generation");
        location = now;
        assert_eq!(l.lock(&day)["expires_at_ms"], 0, "released");
    }
    eprintln!("outcomes over 5 rounds of 2 runs: {outcomes:?}");
}

#[test]
fn a_live_lock_makes_the_day_busy_and_a_stale_one_is_taken_over() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let l = s3_lake();
    let day = biggest_day(&l);
    let far = "{\"owner\":\"other-run\",\"expires_at_ms\":99999999999999}";
    tool(&["put", &l.bucket, &l.lock_key(&day), far]);
    assert_eq!(
        l.compact(&day),
        "busy",
        "exit 0, the day left to its holder"
    );
    assert_eq!(l.lock(&day)["owner"], "other-run");
    let parts = tool(&["curated", &l.db, "users_curated"]);
    assert!(!parts.contains(&day), "nothing switched: {parts}");

    // The holder crashed long ago: its lease is over.
    let stale = "{\"owner\":\"crashed-run\",\"expires_at_ms\":1000}";
    tool(&["put", &l.bucket, &l.lock_key(&day), stale]);
    assert_eq!(l.compact(&day), "compacted");
    l.assert_curated_exact(&day);
    let lock = l.lock(&day);
    assert_ne!(lock["owner"], "crashed-run", "{lock}");
    assert_eq!(lock["expires_at_ms"], 0, "released: {lock}");
}
