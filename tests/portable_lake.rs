//! Issue 21 point 8: a local lake is portable. Its catalog stores locations relative to the
//! lake, so a moved or copied lake keeps its catalog, its compaction and its DuckDB views; a
//! catalog an older version wrote (absolute locations) keeps working in place and moved, and
//! is migrated by the next write (docs/local-lake.md).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{firelake_command, python, root, stdout_of};
use serde_json::Value;

/// Runs `firelake` in `dir` with no FIRELAKE_* settings of this environment; stdout.
fn firelake(dir: &Path, args: &[&str]) -> String {
    stdout_of(firelake_command(dir).args(args))
}

fn json(dir: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&firelake(dir, args)).unwrap()
}

/// day -> (files, bytes) of a table as `firelake catalog` counts them, and its locations.
fn catalog(dir: &Path, table: &str) -> (BTreeMap<String, (u64, u64)>, Vec<String>) {
    let view = json(dir, &["catalog", "--table", table, "--json"]);
    let parts = view["partitions"].as_array().unwrap();
    let counts = parts
        .iter()
        .map(|p| {
            let n = |k: &str| p[k].as_u64().expect("a location inside the lake");
            (
                p["values"][0].as_str().unwrap().into(),
                (n("files"), n("bytes")),
            )
        })
        .collect();
    let locations = parts
        .iter()
        .map(|p| p["location"].as_str().unwrap().to_string())
        .collect();
    (counts, locations)
}

