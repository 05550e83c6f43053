//! The fuzz corpus (fuzz/corpus/<target>/, grown and minimised by fuzz/run.sh) replayed through
//! the same property checks the libFuzzer targets run (the crates' `fuzzing` modules): every
//! input a fuzzer kept, and every crash it found once (a `crash-*` file), stays a test.

use std::path::PathBuf;

use firelake_producer::replay::input::Format;

fn replay(target: &str, check: impl Fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus", dir.display());
    for file in files {
        let data = std::fs::read(&file).expect("a corpus file");
        let name = file.display().to_string();
        // The file's name with the failure, not only the property's message.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data))).is_err() {
            panic!("{name}: property failed (run fuzz/run.sh {target} on it)");
        }
    }
}

#[test]
fn clean() {
    replay("clean", firelake_core::fuzzing::check_clean);
}

#[test]
fn firehose() {
    replay(
        "firehose",
        firelake_firehose_transformer::fuzzing::check_firehose,
    );
}

#[test]
fn source_def() {
    replay("source_def", firelake_core::fuzzing::check_source_def);
}

#[test]
fn csv_rows() {
    replay("csv_rows", |d| {
        firelake_producer::replay::rows::fuzzing::check_rows(Format::Csv, d)
    });
}

#[test]
fn jsonl_rows() {
    replay("jsonl_rows", |d| {
        firelake_producer::replay::rows::fuzzing::check_rows(Format::Jsonl, d)
    });
}

#[test]
fn locations() {
    replay("locations", firelake_core::fuzzing::check_locations);
}
