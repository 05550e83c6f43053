//! Nothing lost on the way in (issue 16, points 3, 4, 5 and 8), through the real binary:
//! out-of-range timestamps never make an unreachable partition, operator input that used to
//! crash is a clear usage error or a rejected row, every name a local lake, a checkpoint, the
//! producer position or a replay's progress makes visible is fsynced first, and a record the
//! stream can never take no longer stalls the HTTP producer.

mod common;
use common::firelake;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The `p_date=` folders under `dir` (recursively), as written.
fn day_folders(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if !p.is_dir() {
            continue;
        }
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(day) = name.strip_prefix("p_date=") {
            out.push(day.to_string());
        }
        out.extend(day_folders(&p));
    }
    out.sort();
    out
}

/// `YYYY-MM-DD` with a year from 0001 to 9999: a day the compactor and readers can list.
fn reachable(day: &str) -> bool {
    firelake_core::time::parse_day(day).is_some()
}

/// The JSON lines of a file.
fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

// ------------------------------------------------------------------ point 5

#[test]
fn out_of_range_event_times_are_rejected_and_every_day_folder_is_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"order_id":1,"product_id":1,"ordered_at":1709287200500}"#,
        // Were p_date=56135-02-26 and p_date=-1701532-04-06.
        r#"{"order_id":2,"product_id":2,"ordered_at":1709287200500000}"#,
        r#"{"order_id":3,"product_id":3,"ordered_at":9223372036854775807}"#,
        // Year 10000 once the offset is applied.
        r#"{"order_id":4,"product_id":4,"ordered_at":"9999-12-31T23:30:00-01:00"}"#,
        r#"{"order_id":5,"product_id":5,"ordered_at":"2024-03-02T00:00:00Z"}"#,
    ];
    std::fs::write(dir.path().join("lines.jsonl"), lines.join("\n")).unwrap();
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "replay",
            "lines.jsonl",
            "--source",
            "order_lines",
            "--lake",
            "file://lake",
            "--progress-file",
            "p.json",
            // Three of five lines are rejected on purpose: over the default threshold.
            "--max-reject-rate",
            "1",
        ],
    );
    assert!(ok, "{out}\n{err}");
    let days = day_folders(&dir.path().join("lake/order_lines"));
    assert!(days.iter().all(|d| reachable(d)), "{days:?}");
    // The good lines on their event days; the others rejected with the reason, raw, in the
    // replay's rejects file and (published all the same) under _rejected/ by the consumer.
    assert!(days.contains(&"2024-03-01".to_string()), "{days:?}");
    assert!(days.contains(&"2024-03-02".to_string()), "{days:?}");
    let rejects = json_lines(&dir.path().join("p.json.rejected.jsonl"));
    let got: Vec<(u64, &str)> = rejects
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "timestamp_out_of_range"),
            (3, "timestamp_out_of_range"),
            (4, "timestamp_out_of_range")
        ]
    );
    assert_eq!(rejects[0]["data"], lines[1]);
    assert!(
        rejects[0]["reason"]
            .as_str()
            .unwrap()
            .contains("outside years 0001-9999"),
        "{}",
        rejects[0]
    );
    let kept = walk_files(&dir.path().join("lake/order_lines/_rejected"));
    let kept_lines: usize = kept.iter().map(|f| json_lines(f).len()).sum();
    assert_eq!(kept_lines, 3, "{kept:?}");
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

// ------------------------------------------------------------------ point 8

/// Runs the binary with `args`; asserts a usage error: exit code 2, no panic or abort, and a
/// first stderr line that names `flag`.
fn assert_usage_error(dir: &Path, args: &[&str], flag: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .current_dir(dir)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: ") && first.contains(flag),
        "{args:?}: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation"),
        "{err}"
    );
}