/// Rows per table and day as DuckDB reads them through `firelake catalog --sql`.
fn duckdb_counts(dir: &Path) -> BTreeMap<String, BTreeMap<String, u64>> {
    let sql = firelake(dir, &["catalog", "--sql"]);
    let path = dir.join("views.sql");
    std::fs::write(&path, sql).unwrap();
    let out = Command::new(python())
        .arg(root().join("tests/dbt_check.py"))
        .args(["views", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Rows per table and day, and the curated generation per day, of `firelake status --json`.
fn status(dir: &Path) -> Vec<(String, String, u64, String)> {
    let s = json(dir, &["status", "--json"]);
    let mut out = Vec::new();
    for t in s["tables"].as_array().unwrap() {
        for d in t["days"].as_array().unwrap() {
            out.push((
                t["table"].as_str().unwrap().to_string(),
                d["day"].as_str().unwrap().to_string(),
                d["rows"].as_u64().unwrap(),
                d["curated"].to_string(),
            ));
        }
    }
    out
}

fn stored_locations(lake: &Path) -> Vec<String> {
    let cat: Value =
        serde_json::from_slice(&std::fs::read(lake.join("_catalog/firelake.json")).unwrap())
            .unwrap();
    let mut out = Vec::new();
    for t in cat["Tables"].as_object().unwrap().values() {
        out.push(t["Table"]["Location"].as_str().unwrap().to_string());
        for p in t["Partitions"].as_object().unwrap().values() {
            out.push(p["Location"].as_str().unwrap().to_string());
        }
    }
    out
}

/// A raw table and its curated table, compacted (today included: `--all`).
fn compacted_lake(dir: &Path) {
    firelake(dir, &["run", "--records", "1500", "--seed", "5"]);
    firelake(dir, &["run", "--records", "600", "--seed", "5"]);
    let report = json(dir, &["compact", "--all", "--json", "--grace", "0s"]);
    assert_eq!(report["days"].as_array().unwrap().len(), 1, "{report}");
}

#[test]
fn a_moved_lake_keeps_its_catalog_compaction_status_and_views() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    compacted_lake(&a);
    for loc in stored_locations(&a.join("lake")) {
        assert!(!loc.contains("://") && !loc.starts_with('/'), "{loc}");
    }
    let (raw, curated) = (catalog(&a, "users").0, catalog(&a, "users_curated").0);
    assert!(raw.values().all(|(files, _)| *files > 0), "{raw:?}");
    let (rows, counts) = (status(&a), duckdb_counts(&a));
    assert!(!counts["users_curated"].is_empty(), "{counts:?}");

    std::fs::rename(a.join("lake"), b.join("lake")).unwrap();
    let (raw_b, locations) = catalog(&b, "users");
    assert_eq!(raw_b, raw);
    let new_root = format!(
        "file://{}/",
        b.join("lake").canonicalize().unwrap().display()
    );
    assert!(
        locations.iter().all(|l| l.starts_with(&new_root)),
        "{locations:?}"
    );
    assert_eq!(catalog(&b, "users_curated").0, curated);
    assert_eq!(status(&b), rows);
    assert_eq!(duckdb_counts(&b), counts);
    // The compactor finds its days up to date where the lake is now, and can rebuild them.
    let again = json(&b, &["compact", "--all", "--json", "--grace", "0s"]);
    assert_eq!(again["days"][0]["outcome"], "up_to_date", "{again}");
    let forced = json(
        &b,
        &["compact", "--all", "--force", "--json", "--grace", "0s"],
    );
    assert_eq!(forced["days"][0]["outcome"], "compacted", "{forced}");
    let (curated_b, locations) = catalog(&b, "users_curated");
    assert_eq!(
        curated_b.keys().collect::<Vec<_>>(),
        curated.keys().collect::<Vec<_>>()
    );
    assert!(
        locations.iter().all(|l| l.starts_with(&new_root)),
        "{locations:?}"
    );
    assert_eq!(duckdb_counts(&b), counts);
}

/// A catalog as versions before relative locations wrote it: every location absolute.
fn make_absolute(lake: &Path) {
    let path = lake.join("_catalog/firelake.json");
    let root = format!("file://{}", lake.canonicalize().unwrap().display());
    let mut cat: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let abs = |v: &mut Value| {
        let rel = v.as_str().unwrap().to_string();
        assert!(!rel.contains("://"), "{rel}");
        *v = Value::String(format!("{root}/{rel}"));
    };
    for t in cat["Tables"].as_object_mut().unwrap().values_mut() {
        abs(&mut t["Table"]["Location"]);
        for p in t["Partitions"].as_object_mut().unwrap().values_mut() {
            abs(&mut p["Location"]);
        }
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&cat).unwrap()).unwrap();
}

#[test]
fn an_older_catalog_with_absolute_locations_works_in_place_moved_and_is_migrated() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    compacted_lake(&a);
    let (raw, curated) = (catalog(&a, "users").0, catalog(&a, "users_curated").0);
    make_absolute(&a.join("lake"));
    assert_eq!(catalog(&a, "users").0, raw, "in place");
    std::fs::rename(a.join("lake"), b.join("lake")).unwrap();
    assert_eq!(catalog(&b, "users").0, raw, "moved");
    assert_eq!(catalog(&b, "users_curated").0, curated, "moved");
    let again = json(&b, &["compact", "--all", "--json", "--grace", "0s"]);
    assert_eq!(again["days"][0]["outcome"], "up_to_date", "{again}");
    // The next write stores the whole catalog relative.
    firelake(&b, &["run", "--records", "200", "--seed", "6"]);
    for loc in stored_locations(&b.join("lake")) {
        assert!(!loc.contains("://"), "{loc}");
    }
    assert_eq!(catalog(&b, "users_curated").0, curated);
}

/// A compaction killed (the test hook, then SIGKILL) after the catalog points at its new
/// generation but before its journal says so; the lake is then moved. Recovery must see that
/// the catalog already shows that generation (the journal names it by its old URL) and mark
/// it committed: rolling it back would delete what readers read.
#[test]
fn a_compaction_killed_after_its_catalog_switch_is_finished_in_the_moved_lake() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    firelake(&a, &["run", "--records", "1500", "--seed", "5"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(["compact", "--all", "--grace", "0s"])
        .current_dir(&a)
        .env("FIRELAKE_COMPACT_PAUSE_AT", "catalog")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let paused = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .any(|l| l.unwrap().contains("paused at catalog"));
    assert!(
        paused,
        "the compaction ended without reaching the catalog step"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let curated = catalog(&a, "users_curated").0;
    assert!(curated.values().all(|(files, _)| *files > 0), "{curated:?}");

    std::fs::rename(a.join("lake"), b.join("lake")).unwrap();
    let report = json(&b, &["compact", "--all", "--json", "--grace", "0s"]);
    let actions: Vec<&str> = report["recovered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"committed"), "{report}");
    assert!(!actions.contains(&"rolled_back"), "{report}");
    assert_eq!(report["days"][0]["outcome"], "up_to_date", "{report}");
    assert_eq!(catalog(&b, "users_curated").0, curated);
}
