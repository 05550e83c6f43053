//! `firelake compact` and `firelake catalog` through the real binary, on lakes filled by
//! `firelake run` (running a seed twice makes duplicates with later arrival times). The
//! curated day is read where the catalog points, with the Parquet crate and with pyarrow
//! (`$FIRELAKE_PYTHON`, which scripts/test.sh sets), and compared with the raw rows.

mod common;

use common::{firelake_ok, python};
use firelake_testkit::lake::{days, files_below, format_rows, parquet_files, read_batches};

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::Array;
use serde_json::Value;

/// The steps of a run the compactor can be stopped at (firelake_compactor::crash::STEPS).
const STEPS: &[&str] = &[
    "planned",
    "output",
    "written",
    "catalog",
    "committed",
    "cleanup",
];
/// Small output files, so a day makes several and "output" stops between two of them.
const TARGET_BYTES: &str = "120000";

fn compact_json(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["compact", "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&firelake_ok(dir, &args)).unwrap()
}

/// The curated partitions: day -> local folder of the generation the catalog points at.
fn curated_partitions(lake: &Path) -> HashMap<String, PathBuf> {
    let Ok(bytes) = std::fs::read(lake.join("_catalog/firelake.json")) else {
        return HashMap::new();
    };
    let cat: Value = serde_json::from_slice(&bytes).unwrap();
    let Some(parts) = cat["Tables"]["users_curated"]["Partitions"].as_object() else {
        return HashMap::new();
    };
    parts
        .values()
        .map(|p| {
            let loc = p["Location"].as_str().unwrap();
            (
                p["Values"][0].as_str().unwrap().to_string(),
                lake.join(loc.strip_prefix("file://").unwrap_or(loc)),
            )
        })
        .collect()
}

/// The distinct raw rows of a day, computed here: per user_id the latest ingested_at, ties to
/// the first row in file-name then row order. Sorted.
fn expected_rows(lake: &Path, day: &str) -> Vec<String> {
    firelake_testkit::lake::distinct_rows(&lake.join(format!("users/p_date={day}")))
}

/// The rows readers see for a day: the files of the generation the catalog points at.
fn visible_rows(generation: &Path) -> Vec<String> {
    let files = parquet_files(generation);
    assert!(!files.is_empty(), "{} has no files", generation.display());
    let mut rows: Vec<String> = files
        .iter()
        .flat_map(|f| read_batches(f))
        .flat_map(|b| {
            assert_eq!(
                b.num_columns(),
                24,
                "every source column, p_date only in folder names"
            );
            assert_eq!(b.column_by_name("user_id").unwrap().null_count(), 0);
            format_rows(&b)
        })
        .collect();
    rows.sort();
    rows
}

/// After a complete run with grace 0: every raw day's curated partition holds exactly its
/// distinct raw rows, and the curated table's folder holds nothing else than the current
/// generations, their journals (state `cleaned`) and the day locks: no orphan generation, no
/// journal left to finish, no staging file of an interrupted upload.
fn assert_exact_and_tidy(lake: &Path) {
    let parts = curated_partitions(lake);
    let days = days(&lake.join("users"));
    assert_eq!(parts.len(), days.len(), "{parts:?}");
    let root = lake.join("users_curated");
    let mut expected_files = Vec::new();
    for day in &days {
        expected_files.push(root.join(format!("_locks/p_date={day}.lock")));
        let generation = &parts[day];
        assert_eq!(
            visible_rows(generation),
            expected_rows(lake, day),
            "day {day}"
        );
        expected_files.extend(parquet_files(generation));
        let run_id = generation.file_name().unwrap().to_str().unwrap();
        let journal = root.join(format!("_journal/p_date={day}/{run_id}.json"));
        let j: Value = serde_json::from_slice(&std::fs::read(&journal).unwrap()).unwrap();
        assert_eq!(j["state"], "cleaned", "{}", journal.display());
        expected_files.push(journal);
    }
    let mut found = files_below(&root);
    found.sort();
    expected_files.sort();
    assert_eq!(found, expected_files);
}

#[test]
fn the_curated_day_is_the_distinct_raw_rows_and_late_data_makes_the_next_generation() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    firelake_ok(dir.path(), &["run", "--records", "3000", "--seed", "5"]);
    // The same users again, later: duplicates whose latest copy must win.
    firelake_ok(dir.path(), &["run", "--records", "1200", "--seed", "5"]);
    let first = compact_json(
        dir.path(),
        &["--all", "--grace", "0s", "--target-bytes", TARGET_BYTES],
    );
    let days = first["days"].as_array().unwrap();
    assert!(!days.is_empty());
    let dup: u64 = days.iter().map(|d| d["duplicates"].as_u64().unwrap()).sum();
    assert!(dup > 1000, "the second run's users are duplicates: {first}");
    assert!(
        days.iter().all(|d| d["files_out"].as_u64().unwrap() >= 2),
        "{first}"
    );
    assert_exact_and_tidy(&lake);

    // pyarrow reads the same rows from the same files.
    for (day, generation) in curated_partitions(&lake) {
        let out = Command::new(python())
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/check_compacted.py"))
            .arg(lake.join(format!("users/p_date={day}")))
            .arg(&generation)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pyarrow check of {day}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("OK rows="));
    }
    let before = curated_partitions(&lake);

    // Late data: new users, and later copies of some compacted ones.
    firelake_ok(dir.path(), &["run", "--records", "500", "--seed", "6"]);
    firelake_ok(dir.path(), &["run", "--records", "300", "--seed", "5"]);
    let late = compact_json(
        dir.path(),
        &["--all", "--grace", "1h", "--target-bytes", TARGET_BYTES],
    );
    let after = curated_partitions(&lake);
    for d in late["days"].as_array().unwrap() {
        assert_eq!(d["outcome"], "compacted", "{late}");
        let day = d["day"].as_str().unwrap();
        assert_eq!(d["replaced_deleted"], false, "1h of grace: {late}");
        if let Some(old) = before.get(day) {
            assert_ne!(&after[day], old, "a new generation");
            assert!(
                !parquet_files(old).is_empty(),
                "the old one waits out its grace"
            );
        }
        assert_eq!(visible_rows(&after[day]), expected_rows(&lake, day));
    }

    // Nothing new: up to date. The catalog command shows where each day is.
    let again = compact_json(dir.path(), &["--all"]);
    assert!(
        again["days"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["outcome"] == "up_to_date"),
        "{again}"
    );
    let view: Value = serde_json::from_str(&firelake_ok(
        dir.path(),
        &["catalog", "--table", "users_curated", "--json"],
    ))
    .unwrap();
    let parts = view["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), after.len());
    for p in parts {
        let day = p["values"][0].as_str().unwrap();
        let loc = p["location"]
            .as_str()
            .unwrap()
            .strip_prefix("file://")
            .unwrap();
        assert_eq!(Path::new(loc), after[day]);
        assert_eq!(
            p["files"].as_u64().unwrap() as usize,
            parquet_files(&after[day]).len()
        );
    }
    let text = firelake_ok(dir.path(), &["catalog", "--table", "users"]);
    assert!(
        text.contains("partitions") && text.contains("users/p_date="),
        "{text}"
    );
}

