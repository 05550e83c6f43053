//! `firelake status` (issue 21 point 4), the curated state, reprocessed records and consumer
//! positions, through the binary: a compacted day turns stale when late raw files arrive and
//! fresh again after the next compaction; the generation shown is the catalog's, not the
//! newest folder a killed run left; records `firelake reprocess` landed leave `rejected` and
//! show as `reprocessed`; the lake's checkpoints show per shard.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::firelake;
use serde_json::Value;

fn ok(dir: &Path, args: &[&str]) -> String {
    let (success, out, err) = firelake(dir, args);
    assert!(success, "firelake {args:?} failed: {err}\n{out}");
    out
}

fn status(dir: &Path) -> Value {
    serde_json::from_str(&ok(dir, &["status", "--lake", "lake", "--json"])).unwrap()
}

/// Day -> that day's status of the `users` table.
fn days(s: &Value) -> BTreeMap<String, Value> {
    let t = s["tables"].as_array().unwrap();
    let users = t.iter().find(|t| t["table"] == "users").expect("users");
    users["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["day"].as_str().unwrap().to_string(), d.clone()))
        .collect()
}

fn run(dir: &Path, seed: &str, records: &str) {
    ok(
        dir,
        &[
            "run",
            "--lake",
            "lake",
            "--records",
            records,
            "--seed",
            seed,
        ],
    );
}

const COMPACT: &[&str] = &["compact", "--lake", "lake", "--all", "--grace", "0s"];

/// The generation each curated partition of the catalog points at (its last path segment).
fn catalog_generations(dir: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("lake/_catalog/firelake.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let parts = v["Tables"]["users_curated"]["Partitions"]
        .as_object()
        .unwrap();
    parts
        .values()
        .map(|p| {
            let loc = p["Location"].as_str().unwrap().trim_end_matches('/');
            let day = p["Values"][0].as_str().unwrap().to_string();
            (day, loc.rsplit('/').next().unwrap().to_string())
        })
        .collect()
}

/// A compaction stopped (kill -9) once its generation is written, before the catalog switch.
fn kill_before_switch(dir: &Path) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(COMPACT)
        .current_dir(dir)
        .env("FIRELAKE_COMPACT_PAUSE_AT", "written")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reached = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .any(|l| l.unwrap().contains("paused at written"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(reached, "the compaction never reached `written`");
}

fn assert_fresh(dir: &Path) {
    let s = status(dir);
    let catalog = catalog_generations(dir);
    for (day, d) in days(&s) {
        let c = &d["curated"];
        assert_eq!(c["state"], "compacted", "{day}: {c}");
        assert_eq!(
            (&c["stale"], &c["stale_raw_files"]),
            (&Value::Bool(false), &0.into()),
            "{day}: {c}"
        );
        assert_eq!(c["generation_from"], "catalog");
        assert_eq!(
            c["generation"].as_str(),
            Some(catalog[&day].as_str()),
            "{day}"
        );
    }
}

#[test]
fn a_compacted_day_is_stale_while_late_raw_files_wait_and_the_catalog_names_the_generation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    run(dir, "3", "1500");
    for d in days(&status(dir)).values() {
        assert_eq!(d["curated"]["state"], "not compacted");
    }
    ok(dir, COMPACT);
    assert_fresh(dir);
    let before = days(&status(dir));

    // Late data for the compacted day(s).
    run(dir, "4", "600");
    let s = status(dir);
    let after = days(&s);
    let mut stale_days = 0;
    for (day, d) in &after {
        let c = &d["curated"];
        let old = before
            .get(day)
            .map_or(0, |b| b["raw_files"].as_u64().unwrap());
        let new_files = d["raw_files"].as_u64().unwrap() - old;
        if before.contains_key(day) {
            assert_eq!(c["stale_raw_files"].as_u64(), Some(new_files), "{day}: {c}");
            assert_eq!(c["stale"], new_files > 0);
            assert_eq!(c["generation"], before[day]["curated"]["generation"]);
            stale_days += u64::from(new_files > 0);
        }
    }
    assert!(
        stale_days > 0,
        "the second run wrote into a compacted day: {s}"
    );
    assert_eq!(s["tables"][0]["stale_days"].as_u64(), Some(stale_days));
    let text = ok(dir, &["status", "--lake", "lake"]);
    assert!(text.contains("raw files newer)"), "{text}");

    // A run killed after writing its generation, before the switch: the newest folder is
    // not the current generation, and the day is still stale.
    kill_before_switch(dir);
    let catalog = catalog_generations(dir);
    for (day, d) in days(&status(dir)) {
        let c = &d["curated"];
        assert_eq!(
            c["generation"].as_str(),
            Some(catalog[&day].as_str()),
            "{day}"
        );
        let folders =
            std::fs::read_dir(dir.join(format!("lake/users_curated/_generations/p_date={day}")))
                .unwrap()
                .count();
        if c["stale"] == true {
            assert!(folders >= 2, "{day}: the killed run left its generation");
        }
    }
    assert!(
        days(&status(dir))
            .values()
            .any(|d| d["curated"]["stale"] == true)
    );

    ok(dir, COMPACT);
    assert_fresh(dir);
    for (day, d) in days(&status(dir)) {
        assert_ne!(
            d["curated"]["generation"], before[&day]["curated"]["generation"],
            "{day}"
        );
    }
}

#[test]
fn checkpoints_of_the_lake_show_per_shard_with_their_age() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    run(dir, "5", "400");
    let s = status(dir);
    let consumers = s["consumers"].as_array().unwrap();
    assert!(!consumers.is_empty(), "{s}");
    for c in consumers {
        let shard = c["shard"].as_str().unwrap();
        let key = format!(
            "lake/_checkpoints/{}/{}/{shard}.json",
            c["consumer"].as_str().unwrap(),
            c["stream"].as_str().unwrap()
        );
        let stored: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&key)).unwrap()).unwrap();
        assert_eq!(c["position"], stored["position"], "{key}");
        assert!(c["checkpoint_age_seconds"].as_i64().unwrap() >= 0);
    }
}