#[test]
fn numeric_flags_out_of_bounds_are_usage_errors_not_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let huge = "99999999999999999";
    std::fs::write(dir.path().join("in.jsonl"), "{}\n").unwrap();
    let run = |flag: &str, value: &str| -> Vec<String> {
        [
            "run",
            "--records",
            "10",
            "--lake",
            "file://lake",
            flag,
            value,
        ]
        .map(String::from)
        .to_vec()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        // Panicked in Duration::from_secs_f64.
        (
            run("--flush-interval", "99999999999999999999s"),
            "--flush-interval",
        ),
        // Wrapped to a tiny buffer size (<< 20) without a word.
        (run("--flush-mb", huge), "--flush-mb"),
        (run("--flush-records", huge), "--flush-records"),
        // Aborted allocating the shards.
        (run("--shards", huge), "--shards"),
        (run("--per-tick", huge), "--per-tick"),
        // Panicked in the sample generator.
        (run("--bad-rate", "NaN"), "--bad-rate"),
        (run("--flush-records", "0"), "--flush-records"),
        (
            ["convert", "in.jsonl", "out.parquet", "--threads", huge]
                .map(String::from)
                .to_vec(),
            "--threads",
        ),
        // Every row on a wrapped day.
        (
            [
                "convert",
                "in.jsonl",
                "out.parquet",
                "--ingested-at",
                "9223372036854775807",
            ]
            .map(String::from)
            .to_vec(),
            "--ingested-at",
        ),
        (
            ["produce", "--to", "kinesis://x", "--sample-records", huge]
                .map(String::from)
                .to_vec(),
            "--sample-records",
        ),
        (
            ["produce", "--to", "kinesis://x", "--every", "9999999h"]
                .map(String::from)
                .to_vec(),
            "--every",
        ),
        (
            ["consume", "--from", "kinesis://x", "--read-batch", "10001"]
                .map(String::from)
                .to_vec(),
            "--read-batch",
        ),
        (
            ["replay", "in.jsonl", "--shards", huge]
                .map(String::from)
                .to_vec(),
            "--shards",
        ),
        (
            ["replay", "in.jsonl", "--flush-mb", huge]
                .map(String::from)
                .to_vec(),
            "--flush-mb",
        ),
        // Aborted reserving the dedupe budget.
        (
            [
                "compact",
                "--lake",
                "file://lake",
                "--all",
                "--dedupe-memory-mb",
                huge,
            ]
            .map(String::from)
            .to_vec(),
            "--dedupe-memory-mb",
        ),
        (
            ["loadtest", "--lake", "file://lake", "--shards", huge]
                .map(String::from)
                .to_vec(),
            "--shards",
        ),
        (
            ["loadtest", "--lake", "file://lake", "--record-bytes", huge]
                .map(String::from)
                .to_vec(),
            "--record-bytes",
        ),
        (
            ["loadtest", "--lake", "file://lake", "--ramp-factor", "NaN"]
                .map(String::from)
                .to_vec(),
            "--ramp-factor",
        ),
    ];
    for (args, flag) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_usage_error(dir.path(), &args, flag);
    }
    // The env twins are checked the same way.
    let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(["run", "--records", "10", "--lake", "file://lake"])
        .env("FIRELAKE_FLUSH_MB", huge)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("lake").exists(), "nothing ran");
}

#[test]
fn compact_numeric_flags_out_of_range_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    // Were accepted by clap, then refused (exit 1) after the lake and catalog were opened.
    let cases = [
        ("--target-mb", "63"),
        ("--target-mb", "1025"),
        ("--target-mb", "99999999999999999999"),
        ("--zstd-level", "0"),
        ("--zstd-level", "23"),
        ("--zstd-level", "-5"),
        ("--target-bytes", "0"),
    ];
    for (flag, value) in cases {
        let arg = format!("{flag}={value}");
        assert_usage_error(
            dir.path(),
            &["compact", "--lake", "file://lake", "--all", &arg],
            flag,
        );
    }
    // The env twins too.
    for (var, value) in [("FIRELAKE_TARGET_MB", "8"), ("FIRELAKE_ZSTD_LEVEL", "99")] {
        let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
            .args(["compact", "--lake", "file://lake", "--all"])
            .env(var, value)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
    }
    assert!(!dir.path().join("lake").exists(), "nothing ran");
}

/// Runs the binary in `dir` and returns (exit code, stdout, stderr, peak RSS in MiB).
#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives the peak RSS
fn run_measured(dir: &Path, args: &[&str]) -> (Option<i32>, String, String, u64) {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        stderr.read_to_string(&mut err).unwrap();
        err
    });
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let err = reader.join().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 reaps our own child and writes only to `status` and `usage`, both live.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, out, err, usage.ru_maxrss as u64 / 1024)
}

