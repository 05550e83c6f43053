//! Graceful drain (issue 21, docs/operations.md): SIGTERM during `run`, `replay` and `consume`
//! (Kinesis on kinesalite, Kafka on the local broker) exits 0 after writing what was read;
//! the checkpoint, commit or progress file covers it, so a restart reads nothing twice. Rows
//! are counted in the lake with DuckDB (the test Python).

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{python, require_emulators, unique};

/// `firelake ARGS` in `dir`, output captured.
fn spawn(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn sigterm(child: &Child) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill failed");
}

/// Wait for `child` to exit: (exit code, stdout, stderr).
fn finish(mut child: Child) -> (i32, String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    (status.code().unwrap_or(-1), out, err)
}

/// Wait (bounded, not a timing assertion) until `ready` holds, the child still running.
fn wait_until(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("exited ({status}) before {what}");
        }
        assert!(Instant::now() < deadline, "never saw {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn parquet_files(dir: &Path) -> usize {
    let mut n = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            n += parquet_files(&p);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            n += 1;
        }
    }
    n
}

/// (rows, distinct keys) of a lake table, counted by DuckDB.
fn duck_count(table_dir: &Path, key: &str) -> (u64, u64) {
    let sql = format!(
        "SELECT count(*), count(DISTINCT ({key})) FROM read_parquet('{}/p_date=*/*.parquet', hive_partitioning = true)",
        table_dir.display()
    );
    let out = Command::new(python())
        .args([
            "-c",
            "import duckdb, sys; r = duckdb.sql(sys.argv[1]).fetchall()[0]; print(r[0], r[1])",
            &sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut it = text.split_whitespace().map(|v| v.parse::<u64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// `name=123` or `name  123` in a summary.
fn field(summary: &str, name: &str) -> u64 {
    let at = summary
        .find(&format!("{name}="))
        .map(|i| i + name.len() + 1)
        .or_else(|| summary.find(&format!("{name} ")).map(|i| i + name.len()))
        .unwrap_or_else(|| panic!("no {name} in {summary}"));
    summary[at..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{name} in {summary}"))
}

#[test]
fn sigterm_during_run_writes_what_was_produced_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let mut child = spawn(
        dir.path(),
        &[
            "run",
            "--records",
            "50000000",
            "--lake",
            "lake",
            "--flush-records",
            "2000",
            "--shutdown-timeout",
            "300s",
        ],
    );
    wait_until(&mut child, "a file in the lake", || {
        parquet_files(&lake.join("users")) > 0
    });
    sigterm(&child);
    let (code, out, err) = finish(child);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("stopped by a signal after"), "{out}");
    let (rows, distinct) = duck_count(&lake.join("users"), "user_id");
    assert_eq!(rows, field(&out, "rows out"), "{out}");
    assert_eq!(rows, distinct);
    assert!(rows > 0 && field(&out, "records in") < 50_000_000);
}

/// Order lines as CSV: `n` rows, (order_id, product_id) unique.
fn write_order_lines(path: &Path, n: u64) {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        w,
        "order_id,product_id,add_to_cart_order,reordered,ordered_at"
    )
    .unwrap();
    for i in 0..n {
        let at = 1_709_251_200_000 + (i % 30) as i64 * 86_400_000 + i as i64;
        writeln!(w, "{},{},{},1,{at}", i / 8 + 1, i % 8 + 1, i % 8 + 1).unwrap();
    }
}

#[test]
fn sigterm_during_replay_keeps_its_progress_and_a_resume_reads_nothing_twice() {
    const ROWS: u64 = 200_000;
    let dir = tempfile::tempdir().unwrap();
    write_order_lines(&dir.path().join("lines.csv"), ROWS);
    let args = [
        "replay",
        "lines.csv",
        "--source",
        "order_lines",
        "--lake",
        "lake",
        "--progress-file",
        "progress.json",
        "--flush-records",
        "5000",
    ];
    let mut child = spawn(
        dir.path(),
        &[
            &args[..],
            &["--rate", "20000/s", "--shutdown-timeout", "300s"],
        ]
        .concat(),
    );
    let lake = dir.path().join("lake/order_lines");
    wait_until(&mut child, "a file in the lake", || {
        parquet_files(&lake) > 0
    });
    sigterm(&child);
    let (code, out, err) = finish(child);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("stopped by a signal"), "{out}");
    let first = field(&out, "records");
    assert!(first < ROWS, "the replay ended before the signal: {out}");
    // Everything published is in the lake.
    assert_eq!(duck_count(&lake, "order_id, product_id").0, first);
    let resumed = spawn(dir.path(), &[&args[..], &["--resume"]].concat());
    let (code, out, err) = finish(resumed);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(first + field(&out, "records"), ROWS, "{out}");
    assert_eq!(duck_count(&lake, "order_id, product_id"), (ROWS, ROWS));
}

struct Consumed {
    code: i32,
    out: String,
    err: String,
}

/// Consume until a file is in the lake, SIGTERM; then consume again until a run reads nothing
/// (a broker may deliver slowly enough for one idle stop to come early).
fn consume_and_restart(dir: &Path, from: &str, extra: &[&str]) -> Vec<Consumed> {
    let lake = dir.join("lake");
    let lake_url = format!("file://{}", lake.display());
    // Small reads, so a flush leaves records buffered for the drain to write.
    let base = [
        "consume",
        "--from",
        from,
        "--lake",
        &lake_url,
        "--flush-records",
        "700",
        "--flush-interval",
        "1h",
        "--read-batch",
        "500",
    ];
    let mut child = spawn(dir, &[&base[..], extra].concat());
    wait_until(&mut child, "a file in the lake", || {
        parquet_files(&lake.join("users")) > 0
    });
    sigterm(&child);
    let (code, out, err) = finish(child);
    let mut runs = vec![Consumed { code, out, err }];
    for _ in 0..5 {
        let again = spawn(
            dir,
            &[&base[..], extra, &["--exit-when-idle", "5s"]].concat(),
        );
        let (code, out, err) = finish(again);
        let done = code != 0 || field(&out, "records_in") == 0;
        runs.push(Consumed { code, out, err });
        if done {
            break;
        }
    }
    runs
}

fn assert_drained(dir: &Path, produced: u64, runs: &[Consumed]) {
    for c in runs {
        assert_eq!(c.code, 0, "{}\n{}", c.out, c.err);
    }
    let each: Vec<u64> = runs.iter().map(|c| field(&c.out, "records_in")).collect();
    assert!(each[0] > 0, "{}", runs[0].out);
    assert!(runs[0].err.contains("SIGTERM: stopping"), "{}", runs[0].err);
    // Nothing read twice: each restart starts where the previous checkpoint/commit ended.
    assert_eq!(
        each.iter().sum::<u64>(),
        produced,
        "records_in of each run: {each:?}; their logs: {:#?}",
        runs.iter().map(|c| c.err.as_str()).collect::<Vec<_>>()
    );
    let rows: u64 = runs.iter().map(|c| field(&c.out, "rows_out")).sum();
    assert_eq!(duck_count(&dir.join("lake/users"), "user_id"), (rows, rows));
}

fn produce(dir: &Path, to: &str, records: u64) {
    let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args([
            "produce",
            "--to",
            to,
            "--ticks",
            "1",
            "--state",
            "file://state",
        ])
        .args(["--sample-records", &records.to_string()])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(field(&summary, "records"), records, "{summary}");
    assert_eq!(field(&summary, "dead_lettered"), 0, "{summary}");
}

#[test]
fn sigterm_during_a_kinesis_consume_checkpoints_what_was_read() {
    require_emulators();
    let dir = tempfile::tempdir().unwrap();
    let stream = unique("drain");
    common::python_tool("aws_tool.py", &["create-stream", &stream, "1"]);
    let from = format!("kinesis://{stream}");
    produce(dir.path(), &from, 2500);
    let runs = consume_and_restart(dir.path(), &from, &[]);
    assert_drained(dir.path(), 2500, &runs);
}

#[test]
fn sigterm_during_a_kafka_consume_commits_what_was_read() {
    let Ok(broker) = std::env::var("FIRELAKE_KAFKA") else {
        assert!(
            std::env::var_os("FIRELAKE_EMULATORS").is_none(),
            "FIRELAKE_EMULATORS is set but FIRELAKE_KAFKA is not"
        );
        eprintln!("skipped: no Kafka broker (set FIRELAKE_KAFKA=HOST:PORT)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let topic = unique("drain");
    common::create_topic(&broker, &topic, 1, &[]);
    let url = format!("kafka://{broker}/{topic}");
    // One record per batch: tansu 0.6.0 answers a fetch from inside a batch with the batches
    // after it (tests/kafka.rs), which would skip the rest of a batch after a commit.
    produce(dir.path(), &format!("{url}?batch.num.messages=1"), 2500);
    let group = unique("drain-group");
    let runs = consume_and_restart(dir.path(), &url, &["--group", &group]);
    assert_drained(dir.path(), 2500, &runs);
}

#[test]
fn sigterm_between_produce_ticks_stops_after_the_tick_and_exits_0() {
    use std::io::BufRead;
    require_emulators();
    let dir = tempfile::tempdir().unwrap();
    let stream = unique("drain-produce");
    common::python_tool("aws_tool.py", &["create-stream", &stream, "1"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(["produce", "--to", &format!("kinesis://{stream}")])
        .args([
            "--ticks",
            "1000",
            "--every",
            "1h",
            "--sample-records",
            "100",
        ])
        .args(["--state", "file://state"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("tick published") {
        let mut line = String::new();
        assert!(log.read_line(&mut line).unwrap() > 0, "no tick: {seen}");
        seen.push_str(&line);
    }
    sigterm(&child);
    let mut rest = String::new();
    log.read_to_string(&mut rest).unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{out}\n{seen}{rest}");
    assert!(out.contains("produced records=100 "), "{out}");
    assert!(out.contains("ticks=1 failed_ticks=0"), "{out}");
}

/// A replay into a Kinesis endpoint that accepts connections and never answers: its drain
/// cannot finish, so the deadline (or a second signal) exits at once with 130.
#[test]
fn a_drain_past_its_deadline_or_a_second_signal_exits_130() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.jsonl"), "{\"a\":1}\n").unwrap();
    for (timeout, signals) in [("1s", 1), ("600s", 2)] {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", silent.local_addr().unwrap());
        let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
            .args([
                "replay",
                "users.jsonl",
                "--to",
                "kinesis://s",
                "--state",
                "file://state",
            ])
            .args([
                "--shutdown-timeout",
                timeout,
                "--progress-file",
                &format!("p{signals}.json"),
            ])
            .current_dir(dir.path())
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ENDPOINT_URL_KINESIS", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        // The process calls the endpoint: its handlers are installed (before any call).
        let (_held, _) = silent.accept().unwrap();
        sigterm(&child);
        let mut log = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        while !seen.contains("SIGTERM: stopping") {
            let mut line = String::new();
            assert!(log.read_line(&mut line).unwrap() > 0, "{seen}");
            seen.push_str(&line);
        }
        if signals == 2 {
            sigterm(&child);
        }
        log.read_to_string(&mut seen).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            status.code(),
            Some(130),
            "{timeout}, {signals} signal(s): {seen}"
        );
        let why = if signals == 2 {
            "SIGTERM: stopping at once"
        } else {
            "the drain did not finish within --shutdown-timeout"
        };
        assert!(seen.contains(why), "{seen}");
    }
}

/// A finished `firelake compact --json`: (exit code, report).
fn compact_json(child: Child) -> (i32, serde_json::Value) {
    let (code, out, err) = finish(child);
    let report = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("compact --json printed no report ({e}): {out}\n{err}"));
    (code, report)
}

/// The days a compact report compacted and the rows they hold.
fn compacted(report: &serde_json::Value) -> (Vec<String>, u64) {
    let days = report["days"].as_array().unwrap();
    let done: Vec<&serde_json::Value> = days
        .iter()
        .filter(|d| d["rows_out"].as_u64().unwrap_or(0) > 0)
        .collect();
    let names = done
        .iter()
        .map(|d| d["day"].as_str().unwrap().to_string())
        .collect();
    (
        names,
        done.iter().map(|d| d["rows_out"].as_u64().unwrap()).sum(),
    )
}

#[test]
fn sigterm_during_compact_finishes_the_day_under_way_and_the_next_run_does_the_rest() {
    const ROWS: u64 = 30_000;
    let dir = tempfile::tempdir().unwrap();
    write_order_lines(&dir.path().join("lines.csv"), ROWS);
    let replay = spawn(
        dir.path(),
        &[
            "replay",
            "lines.csv",
            "--source",
            "order_lines",
            "--lake",
            "lake",
        ],
    );
    let (code, out, err) = finish(replay);
    assert_eq!(code, 0, "{out}\n{err}");
    let args = [
        "compact",
        "--source",
        "order_lines",
        "--lake",
        "lake",
        "--all",
        "--grace",
        "0s",
        "--json",
    ];
    let mut child = spawn(dir.path(), &args);
    let curated = dir.path().join("lake/order_lines_curated");
    wait_until(&mut child, "a curated file", || parquet_files(&curated) > 0);
    sigterm(&child);
    let (code, first) = compact_json(child);
    assert_eq!(code, 0, "{first}");
    let left: Vec<String> = serde_json::from_value(first["not_started"].clone())
        .unwrap_or_else(|_| panic!("no days left by the signal: {first}"));
    let (done, rows) = compacted(&first);
    assert!(!done.is_empty() && !left.is_empty(), "{first}");
    assert_eq!(done.len() + left.len(), 30, "{first}");

    let (code, second) = compact_json(spawn(dir.path(), &args));
    assert_eq!(code, 0, "{second}");
    assert!(second.get("not_started").is_none(), "{second}");
    let (rest, more) = compacted(&second);
    assert_eq!(rest, left, "the rerun compacts exactly the days left");
    assert_eq!(rows + more, ROWS, "every row curated once");
}

#[test]
fn sigterm_during_loadtest_stops_producing_drains_and_reconciles() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn(
        dir.path(),
        &[
            "loadtest",
            "--rate",
            "2000/s",
            "--duration",
            "600s",
            "--lake",
            "lake",
            "--chart",
            "none",
            "--quiet",
            "--flush-records",
            "1000",
            "--shutdown-timeout",
            "300s",
        ],
    );
    let table = dir.path().join("lake/loadtest");
    wait_until(&mut child, "a file in the lake", || {
        parquet_files(&table) > 0
    });
    sigterm(&child);
    let (code, out, err) = finish(child);
    assert_eq!(code, 0, "{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["stopped_by_signal"], true, "{out}");
    assert!(err.contains("stopped       by a signal"), "{err}");
    assert_eq!(report["reconciliation"]["ok"], true, "{out}");
    assert!(report["rates"]["producing_seconds"].as_f64().unwrap() < 600.0);
    // Everything that was published is durable in the lake, rejects included.
    let c = &report["counts"];
    let (rows, rejected) = (
        c["rows_out"].as_u64().unwrap(),
        c["rejected"].as_u64().unwrap(),
    );
    assert_eq!(rows + rejected, c["published"].as_u64().unwrap(), "{out}");
    assert_eq!(duck_count(&table, "run, seq"), (rows, rows));
}
