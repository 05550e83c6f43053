//! Issue 21 point 9, through the binary: records a rule rejected are landed by
//! `firelake reprocess` once the rule is relaxed, exactly once (a second run, and a rerun after
//! a kill at any step, add nothing); records that still fail stay kept and are reported.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{firelake, python};

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
re = q(f"SELECT user_id, age FROM read_parquet('{t}/p_date=*/reprocess-*.parquet')") if glob.glob(f"{t}/p_date=*/reprocess-*.parquet") else []
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

/// `key=N` of the summary's first line.
fn field(out: &str, key: &str) -> u64 {
    let pat = format!("{key}=");
    let v = out.split_whitespace().find_map(|w| w.strip_prefix(&pat));
    v.unwrap_or_else(|| panic!("no {key} in:\n{out}"))
        .parse()
        .unwrap()
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

    let out = reprocess(dir, &relaxed);
    assert_eq!(field(&out, "landed"), ids.len() as u64, "{out}");
    assert_eq!(field(&out, "already_landed"), 0, "{out}");
    assert_eq!(by_kind(&out, "still failing"), others, "{out}");
    let (rows, distinct, landed, max_age) = duck(&lake);
    assert_eq!(rows, before + ids.len() as u64);
    assert_eq!(distinct, rows, "every row once");
    assert_eq!(landed, ids, "exactly the formerly rejected users");
    assert!(max_age.is_some_and(|a| a < 50), "{max_age:?}");

    // Values the strict rule nulled that the relaxed one accepts: counted, not restored.
    let nulled = kept_lines(&lake.join("users/_nulled"));
    let now_valid = nulled
        .iter()
        .filter(|l| l["column"] == "latitude" && l["kind"] == "out_of_range")
        .count();
    assert!(now_valid > 0);
    assert!(
        out.contains(&format!(
            "{} originals read, {now_valid} would now pass, NOT restored",
            nulled.len()
        )),
        "{out}"
    );

    let again = reprocess(dir, &relaxed);
    assert_eq!(field(&again, "landed"), 0, "{again}");
    assert_eq!(field(&again, "already_landed"), ids.len() as u64, "{again}");
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
        field(&out, "landed") + field(&out, "already_landed"),
        ids.len() as u64,
        "{out}"
    );
    let (rows, distinct, landed, _) = duck(&lake);
    assert_eq!((rows, distinct), (before + ids.len() as u64, rows));
    assert_eq!(landed, ids);
    assert_eq!(field(&reprocess(dir, &relaxed), "landed"), 0);
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
