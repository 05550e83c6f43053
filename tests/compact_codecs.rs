//! Every Parquet file a user's lake can hold is read by `firelake compact`: a raw day whose
//! files mix every codec (Snappy, GZIP, LZ4, Brotli, Zstd, none), INT96 timestamps without an
//! Arrow schema (Firehose's Hive SerDe), INT64 timestamps in micro- and nanoseconds, plain
//! encoding and v2 data pages, all written by pyarrow (tests/codec_mix.py), compacts into
//! exactly the day's distinct rows, timestamps equal to the millisecond.

mod common;

use common::{firelake_ok, python};
use firelake_testkit::lake::{days, format_rows, parquet_files, read_batches};

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The generation folder the local catalog points the day at.
fn curated_generation(lake: &Path, day: &str) -> PathBuf {
    let cat: Value =
        serde_json::from_slice(&std::fs::read(lake.join("_catalog/firelake.json")).unwrap())
            .unwrap();
    let parts = cat["Tables"]["users_curated"]["Partitions"]
        .as_object()
        .unwrap();
    let p = parts
        .values()
        .find(|p| p["Values"][0] == day)
        .unwrap_or_else(|| panic!("no curated partition for {day}: {cat}"));
    // Relative to the lake (absolute `file://` from catalogs of older versions).
    let loc = p["Location"].as_str().unwrap();
    lake.join(loc.strip_prefix("file://").unwrap_or(loc))
}

#[test]
fn a_raw_day_mixing_every_codec_timestamp_and_page_layout_compacts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    firelake_ok(dir.path(), &["run", "--records", "1500", "--seed", "11"]);
    // The same users again, later: duplicates whose latest copy must win across layouts.
    firelake_ok(dir.path(), &["run", "--records", "600", "--seed", "11"]);
    let days = days(&lake.join("users"));
    // The largest day: every variant gets rows (and duplicates).
    let day = days
        .iter()
        .max_by_key(|d| parquet_files(&lake.join(format!("users/p_date={d}"))).len())
        .unwrap()
        .clone();
    let day_dir = lake.join(format!("users/p_date={day}"));
    let expected = firelake_testkit::lake::distinct_rows(&day_dir);

    let out = Command::new(python())
        .arg(common::root().join("tests/codec_mix.py"))
        .arg(&day_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "codec_mix.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let variants = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(variants, 11, "every variant got rows");

    let report: Value = serde_json::from_str(&firelake_ok(
        dir.path(),
        &["compact", "--json", "--date", &day, "--grace", "0s"],
    ))
    .unwrap();
    let d = &report["days"][0];
    assert_eq!(d["outcome"], "compacted", "{report}");
    assert_eq!(d["files_in"], variants, "{report}");
    let generation = curated_generation(&lake, &day);
    let mut visible: Vec<String> = parquet_files(&generation)
        .iter()
        .flat_map(|f| read_batches(f))
        .flat_map(|b| format_rows(&b))
        .collect();
    visible.sort();
    assert_eq!(visible.len(), expected.len(), "row count of {day}");
    assert_eq!(visible, expected, "rows and timestamps of {day}");
}
