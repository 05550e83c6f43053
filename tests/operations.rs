//! Issue 21 through the binary: exit codes (docs/operations.md), the reject threshold,
//! `convert` reading inputs as `replay` does, unreachable streams, log format and colours.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn firelake(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("FIRELAKE_LOG_FORMAT")
        .env_remove("FIRELAKE_MAX_REJECT_RATE")
        .output()
        .unwrap()
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Order lines as CSV (header first) and as JSON lines; line `i % 5 == 4` has no order time.
fn order_lines(n: u64) -> (Vec<u8>, Vec<u8>) {
    let mut csv = b"order_id,product_id,add_to_cart_order,reordered,ordered_at\n".to_vec();
    let mut jsonl = Vec::new();
    for i in 0..n {
        let at = (i % 5 != 4).then(|| 1_709_251_200_000 + i as i64 * 60_000);
        let at_text = at.map_or(String::new(), |t| t.to_string());
        writeln!(csv, "{},{},{},1,{at_text}", i / 4 + 1, i % 4 + 1, i % 4 + 1).unwrap();
        let v = serde_json::json!({"order_id": i / 4 + 1, "product_id": i % 4 + 1,
            "add_to_cart_order": i % 4 + 1, "reordered": true, "ordered_at": at});
        serde_json::to_writer(&mut jsonl, &v).unwrap();
        jsonl.push(b'\n');
    }
    (csv, jsonl)
}

/// (order_id * 10 + product_id, p_date) of every row of a Parquet file, sorted.
fn rows_of(path: &Path) -> Vec<(i64, String)> {
    let file = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let col = |name: &str| batch.column(batch.schema().index_of(name).unwrap()).clone();
        let (o, p, d) = (col("order_id"), col("product_id"), col("p_date"));
        let d = arrow::compute::cast(&d, &arrow::datatypes::DataType::Utf8).unwrap();
        for i in 0..batch.num_rows() {
            let key = o.as_primitive::<Int64Type>().value(i) * 10
                + p.as_primitive::<Int64Type>().value(i);
            rows.push((key, d.as_string::<i32>().value(i).to_string()));
        }
    }
    rows.sort();
    rows
}

fn today() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    firelake_core::time::format_day(firelake_core::time::day_of_ms(now))
}

#[test]
fn success_usage_and_failure_have_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ok = firelake(dir.path(), &["run", "--records", "300", "--lake", "lake"]);
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    let usage = firelake(dir.path(), &["run", "--no-such-flag"]);
    assert_eq!(code(&usage), 2, "{}", stderr(&usage));
    let failed = firelake(dir.path(), &["run", "--lake", "s3:/typo"]);
    assert_eq!(code(&failed), 1, "{}", stderr(&failed));
    let missing = firelake(dir.path(), &["convert", "nothing.jsonl", "out.parquet"]);
    assert_eq!(code(&missing), 1, "{}", stderr(&missing));
    assert_eq!(stderr(&missing).lines().count(), 1, "{}", stderr(&missing));
}

#[test]
fn a_run_over_the_reject_threshold_keeps_its_rejects_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["run", "--records", "500", "--bad-rate", "0.3"];
    let under = firelake(dir.path(), &[&args[..], &["--lake", "lake"]].concat());
    assert_eq!(code(&under), 0, "{}", stderr(&under));
    let over = firelake(
        dir.path(),
        &[&args[..], &["--lake", "lake2", "--max-reject-rate", "0.1"]].concat(),
    );
    assert_eq!(code(&over), 3, "{}", stderr(&over));
    let err = stderr(&over);
    assert!(err.contains("over --max-reject-rate 0.1"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // The summary is printed and what was rejected is kept.
    assert!(String::from_utf8_lossy(&over.stdout).contains("rejected"));
    assert!(dir.path().join("lake2/users/_rejected").is_dir());
}

#[test]
fn a_binary_file_fails_convert_and_replay_with_the_threshold_code() {
    let dir = tempfile::tempdir().unwrap();
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.path().join("dump.jsonl"), noise).unwrap();
    // Every record rejected: code 3 even at --max-reject-rate 1.
    let convert = firelake(
        dir.path(),
        &[
            "convert",
            "dump.jsonl",
            "out.parquet",
            "--max-reject-rate",
            "1",
        ],
    );
    assert_eq!(code(&convert), 3, "{}", stderr(&convert));
    assert!(dir.path().join("out.parquet.rejected.jsonl").is_file());
    let replay = firelake(dir.path(), &["replay", "dump.jsonl", "--lake", "lake"]);
    assert_eq!(code(&replay), 3, "{}", stderr(&replay));
    assert!(
        stderr(&replay).contains("records rejected"),
        "{}",
        stderr(&replay)
    );
}

