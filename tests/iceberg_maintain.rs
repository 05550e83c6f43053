//! Issue 20 point 3: `firelake iceberg-maintain` expires a local lake's Iceberg snapshots
//! through the catalog and deletes the metadata files nothing references, never data files;
//! the table is read back by pyiceberg (tests/iceberg_check.py) before and after.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use common::{assert_iceberg_table_is_the_lake, firelake_command, iceberg_check};
use serde_json::Value;

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `firelake run --iceberg --iceberg-commit-files 1` (a snapshot per file) of `records`.
fn run_iceberg(dir: &Path, records: &str, seed: &str) -> String {
    let args = ["run", "--records", records, "--seed", seed];
    let args = [&args[..], &["--flush-records", "300", "--iceberg"]].concat();
    let out = firelake_command(dir)
        .args(args)
        .args(["--iceberg-commit-files", "1"])
        .output();
    ok(out.unwrap(), "firelake run")
}

fn maintain(dir: &Path, args: &[&str]) -> String {
    let out = firelake_command(dir)
        .arg("iceberg-maintain")
        .args(args)
        .output();
    ok(out.unwrap(), &format!("firelake iceberg-maintain {args:?}"))
}

fn metadata_dir(dir: &Path) -> PathBuf {
    dir.join("lake/_iceberg/users/metadata")
}

fn names(v: &Value) -> BTreeSet<String> {
    let list = v.as_array().unwrap().iter();
    list.map(|n| n.as_str().unwrap().to_string()).collect()
}

/// The lake's Parquet data files (all of them, committed or not) with their sizes.
fn data_files(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    for day in std::fs::read_dir(dir.join("lake/users")).unwrap().flatten() {
        if !day.file_name().to_string_lossy().starts_with("p_date=") {
            continue;
        }
        for f in std::fs::read_dir(day.path()).unwrap().flatten() {
            out.insert(f.path(), f.metadata().unwrap().len());
        }
    }
    out
}

/// A number of the closing summary paragraph (the last line): `expired 12 snapshots` -> 12
/// for `expired`.
fn count_after(out: &str, word: &str) -> u64 {
    let summary = out.lines().last().unwrap_or_default();
    let at = summary
        .find(&format!("{word} "))
        .unwrap_or_else(|| panic!("{word:?}: {summary}"));
    let rest = &summary[at + word.len() + 1..];
    rest.split_whitespace().next().unwrap().parse().unwrap()
}

/// Sets a file's modification time `ago` in the past.
fn age(path: &Path, ago: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - ago).unwrap();
}

