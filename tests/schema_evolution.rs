//! Schema evolution through the real binary (docs/schema-evolution.md): a source definition
//! that gains a column and widens another evolves its catalog tables at the next start, old
//! rows read the new column as null, the compactor merges the mixed day; refused changes and
//! `--schema-policy freeze` exit non-zero and change nothing; Glue (moto) follows too.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{firelake, python_tool, require_emulators, unique};
use serde_json::Value;

const HEAD: &str = r#"
name = "evo"
table = "evo"
dedupe_key = ["id"]
[partition]
column = "p_date"
from = "ingested_at"
[[columns]]
name = "id"
pointer = "/id"
type = "string"
required = true
[[columns]]
name = "at"
pointer = "/at"
type = "timestamp_ms"
[[columns]]
name = "ingested_at"
type = "timestamp_ms"
arrival = true
"#;

/// The definition: HEAD plus `extra` columns, in `dir/<version>/evo.toml`.
fn definition(dir: &Path, version: &str, extra: &str) -> String {
    let d = dir.join(version);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("evo.toml"), format!("{HEAD}{extra}")).unwrap();
    d.display().to_string()
}

fn column(name: &str, pointer: &str, t: &str) -> String {
    format!("[[columns]]\nname = \"{name}\"\npointer = \"{pointer}\"\ntype = \"{t}\"\n")
}

fn records(dir: &Path, file: &str, rows: &[Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.join(file), text).unwrap();
}

/// `firelake replay FILE` of the `evo` source in `defs` into `dir/lake`, rows on 2025-06-01.
fn replay(dir: &Path, file: &str, defs: &str, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec![
        "replay",
        file,
        "--source",
        "evo",
        "--source-dir",
        defs,
        "--lake",
        "lake",
        "--event-time",
        "at",
    ];
    args.extend_from_slice(extra);
    firelake(dir, &args)
}

/// The catalog file's table: column name -> Glue type.
fn catalog_columns(dir: &Path, table: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("lake/_catalog/firelake.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["Tables"][table]["Table"]["Columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            (s("Name"), s("Type"))
        })
        .collect()
}

/// Every file under `dir` with its content, to show that nothing changed.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walk(dir) {
        out.insert(e.display().to_string(), std::fs::read(&e).unwrap());
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_none_or(|x| x != "lock") {
            out.push(p);
        }
    }
    out
}

fn read(glob: &Path) -> Vec<Value> {
    let out = python_tool_local(&["read", &glob.display().to_string()]);
    serde_json::from_str(&out).unwrap()
}