/// Start a compaction that stops at `step` (the test hook), kill -9 it there.
fn kill_at_step(dir: &Path, args: &[&str], step: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .current_dir(dir)
        .env("FIRELAKE_COMPACT_PAUSE_AT", step)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let marker = format!("paused at {step}");
    let mut reached = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        if line.unwrap().contains(&marker) {
            reached = true;
            break;
        }
    }
    assert!(reached, "the run ended without reaching {step}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// What readers see right after a kill: no curated partition yet, or a complete generation.
fn assert_visible_complete(lake: &Path, expected: &HashMap<String, Vec<String>>) {
    for (day, generation) in curated_partitions(lake) {
        assert_eq!(visible_rows(&generation), expected[&day], "day {day}");
    }
}

#[test]
fn kill_9_at_any_point_then_rerun_is_still_exact_with_no_orphans() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    firelake_ok(dir.path(), &["run", "--records", "3000", "--seed", "21"]);
    firelake_ok(dir.path(), &["run", "--records", "1500", "--seed", "21"]);
    let expected: HashMap<String, Vec<String>> = days(&lake.join("users"))
        .into_iter()
        .map(|d| (d.clone(), expected_rows(&lake, &d)))
        .collect();
    let base = [
        "compact",
        "--all",
        "--grace",
        "0s",
        "--target-bytes",
        TARGET_BYTES,
    ];
    let forced: Vec<&str> = base.iter().copied().chain(["--force"]).collect();

    // The very first compaction killed half-way: nothing visible, then a rerun makes it.
    kill_at_step(dir.path(), &base, "output");
    assert!(curated_partitions(&lake).is_empty());
    firelake_ok(dir.path(), &base);
    assert_exact_and_tidy(&lake);

    // A kill between writing a local file and renaming it into place leaves object_store's
    // staging file (`NAME#N`, hidden from listings): the next run deletes it.
    for (day, generation) in curated_partitions(&lake) {
        let journal = lake.join(format!("users_curated/_journal/p_date={day}"));
        std::fs::write(
            journal.join("20990101T000000000Z-0000000000000000.json#1"),
            b"{",
        )
        .unwrap();
        std::fs::write(generation.join("part-00009.parquet#2"), b"PAR1").unwrap();
    }
    firelake_ok(dir.path(), &base);
    assert_exact_and_tidy(&lake);

    // Every step of a run that replaces a generation.
    for step in STEPS {
        kill_at_step(dir.path(), &forced, step);
        assert_visible_complete(&lake, &expected);
        firelake_ok(dir.path(), &base);
        assert_exact_and_tidy(&lake);
    }

    // Kills at random moments of a run (the seed is printed to replay a failure).
    let started = Instant::now();
    firelake_ok(dir.path(), &forced);
    let run_ms = started.elapsed().as_millis().max(20) as u64;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("random kill seed {seed}, run takes ~{run_ms} ms");
    for _ in 0..6 {
        // xorshift64
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % (run_ms + run_ms / 4));
        let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
            .args(&forced)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // it may have finished already
        child.wait().unwrap();
        assert_visible_complete(&lake, &expected);
        firelake_ok(dir.path(), &base);
        assert_exact_and_tidy(&lake);
    }
}
