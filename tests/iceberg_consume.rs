//! Issue 20 point 1 for the stream consumer: `firelake consume --iceberg` (kinesalite, local
//! lake) commits the Parquet files it writes to the lake's Iceberg table, read back by
//! pyiceberg (tests/iceberg_check.py) and compared with the lake's files and with the stream
//! read independently (boto3). A kill -9 before the commit, or after a commit and before the
//! checkpoint, loses nothing and commits no file twice; two consumers commit to one table.

mod common;
use common::{
    assert_iceberg_table_is_the_lake, iceberg_check, python, python_tool, require_emulators,
    schema_field, unique, users_def,
};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `firelake` in `dir`, without the FIRELAKE_* settings of this environment that are options
/// (the emulator gates stay).
fn firelake(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_firelake"));
    cmd.current_dir(dir).env_remove("RUST_LOG");
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let gate = ["FIRELAKE_EMULATORS", "FIRELAKE_REQUIRE_EMULATORS"].contains(&k.as_str());
        if k.starts_with("FIRELAKE_") && !gate {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// A stream of `shards` shards on kinesalite and a temporary folder holding the lake.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        require_emulators();
        Setup {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    fn stream(&self, name: &str, shards: u32) -> String {
        let stream = unique(name);
        python_tool(
            "aws_tool.py",
            &["create-stream", &stream, &shards.to_string()],
        );
        stream
    }

    /// `records` sample users records (seed `seed`) onto the stream.
    fn produce(&self, stream: &str, records: u32, seed: u32) {
        let out = firelake(self.dir.path())
            .args(["produce", "--source", "users", "--ticks", "1"])
            .args(["--sample-records", &records.to_string()])
            .args(["--seed", &seed.to_string()])
            .args(["--to", &format!("kinesis://{stream}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "produce: {}", text(&out.stderr));
    }

    /// `firelake consume --iceberg` of `stream` into the lake, with `extra` flags.
    fn consume(&self, stream: &str, idle: &str, extra: &[&str]) -> Command {
        let mut cmd = firelake(self.dir.path());
        cmd.args(["consume", "--from", &format!("kinesis://{stream}")])
            .args(["--lake", &format!("file://{}", self.lake().display())])
            .args(["--exit-when-idle", idle, "--flush-interval", "1s"])
            // Small reads: a run writes many files.
            .args(["--read-batch", "100"])
            .args(extra);
        cmd
    }

    /// Runs `consume --iceberg` until idle for 2 s; its stdout.
    fn consume_all(&self, stream: &str, extra: &[&str]) -> String {
        let out = self
            .consume(stream, "2s", &["--iceberg"])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "consume --iceberg: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Starts `consume --iceberg` that stays until killed (a minute of idling).
    fn spawn_consumer(&self, stream: &str, extra: &[&str]) -> Child {
        self.consume(stream, "60s", &["--iceberg"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// What pyiceberg reads from the lake's Iceberg table.
    fn check(&self) -> Value {
        iceberg_check(self.dir.path())
    }

    /// The `.parquet` data files in the table's `p_date=` folders.
    fn data_files(&self) -> usize {
        let Ok(days) = std::fs::read_dir(self.lake().join("users")) else {
            return 0;
        };
        days.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("p_date="))
            .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
            .filter(|f| f.file_name().to_string_lossy().ends_with(".parquet"))
            .count()
    }

    /// The snapshots of the table's current metadata, as the catalog has it now (a manifest
    /// list or a metadata file is written before the catalog's swap: not yet a commit).
    fn snapshots(&self) -> usize {
        const CURRENT: &str = "
import json, sqlite3, sys
try:
    c = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)
    (loc,) = c.execute(\"SELECT metadata_location FROM iceberg_tables WHERE table_name = 'users'\").fetchone()
    print(len(json.load(open(loc.removeprefix('file://'))).get('snapshots', [])))
except Exception:
    print(0)
";
        let out = Command::new(python())
            .args(["-c", CURRENT])
            .arg(self.lake().join("_catalog/iceberg.sqlite"))
            .output()
            .unwrap();
        text(&out.stdout).trim().parse().unwrap_or(0)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Waits (up to two minutes) until `ready`, failing if `child` ended first.
fn wait_for(child: &mut Child, what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the consumer ended before {what}"
        );
        assert!(start.elapsed() < Duration::from_secs(120), "never {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A number of consume's totals line (`consumed records_in=3000 rows_out=...`).
fn total(stdout: &str, name: &str) -> u64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("consumed "))
        .unwrap_or_else(|| panic!("no totals line in {stdout}"));
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .parse()
        .unwrap()
}

/// The files the summary's iceberg line says this run committed (`  iceberg  N files, ...`).
fn committed(stdout: &str) -> u64 {
    let line = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("iceberg "))
        .unwrap_or_else(|| panic!("no iceberg line in {stdout}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// Every valid user id on the streams, read independently (boto3, each shard from its start).
fn stream_ids(streams: &[&str]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for stream in streams {
        let v: Value =
            serde_json::from_str(&python_tool("kinesis_tool.py", &["records", stream])).unwrap();
        ids.extend(
            v["shards"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|recs| recs.as_array().unwrap().iter())
                .filter_map(|r| r["uuid"].as_str().map(str::to_string)),
        );
    }
    ids
}

/// The user ids of every row of the lake's data files (with repeats). The table is these
/// files (`assert_table_is_the_lake`), so these are the table's rows.
fn lake_ids(lake: &Path) -> Vec<String> {
    firelake_testkit::lake::string_column(&lake.join("users"), "user_id")
}

/// Every record of the streams is in the table (at least once).
fn assert_every_record(lake: &Path, expected: &BTreeSet<String>) {
    let distinct: BTreeSet<String> = lake_ids(lake).into_iter().collect();
    let missing: Vec<_> = expected.difference(&distinct).take(5).collect();
    let extra: Vec<_> = distinct.difference(expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "table != stream: {} distinct ids, {} expected; missing {missing:?}, extra {extra:?}",
        distinct.len(),
        expected.len()
    );
}

#[test]
fn consume_iceberg_commits_every_file_it_writes_and_pyiceberg_reads_every_record() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let t = Setup::new();
    let stream = t.stream("ice-consume", 2);
    t.produce(&stream, 3000, 7);
    let out = t.consume_all(&stream, &["--flush-records", "400"]);
    assert_eq!(total(&out, "records_in"), 3000, "{out}");
    let (rows, rejected) = (total(&out, "rows_out"), total(&out, "rejected"));
    assert_eq!(rows + rejected, 3000);
    assert!(rejected > 0, "the sample source makes bad records");
    let c = t.check();
    assert_iceberg_table_is_the_lake(&c);
    assert_eq!(c["rows"], rows, "every record minus the rejected: {c}");
    let files = c["files"].as_u64().unwrap();
    assert!(files > 2, "{c}");
    assert_eq!(committed(&out), files, "{out}");
    assert_eq!(total(&out, "files"), files, "{out}");
    let ids = lake_ids(&t.lake());
    assert_eq!(ids.len() as u64, rows);
    assert_every_record(&t.lake(), &stream_ids(&[&stream]));
    // Both shards' positions in the snapshot summaries.
    let positions = c["positions"].to_string();
    assert!(
        positions.contains("shardId-000000000000:") && positions.contains("shardId-000000000001:"),
        "{c}"
    );

    // More records, a second run: only its new files are committed.
    t.produce(&stream, 1000, 8);
    let out2 = t.consume_all(&stream, &["--flush-records", "400"]);
    assert_eq!(total(&out2, "records_in"), 1000, "{out2}");
    let c2 = t.check();
    assert_iceberg_table_is_the_lake(&c2);
    assert_eq!(c2["rows"], rows + total(&out2, "rows_out"), "{c2}");
    assert_eq!(
        c2["files"].as_u64().unwrap(),
        files + committed(&out2),
        "{out2}"
    );
    assert_every_record(&t.lake(), &stream_ids(&[&stream]));

    // A memory:// lake is refused with the one line, before anything is read.
    let out = firelake(t.dir.path())
        .args(["consume", "--from", &format!("kinesis://{stream}")])
        .args(["--lake", "memory://", "--iceberg", "--exit-when-idle", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(
        err.contains("--iceberg local keeps the table in a catalog file inside a local lake"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn files_written_before_a_kill_9_of_the_consumer_are_committed_by_the_next_one() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let t = Setup::new();
    let stream = t.stream("ice-kill-write", 2);
    t.produce(&stream, 6000, 11);
    // No commit during the run (an hour's wait, a million files): a kill after files are
    // written is a kill between writing and committing.
    let mut child = t.spawn_consumer(
        &stream,
        &[
            "--flush-records",
            "300",
            "--iceberg-commit-interval",
            "1h",
            "--iceberg-commit-files",
            "1000000",
        ],
    );
    wait_for(&mut child, "a data file was written", || {
        t.data_files() >= 1
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed = t.check();
    assert_eq!(
        killed["files"], 0,
        "nothing committed before the kill: {killed}"
    );
    let written = killed["lake_files"].as_u64().unwrap();
    assert!(written >= 1, "{killed}");

    let out = t.consume_all(&stream, &["--flush-records", "300"]);
    let c = t.check();
    assert_iceberg_table_is_the_lake(&c);
    assert!(c["files"].as_u64().unwrap() > written, "{c}");
    assert_eq!(committed(&out), c["files"].as_u64().unwrap(), "{out}");
    assert_every_record(&t.lake(), &stream_ids(&[&stream]));
}

#[test]
fn a_sigterm_drain_commits_everything_the_consumer_wrote() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let t = Setup::new();
    let stream = t.stream("ice-drain", 2);
    t.produce(&stream, 6000, 14);
    // Nothing due during the run: whatever the table holds after the drain was committed by
    // the committer's finish, after the consumer stopped.
    let mut child = t
        .consume(&stream, "60s", &["--iceberg", "--flush-records", "300"])
        .args(["--iceberg-commit-interval", "1h"])
        .args(["--iceberg-commit-files", "1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&mut child, "a data file was written", || {
        t.data_files() >= 1
    });
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill failed");
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "a drain exits 0: {stdout}\n{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains("SIGTERM: stopping"));
    let c = t.check();
    assert_iceberg_table_is_the_lake(&c);
    assert_eq!(committed(&stdout), c["files"].as_u64().unwrap(), "{stdout}");
    assert_eq!(total(&stdout, "files"), c["files"].as_u64().unwrap());
    assert_eq!(c["rows"], total(&stdout, "rows_out"), "{c}");
}

#[test]
fn a_kill_9_after_a_commit_loses_nothing_and_commits_no_file_twice() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let t = Setup::new();
    let stream = t.stream("ice-kill-commit", 2);
    t.produce(&stream, 6000, 12);
    // A commit per file, soon after it is written; the kill comes after the first commit,
    // while the consumer still reads, writes, checkpoints and commits.
    let commit_each = [
        "--flush-records",
        "200",
        "--iceberg-commit-files",
        "1",
        "--iceberg-commit-interval",
        "1s",
    ];
    let mut child = t.spawn_consumer(&stream, &commit_each);
    wait_for(&mut child, "a commit", || t.snapshots() >= 1);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed = t.check();
    assert!(killed["snapshots"].as_u64().unwrap() >= 1, "{killed}");
    let committed_before = killed["files"].as_u64().unwrap();
    assert!(committed_before >= 1, "{killed}");
    assert_eq!(killed["files"], killed["distinct_files"], "{killed}");

    // More records while it was down; the restart reads from its checkpoints (records
    // after them again, perhaps into other files: at least once) and commits the rest.
    t.produce(&stream, 500, 13);
    let out = t.consume_all(&stream, &commit_each);
    let c = t.check();
    assert_iceberg_table_is_the_lake(&c);
    assert_eq!(
        c["files"].as_u64().unwrap(),
        committed_before + committed(&out),
        "the restart committed each uncommitted file once: {out}\n{c}"
    );
    assert!(c["snapshots"].as_u64().unwrap() > killed["snapshots"].as_u64().unwrap());
    assert_every_record(&t.lake(), &stream_ids(&[&stream]));
}

#[test]
fn two_consumers_commit_to_one_table_at_once_every_file_once() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let t = Setup::new();
    let (s1, s2) = (t.stream("ice-two-a", 2), t.stream("ice-two-b", 2));
    t.produce(&s1, 3000, 21);
    t.produce(&s2, 3000, 22);
    // One from the command line, one from a pipeline file (`[consume] iceberg = "local"`),
    // each in its own folder, one lake: each commits every file it finds, the other's too.
    let (a, b) = (t.dir.path().join("a"), t.dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(
        b.join("firelake.toml"),
        "[consume]\niceberg = \"local\"\niceberg-commit-files = 1\niceberg-commit-interval = \"1s\"\n",
    )
    .unwrap();
    let lake = format!("file://{}", t.lake().display());
    let consumer = |dir: &Path, stream: &str, extra: &[&str]| {
        firelake(dir)
            .args(["consume", "--from", &format!("kinesis://{stream}")])
            .args(["--lake", &lake, "--exit-when-idle", "3s"])
            .args(["--flush-interval", "1s", "--flush-records", "150"])
            .args(["--read-batch", "100"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = consumer(
        &a,
        &s1,
        &[
            "--iceberg",
            "--iceberg-commit-files",
            "1",
            "--iceberg-commit-interval",
            "1s",
        ],
    );
    let second = consumer(&b, &s2, &[]);
    let (mut rows, mut commits) = (0, 0);
    for child in [first, second] {
        let out: Output = child.wait_with_output().unwrap();
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
        assert_eq!(total(&stdout, "records_in"), 3000, "{stdout}");
        rows += total(&stdout, "rows_out");
        commits += committed(&stdout);
    }
    let c = t.check();
    assert_iceberg_table_is_the_lake(&c);
    assert_eq!(c["rows"], rows, "{c}");
    assert_eq!(
        c["files"], commits,
        "each file committed by one of the two: {c}"
    );
    assert!(c["files"].as_u64().unwrap() >= 20, "{c}");
    assert_every_record(&t.lake(), &stream_ids(&[&s1, &s2]));
}

/// What pyiceberg reads from the Glue catalog's table `glue_db.users` over the S3 lake
/// `s3_lake` (copied into the local folder `into` to be compared as folders).
fn glue_check(into: &Path, s3_lake: &str, glue_db: &str) -> Value {
    let out = Command::new(python())
        .arg(common::root().join("tests/iceberg_check.py"))
        .arg(into)
        .env("ICEBERG_CHECK_S3", s3_lake)
        .env("ICEBERG_CHECK_GLUE", glue_db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "iceberg_check.py: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A Glue database name of this run (Glue names are lower-case letters, digits and `_`).
fn glue_name(prefix: &str) -> String {
    unique(prefix).replace('-', "_")
}

#[test]
fn an_s3_lake_lands_its_iceberg_table_in_glue_and_pyiceberg_reads_it_there() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    let t = Setup::new();
    let stream = t.stream("ice-glue", 2);
    let bucket = unique("ice-glue");
    python_tool("aws_tool.py", &["create-bucket", &bucket]);
    let s3_lake = format!("s3://{bucket}/lake");
    let (hive_db, ice_db) = (glue_name("hive"), glue_name("ice"));
    let consume = |extra: &[&str]| {
        let out = firelake(t.dir.path())
            .args(["consume", "--from", &format!("kinesis://{stream}")])
            .args([
                "--lake",
                &s3_lake,
                "--catalog",
                &format!("glue://{hive_db}"),
            ])
            .args(["--iceberg", &format!("glue://{ice_db}")])
            .args(["--exit-when-idle", "2s", "--flush-interval", "1s"])
            .args(["--read-batch", "100", "--flush-records", "400"])
            .args(extra)
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "consume: {stdout}\n{}",
            text(&out.stderr)
        );
        stdout
    };
    t.produce(&stream, 2000, 31);
    let out = consume(&[]);
    assert_eq!(total(&out, "records_in"), 2000, "{out}");
    assert!(out.contains(&format!("in glue://{ice_db}")), "{out}");
    let rows = total(&out, "rows_out");
    let c = glue_check(&t.dir.path().join("copy1"), &s3_lake, &ice_db);
    assert_iceberg_table_is_the_lake(&c);
    assert_eq!(c["rows"], rows, "records minus the rejected: {c}");
    assert_eq!(c["files"].as_u64().unwrap(), committed(&out), "{c}");
    assert_eq!(c["partition_spec"], serde_json::json!(["day(ingested_at)"]));
    let location = c["metadata_location"].as_str().unwrap();
    assert!(
        location.starts_with(&format!("{s3_lake}/_iceberg/users/metadata/")),
        "{location}"
    );
    assert_every_record(&t.dir.path().join("copy1"), &stream_ids(&[&stream]));

    // A second run over more records commits only its own files.
    t.produce(&stream, 1000, 32);
    let out2 = consume(&[]);
    assert_eq!(total(&out2, "records_in"), 1000, "{out2}");
    let c2 = glue_check(&t.dir.path().join("copy2"), &s3_lake, &ice_db);
    assert_iceberg_table_is_the_lake(&c2);
    assert_eq!(c2["rows"], rows + total(&out2, "rows_out"), "{c2}");
    assert_eq!(
        c2["files"].as_u64().unwrap(),
        committed(&out) + committed(&out2),
        "{out2}"
    );

    // The definition gains a column and widens one: the Glue table's schema follows (a
    // schema commit through Glue), the earlier rows read the new column as null.
    let v2 = users_def(t.dir.path(), "v2", "int64", &[("nat", "/nat")]);
    t.produce(&stream, 500, 33);
    let out3 = consume(&["--source-dir", &v2]);
    let c3 = glue_check(&t.dir.path().join("copy3"), &s3_lake, &ice_db);
    assert_iceberg_table_is_the_lake(&c3);
    assert_eq!(schema_field(&c3, "street_number").1, "long", "{c3}");
    let nat = c3["non_null"]["nat"].as_u64().unwrap();
    assert!(nat > 0 && nat <= total(&out3, "rows_out"), "{c3}");
    assert_eq!(
        c3["rows"],
        c2["rows"].as_u64().unwrap() + total(&out3, "rows_out")
    );

    // Maintenance of the Glue table: every snapshot but the newest expired, the orphaned
    // metadata files deleted from S3; pyiceberg reads the same rows and every file it opens
    // exists.
    let snapshots = c3["snapshots"].as_u64().unwrap();
    assert!(snapshots >= 3, "a commit at least per run: {c3}");
    let maintained = firelake(t.dir.path())
        .args(["iceberg-maintain", "--lake", &s3_lake])
        .args([
            "--iceberg",
            &format!("glue://{ice_db}"),
            "--source-dir",
            &v2,
        ])
        .args(["--expire-older-than", "0s", "--retain-last", "1"])
        .args(["--orphan-older-than", "0s"])
        .output()
        .unwrap();
    let said = text(&maintained.stdout);
    assert!(
        maintained.status.success(),
        "{said}{}",
        text(&maintained.stderr)
    );
    assert!(
        said.contains(&format!("expired {} snapshots", snapshots - 1)),
        "{said}"
    );
    let c4 = glue_check(&t.dir.path().join("copy4"), &s3_lake, &ice_db);
    assert_iceberg_table_is_the_lake(&c4);
    assert_eq!(c4["snapshots"], 1, "{c4}");
    assert_eq!(c4["rows"], c3["rows"], "{c4}");
    let files = |c: &Value| c["metadata_files"].as_array().unwrap().len();
    assert!(files(&c4) < files(&c3), "metadata deleted: {c3} -> {c4}");

    // Refused with one line, before anything is read: one Glue name for both tables, and a
    // Glue table over a local lake.
    let refused = |args: &[&str], says: &str| {
        let out = firelake(t.dir.path())
            .args(["consume", "--from", &format!("kinesis://{stream}")])
            .args(["--exit-when-idle", "1s"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    };
    let shared = format!("glue://{hive_db}");
    refused(
        &[
            "--lake",
            &s3_lake,
            "--catalog",
            &shared,
            "--iceberg",
            &shared,
        ],
        "would keep the Iceberg and the Hive-style table under one Glue name",
    );
    let local = format!("file://{}", t.lake().display());
    refused(
        &["--lake", &local, "--iceberg", &format!("glue://{ice_db}")],
        "keeps the table over an s3:// lake",
    );
}
