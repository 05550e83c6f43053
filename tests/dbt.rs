//! The local reader and the transform layer through the real tools: `firelake run` and
//! `firelake convert` make a two-day lake with duplicates, `firelake compact` curates it, DuckDB
//! reads it through `firelake catalog --sql` (tests/dbt_check.py, `$FIRELAKE_PYTHON`), and dbt
//! (the same venv's, dbt-core + dbt-duckdb + dbt-athena) builds transform/ day by day on the
//! local target; the model's rows are compared with the data model computed in Python.

mod common;
use common::{firelake_ok, python, root};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn check(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(root().join("tests/dbt_check.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dbt_check.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The UTC day `days` before today, YYYY-MM-DD.
fn day_before(days: i64) -> String {
    let now = firelake_core::stream::now_ms();
    let day = (now.div_euclid(86_400_000) - days) as i32;
    firelake_core::time::format_day(day)
}

/// Raw day `day` by `firelake convert` from the shared generator's users: `count` users
/// arrived at 10:00, and the first `again` of them once more at 15:00 (duplicates).
fn convert_day(dir: &Path, day: &str, count: usize, again: usize) {
    let shared = std::env::var_os("FIRELAKE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"));
    let lines = dir.join("users.jsonl");
    let generated = Command::new(python())
        .arg(shared.join("bench/gen_users.py"))
        .args([
            "--count",
            &count.to_string(),
            "--seed",
            "11",
            "--bad-rate",
            "0",
        ])
        .args(["--out", lines.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "gen_users.py (set FIRELAKE_SHARED): {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let text = std::fs::read_to_string(&lines).unwrap();
    let folder = dir.join(format!("lake/users/p_date={day}"));
    std::fs::create_dir_all(&folder).unwrap();
    let first: Vec<&str> = text.lines().take(again).collect();
    std::fs::write(dir.join("again.jsonl"), first.join("\n") + "\n").unwrap();
    for (input, at, name) in [("users.jsonl", "10:00", "a"), ("again.jsonl", "15:00", "b")] {
        firelake_ok(
            dir,
            &[
                "convert",
                dir.join(input).to_str().unwrap(),
                folder.join(format!("{name}.parquet")).to_str().unwrap(),
                "--ingested-at",
                &format!("{day}T{at}:00.000Z"),
            ],
        );
    }
}

/// Yesterday from `convert`, today from `firelake run` twice (the same seed again: duplicates
/// with later arrivals), both compacted. Returns (dir, yesterday, today, compact report).
fn two_day_lake() -> (tempfile::TempDir, String, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let (d1, d2) = (day_before(1), day_before(0));
    convert_day(dir.path(), &d1, 700, 250);
    firelake_ok(dir.path(), &["run", "--records", "1500", "--seed", "5"]);
    firelake_ok(dir.path(), &["run", "--records", "600", "--seed", "5"]);
    let report = firelake_ok(dir.path(), &["compact", "--all", "--json", "--grace", "0s"]);
    (dir, d1, d2, serde_json::from_str(&report).unwrap())
}

/// day -> (rows_in, rows_out) of the compactor's report.
fn reported(report: &Value) -> BTreeMap<String, (u64, u64)> {
    report["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let n = |k: &str| d[k].as_u64().unwrap();
            (
                d["day"].as_str().unwrap().to_string(),
                (n("rows_in"), n("rows_out")),
            )
        })
        .collect()
}

/// Rows per table and day as DuckDB reads them through `views_sql`.
fn duckdb_counts(dir: &Path, views_sql: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    let path = dir.join("views.sql");
    std::fs::write(&path, views_sql).unwrap();
    serde_json::from_str(&check(&["views", path.to_str().unwrap()])).unwrap()
}

#[test]
fn duckdb_reads_the_raw_and_curated_tables_through_catalog_sql() {
    let (dir, d1, d2, report) = two_day_lake();
    let days = reported(&report);
    assert_eq!(days.keys().collect::<Vec<_>>(), [&d1, &d2], "{report}");
    assert!(
        days.values().all(|(i, o)| i > o),
        "duplicates in both days: {days:?}"
    );
    let sql = firelake_ok(dir.path(), &["catalog", "--sql"]);
    let counts = duckdb_counts(dir.path(), &sql);
    for (day, (rows_in, rows_out)) in &days {
        assert_eq!(counts["users"][day], *rows_in, "raw {day}");
        assert_eq!(counts["users_curated"][day], *rows_out, "curated {day}");
    }
    // compact keeps the same views beside the local catalog.
    let kept = std::fs::read_to_string(dir.path().join("lake/_catalog/firelake.duckdb.sql"));
    assert_eq!(kept.unwrap(), sql);
    // A copy of the lake reads its own files (the catalog still names the original folder).
    let copy = dir.path().join("copy");
    let status = Command::new("cp")
        .args([
            "-a",
            dir.path().join("lake").to_str().unwrap(),
            copy.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::rename(dir.path().join("lake"), dir.path().join("moved")).unwrap();
    let copied = firelake_ok(
        dir.path(),
        &["catalog", "--sql", "--lake", copy.to_str().unwrap()],
    );
    assert!(
        !copied.contains("/lake/") && copied.contains("/copy/"),
        "{copied}"
    );
    assert_eq!(duckdb_counts(dir.path(), &copied), counts);
    std::fs::rename(dir.path().join("moved"), dir.path().join("lake")).unwrap();
    // One table, and a table the catalog does not have.
    let one = firelake_ok(
        dir.path(),
        &["catalog", "--sql", "--table", "users_curated"],
    );
    assert!(one.contains("\"users_curated\"") && !one.contains("\"firelake\".\"users\" "));
    let (ok, _, err) = common::firelake(dir.path(), &["catalog", "--sql", "--table", "nope"]);
    assert!(!ok && err.contains("nope"), "{err}");
}

/// Runs the venv's dbt in transform/ on the lake of `dir`; returns stdout.
fn dbt(dir: &Path, args: &[&str]) -> String {
    let bin = python().parent().unwrap().join("dbt");
    let out = Command::new(&bin)
        .args(args)
        .current_dir(root().join("transform"))
        .env("DBT_PROFILES_DIR", root().join("transform"))
        .env("DBT_TARGET_PATH", dir.join("dbt-target"))
        .env("DBT_LOG_PATH", dir.join("dbt-logs"))
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env(
            "FIRELAKE_DUCKDB_VIEWS",
            dir.join("lake/_catalog/firelake.duckdb.sql"),
        )
        .env("FIRELAKE_TRANSFORM_DB", dir.join("transform.duckdb"))
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test.sh installs dbt)", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "dbt {args:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn build_day(dir: &Path, day: &str) -> String {
    let vars = format!("{{day: '{day}'}}");
    dbt(
        dir,
        &[
            "build",
            "--target",
            "local",
            "--vars",
            &vars,
            "--select",
            "source:users+",
        ],
    )
}

#[test]
fn dbt_builds_users_daily_day_by_day_on_the_local_lake() {
    let (dir, d1, d2, _) = two_day_lake();
    let (db, catalog) = (
        dir.path().join("transform.duckdb"),
        dir.path().join("lake/_catalog/firelake.json"),
    );
    let (db, catalog) = (db.to_str().unwrap(), catalog.to_str().unwrap());
    let first = build_day(dir.path(), &d1);
    assert!(
        first.contains("ERROR=0") && first.contains("PASS="),
        "{first}"
    );
    let rows: Value = serde_json::from_str(&check(&["compare", catalog, db, &d1])).unwrap();
    assert!(rows["rows"].as_u64().unwrap() > 500, "{rows}");
    // The next day replaces only its own partition: a row changed in d1 stays changed.
    let marked = check(&["mark", db, &d1]);
    let before = check(&["fingerprint", db, &d1]);
    build_day(dir.path(), &d2);
    check(&["compare", catalog, db, &d2]);
    assert_eq!(
        check(&["fingerprint", db, &d1]),
        before,
        "d1 changed by d2's build"
    );
    assert!(before.contains("\"rows\""), "{marked} {before}");
    // Rebuilding d1 puts the model's row back: the day is replaced, not appended to.
    build_day(dir.path(), &d1);
    check(&["compare", catalog, db, &d1]);
}

#[test]
fn dbt_parses_the_athena_target() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(python().parent().unwrap().join("dbt"))
        .args(["parse", "--target", "athena"])
        .current_dir(root().join("transform"))
        .env("DBT_PROFILES_DIR", root().join("transform"))
        .env("DBT_TARGET_PATH", dir.path().join("target"))
        .env("DBT_LOG_PATH", dir.path().join("logs"))
        .env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        // The emulated account (moto's), as the nightly task's environment names it in AWS.
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("FIRELAKE_ATHENA_STAGING_DIR", "s3://firelake-test/athena/")
        .env(
            "FIRELAKE_TRANSFORM_DATA_DIR",
            "s3://firelake-test/transform/",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "dbt parse --target athena:\n{text}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("target/manifest.json")).unwrap())
            .unwrap();
    let nodes = manifest["nodes"].as_object().unwrap();
    let model = &nodes["model.firelake_transform.users_daily"];
    assert_eq!(model["config"]["incremental_strategy"], "insert_overwrite");
    assert_eq!(model["config"]["partitioned_by"][0], "p_date");
}

/// Every source definition's dbt sources file is the one `firelake schema --format dbt`
/// renders: adding a column without regenerating fails here.
#[test]
fn the_dbt_sources_files_match_the_source_definitions() {
    let mut names: Vec<String> = std::fs::read_dir(root().join("sources"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".toml").map(str::to_string)
        })
        .collect();
    names.sort();
    let dir = root().join("transform/models/sources");
    for source in &names {
        let want = firelake_ok(&root(), &["schema", "--source", source, "--format", "dbt"]);
        let path = dir.join(format!("{source}.yml"));
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} drifted from sources/{source}.toml: regenerate it with `firelake schema --source {source} --format dbt -o transform/models/sources/{source}.yml`",
            path.display()
        );
    }
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .into_string()
                .ok()?
                .strip_suffix(".yml")
                .map(str::to_string)
        })
        .collect();
    files.sort();
    assert_eq!(files, names, "one sources file per source definition");
}

/// A few records of `source` arrived on `day` at 10:00, converted into its raw table and
/// compacted (the first two records share their key: a duplicate).
fn add_source_day(dir: &Path, source: &str, table: &str, day: &str, lines: &[String]) {
    let input = dir.join(format!("{source}.jsonl"));
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let folder = dir.join(format!("lake/{table}/p_date={day}"));
    std::fs::create_dir_all(&folder).unwrap();
    let at = format!("{day}T10:00:00.000Z");
    let output = folder.join("a.parquet");
    let args = ["convert", "--source", source, input.to_str().unwrap()];
    let mut args = args.to_vec();
    args.extend([output.to_str().unwrap(), "--ingested-at", &at]);
    firelake_ok(dir, &args);
    firelake_ok(
        dir,
        &["compact", "--source", source, "--all", "--grace", "0s"],
    );
}

/// Every model of transform/ builds, and its dbt tests pass, on a lake with every built-in
/// source (a few records each).
#[test]
fn every_model_builds_on_a_lake_with_every_source() {
    let dir = tempfile::tempdir().unwrap();
    let day = day_before(1);
    convert_day(dir.path(), &day, 40, 10);
    firelake_ok(dir.path(), &["compact", "--all", "--grace", "0s"]);
    let ms = firelake_core::time::parse_iso8601_ms(&format!("{day}T09:00:00.000Z")).unwrap();
    let orders: Vec<String> = [(1, 10, 8), (1, 10, 9), (1, 11, 9), (2, 10, 23)]
        .iter()
        .map(|(o, p, h)| {
            format!(
                r#"{{"order_id":{o},"product_id":{p},"add_to_cart_order":1,"reordered":true,"ordered_at":"{day}T{h:02}:15:00.000Z"}}"#
            )
        })
        .collect();
    add_source_day(dir.path(), "order_lines", "order_lines", &day, &orders);
    let launches: Vec<String> = [("a", "true", "false"), ("a", "null", "true"), ("b", "false", "false")]
        .iter()
        .map(|(id, success, upcoming)| {
            format!(
                r#"{{"id":"{id}","flight_number":1,"name":"FalconSat","date_utc":"2006-03-24T22:30:00.000Z","date_precision":"hour","upcoming":{upcoming},"success":{success},"rocket":"r","launchpad":"p","details":null,"links":{{"webcast":null,"wikipedia":null,"patch":{{"small":null}}}}}}"#
            )
        })
        .collect();
    add_source_day(
        dir.path(),
        "spacex_launches",
        "spacex_launches",
        &day,
        &launches,
    );
    let records: Vec<String> = [("r1", 0), ("r1", 0), ("r1", 1), ("r2", 0)]
        .iter()
        .map(|(run, seq)| {
            format!(
                r#"{{"run":"{run}","seq":{seq},"produced_at":{},"payload":"x"}}"#,
                ms + seq
            )
        })
        .collect();
    add_source_day(dir.path(), "loadtest", "loadtest", &day, &records);
    let vars = format!("{{day: '{day}'}}");
    let out = dbt(
        dir.path(),
        &[
            "build",
            "--target",
            "local",
            "--vars",
            &vars,
            "--select",
            "path:models/daily",
        ],
    );
    for model in ["users", "order_lines", "spacex_launches", "loadtest"] {
        assert!(
            out.contains(&format!(
                "OK created sql incremental model firelake_transform.{model}_daily"
            )),
            "{model}_daily: {out}"
        );
    }
    assert!(out.contains("ERROR=0"), "{out}");
}