#[test]
fn maintenance_expires_snapshots_deletes_their_manifest_lists_and_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for seed in ["1", "2", "3", "4", "5", "6"] {
        run_iceberg(d, "1500", seed);
    }
    let c0 = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c0);
    let snaps0 = c0["snapshots"].as_u64().unwrap();
    // A snapshot per file, at least one file per shard (how flushes fall varies by run).
    assert!(snaps0 >= 12, "a snapshot per file: {c0}");
    let meta0 = names(&c0["metadata_files"]);
    // The metadata log keeps 10 earlier versions: the older ones are orphans, and the
    // expiry's own version pushes one more out.
    let json0 = meta0
        .iter()
        .filter(|n| n.ends_with(".metadata.json"))
        .count() as u64;
    assert!(json0 > 11, "{c0}");
    let out_of_log = json0 + 1 - 11;
    let data0 = data_files(d);
    let args = [
        "--expire-older-than",
        "0s",
        "--retain-last",
        "3",
        "--orphan-older-than",
        "0s",
    ];

    // A dry run says what it would do and changes nothing.
    let dry = maintain(d, &[&args[..], &["--dry-run"]].concat());
    let would_expire = dry
        .lines()
        .filter(|l| l.starts_with("would expire snapshot "));
    assert_eq!(would_expire.count() as u64, snaps0 - 3, "{dry}");
    let would_delete: Vec<&str> = dry
        .lines()
        .filter(|l| l.starts_with("would delete "))
        .collect();
    let lists = would_delete
        .iter()
        .filter(|l| l.contains("/metadata/snap-"));
    assert_eq!(
        lists.count() as u64,
        snaps0 - 3,
        "one manifest list each: {dry}"
    );
    let versions = would_delete.iter().filter(|l| l.contains(".metadata.json"));
    assert_eq!(versions.count() as u64, out_of_log, "{dry}");
    assert_eq!(
        would_delete.len() as u64,
        snaps0 - 3 + out_of_log,
        "nothing else: {dry}"
    );
    assert!(dry.contains("Dry run, nothing changed."), "{dry}");
    assert_eq!(count_after(&dry, "would expire"), snaps0 - 3, "{dry}");
    let c1 = iceberg_check(d);
    assert_eq!(c1["metadata_location"], c0["metadata_location"]);
    assert_eq!(c1["snapshot_ids"], c0["snapshot_ids"]);
    assert_eq!(names(&c1["metadata_files"]), meta0);

    // The real run: 3 snapshots left, their manifest lists and every manifest still there.
    let out = maintain(d, &args);
    assert_eq!(count_after(&out, "expired"), snaps0 - 3, "{out}");
    assert_eq!(
        count_after(&out, "deleted"),
        snaps0 - 3 + out_of_log,
        "{out}"
    );
    assert!(out.contains("; 3 snapshots and"), "{out}");
    let c2 = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c2);
    for same in ["rows", "files", "days", "non_null", "schema"] {
        assert_eq!(c2[same], c0[same], "{same}: {c2}");
    }
    assert_eq!(c2["snapshots"], 3, "{c2}");
    let (ids0, ids2) = (names_of_ids(&c0), names_of_ids(&c2));
    assert!(ids2.is_subset(&ids0), "{c2}");
    // Every retained snapshot is readable, the current one with every row.
    let rows = c2["snapshot_rows"].as_object().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.values().any(|r| *r == c2["rows"]), "{c2}");
    let meta2 = names(&c2["metadata_files"]);
    let left = count_after(&out, "snapshots and");
    assert_eq!(left, meta2.len() as u64, "{out}");
    assert_eq!(
        count_after(&dry, "snapshots and"),
        left,
        "the dry run's plan: {dry}"
    );
    assert_eq!(
        meta2.len() as u64,
        meta0.len() as u64 - (snaps0 - 3) - out_of_log + 1,
        "the expired manifest lists and the versions out of the log deleted, the expiry's \
         metadata file added: {c2}"
    );
    let json2 = meta2.iter().filter(|n| n.ends_with(".metadata.json"));
    assert_eq!(
        json2.count(),
        11,
        "the current version and 10 earlier: {c2}"
    );
    let expired: BTreeSet<_> = ids0.difference(&ids2).collect();
    for name in &meta2 {
        let id = name.strip_prefix("snap-").and_then(|s| s.split('-').next());
        assert!(
            id.is_none_or(|id| !expired.contains(&id.to_string())),
            "{name} kept"
        );
    }
    assert!(
        meta0
            .difference(&meta2)
            .all(|n| n.starts_with("snap-") || n.ends_with(".metadata.json"))
    );
    assert_eq!(data_files(d), data0, "no data file touched");

    // Files written and not committed (a run without --iceberg): data of the lake that the
    // table does not reference yet. Maintaining again leaves them, and has nothing to do:
    // not even a metadata file is written.
    let plain = [
        "run",
        "--records",
        "600",
        "--seed",
        "4",
        "--flush-records",
        "300",
    ];
    ok(firelake_command(d).args(plain).output().unwrap(), "run");
    let data1 = data_files(d);
    assert!(data1.len() > data0.len());
    let again = maintain(d, &args);
    assert_eq!(count_after(&again, "expired"), 0, "{again}");
    assert_eq!(count_after(&again, "deleted"), 0, "{again}");
    assert_eq!(
        iceberg_check(d)["metadata_location"],
        c2["metadata_location"]
    );
    assert_eq!(
        data_files(d),
        data1,
        "uncommitted data files are not orphans"
    );

    // A later run commits on the maintained table: the waiting files and its own.
    run_iceberg(d, "600", "5");
    let c3 = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c3);
    assert!(c3["rows"].as_u64() > c2["rows"].as_u64(), "{c3}");
    assert!(c3["snapshots"].as_u64().unwrap() > 3, "{c3}");
}

fn names_of_ids(c: &Value) -> BTreeSet<String> {
    let ids = c["snapshot_ids"].as_array().unwrap().iter();
    ids.map(|i| i.to_string()).collect()
}