#[test]
fn convert_reads_csv_and_compressed_inputs_as_replay_does_and_arrives_now() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, jsonl) = order_lines(400);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&csv).unwrap();
    let inputs = [
        ("lines.csv", csv.clone()),
        ("lines.csv.gz", gz.finish().unwrap()),
        (
            "lines.jsonl.zst",
            zstd::stream::encode_all(&jsonl[..], 3).unwrap(),
        ),
        ("lines.jsonl", jsonl),
    ];
    let before = today();
    let mut outputs = Vec::new();
    for (name, bytes) in &inputs {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let out_name = format!("{name}.parquet");
        let out = firelake(
            dir.path(),
            &["convert", name, &out_name, "--source", "order_lines"],
        );
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            line.contains("rows_in=400 rows_out=400 rejected=0"),
            "{name}: {line}"
        );
        outputs.push(rows_of(&dir.path().join(out_name)));
    }
    let after = today();
    assert!(outputs.iter().all(|o| *o == outputs[0]), "formats disagree");
    // Rows without an order time land on their arrival day: now, not a fixed date.
    let undated: Vec<_> = outputs[0]
        .iter()
        .filter(|(_, d)| !d.starts_with("2024"))
        .collect();
    assert_eq!(undated.len(), 80);
    assert!(
        undated.iter().all(|(_, d)| *d == before || *d == after),
        "{undated:?}"
    );
}

#[test]
fn an_unreachable_kafka_broker_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = firelake(
        dir.path(),
        &[
            "consume",
            "--from",
            "kafka://127.0.0.1:1/t",
            "--exit-when-idle",
            "5s",
            "--connect-timeout",
            "3s",
            "--lake",
            "lake",
        ],
    );
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(
        err.contains("cannot reach the Kafka brokers 127.0.0.1:1"),
        "{err}"
    );
    assert!(err.lines().count() <= 3, "a log flood: {err}");
}

#[test]
fn a_kinesis_endpoint_that_never_answers_fails_within_the_connect_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // Accepts connections (the kernel does, into the backlog) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args([
            "consume",
            "--from",
            "kinesis://s",
            "--connect-timeout",
            "2s",
        ])
        .args(["--exit-when-idle", "5s", "--lake", "lake"])
        .current_dir(dir.path())
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_ENDPOINT_URL_KINESIS", &endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(
        err.contains("cannot reach Kinesis (stream s) within 2s"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    drop(silent);
}

#[test]
fn aws_errors_are_one_line_and_missing_credentials_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", refused.local_addr().unwrap());
    drop(refused); // nobody listens there now
    let consume = |creds: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_firelake"));
        c.args(["consume", "--from", "kinesis://s", "--lake", "lake"])
            .current_dir(dir.path())
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ENDPOINT_URL_KINESIS", &endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
            .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            .env("RUST_LOG", "off");
        if creds {
            c.env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test");
        } else {
            c.env_remove("AWS_ACCESS_KEY_ID")
                .env_remove("AWS_SECRET_ACCESS_KEY")
                .env_remove("AWS_SESSION_TOKEN");
        }
        c.output().unwrap()
    };
    let none = consume(false);
    let err = stderr(&none);
    assert_eq!(code(&none), 1, "{err}");
    assert!(
        err.contains("no AWS credentials found (checked: environment"),
        "{err}"
    );
    assert!(!err.contains("ProviderAttempt"), "a debug dump: {err}");
    let down = consume(true);
    let err = stderr(&down);
    assert_eq!(code(&down), 1, "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    assert!(!err.contains("DispatchFailure {"), "a debug dump: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn json_logs_and_no_colours_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let logged = |format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
            .args([
                "--log-format",
                format,
                "run",
                "--records",
                "50",
                "--lake",
                "s3:/typo",
            ])
            .current_dir(dir.path())
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        assert_eq!(code(&out), 1);
        stderr(&out)
    };
    let text = logged("text");
    assert!(!text.contains('\x1b'), "ANSI escapes in a pipe: {text:?}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("firelake: error: "),
        "{text}"
    );
    let json = logged("json");
    let lines: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["fields"]["exit_code"], 1);
    assert!(
        last["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("s3:/typo")
    );
    // The env twin.
    let out = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(["run", "--lake", "s3:/typo"])
        .current_dir(dir.path())
        .env("FIRELAKE_LOG_FORMAT", "json")
        .output()
        .unwrap();
    let err = stderr(&out);
    serde_json::from_str::<serde_json::Value>(err.lines().last().unwrap()).expect(&err);
}

#[test]
fn compact_hints_when_nothing_is_eligible_and_fails_for_an_unknown_table() {
    let dir = tempfile::tempdir().unwrap();
    let run = firelake(dir.path(), &["run", "--records", "300", "--lake", "lake"]);
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    let out = firelake(dir.path(), &["compact", "--lake", "lake"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let today = today();
    assert!(
        stdout.contains(&format!("today ({today}, UTC) is excluded until it ends"))
            && stdout.contains(&format!("--date {today}")),
        "{stdout}"
    );
    let unknown = firelake(
        dir.path(),
        &["compact", "--lake", "lake", "--table", "orders"],
    );
    let err = stderr(&unknown);
    assert_eq!(code(&unknown), 1, "{err}");
    assert!(
        err.contains("has no table orders (its tables: users)"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn run_progress_on_a_terminal_counts_reads_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    // util-linux's script(1) gives the run a terminal, where the bar is drawn.
    let cmd = format!(
        "{} run --records 20000 --lake lake --flush-records 1000",
        env!("CARGO_BIN_EXE_firelake")
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let frames: Vec<&str> = text
        .split(['\r', '\n'])
        .filter(|l| l.contains("records/s, written"))
        .collect();
    assert!(!frames.is_empty(), "no progress drawn: {text:?}");
    assert!(
        frames
            .iter()
            .all(|f| f.contains("read ") && f.contains("/20000") && f.contains("Parquet +")),
        "{frames:?}"
    );
}