#[test]
fn a_json_line_over_64_mib_is_a_rejected_row_the_replay_steps_over() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    // A 300 MiB line between two good ones, zstd-compressed (a few hundred KiB on disk).
    let file = std::fs::File::create(dir.path().join("lines.jsonl.zst")).unwrap();
    let mut z = zstd::stream::write::Encoder::new(file, 3).unwrap();
    z.write_all(b"{\"order_id\":1,\"product_id\":1}\n{\"order_id\":2,\"pad\":\"")
        .unwrap();
    let mib = vec![b'x'; 1 << 20];
    for _ in 0..300 {
        z.write_all(&mib).unwrap();
    }
    z.write_all(b"\"}\n{\"order_id\":3,\"product_id\":3}\n")
        .unwrap();
    z.finish().unwrap();
    let args = [
        "replay",
        "lines.jsonl.zst",
        "--source",
        "order_lines",
        "--lake",
        "file://lake",
        "--progress-file",
        "p.json",
    ];
    let (code, out, err, peak_mib) = run_measured(dir.path(), &args);
    assert_eq!(code, Some(0), "{out}\n{err}");
    // The line was read past, never held whole.
    assert!(peak_mib < 200, "peak RSS {peak_mib} MiB for a 300 MiB line");
    let rejects = json_lines(&dir.path().join("p.json.rejected.jsonl"));
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0]["line"], 2);
    assert_eq!(rejects[0]["kind"], "line_too_long");
    let reason = rejects[0]["reason"].as_str().unwrap();
    assert!(reason.contains("67108864-byte line limit"), "{reason}");
    assert!(
        rejects[0]["data"]
            .as_str()
            .unwrap()
            .starts_with("{\"order_id\":2,\"pad\":\"xxx"),
        "the start of the line is kept"
    );
    let progress: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("p.json")).unwrap()).unwrap();
    assert_eq!(progress["complete"], true, "{progress}");
    assert_eq!(progress["published"], 2, "{progress}");
    assert_eq!(progress["rejected"], 1, "{progress}");
    // A resume has nothing left to do: the long line is behind the saved position.
    let mut resume = args.to_vec();
    resume.push("--resume");
    let (ok, out, err) = firelake(dir.path(), &resume);
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        json_lines(&dir.path().join("p.json.rejected.jsonl")).len(),
        1,
        "listed once"
    );
}

// ------------------------------------------------------------------ point 4

/// One call strace saw: its name, the path of its fd argument (`-y`), and its quoted paths
/// (relative ones resolved against the working directory).
#[derive(Debug)]
struct Traced {
    name: String,
    fd_path: Option<PathBuf>,
    paths: Vec<PathBuf>,
}

/// Parses `PID name(args...` lines of `strace -f -y`; `<... resumed>` lines carry no
/// arguments and are skipped (the call's start line comes first, in call order).
fn parse_trace(text: &str, cwd: &Path) -> Vec<Traced> {
    let mut out = Vec::new();
    for line in text.lines() {
        let rest = line
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        let Some((name, args)) = rest.split_once('(') else {
            continue;
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let fd_path = args
            .split_once('<')
            .filter(|(fd, _)| fd.chars().all(|c| c.is_ascii_digit()) && !fd.is_empty())
            .and_then(|(_, p)| p.split_once('>'))
            .map(|(p, _)| PathBuf::from(p));
        let paths = args
            .split('"')
            .skip(1)
            .step_by(2)
            .map(|p| cwd.join(p))
            .collect();
        out.push(Traced {
            name: name.to_string(),
            fd_path,
            paths,
        });
    }
    out
}

/// Runs the binary under `strace -f` (fsync, fdatasync, renames, links) in `dir`; returns
/// (success, stdout + stderr, the calls).
fn firelake_traced(dir: &Path, args: &[&str]) -> (bool, String, Vec<Traced>) {
    let trace = dir.join("strace.out");
    let out = Command::new("strace")
        .args(["-f", "-y", "-qq", "-s", "4096", "-e", "signal=none"])
        .args([
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2,link,linkat",
        ])
        .arg("-o")
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("strace runs (Debian package strace; .ci/run installs it)");
    let text = std::fs::read_to_string(&trace).unwrap();
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), log, parse_trace(&text, dir))
}

fn is_sync(c: &Traced) -> bool {
    c.name == "fsync" || c.name == "fdatasync"
}

