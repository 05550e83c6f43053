//! `firelake compact` (and the `compactor` container entry point) on local lakes whose raw days
//! are made with `firelake convert` at chosen arrival times: late data after raw files expired,
//! bad raw files and journals, and a retry that straddles UTC midnight. Records come from the
//! shared generator (`$FIRELAKE_SHARED/bench/gen_users.py`, run by `$FIRELAKE_PYTHON`).

mod common;
use common::{python, root};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `count` good user records of `seed`, as JSON lines.
fn users(dir: &Path, count: usize, seed: u64) -> Vec<String> {
    let shared = std::env::var_os("FIRELAKE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"));
    let out = dir.join(format!("gen-{seed}-{count}.jsonl"));
    let status = Command::new(python())
        .arg(shared.join("bench/gen_users.py"))
        .args(["--count", &count.to_string(), "--seed", &seed.to_string()])
        .args(["--bad-rate", "0", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "gen_users.py (set FIRELAKE_SHARED): {}",
        String::from_utf8_lossy(&status.stderr)
    );
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn uuid(line: &str) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    v["login"]["uuid"].as_str().unwrap().to_string()
}

fn ms(iso: &str) -> i64 {
    firelake_core::time::parse_iso8601_ms(iso).unwrap()
}

/// A raw file `<lake>/users/p_date=<day>/<name>` of `lines`, arrived at `at`.
fn add_raw(dir: &Path, day: &str, name: &str, lines: &[String], at: &str) {
    let folder = dir.join(format!("lake/users/p_date={day}"));
    std::fs::create_dir_all(&folder).unwrap();
    let input = dir.join("input.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let (ok, _, err) = common::firelake(
        dir,
        &[
            "convert",
            input.to_str().unwrap(),
            folder.join(name).to_str().unwrap(),
            "--ingested-at",
            at,
        ],
    );
    assert!(ok, "convert: {err}");
}

/// `firelake compact --json --grace 0s ARGS`: (success, report, stderr).
fn compact(dir: &Path, args: &[&str]) -> (bool, Value, String) {
    let mut all = vec!["compact", "--json", "--grace", "0s"];
    all.extend_from_slice(args);
    let (ok, out, err) = common::firelake(dir, &all);
    (ok, serde_json::from_str(&out).unwrap_or(Value::Null), err)
}

fn day_report<'a>(report: &'a Value, day: &str) -> &'a Value {
    report["days"]
        .as_array()
        .unwrap_or_else(|| panic!("no report: {report}"))
        .iter()
        .find(|d| d["day"] == day)
        .unwrap_or_else(|| panic!("no day {day} in {report}"))
}

/// What readers see of a day: user_id -> ingested_at of the generation the catalog points at
/// (each user_id once).
fn curated(dir: &Path, day: &str) -> BTreeMap<String, i64> {
    let cat: Value =
        serde_json::from_slice(&std::fs::read(dir.join("lake/_catalog/firelake.json")).unwrap())
            .unwrap();
    let parts = cat["Tables"]["users_curated"]["Partitions"]
        .as_object()
        .unwrap();
    let loc = parts
        .values()
        .find(|p| p["Values"][0] == day)
        .unwrap_or_else(|| panic!("no curated partition {day}"))["Location"]
        .as_str()
        .unwrap();
    let folder = dir
        .join("lake")
        .join(loc.strip_prefix("file://").unwrap_or(loc));
    let mut out = BTreeMap::new();
    for f in std::fs::read_dir(&folder).unwrap().flatten() {
        for (id, at) in firelake_testkit::lake::file_ids_and_times(&f.path()) {
            assert!(out.insert(id.clone(), at).is_none(), "{id} twice in {day}");
        }
    }
    out
}

/// One row per user, the latest arrival.
fn latest(sets: &[(&[String], &str)]) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    for (lines, at) in sets {
        for l in *lines {
            let e = out.entry(uuid(l)).or_insert(i64::MIN);
            *e = (*e).max(ms(at));
        }
    }
    out
}

const T1: &str = "2024-05-01T10:00:00.000Z";
const T2: &str = "2024-05-01T20:00:00.000Z";