/// tests/schema_evolution_tool.py without the AWS emulators (DuckDB on local files).
fn python_tool_local(args: &[&str]) -> String {
    let out = std::process::Command::new(common::python())
        .arg(common::root().join("tests/schema_evolution_tool.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn assert_refused(out: (bool, String, String), says: &str) {
    assert!(!out.0, "expected a refusal: {}", out.1);
    let last = common::last_line(&out.2);
    assert!(last.contains(says), "{last}");
}

#[test]
fn a_definition_that_gains_a_column_evolves_the_tables_and_compacts_the_mixed_day() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let v1 = definition(dir, "v1", &column("n", "/n", "int32"));
    let v2 = definition(
        dir,
        "v2",
        &format!(
            "{}{}",
            column("n", "/n", "int64"),
            column("note", "/note", "string")
        ),
    );
    let old: Vec<Value> = (0..3)
        .map(|i| serde_json::json!({"id": format!("a{i}"), "n": i, "at": "2025-06-01T10:00:00Z", "note": "unseen"}))
        .collect();
    let new: Vec<Value> = (0..3)
        .map(|i| serde_json::json!({"id": format!("b{i}"), "n": 5_000_000_000i64 + i, "at": "2025-06-01T11:00:00Z", "note": format!("note {i}")}))
        .collect();
    records(dir, "old.jsonl", &old);
    records(dir, "new.jsonl", &new);
    let (ok, _, e) = replay(dir, "old.jsonl", &v1, &[]);
    assert!(ok, "{e}");
    assert_eq!(catalog_columns(dir, "evo")["n"], "int");

    // The diff shows the change and changes nothing.
    let before = snapshot(&dir.join("lake"));
    let diff = [
        "schema",
        "diff",
        "--source",
        "evo",
        "--source-dir",
        &v2,
        "--lake",
        "lake",
    ];
    let (ok, out, e) = firelake(dir, &diff);
    assert!(ok, "{e}");
    assert!(
        out.contains("table evo: widen column n int32 -> int64, add column note string"),
        "{out}"
    );
    assert!(
        out.contains("table evo_curated: not in the catalog"),
        "{out}"
    );
    assert_eq!(snapshot(&dir.join("lake")), before);

    // Freeze refuses even an allowed change, and nothing is written.
    let frozen = replay(dir, "new.jsonl", &v2, &["--schema-policy", "freeze"]);
    assert_refused(frozen, "refused by the schema policy freeze");
    assert_eq!(snapshot(&dir.join("lake")), before);

    // Evolve (the default): the catalog follows, new rows have values, old ones null.
    let (ok, _, e) = replay(dir, "new.jsonl", &v2, &[]);
    assert!(ok, "{e}");
    let cols = catalog_columns(dir, "evo");
    assert_eq!(
        (cols["n"].as_str(), cols["note"].as_str()),
        ("bigint", "string")
    );
    let raw = read(&dir.join("lake/evo/p_date=2025-06-01/*.parquet"));
    assert_eq!(raw.len(), 6);
    for r in &raw {
        let id = r["id"].as_str().unwrap();
        let want_note = id.strip_prefix('b').map(|i| format!("note {i}"));
        assert_eq!(r["note"].as_str().map(String::from), want_note, "{r}");
    }
    assert_eq!(raw[5]["n"], 5_000_000_002i64);

    // The compactor merges the mixed day: int32 cast to int64, the missing column null.
    let compact = [
        "compact",
        "--source",
        "evo",
        "--source-dir",
        &v2,
        "--lake",
        "lake",
        "--date",
        "2025-06-01",
    ];
    let (ok, out, e) = firelake(dir, &compact);
    assert!(ok, "{out}\n{e}");
    let curated = read(&dir.join("lake/evo_curated/_generations/p_date=2025-06-01/*/*.parquet"));
    assert_eq!(curated.len(), 6, "{curated:?}");
    assert!(
        curated.iter().all(|r| r["n_type"] == "BIGINT"),
        "{curated:?}"
    );
    assert_eq!(curated[0]["n"], 0);
    assert_eq!(curated[0]["note"], Value::Null);
    assert_eq!(curated[4]["note"], "note 1");
    assert_eq!(catalog_columns(dir, "evo_curated")["note"], "string");
    let (ok, out, _) = firelake(dir, &diff);
    assert!(ok && out.contains("table evo: up to date"), "{out}");
}

/// `firelake run` (the sample users source): a copy of the definition with one more column
/// evolves the table; the first run's rows read it as null, the second run's have values.
#[test]
fn run_with_an_added_column_evolves_the_users_table() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--records", "300", "--lake", "lake"];
        args.extend_from_slice(extra);
        let (ok, out, e) = firelake(dir, &args);
        assert!(ok, "{out}{e}");
    };
    let count = || -> Value {
        let glob = dir.join("lake/users/p_date=*/*.parquet");
        serde_json::from_str(&python_tool_local(&[
            "count",
            &glob.display().to_string(),
            "registered_age",
        ]))
        .unwrap()
    };
    run(&[]);
    let first = count();
    assert_eq!(first["non_null"], 0);
    let users = std::fs::read_to_string(common::root().join("sources/users.toml")).unwrap();
    let defs = dir.join("defs");
    std::fs::create_dir_all(&defs).unwrap();
    let added = column("registered_age", "/registered/age", "int32");
    std::fs::write(defs.join("users.toml"), format!("{users}\n{added}")).unwrap();
    run(&["--source-dir", defs.to_str().unwrap(), "--seed", "7"]);
    assert_eq!(catalog_columns(dir, "users")["registered_age"], "int");
    let both = count();
    let (rows, non_null) = (
        both["rows"].as_u64().unwrap(),
        both["non_null"].as_u64().unwrap(),
    );
    assert_eq!(rows - non_null, first["rows"].as_u64().unwrap(), "{both}");
    assert!(non_null > 250, "{both}");
}

