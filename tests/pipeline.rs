//! `firelake run` end to end through the real binary: sample source -> embedded stream ->
//! consumer -> Parquet + rejected records + local catalog, read back with the Parquet reader.

mod common;

use std::path::Path;
use std::process::Command;

use arrow::array::{Array, StringArray, TimestampMillisecondArray};
use common::{firelake_ok, summary_field};
use firelake_testkit::lake::files_below;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in files_below(dir) {
        if e.extension().is_some_and(|x| x == ext) {
            out.push(e);
        }
    }
    out.sort();
    out
}

/// (rows, distinct user ids) over every data file of the lake; checks each file's schema.
fn read_lake(lake: &Path) -> (usize, std::collections::HashSet<String>) {
    let mut rows = 0;
    let mut ids = std::collections::HashSet::new();
    for f in files(&lake.join("users"), "parquet") {
        assert!(
            f.parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("p_date=")
        );
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let schema = batch.schema();
            assert_eq!(
                schema.fields().len(),
                24,
                "p_date is the folder, not a column"
            );
            assert!(schema.field_with_name("p_date").is_err());
            let uid = batch.column_by_name("user_id").unwrap();
            let uid = uid.as_any().downcast_ref::<StringArray>().unwrap();
            assert_eq!(uid.null_count(), 0);
            let at = batch.column_by_name("ingested_at").unwrap();
            let at = at
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap();
            assert_eq!(at.timezone(), Some("UTC"));
            rows += batch.num_rows();
            ids.extend(uid.iter().map(|v| v.unwrap().to_string()));
        }
    }
    (rows, ids)
}

#[test]
fn run_lands_every_record_and_a_second_run_adds_to_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let summary = firelake_ok(
        dir.path(),
        &[
            "run",
            "--records",
            "5000",
            "--per-tick",
            "700",
            "--seed",
            "7",
        ],
    );
    let (records_in, rows, rejected) = (
        summary_field(&summary, "records in"),
        summary_field(&summary, "rows out"),
        summary_field(&summary, "rejected"),
    );
    assert_eq!(records_in, 5000);
    assert_eq!(rows + rejected, 5000);
    assert!(rejected > 0, "the sample source makes some bad records");
    assert!(summary.contains("duckdb -c"), "{summary}");

    let lake = dir.path().join("lake");
    let (lake_rows, ids) = read_lake(&lake);
    assert_eq!(lake_rows as u64, rows);
    assert_eq!(ids.len() as u64, rows, "each sample user once");

    // Rejected records: every one kept with its reason and raw bytes.
    let mut kept = 0;
    for f in files(&lake.join("users/_rejected"), "jsonl") {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(!v["reason"].as_str().unwrap().is_empty());
            let raw = firelake_core::kept::KeptData::bytes_of(&v).unwrap();
            assert!(!raw.is_empty());
            kept += 1;
        }
    }
    assert_eq!(kept, rejected);

    // The local catalog has the table and its partitions, with locations that exist.
    let cat: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("_catalog/firelake.json")).unwrap())
            .unwrap();
    let table = &cat["Tables"]["users"];
    assert_eq!(table["Table"]["Columns"].as_array().unwrap().len(), 24);
    assert_eq!(table["Table"]["PartitionKeys"][0]["Name"], "p_date");
    let parts = table["Partitions"].as_object().unwrap();
    assert!(!parts.is_empty());
    for p in parts.values() {
        // Relative to the lake, so a moved lake keeps working (tests/portable_lake.rs).
        let loc = p["Location"].as_str().unwrap();
        assert!(!loc.contains("://"), "{loc}");
        assert!(lake.join(loc).is_dir(), "{loc}");
    }

    // A second run adds its records; nothing of the first is lost or rewritten.
    let first_files = files(&lake.join("users"), "parquet");
    let summary2 = firelake_ok(dir.path(), &["run", "--records", "3000", "--seed", "8"]);
    let rows2 = summary_field(&summary2, "rows out");
    let (lake_rows, _) = read_lake(&lake);
    assert_eq!(lake_rows as u64, rows + rows2);
    for f in first_files {
        assert!(f.exists());
    }
}

#[test]
fn run_on_a_memory_lake_needs_no_disk() {
    let dir = tempfile::tempdir().unwrap();
    let summary = firelake_ok(
        dir.path(),
        &["run", "--records", "1000", "--lake", "memory://"],
    );
    assert_eq!(summary_field(&summary, "records in"), 1000);
    assert!(!dir.path().join("lake").exists());
}

#[test]
fn bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(["run", "--lake", "ftp://nope"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported lake URL"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\n[partition]\ncolumn = \"p_date\"\nfrom = \"at\"\n[[columns]]\nname = \"at\"\ntype = \"timestamp\"\narrival = true\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args([
            "convert",
            "in.jsonl",
            "out.parquet",
            "--source",
            bad.to_str().unwrap(),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.toml:7:") && err.contains("timestamp"),
        "{err}"
    );
}