#[test]
fn late_data_after_raw_expiry_joins_the_current_generation_and_force_never_shrinks_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let day = "2024-05-01";
    let orig = users(d, 3000, 31);
    for (i, chunk) in orig.chunks(300).enumerate() {
        add_raw(d, day, &format!("a-{i:02}.parquet"), chunk, T1);
    }
    let (ok, r, err) = compact(d, &["--date", day]);
    assert!(ok, "{err}");
    assert_eq!(day_report(&r, day)["outcome"], "compacted");
    assert_eq!(curated(d, day), latest(&[(&orig, T1)]));

    // Lifecycle expires the first four raw files (1,200 rows); late data arrives: new users,
    // and later copies of users whose raw files are gone and of users whose files are not.
    for i in 0..4 {
        std::fs::remove_file(d.join(format!("lake/users/p_date={day}/a-{i:02}.parquet"))).unwrap();
    }
    let fresh = users(d, 400, 32);
    let replays: Vec<String> = orig[..100].iter().chain(&orig[2900..]).cloned().collect();
    add_raw(d, day, "b-00.parquet", &fresh, T2);
    add_raw(d, day, "b-01.parquet", &replays, T2);
    let expected = latest(&[(&orig, T1), (&fresh, T2), (&replays, T2)]);
    assert_eq!(expected.len(), 3400);

    let (ok, r, err) = compact(d, &["--date", day]);
    assert!(ok, "{err}");
    assert_eq!(day_report(&r, day)["outcome"], "compacted", "{r}");
    assert_eq!(curated(d, day), expected, "old rows + new rows, deduped");

    // --force rebuilds from the current generation: nothing is dropped.
    let (ok, r, err) = compact(d, &["--date", day, "--force"]);
    assert!(ok, "{err}");
    assert_eq!(day_report(&r, day)["outcome"], "compacted", "{r}");
    assert_eq!(curated(d, day), expected);
    let (ok, r, _) = compact(d, &["--date", day]);
    assert!(ok);
    assert_eq!(day_report(&r, day)["outcome"], "up_to_date", "{r}");

    // Only the option that says so rebuilds from the raw files left.
    let (ok, r, err) = compact(d, &["--date", day, "--rebuild-from-raw"]);
    assert!(ok, "{err}");
    assert_eq!(day_report(&r, day)["outcome"], "compacted", "{r}");
    let left = latest(&[(&orig[1200..], T1), (&fresh, T2), (&replays, T2)]);
    assert_eq!(curated(d, day), left);
}

