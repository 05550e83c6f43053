//! Issue 21 point 9, through the binary: records a rule rejected are landed by
//! `firelake reprocess` once the rule is relaxed, exactly once (a second run, and a rerun after
//! a kill at any step, add nothing); records that still fail stay kept and are reported.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{firelake, kv_field, python};

const AGE: &str = "name = \"age\"\npointer = \"/dob/age\"\ntype = \"int32\"\n";
const LATITUDE_RANGE: &str = "min = -90.0\nmax = 90.0\n";

/// `users` with an edit, as `<dir>/<name>/users.toml` (a --source-dir).
fn source_dir(dir: &Path, name: &str, edit: impl Fn(&str) -> String) -> String {
    let text = std::fs::read_to_string(common::root().join("sources/users.toml")).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit applies");
    std::fs::create_dir_all(dir.join(name)).unwrap();
    std::fs::write(dir.join(name).join("users.toml"), edited).unwrap();
    name.to_string()
}

/// Strict: age is required and at least 50, so younger users are rejected. Relaxed: the
/// built-in rules for age, and latitude up to 200 (values the strict rule nulled now pass).
fn sources(dir: &Path) -> (String, String) {
    let strict = source_dir(dir, "strict", |t| {
        t.replace(AGE, &format!("{AGE}required = true\nmin = 50\n"))
    });
    let relaxed = source_dir(dir, "relaxed", |t| {
        t.replacen(LATITUDE_RANGE, "min = -200.0\nmax = 200.0\n", 1)
    });
    (strict, relaxed)
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let (success, out, err) = firelake(dir, args);
    assert!(success, "firelake {args:?} failed: {err}\n{out}");
    out
}

fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p, ext));
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn kept_lines(dir: &Path) -> Vec<serde_json::Value> {
    files_under(dir, "jsonl")
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What the strict rule rejected for age alone (the relaxed one lands them): their user ids;
/// and the kinds of the others, which fail under both.
fn expected(lake: &Path) -> (BTreeSet<String>, BTreeMap<String, u64>) {
    let mut ids = BTreeSet::new();
    let mut others = BTreeMap::new();
    for l in kept_lines(&lake.join("users/_rejected")) {
        if l["reason"].as_str().unwrap().contains("(column age)") {
            let data: serde_json::Value =
                serde_json::from_str(l["data"].as_str().unwrap()).unwrap();
            ids.insert(data["login"]["uuid"].as_str().unwrap().to_string());
        } else {
            *others
                .entry(l["kind"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    (ids, others)
}

/// DuckDB over the table: (rows, distinct user ids, user ids of the reprocess files, the
/// largest age among them).
fn duck(lake: &Path) -> (u64, u64, BTreeSet<String>, Option<i64>) {
    const SQL: &str = r#"
import duckdb, glob, json, sys
t = sys.argv[1]
q = lambda sql: duckdb.sql(sql).fetchall()
n, ids = q(f"SELECT count(*), count(DISTINCT user_id) FROM read_parquet('{t}/p_date=*/*.parquet')")[0]
# Rejected records landed, apart from the nulled records landed corrected (`.nulled.`).
files = glob.glob(f"{t}/p_date=*/reprocess-*.parquet")
rej = [f for f in files if ".nulled." not in f]
re = q(f"SELECT user_id, age FROM read_parquet({rej!r})") if rej else []
ages = [a for _, a in re if a is not None]
print(json.dumps({"rows": n, "ids": ids, "re": [u for u, _ in re], "max_age": max(ages) if ages else None}))
"#;
    let out = Command::new(python())
        .args(["-c", SQL])
        .arg(lake.join("users"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let re = v["re"].as_array().unwrap();
    let ids: BTreeSet<String> = re.iter().map(|x| x.as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), re.len(), "no user landed twice by reprocess");
    (
        v["rows"].as_u64().unwrap(),
        v["ids"].as_u64().unwrap(),
        ids,
        v["max_age"].as_i64(),
    )
}

/// `(kind n, kind n; ...)` of the summary line starting with `label` -> {kind: n}.
fn by_kind(out: &str, label: &str) -> BTreeMap<String, u64> {
    let line = out.lines().find(|l| l.trim().starts_with(label)).unwrap();
    let inner = line.split_once('(').unwrap().1.split(';').next().unwrap();
    inner
        .split(", ")
        .filter(|p| *p != "none")
        .map(|p| {
            let (k, n) = p.rsplit_once(' ').unwrap();
            (k.to_string(), n.parse().unwrap())
        })
        .collect()
}

/// The users whose latitude the strict rule nulled (out of range; the relaxed rule takes
/// them), with the original value, from the `_nulled/` lines of the run (not of reprocess).
fn latitude_nulled(nulled: &[serde_json::Value]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for l in nulled {
        let from_run = l["origin"]
            .as_str()
            .is_some_and(|o| o.starts_with("embedded"));
        if !(from_run && l["column"] == "latitude" && l["kind"] == "out_of_range") {
            continue;
        }
        let data: serde_json::Value = serde_json::from_str(l["data"].as_str().unwrap()).unwrap();
        let id = data["login"]["uuid"].as_str().unwrap().to_string();
        // The original's JSON text: here a number in a string ("\"123.4567\"").
        let v: serde_json::Value = serde_json::from_str(l["original"].as_str().unwrap()).unwrap();
        let n = v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()));
        out.insert(id, n.unwrap_or_else(|| panic!("{l}")));
    }
    out
}

/// `_nulled/` lines whose value the relaxed definition accepts (the latitudes above).
fn nulled_now_valid(nulled: &[serde_json::Value]) -> usize {
    let from_run = |l: &&serde_json::Value| {
        l["origin"]
            .as_str()
            .is_some_and(|o| o.starts_with("embedded"))
    };
    nulled
        .iter()
        .filter(from_run)
        .filter(|l| l["column"] == "latitude" && l["kind"] == "out_of_range")
        .count()
}

/// A lake from `firelake run` with the strict rule; returns the rows it has.
fn strict_lake(dir: &Path, strict: &str) -> u64 {
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
            strict,
            "--max-reject-rate",
            "0.9",
        ],
    );
    duck(&dir.join("lake")).0
}

fn reprocess(dir: &Path, source_dir: &str) -> String {
    ok(
        dir,
        &[
            "reprocess",
            "--lake",
            "lake",
            "--source-dir",
            source_dir,
            "--since",
            "2000-01-01",
        ],
    )
}

#[test]
fn relaxed_rule_lands_the_rejected_records_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (strict, relaxed) = sources(dir);
    let lake = dir.join("lake");
    let before = strict_lake(dir, &strict);
    let (ids, others) = expected(&lake);
    assert!(
        ids.len() > 100 && !others.is_empty(),
        "{} {others:?}",
        ids.len()
    );
    let rejected_before: Vec<_> = files_under(&lake.join("users/_rejected"), "jsonl")
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();

    // Values the strict rule nulled that the relaxed one accepts: their records land again.
    let nulled = kept_lines(&lake.join("users/_nulled"));
    let corrected = latitude_nulled(&nulled);
    assert!(!corrected.is_empty());
    let out = reprocess(dir, &relaxed);
    assert_eq!(kv_field(&out, "landed"), ids.len() as u64, "{out}");
    assert_eq!(kv_field(&out, "already_landed"), 0, "{out}");
    assert_eq!(by_kind(&out, "still failing"), others, "{out}");
    let (rows, distinct, landed, max_age) = duck(&lake);
    let n_corrected = corrected.len() as u64;
    assert_eq!(rows, before + ids.len() as u64 + n_corrected);
    assert_eq!(
        distinct,
        rows - n_corrected,
        "every row once, but the corrections"
    );
    assert_eq!(landed, ids, "exactly the formerly rejected users");
    assert!(max_age.is_some_and(|a| a < 50), "{max_age:?}");
    // Read: the run's lines and those of the rows just landed (not the corrections' own).
    let read: usize = files_under(&lake.join("users/_nulled"), "jsonl")
        .iter()
        .filter(|p| !p.to_string_lossy().contains(".nulled."))
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert!(
        out.contains(&format!(
            "{read} originals read, {} now pass: {n_corrected} records landed corrected",
            nulled_now_valid(&nulled)
        )),
        "{out}"
    );

    let again = reprocess(dir, &relaxed);
    assert_eq!(kv_field(&again, "landed"), 0, "{again}");
    assert!(again.contains(" 0 records landed corrected"), "{again}");
    assert_eq!(
        kv_field(&again, "already_landed"),
        ids.len() as u64,
        "{again}"
    );
    assert_eq!(by_kind(&again, "still failing"), others, "{again}");
    assert_eq!(duck(&lake).0, rows, "the second run adds nothing");
    let rejected_after: Vec<_> = files_under(&lake.join("users/_rejected"), "jsonl")
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(
        rejected_after, rejected_before,
        "kept records stay where they are"
    );
}

/// Starts reprocess stopped at `step` (the crash hook of test builds), then kills it (-9).
fn kill_at(dir: &Path, source_dir: &str, step: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args([
            "reprocess",
            "--lake",
            "lake",
            "--source-dir",
            source_dir,
            "--all",
        ])
        .current_dir(dir)
        .env("FIRELAKE_COMPACT_PAUSE_AT", step)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let marker = format!("paused at {step}");
    let reached = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains(&marker));
    assert!(reached, "reprocess ended without reaching {step}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn kill_9_at_each_step_then_rerun_is_exact_even_with_another_definition() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (strict, relaxed) = sources(dir);
    // Another relaxed definition (another tag, so other file names).
    let other = source_dir(dir, "other", |t| {
        t.replacen(LATITUDE_RANGE, "min = -300.0\nmax = 300.0\n", 1)
    });
    let lake = dir.join("lake");
    let before = strict_lake(dir, &strict);
    let (ids, _) = expected(&lake);
    // Stopped before its first data file, then after it: reruns with the same definition
    // redo the pending file; one with another definition counts what exists.
    kill_at(dir, &relaxed, "reprocess_pending");
    kill_at(dir, &relaxed, "reprocess_written");
    assert!(duck(&lake).0 > before, "the first file was written");
    let out = reprocess(dir, &other);
    assert_eq!(
        kv_field(&out, "landed") + kv_field(&out, "already_landed"),
        ids.len() as u64,
        "{out}"
    );
    let (rows, distinct, landed, _) = duck(&lake);
    let corrected = latitude_nulled(&kept_lines(&lake.join("users/_nulled"))).len() as u64;
    assert_eq!(rows, before + ids.len() as u64 + corrected);
    assert_eq!(distinct, rows - corrected);
    assert_eq!(landed, ids);
    assert_eq!(kv_field(&reprocess(dir, &relaxed), "landed"), 0);
}

#[test]
fn exit_codes_say_what_went_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_firelake");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(tmp.path())
            .output()
            .unwrap()
    };
    // No day chosen: a usage error.
    let out = run(&["reprocess", "--lake", "lake"], &[]);
    assert_eq!(out.status.code(), Some(2));
    // A table the lake does not have: a failure saying so (the day from its env twin).
    std::fs::create_dir_all(tmp.path().join("lake")).unwrap();
    let out = run(
        &["reprocess", "--lake", "lake", "--table", "orders"],
        &[("FIRELAKE_DATE", "2025-06-01")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("has no table \"orders\""), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let out = run(&["reprocess", "--all", "--date", "2025-06-01"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// The curated table as DuckDB reads it (every partition the catalog points at): rows,
/// distinct user ids, and the latitude of each user of `ids`.
fn curated(lake: &Path, ids: &BTreeMap<String, f64>) -> (u64, u64, BTreeMap<String, Option<f64>>) {
    const SQL: &str = r#"
import duckdb, json, sys
folders, ids = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rel = "read_parquet(" + repr([f + "/*.parquet" for f in folders]) + ")"
n, d = duckdb.sql(f"SELECT count(*), count(DISTINCT user_id) FROM {rel}").fetchall()[0]
lat = duckdb.sql(f"SELECT user_id, latitude FROM {rel} WHERE list_contains({ids!r}, user_id)").fetchall()
print(json.dumps({"rows": n, "ids": d, "lat": dict(lat)}))
"#;
    let cat: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("_catalog/firelake.json")).unwrap())
            .unwrap();
    let folders: Vec<String> = cat["Tables"]["users_curated"]["Partitions"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| {
            let loc = p["Location"].as_str().unwrap();
            let path = lake.join(loc.strip_prefix("file://").unwrap_or(loc));
            path.display().to_string()
        })
        .collect();
    let keys: Vec<&String> = ids.keys().collect();
    let out = Command::new(python())
        .args(["-c", SQL])
        .arg(serde_json::to_string(&folders).unwrap())
        .arg(serde_json::to_string(&keys).unwrap())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lat = v["lat"].as_object().unwrap();
    let by_id = lat.iter().map(|(k, x)| (k.clone(), x.as_f64())).collect();
    (
        v["rows"].as_u64().unwrap(),
        v["ids"].as_u64().unwrap(),
        by_id,
    )
}

/// Issue 21 point 9, nulled originals: values a rule nulled that the fixed rule accepts land
/// corrected, and after compaction the curated table holds the corrected row INSTEAD of the
/// nulled one: the value is there, one row per key; twice adds nothing.
#[test]
fn nulled_values_now_valid_replace_the_nulled_rows_after_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (strict, relaxed) = sources(dir);
    let lake = dir.join("lake");
    strict_lake(dir, &strict);
    let fixed = latitude_nulled(&kept_lines(&lake.join("users/_nulled")));
    assert!(fixed.len() >= 5, "{}", fixed.len());
    let compact = || {
        let args = [
            "compact",
            "--lake",
            "lake",
            "--source-dir",
            &relaxed,
            "--all",
        ];
        ok(dir, &[&args[..], &["--grace", "0s"]].concat())
    };
    compact();
    let (_, _, nulled) = curated(&lake, &fixed);
    assert_eq!(nulled.len(), fixed.len(), "every such user is curated");
    assert!(nulled.values().all(Option::is_none), "nulled before");

    let out = reprocess(dir, &relaxed);
    let n = fixed.len();
    assert!(
        out.contains(&format!(" {n} records landed corrected")),
        "{out}"
    );
    compact();
    let (rows, distinct, after) = curated(&lake, &fixed);
    assert_eq!(rows, distinct, "exactly one row per key");
    assert_eq!(distinct, duck(&lake).1, "every key of the raw table");
    for (id, v) in &fixed {
        let got = after[id].unwrap_or_else(|| panic!("{id}: latitude still null"));
        assert!((got - v).abs() < 1e-9, "{id}: {got} != {v}");
    }

    let again = reprocess(dir, &relaxed);
    assert!(again.contains(" 0 records landed corrected"), "{again}");
    compact();
    assert_eq!(
        curated(&lake, &fixed),
        (rows, distinct, after),
        "twice adds nothing"
    );
}
