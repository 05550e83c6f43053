//! Shared by the integration tests that call Python (the independent readers and the
//! reference peers that scripts/test.sh installs).

// Each test crate uses some of these helpers, never all.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// Each test crate uses some of them.
#[allow(unused_imports)]
pub use firelake_testkit::{python, unique};

/// Fails the test unless scripts/test.sh started the local AWS emulators.
pub fn require_emulators() {
    assert!(
        std::env::var_os("FIRELAKE_EMULATORS").is_some()
            && std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "the AWS emulators are not running: run the suite with `bash scripts/test.sh`, which starts them"
    );
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

/// The `firelake` binary as a command in `dir`, without this environment's RUST_LOG and
/// FIRELAKE_* variables: a setting exported in the shell that runs the tests (an env twin of a
/// flag, docs/pipeline-file.md) would otherwise change what the test runs.
pub fn firelake_command(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_firelake"));
    cmd.current_dir(dir).env_remove("RUST_LOG");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("FIRELAKE_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Runs `cmd`; fails the test with its output unless it succeeds; returns its stdout.
pub fn stdout_of(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().expect("command starts");
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The number after `name` at the start of a line of a summary (`  written      1200 rows`).
pub fn summary_field(summary: &str, name: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name:?} in summary:\n{summary}"))
}

/// The number of the first `key=N` word of `out` (`records=1200 files=3`).
pub fn kv_field(out: &str, key: &str) -> u64 {
    let pat = format!("{key}=");
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(&pat))
        .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
        .parse()
        .unwrap_or_else(|_| panic!("{key} is no number in:\n{out}"))
}

/// Runs the `firelake` binary in `dir`: (success, stdout, stderr).
pub fn firelake(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    firelake_env(dir, &[], args)
}

/// tests/fault_proxy.py in front of the emulators' S3/Glue endpoint (moto), started on a free
/// port as a child of the test and killed when dropped. Point a binary at it with
/// `AWS_ENDPOINT_URL=proxy.url()`; Kinesis keeps its own endpoint (`AWS_ENDPOINT_URL_KINESIS`).
pub struct FaultProxy {
    child: std::process::Child,
    pub port: u16,
}

impl FaultProxy {
    pub fn start() -> FaultProxy {
        use std::io::BufRead;
        require_emulators();
        let upstream = std::env::var("AWS_ENDPOINT_URL").unwrap();
        let mut child = std::process::Command::new(python())
            .arg(root().join("tests/fault_proxy.py"))
            .args(["--upstream", &upstream])
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
            .unwrap_or_else(|| panic!("fault proxy did not start: {line:?}"))
            .parse()
            .unwrap();
        FaultProxy { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn call(&self, method: &str, body: &str) -> serde_json::Value {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            s,
            "{method} /__faults HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        let (head, json) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "fault proxy: {answer}");
        serde_json::from_str(json).unwrap()
    }

    /// Replace the rules (a JSON list, see tests/fault_proxy.py); returns them.
    pub fn set_rules(&self, rules: serde_json::Value) -> serde_json::Value {
        self.call("POST", &rules.to_string())
    }

    /// The rules with their `hits` and `fired` counts.
    pub fn rules(&self) -> serde_json::Value {
        self.call("GET", "")
    }

    /// How many faults rule `i` injected.
    pub fn fired(&self, i: usize) -> u64 {
        self.rules()[i]["fired"].as_u64().unwrap()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `firelake` binary in `dir`; fails the test unless it succeeds; returns its stdout.
pub fn firelake_ok(dir: &std::path::Path, args: &[&str]) -> String {
    let (ok, out, err) = firelake(dir, args);
    assert!(ok, "firelake {args:?} failed:\n{out}{err}");
    out
}

/// `firelake` with extra environment variables (e.g. AWS_ENDPOINT_URL at a fault proxy):
/// (success, stdout, stderr).
pub fn firelake_env(
    dir: &std::path::Path,
    envs: &[(&str, &str)],
    args: &[&str],
) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The last non-empty line of a binary's stderr: its error, which must be one line.
pub fn last_line(stderr: &str) -> &str {
    stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

/// Creates `topic` with `partitions` partitions on the Kafka broker at `bootstrap` (`config`:
/// further client settings, e.g. TLS).
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32, config: &[(&str, &str)]) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let mut client = rdkafka::ClientConfig::new();
    client.set("bootstrap.servers", bootstrap);
    for (k, v) in config {
        client.set(*k, *v);
    }
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = client.create().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let results = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(std::time::Duration::from_secs(10))),
        ))
        .unwrap();
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

/// `firelake produce --source users` of `records` sample users per tick, `ticks` ticks back to
/// back, to `to`, with `extra` flags (a seed, a state folder); fails the test unless it
/// succeeds, and returns its stdout (the tick summary).
pub fn produce_sample(
    dir: &std::path::Path,
    to: &str,
    records: usize,
    ticks: usize,
    extra: &[&str],
) -> String {
    let (records, ticks) = (records.to_string(), ticks.to_string());
    let mut args = vec!["produce", "--source", "users", "--sample-records", &records];
    args.extend(["--ticks", &ticks, "--every", "0s", "--to", to]);
    args.extend(extra);
    let (ok, out, err) = firelake(dir, &args);
    assert!(ok, "firelake {args:?} failed:\n{out}\n{err}");
    out
}

/// What pyiceberg reads from the Iceberg table `table` of `dir/lake` (tests/iceberg_check.py:
/// the table's rows and files beside the lake's Parquet data files read by pyarrow), as JSON.
pub fn iceberg_check_table(dir: &std::path::Path, table: &str) -> serde_json::Value {
    let out = std::process::Command::new(python())
        .arg(root().join("tests/iceberg_check.py"))
        .arg(dir.join("lake"))
        .arg(table)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "iceberg_check.py {table}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// [`iceberg_check_table`] of the sample source's table `users`.
pub fn iceberg_check(dir: &std::path::Path) -> serde_json::Value {
    iceberg_check_table(dir, "users")
}

/// The Iceberg table holds each of the lake's data files once, the same rows as its folders,
/// each file in the partition of its `p_date=` folder, and every file a reader of any of its
/// snapshots opens exists.
pub fn assert_iceberg_table_is_the_lake(c: &serde_json::Value) {
    assert_eq!(c["same_rows"], true, "{c}");
    assert_eq!(c["rows"], c["hive_rows"], "{c}");
    assert_eq!(
        c["files"], c["distinct_files"],
        "a file committed twice: {c}"
    );
    assert_eq!(c["committed_are_lake_files"], true, "{c}");
    assert_eq!(c["partition_ok"], true, "{c}");
    assert_eq!(c["missing"], serde_json::json!([]), "{c}");
}

/// The built-in `users` definition with `street_number` as `street_type` and the columns
/// `extra` appended, in `dir/<version>/users.toml`; the folder, for `--source-dir`.
pub fn users_def(
    dir: &std::path::Path,
    version: &str,
    street_type: &str,
    extra: &[(&str, &str)],
) -> String {
    let street = "name = \"street_number\"\npointer = \"/location/street/number\"\ntype = ";
    let users = std::fs::read_to_string(root().join("sources/users.toml")).unwrap();
    assert!(users.contains(&format!("{street}\"int32\"")));
    let mut text = users.replace(
        &format!("{street}\"int32\""),
        &format!("{street}\"{street_type}\""),
    );
    for (name, pointer) in extra {
        text.push_str(&format!(
            "\n[[columns]]\nname = \"{name}\"\npointer = \"{pointer}\"\ntype = \"string\"\n"
        ));
    }
    let defs = dir.join(version);
    std::fs::create_dir_all(&defs).unwrap();
    std::fs::write(defs.join("users.toml"), text).unwrap();
    defs.display().to_string()
}

/// A field of the table's current schema (pyiceberg's view): (id, type).
pub fn schema_field(c: &serde_json::Value, name: &str) -> (u64, String) {
    let f = c["schema"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no column {name} in {c}"));
    (
        f["id"].as_u64().unwrap(),
        f["type"].as_str().unwrap().into(),
    )
}