const AGE: &str = "name = \"age\"\npointer = \"/dob/age\"\ntype = \"int32\"\n";

/// `users` with age required and at least 50 (strict), or as built in (relaxed), as
/// `<dir>/<name>/users.toml` (a --source-dir); see tests/reprocess.rs.
fn users_source(dir: &Path, name: &str, strict: bool) -> String {
    let text = std::fs::read_to_string(common::root().join("sources/users.toml")).unwrap();
    let text = if strict {
        let edited = text.replace(AGE, &format!("{AGE}required = true\nmin = 50\n"));
        assert_ne!(edited, text, "the edit applies");
        edited
    } else {
        text
    };
    std::fs::create_dir_all(dir.join(name)).unwrap();
    std::fs::write(dir.join(name).join("users.toml"), text).unwrap();
    name.to_string()
}

fn table_field(s: &Value, field: &str) -> u64 {
    s["tables"][0][field].as_u64().unwrap()
}

#[test]
fn records_reprocess_landed_leave_rejected_and_count_as_reprocessed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let strict = users_source(dir, "strict", true);
    let relaxed = users_source(dir, "relaxed", false);
    ok(
        dir,
        &[
            "run",
            "--lake",
            "lake",
            "--records",
            "1500",
            "--seed",
            "9",
            "--bad-rate",
            "0.05",
            "--source-dir",
            &strict,
            "--max-reject-rate",
            "0.9",
        ],
    );
    let before = status(dir);
    assert_eq!(table_field(&before, "reprocessed"), 0);
    let out = ok(
        dir,
        &[
            "reprocess",
            "--lake",
            "lake",
            "--source-dir",
            &relaxed,
            "--since",
            "2000-01-01",
        ],
    );
    let landed: u64 = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("landed="))
        .unwrap_or_else(|| panic!("no landed= in {out}"))
        .parse()
        .unwrap();
    assert!(landed > 100, "{out}");
    let after = status(dir);
    assert_eq!(table_field(&after, "reprocessed"), landed, "{out}");
    assert_eq!(
        table_field(&after, "rejected"),
        table_field(&before, "rejected") - landed
    );
    assert_eq!(
        table_field(&after, "rows"),
        table_field(&before, "rows") + landed
    );
    // Per day, the reasons add up to what still fails.
    for (day, d) in days(&after) {
        let by_reason: u64 = d["rejects_by_reason"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(Some(by_reason), d["rejected"].as_u64(), "{day}");
    }
    // A second reprocess lands nothing: the counts stay.
    ok(
        dir,
        &[
            "reprocess",
            "--lake",
            "lake",
            "--source-dir",
            &relaxed,
            "--since",
            "2000-01-01",
        ],
    );
    let again = status(dir);
    assert_eq!(table_field(&again, "reprocessed"), landed);
    assert_eq!(
        table_field(&again, "rejected"),
        table_field(&after, "rejected")
    );
}
