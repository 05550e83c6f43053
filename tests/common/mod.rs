//! Shared by the integration tests that call Python (the independent readers and the
//! reference peers that scripts/test.sh installs).

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