/// Every rename or link into a name under `root` was preceded by an fsync of the file (since
/// its temporary name was last used) and followed by an fsync of the folder it went into.
/// Returns how many were checked.
fn assert_durable_names(calls: &[Traced], root: &Path) -> usize {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, c) in calls.iter().enumerate() {
        if !(c.name.starts_with("rename") || c.name.starts_with("link")) || c.paths.len() < 2 {
            continue;
        }
        let (src, dst) = (&c.paths[0], &c.paths[1]);
        if !dst.starts_with(root) {
            continue;
        }
        checked += 1;
        let synced = calls[..i]
            .iter()
            .rev()
            .take_while(|p| !(p.paths.first() == Some(src) && p.name != "fsync"))
            .any(|p| is_sync(p) && p.fd_path.as_deref() == Some(src.as_path()));
        let folder = dst.parent().unwrap();
        let folder_synced = calls[i + 1..]
            .iter()
            .any(|p| is_sync(p) && p.fd_path.as_deref() == Some(folder));
        if !synced || !folder_synced {
            failures.push(format!(
                "{} {} -> {}: file fsynced before: {synced}, folder fsynced after: {folder_synced}",
                c.name,
                src.display(),
                dst.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} names made visible without fsync:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

#[test]
fn run_makes_every_lake_file_checkpoint_and_catalog_durable_before_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let (ok, log, calls) = firelake_traced(
        &root,
        &[
            "run",
            "--records",
            "3000",
            "--per-tick",
            "500",
            "--flush-records",
            "1000",
            "--lake",
            "file://lake",
        ],
    );
    assert!(ok, "{log}");
    let lake = root.join("lake");
    let checked = assert_durable_names(&calls, &lake);
    // Data files and rejects (create-if-absent: links), checkpoints (created, then replaced),
    // the local catalog (replaced): each kind was seen and checked.
    let named = |part: &str| {
        calls.iter().any(|c| {
            (c.name.starts_with("rename") || c.name.starts_with("link"))
                && c.paths
                    .get(1)
                    .is_some_and(|p| p.to_string_lossy().contains(part))
        })
    };
    for part in [
        ".parquet",
        "/_rejected/",
        "/_checkpoints/",
        "/_catalog/firelake.json",
    ] {
        assert!(named(part), "no {part} name made in {checked} checked");
    }
}

#[test]
fn replay_progress_and_rejects_are_durable_before_the_progress_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let mut text = String::new();
    for i in 1..=1200 {
        text.push_str(&format!("{{\"order_id\":{i},\"product_id\":1}}\n"));
        if i % 100 == 0 {
            text.push_str("{oops\n");
        }
    }
    std::fs::write(root.join("lines.jsonl"), text).unwrap();
    std::fs::create_dir(root.join("state")).unwrap();
    let (ok, log, calls) = firelake_traced(
        &root,
        &[
            "replay",
            "lines.jsonl",
            "--source",
            "order_lines",
            "--lake",
            "file://lake",
            "--progress-file",
            "state/p.json",
            "--flush-records",
            "500",
        ],
    );
    assert!(ok, "{log}");
    assert_durable_names(&calls, &root.join("lake"));
    let progress = root.join("state/p.json");
    let saves: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name.starts_with("rename") && c.paths.get(1) == Some(&progress))
        .map(|(i, _)| i)
        .collect();
    assert!(saves.len() >= 2, "{saves:?}");
    assert_durable_names(&calls, &root.join("state"));
    // The rejects the last save counts are on disk before it.
    let rejects = root.join("state/p.json.rejected.jsonl");
    let last = *saves.last().unwrap();
    assert!(
        calls[..last]
            .iter()
            .any(|c| is_sync(c) && c.fd_path.as_deref() == Some(rejects.as_path())),
        "the rejects file is not synced before the progress file counts it"
    );
}

// ------------------------------------------------------------------ point 3

