//! Shared by the integration tests that call Python (the independent readers and the
//! reference peers that scripts/test.sh installs).

// Each test crate uses some of these helpers, never all.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test Python (`FIRELAKE_PYTHON`, else the repository's `.venv`); a missing one fails
/// the test rather than skipping it.
pub fn python() -> PathBuf {
    let p = std::env::var_os("FIRELAKE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "no Python with pyarrow at {} (run `bash scripts/test.sh`, which installs it, or set FIRELAKE_PYTHON)",
        p.display()
    );
    p
}

/// Fails the test unless scripts/test.sh started the local AWS emulators.
pub fn require_emulators() {
    assert!(
        std::env::var_os("FIRELAKE_EMULATORS").is_some()
            && std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "the AWS emulators are not running: run the suite with `bash scripts/test.sh`, which starts them"
    );
}

/// A name unique to this test run (streams and buckets outlive a test in the emulators).
pub fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), n % 1_000_000_000)
}

/// Runs a Python helper of tests/ (boto3 and pyarrow against the emulators) and returns its
/// stdout; a failure fails the test with its stderr.
pub fn python_tool(script: &str, args: &[&str]) -> String {
    require_emulators();
    let out = std::process::Command::new(python())
        .arg(root().join("tests").join(script))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the `firelake` binary in `dir`: (success, stdout, stderr).
pub fn firelake(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
