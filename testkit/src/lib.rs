//! Helpers the test crates of the workspace share (a dev-dependency only, never published).
//! What needs the test crate's own binary (`CARGO_BIN_EXE_*`) stays in that crate's
//! `tests/common`; what every crate's tests copied lives here.

pub mod gate;
pub mod kafka_mock;
pub mod lake;
pub mod sdk;

pub use gate::{Needs, kafka_broker, skip};

use std::path::PathBuf;

/// The repository's root (this crate lives at `<root>/testkit`).
pub fn repo() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .expect("testkit has a parent folder")
        .to_path_buf()
}

/// The test Python (`FIRELAKE_PYTHON`, else the repository's `.venv`); a missing one fails
/// the test rather than skipping it.
pub fn python() -> PathBuf {
    let p = std::env::var_os("FIRELAKE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "no Python with pyarrow at {} (run `bash scripts/test.sh`, which installs it, or set FIRELAKE_PYTHON)",
        p.display()
    );
    p
}

/// A name unique to this test run (streams and buckets outlive a test in the emulators).
pub fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{}", std::process::id(), n % 1_000_000_000)
}

/// A loopback port that was free a moment ago: bound and released, so nothing listens on it
/// (a server to start there, or an address that refuses connections).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
