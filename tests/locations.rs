//! A mistyped location is an error, never a local folder (issue 21: `firelake run --lake s3:/x`
//! wrote into `./s3:/x` and exited 0).

use std::process::Command;

#[test]
fn a_mistyped_lake_url_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["s3:/bucket/prefix", "s3:bucket", "file:/tmp/x"] {
        let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
            .current_dir(dir.path())
            .args(["run", "--lake", bad, "--records", "10"])
            .env_remove("FIRELAKE_LAKE")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad}: exit 0\n{stderr}");
        assert!(stderr.contains("unsupported lake URL"), "{bad}: {stderr}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{bad}: {left:?} created");
    }
}