/// `firelake reprocess` runs kept records through the CURRENT definition: a changed one
/// evolves the tables first (or, frozen, refuses before anything is reprocessed).
#[test]
fn reprocess_with_a_changed_definition_evolves_the_table_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (ok, out, e) = firelake(dir, &["run", "--records", "300", "--lake", "lake"]);
    assert!(ok, "{out}{e}");
    let users = std::fs::read_to_string(common::root().join("sources/users.toml")).unwrap();
    let defs = dir.join("defs");
    std::fs::create_dir_all(&defs).unwrap();
    let added = column("registered_age", "/registered/age", "int32");
    std::fs::write(defs.join("users.toml"), format!("{users}\n{added}")).unwrap();
    let args = [
        "reprocess",
        "--all",
        "--lake",
        "lake",
        "--source-dir",
        defs.to_str().unwrap(),
    ];
    let before = snapshot(&dir.join("lake"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .env("FIRELAKE_SCHEMA_POLICY", "freeze")
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(snapshot(&dir.join("lake")), before);
    let (ok, out, e) = firelake(dir, &args);
    assert!(ok, "{out}{e}");
    assert_eq!(catalog_columns(dir, "users")["registered_age"], "int");
}

#[test]
fn refused_changes_exit_non_zero_with_what_to_do_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let v1 = definition(dir, "v1", &column("n", "/n", "int64"));
    records(
        dir,
        "rows.jsonl",
        &[serde_json::json!({"id": "a", "n": 1, "at": "2025-06-01T10:00:00Z"})],
    );
    let (ok, _, e) = replay(dir, "rows.jsonl", &v1, &[]);
    assert!(ok, "{e}");
    let before = snapshot(&dir.join("lake"));
    let cases = [
        (
            column("n", "/n", "int32"),
            "column n changed type int64 -> int32",
        ),
        (
            column("count", "/n", "int64"),
            "column n looks renamed to count",
        ),
        (String::new(), "column n was dropped"),
        (
            column("n", "/n", "string"),
            "keep n as int64 and add a new column",
        ),
    ];
    for (i, (extra, says)) in cases.iter().enumerate() {
        let defs = definition(dir, &format!("bad{i}"), extra);
        let diff = [
            "schema",
            "diff",
            "--source",
            "evo",
            "--source-dir",
            &defs,
            "--lake",
            "lake",
        ];
        assert_refused(firelake(dir, &diff), says);
        assert_refused(replay(dir, "rows.jsonl", &defs, &[]), says);
        assert_eq!(snapshot(&dir.join("lake")), before, "{says}");
    }
    // The env twin of --schema-policy.
    let v2 = definition(
        dir,
        "v2",
        &format!(
            "{}{}",
            column("n", "/n", "int64"),
            column("note", "/note", "string")
        ),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args([
            "replay",
            "rows.jsonl",
            "--source",
            "evo",
            "--source-dir",
            &v2,
            "--lake",
            "lake",
            "--event-time",
            "at",
        ])
        .env("FIRELAKE_SCHEMA_POLICY", "freeze")
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("freeze"));
    assert_eq!(snapshot(&dir.join("lake")), before);
    // And the pipeline file's key.
    std::fs::write(dir.join("firelake.toml"), "schema-policy = \"freeze\"\n").unwrap();
    assert_refused(
        replay(dir, "rows.jsonl", &v2, &[]),
        "refused by the schema policy freeze",
    );
    assert_eq!(snapshot(&dir.join("lake")), before);
}

#[test]
fn schema_format_and_schema_diff_both_parse() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let v1 = definition(dir, "v1", &column("n", "/n", "int32"));
    let (ok, out, e) = firelake(
        dir,
        &[
            "schema",
            "--source",
            "evo",
            "--source-dir",
            &v1,
            "--format",
            "glue-columns",
        ],
    );
    assert!(ok && out.contains("\"n\""), "{out}{e}");
    let (ok, out, e) = firelake(
        dir,
        &["schema", "diff", "--source", "evo", "--source-dir", &v1],
    );
    assert!(
        ok && out.contains("table evo: not in the catalog"),
        "{out}{e}"
    );
    // A format flag before the subcommand is a usage error, not a silent choice.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(["schema", "--format", "arrow", "diff"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// The Glue path: a raw table as Terraform creates it for Firehose (no nullability recorded)
/// follows the definition through UpdateTable when a command that writes it starts.
#[test]
fn glue_tables_are_updated_with_the_allowed_changes() {
    require_emulators();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bucket = unique("evolve");
    let db = unique("db").replace('-', "_");
    python_tool("aws_tool.py", &["create-bucket", &bucket]);
    let location = format!("s3://{bucket}/evo/");
    let cols = r#"[["id","string"],["at","timestamp"],["ingested_at","timestamp"],["n","int"]]"#;
    python_tool(
        "schema_evolution_tool.py",
        &["glue-create", &db, "evo", &location, cols],
    );
    let v2 = definition(
        dir,
        "v2",
        &format!(
            "{}{}",
            column("n", "/n", "int64"),
            column("note", "/note", "string")
        ),
    );
    let lake = format!("s3://{bucket}/");
    let glue = format!("glue://{db}");
    let common = [
        "--source",
        "evo",
        "--source-dir",
        &v2,
        "--lake",
        &lake,
        "--catalog",
        &glue,
    ];
    let (ok, out, e) = firelake(dir, &[&["schema", "diff"][..], &common].concat());
    assert!(
        ok && out.contains("widen column n int32 -> int64, add column note string"),
        "{out}{e}"
    );
    let (ok, out, e) = firelake(dir, &[&["compact", "--all"][..], &common].concat());
    assert!(ok, "{out}{e}");
    let t: Value = serde_json::from_str(&python_tool(
        "schema_evolution_tool.py",
        &["glue-columns", &db, "evo"],
    ))
    .unwrap();
    assert_eq!(
        t["columns"],
        serde_json::json!([
            ["id", "string"],
            ["at", "timestamp"],
            ["ingested_at", "timestamp"],
            ["n", "bigint"],
            ["note", "string"]
        ])
    );
    assert_eq!(t["parameters"]["firelake.required"], "id,ingested_at");
    assert_eq!(t["parameters"]["classification"], "parquet");
    assert_eq!(t["description"], "made by Terraform", "kept by UpdateTable");
    assert_eq!(t["serde_parameters"]["serialization.format"], "1");
    let (ok, out, _) = firelake(dir, &[&["schema", "diff"][..], &common].concat());
    assert!(ok && out.contains("table evo: up to date"), "{out}");
}