/// tests/fake_api.py on a free port, killed when dropped.
struct FakeApi {
    child: std::process::Child,
    port: u16,
    expect: PathBuf,
    requests: PathBuf,
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FakeApi {
    fn start(dir: &Path, args: &[&str]) -> FakeApi {
        use std::io::BufRead;
        let (expect, requests) = (dir.join("expected.txt"), dir.join("requests.txt"));
        let mut child = Command::new(common::python())
            .arg(common::root().join("tests/fake_api.py"))
            .args(["--bad-rate", "0", "--expect", expect.to_str().unwrap()])
            .args(["--requests", requests.to_str().unwrap()])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .expect("the fake API announces its port")
            .parse()
            .unwrap();
        FakeApi {
            child,
            port,
            expect,
            requests,
        }
    }

    /// The API's URL with pages of `n` records.
    fn url(&self, n: usize) -> String {
        format!("http://127.0.0.1:{}/api/?results={n}", self.port)
    }

    /// The page or cursor each call asked for, in order (`-`: none).
    fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(&self.requests)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The user ids a correct pipeline keeps from what was served.
    fn expected(&self) -> std::collections::BTreeSet<String> {
        std::fs::read_to_string(&self.expect)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// A Kinesis stream of one shard in the emulator (kinesalite).
fn kinesis_stream(prefix: &str) -> String {
    common::require_emulators();
    let stream = common::unique(prefix);
    common::python_tool("aws_tool.py", &["create-stream", &stream, "1"]);
    stream
}

/// Everything on `stream` through `firelake consume` into a local lake; the user ids of its
/// rows, sorted, duplicates kept.
fn consumed_user_ids(dir: &Path, stream: &str) -> Vec<String> {
    use arrow::array::{Array, AsArray};
    let lake = dir.join("consumed");
    let (ok, out, err) = firelake(
        dir,
        &[
            "consume",
            "--from",
            &format!("kinesis://{stream}"),
            "--lake",
            &format!("file://{}", lake.display()),
            "--exit-when-idle",
            "3s",
            "--flush-interval",
            "1s",
        ],
    );
    assert!(ok, "consume: {out}\n{err}");
    let mut ids = Vec::new();
    for file in walk_files(&lake.join("users")) {
        if file.extension().is_none_or(|e| e != "parquet")
            || file.starts_with(lake.join("users/_rejected"))
        {
            continue;
        }
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(&file).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let col = batch.column_by_name("user_id").unwrap().as_string::<i32>();
            ids.extend((0..col.len()).map(|i| col.value(i).to_string()));
        }
    }
    ids.sort();
    ids
}

/// The dead letters under `state` (one JSON object per record).
fn dead_letters(state: &Path) -> Vec<Value> {
    walk_files(&state.join("_dead_letter"))
        .iter()
        .flat_map(|f| json_lines(f))
        .collect()
}

#[test]
fn a_record_no_stream_takes_is_dead_lettered_once_and_the_producer_moves_on() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let stream = kinesis_stream("poison");
    // Three pages of 500; the first holds a record over Kinesis's 1 MiB limit.
    let api = FakeApi::start(dir.path(), &["--records", "1499", "--poison-at", "10"]);
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "produce",
            "--source-url",
            &api.url(500),
            "--to",
            &format!("kinesis://{stream}"),
            "--ticks",
            "3",
            "--every",
            "0s",
            "--state",
            "file://state",
        ],
    );
    // Nothing stalled: each page fetched once (it was page 1 on every tick).
    assert_eq!(api.requests(), ["1", "2", "3"], "{out}\n{err}");
    // Not a success (a record was not delivered), and it says so.
    assert!(!ok, "{out}\n{err}");
    assert!(
        out.contains("records=1499") && out.contains("dead_lettered=1"),
        "{out}\n{err}"
    );
    assert!(err.contains("1 records dead-lettered"), "{err}");
    let position: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("state/_producer/users/position.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(position["page"], 4);
    let dead = dead_letters(&dir.path().join("state"));
    assert_eq!(dead.len(), 1, "one dead letter, written once: {dead:?}");
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("1 MiB"),
        "{}",
        dead[0]["reason"]
    );
    // One kept-record shape: UTF-8 bytes under `data`, anything else under `data_base64`.
    let data = match dead[0]["data"].as_str() {
        Some(text) => text.as_bytes().to_vec(),
        None => base64::engine::general_purpose::STANDARD
            .decode(dead[0]["data_base64"].as_str().unwrap())
            .unwrap(),
    };
    let record: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(record["login"]["uuid"], "poison");
    // Every other record is on the stream exactly once.
    let ids = consumed_user_ids(dir.path(), &stream);
    let expected: Vec<String> = api.expected().into_iter().collect();
    assert_eq!(expected.len(), 1499);
    assert_eq!(ids, expected);
}