fn raw_names(dir: &Path, day: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(format!("lake/users/p_date={day}")))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn bad_raw_files_are_quarantined_a_bad_journal_fails_only_its_day_and_the_run_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, b, c) = ("2024-06-01", "2024-06-02", "2024-06-03");
    let (ta, tb, tc) = (
        "2024-06-01T08:00:00.000Z",
        "2024-06-02T08:00:00.000Z",
        "2024-06-03T08:00:00.000Z",
    );
    let ua = users(d, 600, 41);
    add_raw(d, a, "a-0.parquet", &ua[..300], ta);
    add_raw(d, a, "a-1.parquet", &ua[300..], ta);
    let ub = users(d, 300, 42);
    add_raw(d, b, "b-0.parquet", &ub, tb);
    let (ok, _, err) = compact(d, &["--all"]);
    assert!(ok, "{err}");

    // Day B's journal is cut short; day A gets a zero-length, a truncated and a garbage file
    // beside a good late one; day C is new.
    let journals = d.join(format!("lake/users_curated/_journal/p_date={b}"));
    let journal = std::fs::read_dir(&journals)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read(&journal).unwrap();
    std::fs::write(&journal, &text[..text.len() / 2]).unwrap();
    let raw_a = d.join(format!("lake/users/p_date={a}"));
    let good = std::fs::read(raw_a.join("a-0.parquet")).unwrap();
    std::fs::write(raw_a.join("a-2.parquet"), b"").unwrap();
    std::fs::write(raw_a.join("a-3.parquet"), &good[..good.len() / 2]).unwrap();
    std::fs::write(raw_a.join("a-4.parquet"), b"PAR1 this is not parquet").unwrap();
    let ua2 = users(d, 100, 43);
    add_raw(d, a, "a-5.parquet", &ua2, "2024-06-01T09:00:00.000Z");
    let uc = users(d, 100, 44);
    add_raw(d, c, "c-0.parquet", &uc, tc);

    let (ok, r, err) = compact(d, &["--all"]);
    assert!(!ok, "a failed day fails the run: {r}");
    let last = err.trim_end().lines().last().unwrap_or("");
    assert!(last.contains("1 of 3 days failed"), "{err}");
    let ra = day_report(&r, a);
    assert_eq!(ra["outcome"], "compacted", "{r}");
    assert_eq!(ra["quarantined"].as_array().unwrap().len(), 3, "{r}");
    assert_eq!(
        curated(d, a),
        latest(&[(&ua, ta), (&ua2, "2024-06-01T09:00:00.000Z")])
    );
    let rb = day_report(&r, b);
    assert_eq!(rb["outcome"], "failed", "{r}");
    let error = rb["error"].as_str().unwrap();
    assert!(
        error.contains(journal.file_name().unwrap().to_str().unwrap()) && !error.contains('\n'),
        "{error}"
    );
    assert_eq!(day_report(&r, c)["outcome"], "compacted", "{r}");
    assert_eq!(curated(d, c), latest(&[(&uc, tc)]));
    assert_eq!(curated(d, b), latest(&[(&ub, tb)]), "B stays as it was");

    // Kept aside with their reason; the raw table is never written, the files stay there and
    // are never read again.
    assert_eq!(raw_names(d, a).len(), 6);
    let q = d.join(format!("lake/users_curated/_quarantine/p_date={a}"));
    for name in ["a-2.parquet", "a-3.parquet", "a-4.parquet"] {
        assert!(q.join(name).exists(), "{name} quarantined");
        let reason: Value =
            serde_json::from_slice(&std::fs::read(q.join(format!("{name}.reason.json"))).unwrap())
                .unwrap();
        assert!(!reason["error"].as_str().unwrap().is_empty(), "{reason}");
    }
    assert!(std::fs::read(q.join("a-2.parquet")).unwrap().is_empty());

    // Again: A and C are up to date, B still fails. The container entry point (the
    // `compactor` binary in compactor/Dockerfile, what the Fargate task runs) does the same.
    let (ok, r, _) = compact(d, &["--all"]);
    assert!(!ok);
    assert_eq!(day_report(&r, a)["outcome"], "up_to_date", "{r}");
    assert!(
        day_report(&r, a)["quarantined"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(day_report(&r, b)["outcome"], "failed", "{r}");
    let compactor = Path::new(env!("CARGO_BIN_EXE_firelake")).with_file_name("compactor");
    assert!(
        compactor.exists(),
        "{} missing: cargo build -p firelake-compactor",
        compactor.display()
    );
    let out = Command::new(&compactor)
        .args(["--lake", "file://./lake", "--all"])
        .current_dir(d)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the container run fails with its day"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(day_report(&report, b)["outcome"], "failed", "{report}");
    assert_eq!(day_report(&report, c)["outcome"], "up_to_date", "{report}");

    // The error's advice: move the journal aside and run again.
    std::fs::rename(&journal, d.join("moved-aside.json")).unwrap();
    let (ok, r, err) = compact(d, &["--all"]);
    assert!(ok, "{err}");
    assert_ne!(day_report(&r, b)["outcome"], "failed", "{r}");
    assert_eq!(curated(d, b), latest(&[(&ub, tb)]));
}

#[test]
fn a_retry_across_utc_midnight_ends_up_once_in_the_curated_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (prev, day) = ("2024-07-01", "2024-07-02");
    let u = users(d, 50, 51);
    // Sent at 23:59:55 and retried at 00:00:05 (rows 0..10); updated half an hour later (10..20,
    // a new version, kept); rows 20..30 only on the day; rows 40..50 seen at noon the day
    // before and again at 00:00:05 (not a retry: kept).
    add_raw(d, prev, "p-0.parquet", &u[..20], "2024-07-01T23:59:55.000Z");
    add_raw(d, prev, "p-1.parquet", &u[40..], "2024-07-01T12:00:00.000Z");
    let retried: Vec<String> = u[..10]
        .iter()
        .chain(&u[20..30])
        .chain(&u[40..])
        .cloned()
        .collect();
    add_raw(d, day, "d-0.parquet", &retried, "2024-07-02T00:00:05.000Z");
    add_raw(
        d,
        day,
        "d-1.parquet",
        &u[10..20],
        "2024-07-02T00:30:00.000Z",
    );

    let (ok, r, err) = compact(d, &["--all"]);
    assert!(ok, "{err}");
    assert_eq!(day_report(&r, day)["outcome"], "compacted", "{r}");
    let first = latest(&[
        (&u[..20], "2024-07-01T23:59:55.000Z"),
        (&u[40..], "2024-07-01T12:00:00.000Z"),
    ]);
    assert_eq!(curated(d, prev), first);
    let second = latest(&[
        (&u[20..30], "2024-07-02T00:00:05.000Z"),
        (&u[40..], "2024-07-02T00:00:05.000Z"),
        (&u[10..20], "2024-07-02T00:30:00.000Z"),
    ]);
    assert_eq!(
        curated(d, day),
        second,
        "the retry is in the day before only"
    );

    // The window is a flag: 0s turns the look-back off (here with a rebuild from raw).
    let (ok, r, err) = compact(
        d,
        &[
            "--date",
            day,
            "--rebuild-from-raw",
            "--midnight-window",
            "0s",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(day_report(&r, day)["outcome"], "compacted", "{r}");
    assert_eq!(curated(d, day).len(), 40);
}