#[test]
fn an_unreferenced_metadata_file_younger_than_the_grace_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_iceberg(d, "1500", "1");
    let c0 = iceberg_check(d);
    let snaps0 = c0["snapshots"].as_u64().unwrap();
    assert!(
        snaps0 >= 2,
        "a snapshot per file, a file per shard at least: {c0}"
    );
    // Every file of the folder two hours old; then a commit under way: a manifest list and a
    // metadata file written just now that no metadata references yet.
    let meta = metadata_dir(d);
    for f in std::fs::read_dir(&meta).unwrap().flatten() {
        age(&f.path(), Duration::from_secs(7200));
    }
    let list = names(&c0["metadata_files"])
        .into_iter()
        .find(|n| n.starts_with("snap-"));
    let fresh = ["snap-1-0-under-way.avro", "09999-under-way.metadata.json"];
    std::fs::copy(meta.join(list.unwrap()), meta.join(fresh[0])).unwrap();
    std::fs::write(meta.join(fresh[1]), "{}").unwrap();

    // The default grace (1h): the old orphans go, the fresh files stay.
    let out = maintain(d, &["--expire-older-than", "0s", "--retain-last", "1"]);
    assert_eq!(count_after(&out, "deleted"), snaps0 - 1, "{out}");
    assert!(
        out.contains("; 2 unreferenced files younger than 1h kept"),
        "{out}"
    );
    assert!(fresh.iter().all(|f| meta.join(f).exists()));
    let c1 = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c1);
    assert_eq!(c1["snapshots"], 1, "{c1}");

    // Once old enough (a grace of 0s here), they are orphans like any other.
    let out = maintain(d, &["--orphan-older-than", "0s"]);
    assert_eq!(count_after(&out, "deleted"), 2, "{out}");
    assert!(fresh.iter().all(|f| !meta.join(f).exists()));
    let c2 = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c2);
    assert_eq!(c2["metadata_location"], c1["metadata_location"]);
}

#[test]
fn maintenance_beside_a_committing_run_loses_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_iceberg(d, "600", "1");
    // A run committing a file at a time while maintenance expires all but the newest snapshot
    // again and again: the two race on the catalog's compare-and-swap.
    let mut child = firelake_command(d)
        .args([
            "run",
            "--records",
            "12000",
            "--flush-records",
            "300",
            "--iceberg",
        ])
        .args([
            "--iceberg-commit-files",
            "1",
            "--iceberg-commit-interval",
            "1s",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("run.err")).unwrap())
        .spawn()
        .unwrap();
    let mut rounds = 0;
    while child.try_wait().unwrap().is_none() {
        maintain(d, &["--expire-older-than", "0s", "--retain-last", "1"]);
        rounds += 1;
    }
    let status = child.wait().unwrap();
    let err = std::fs::read_to_string(d.join("run.err")).unwrap();
    assert!(status.success(), "{err}");
    assert!(rounds >= 2, "maintenance ran {rounds} times during the run");
    maintain(d, &["--expire-older-than", "0s", "--retain-last", "1"]);
    let c = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c);
    assert_eq!(c["snapshots"], 1, "{c}");
}

#[test]
fn a_lake_without_an_iceberg_table_or_a_moved_one_is_refused_and_bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let status = |args: &[&str]| {
        let out = firelake_command(d)
            .arg("iceberg-maintain")
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        (out.status.code(), err.trim_end().to_string())
    };
    let (code, err) = status(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no Iceberg table firelake.users"), "{err}");
    assert!(err.contains("firelake run --iceberg"), "{err}");
    assert!(!d.join("lake").exists(), "nothing created");

    // A Hive-style lake without the Iceberg table: the same, and no catalog file made.
    ok(
        firelake_command(d)
            .args(["run", "--records", "300"])
            .output()
            .unwrap(),
        "run",
    );
    let (code, err) = status(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no Iceberg table firelake.users"), "{err}");
    assert!(!d.join("lake/_catalog/iceberg.sqlite").exists());

    // A copied lake's catalog names the first lake's metadata files (absolute paths): its own
    // folder is not the table's, so nothing in it is judged or deleted.
    run_iceberg(d, "600", "1");
    let cp = Command::new("cp")
        .args(["-a", "lake", "moved"])
        .current_dir(d)
        .status();
    assert!(cp.unwrap().success());
    let moved_meta = d.join("moved/_iceberg/users/metadata");
    let before = std::fs::read_dir(&moved_meta).unwrap().count();
    let (code, err) = status(&["--lake", "moved", "--orphan-older-than", "0s"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("is not maintained"), "{err}");
    assert_eq!(std::fs::read_dir(&moved_meta).unwrap().count(), before);

    // An S3 lake's table is in Glue, not in a catalog file.
    let (code, err) = status(&["--lake", "s3://bucket/lake"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("name a Glue database for an s3:// lake"),
        "{err}"
    );
    for bad in [
        &["--lake", "memory://"][..],
        &["--iceberg", "glue://Not-A-Name"],
        &["--retain-last", "0"],
        &["--orphan-older-than", "soon"],
    ] {
        let (code, err) = status(bad);
        assert_eq!(code, Some(2), "{bad:?}: {err}");
    }
}