#[test]
fn cursor_pagination_follows_opaque_cursors_and_resumes_from_the_saved_one() {
    let dir = tempfile::tempdir().unwrap();
    let stream = kinesis_stream("cursor");
    let def = include_str!("../sources/users.toml").replace(
        "page_param = \"page\"\n",
        "page_param = \"cursor\"\ncursor_pointer = \"/info/next\"\n",
    );
    std::fs::write(dir.path().join("users_by_cursor.toml"), def).unwrap();
    let api = FakeApi::start(dir.path(), &["--records", "1200", "--cursor", "cursor"]);
    let produce = |ticks: &str| {
        firelake(
            dir.path(),
            &[
                "produce",
                "--source",
                "users_by_cursor.toml",
                "--source-url",
                &api.url(500),
                "--to",
                &format!("kinesis://{stream}"),
                "--ticks",
                ticks,
                "--every",
                "0s",
                "--state",
                "file://state",
            ],
        )
    };
    let (ok, out, err) = produce("2");
    assert!(ok, "{out}\n{err}");
    let first = api.requests();
    assert_eq!(first.len(), 2, "{first:?}");
    assert_eq!(first[0], "-", "the first call names no cursor");
    // A later run resumes from the saved cursor; the last page names none, so the tick after
    // it asks for that page again (what was appended to it since), never a page number.
    let (ok, out, err) = produce("2");
    assert!(ok, "{out}\n{err}");
    let all = api.requests();
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(all[..2], first[..]);
    let (c1, c2) = (&all[1], &all[2]);
    assert!(c1 != "-" && c2 != "-" && c1 != c2, "{all:?}");
    assert_eq!(&all[3], c2, "{all:?}");
    assert!(all.iter().all(|r| r.parse::<u64>().is_err()), "{all:?}");
    // Every record at least once; only the last page's twice.
    let ids = consumed_user_ids(dir.path(), &stream);
    let distinct: std::collections::BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(distinct, api.expected());
    assert_eq!(distinct.len(), 1200);
    assert_eq!(ids.len(), 1200 + 200);
}

// ------------------------------------------------------------------ point 4 (producer)

#[test]
fn produce_makes_its_position_and_dead_letters_durable_before_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let stream = kinesis_stream("durable");
    let api = FakeApi::start(&root, &["--records", "99", "--poison-at", "0"]);
    let (_, log, calls) = firelake_traced(
        &root,
        &[
            "produce",
            "--source-url",
            &api.url(50),
            "--to",
            &format!("kinesis://{stream}"),
            "--ticks",
            "2",
            "--every",
            "0s",
            "--state",
            "file://state",
        ],
    );
    assert_durable_names(&calls, &root.join("state"));
    assert!(log.contains("dead_lettered=1"), "{log}");
    let named = |part: &str| {
        calls.iter().any(|c| {
            (c.name.starts_with("rename") || c.name.starts_with("link"))
                && c.paths
                    .get(1)
                    .is_some_and(|p| p.to_string_lossy().contains(part))
        })
    };
    assert!(named("/_producer/users/position.json"), "{log}");
    assert!(named("/_dead_letter/"), "{log}");
}

// ------------------------------------------------------------------ the producer's position

#[test]
fn an_unreadable_producer_position_stops_the_producer_before_it_fetches_anything() {
    let dir = tempfile::tempdir().unwrap();
    let stream = kinesis_stream("position");
    let api = FakeApi::start(dir.path(), &["--records", "100"]);
    let saved = dir.path().join("state/_producer/users/position.json");
    std::fs::create_dir_all(saved.parent().unwrap()).unwrap();
    // Torn, empty (a name without its data after a crash), of another shape, not a file.
    for bad in ["{\"page\": 4, \"cur", "", "{\"page\": -3}", "dir"] {
        let _ = std::fs::remove_dir(&saved);
        if bad == "dir" {
            let _ = std::fs::remove_file(&saved);
            std::fs::create_dir(&saved).unwrap();
        } else {
            std::fs::write(&saved, bad).unwrap();
        }
        let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
            .args(["produce", "--source-url", &api.url(10), "--ticks", "1"])
            .args([
                "--to",
                &format!("kinesis://{stream}"),
                "--state",
                "file://state",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        // Not from page 1 again (duplicates), not from anywhere else (a gap): not at all.
        assert_eq!(api.requests(), Vec::<String>::new(), "{bad:?}: {err}");
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {err}");
        let line = err.lines().last().unwrap_or_default();
        assert!(
            line.starts_with("firelake: error: ")
                && line.contains("_producer/users/position.json")
                && line.contains("delete it"),
            "{bad:?}: not one line naming the position and what to do: {err}"
        );
        if bad != "dir" {
            assert_eq!(
                std::fs::read_to_string(&saved).unwrap(),
                bad,
                "left as it was"
            );
        }
    }
}
