//! Nothing leaked (issue 18): every path that keeps a raw record or shows a location, run
//! through the real binary, then every byte the runs left behind (lakes, state folders,
//! progress and rejects files, the binary's stdout and stderr, the loadtest report and chart)
//! is scanned for the credentials: the `never_read` values of the records (the sample source's
//! salts and hashes, and crafted passwords and tokens, which all hold `QZXJ`), the
//! `sasl.password` of a Kafka URL, the user info of a refused Kafka URL and an HTTP source's
//! query key. Files are read as they are and as they decode (JSON strings, base64 inside them,
//! Parquet rows), so a secret cannot hide in an encoding. Kept records must carry the
//! redaction marker instead.
//!
//! Needs a Kafka broker (tansu; `WITH_KAFKA=1 source /work/wt/testenv.sh`, or scripts/test.sh).
//! `FIRELAKE_LEAKS_BIN=/path/to/firelake` runs another build through the same runs and scan
//! (an older one shows what leaked before).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use firelake_producer::SampleGenerator;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const KAFKA_SECRET: &str = "sasl-QZXJ-7781";
const USERINFO_SECRET: &str = "userinfo-QZXJ-5512";
const HTTP_SECRET: &str = "apikey-QZXJ-3390";
const MARKER: &str = "<redacted>";

/// Runs `firelake` in the work folder; its stdout and stderr are kept in `logs/` (scanned
/// with everything else). Outcomes that differ from the expected are collected, so the scan
/// runs whatever the build does.
struct Work {
    dir: PathBuf,
    runs: usize,
    unexpected: Vec<String>,
}

impl Work {
    fn run(&mut self, name: &str, args: &[&str]) -> (bool, String, String) {
        let bin = std::env::var("FIRELAKE_LEAKS_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_firelake").to_string());
        let out = std::process::Command::new(bin)
            .args(args)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info")
            // The inputs are mostly bad on purpose: not a reason to exit 3 here.
            .env("FIRELAKE_MAX_REJECT_RATE", "1")
            .current_dir(&self.dir)
            .output()
            .unwrap();
        let ok = out.status.success();
        let out_text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err_text = String::from_utf8_lossy(&out.stderr).into_owned();
        let (out, err) = (out_text, err_text);
        self.runs += 1;
        let logs = self.dir.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let stem = format!("{:02}-{name}", self.runs);
        std::fs::write(logs.join(format!("{stem}.stdout")), &out).unwrap();
        std::fs::write(logs.join(format!("{stem}.stderr")), &err).unwrap();
        (ok, out, err)
    }

    /// Note an outcome that is not the expected one (the test fails at the end).
    fn expect(&mut self, holds: bool, what: &str, stderr: &str) {
        if !holds {
            let last = stderr.lines().last().unwrap_or("");
            self.unexpected.push(format!("{what}: {last}"));
        }
    }

    fn path(&self, rel: &str) -> String {
        self.dir.join(rel).to_str().unwrap().to_string()
    }

    fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.dir.join(rel), text).unwrap();
    }
}

const ACCOUNTS: &str = r#"name = "accounts"
dedupe_key = ["id"]
never_read = ["/password", "/api_token"]
[partition]
column = "p_date"
from = "ingested_at"
[[columns]]
name = "id"
pointer = "/id"
type = "string"
required = true
[[columns]]
name = "city"
pointer = "/city"
type = "string"
[[columns]]
name = "ingested_at"
type = "timestamp_ms"
arrival = true
"#;

/// A CSV with the never-read columns: a good row, rows with a wrong field count (kept by the
/// replay as they are in the file) and a row the cleaner rejects (no id).
const ACCOUNTS_CSV: &str = "id,city,password,api_token\n\
a1,Leeds,pw-QZXJ-a1,tok-QZXJ-a1\n\
a2,Kyiv,pw-QZXJ-a2\n\
,Lyon,pw-QZXJ-a3,tok-QZXJ-a3\n\
a4,\"Ber\nlin\",pw-QZXJ-a4,tok-QZXJ-a4,extra\n";

/// JSON lines of users: rejected (no uuid), truncated, not JSON, good, and a line over the
/// JSON nesting the cleaner reads.
fn users_jsonl() -> String {
    [
        r#"{"login":{"username":"frog1","password":"pw-QZXJ-j1","salt":"salt-QZXJ-j1","sha256":"sha-QZXJ-j1"},"email":"a@b.c"}"#,
        r#"{"login":{"uuid":"u-2","password":"pw-QZXJ-j2","md5":"md5-QZ"#,
        r#"password=pw-QZXJ-j3 and then some"#,
        r#"{"login":{"uuid":"u-4","password":"pw-QZXJ-j4","sha1":"sha1-QZXJ-j4"},"email":"d@e.f"}"#,
        r#"[{"login":{"uuid":"u-5","password":"pw-QZXJ-j5"}}]"#,
    ]
    .join("\n")
        + "\n"
}

/// A Firehose event of the users lines, one record that is not base64 (and carries a key).
fn firehose_event() -> String {
    let mut records: Vec<serde_json::Value> = users_jsonl()
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::json!({"recordId": format!("r{i}"), "approximateArrivalTimestamp": 1_748_736_000_000i64, "data": B64.encode(l)})
        })
        .collect();
    records.push(serde_json::json!({"recordId": "nb", "approximateArrivalTimestamp": 1_748_736_000_000i64, "data": "password=pw-QZXJ-nb!"}));
    serde_json::json!({"invocationId": "i", "records": records}).to_string()
}

/// The never-read values the sample generator puts in `n` records (as far as a cut record
/// still holds them; at least 8 characters).
fn sample_secrets(seed: u64, bad_rate: f64, n: usize) -> BTreeSet<String> {
    let mut g = SampleGenerator::new(seed, bad_rate);
    let mut out = BTreeSet::new();
    for _ in 0..n {
        let r = g.next_record();
        for key in ["salt", "md5", "sha1", "sha256"] {
            let pat = format!("\"{key}\":\"");
            let text = String::from_utf8_lossy(&r);
            if let Some(at) = text.find(&pat) {
                let v: String = text[at + pat.len()..]
                    .chars()
                    .take_while(|c| *c != '"')
                    .collect();
                if v.len() >= 8 {
                    out.insert(v);
                }
            }
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// A file's bytes and everything they decode to: JSON (whole or per line) gives its strings,
/// a string that is base64 gives its bytes (again decoded, e.g. a Firehose answer's kept
/// record), Parquet gives its rows as text.
fn views(path: &Path) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    if path.extension().is_some_and(|e| e == "parquet") {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let mut text = String::new();
        for batch in reader {
            let batch = batch.unwrap();
            for col in batch.columns() {
                // Text columns are what could carry a secret (timestamps need no time zone
                // database to be read here).
                if !matches!(col.data_type(), DataType::Utf8 | DataType::LargeUtf8) {
                    continue;
                }
                let f = ArrayFormatter::try_new(col.as_ref(), &FormatOptions::default()).unwrap();
                for i in 0..batch.num_rows() {
                    text.push_str(&f.value(i).to_string());
                    text.push('\n');
                }
            }
        }
        out.push(text.into_bytes());
    }
    expand(&bytes, 0, &mut out);
    out
}

fn expand(bytes: &[u8], depth: usize, out: &mut Vec<Vec<u8>>) {
    out.push(bytes.to_vec());
    if depth > 4 {
        return;
    }
    let mut strings = Vec::new();
    let docs = std::iter::once(bytes).chain(bytes.split(|b| *b == b'\n'));
    for doc in docs {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(doc) {
            collect_strings(&v, &mut strings);
        }
    }
    for s in strings {
        expand(s.as_bytes(), depth + 1, out);
        if let Ok(decoded) = B64.decode(s.trim()) {
            expand(&decoded, depth + 1, out);
        }
    }
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// Where `password` is used as a key in `text`, what follows the key's `:`/`=` must be the
/// marker (the sample's passwords are common words: they are found by their key).
fn password_values_redacted(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(at) = rest.find("password") {
        let after = rest[at + "password".len()..].trim_start_matches(['"', '\\', '\'']);
        if let Some(v) = after.trim_start().strip_prefix([':', '=']) {
            let v = v.trim_start().trim_start_matches(['"', '\\', '\'']);
            // Nothing after the key (a record cut there, or an empty value) holds nothing.
            let empty = v.is_empty() || v.starts_with([',', '}', ']', '&', ';', '\n']);
            if !empty && !v.starts_with(MARKER) {
                let end = v.char_indices().nth(20).map_or(v.len(), |(i, _)| i);
                return Err(format!("password value kept: {:?}", &v[..end]));
            }
        }
        rest = &rest[at + 1..];
    }
    Ok(())
}

#[test]
fn no_credential_lands_anywhere_and_kept_records_are_redacted() {
    let Some(broker) = firelake_testkit::kafka_broker() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut w = Work {
        dir: tmp.path().to_path_buf(),
        runs: 0,
        unexpected: Vec::new(),
    };
    std::fs::create_dir_all(w.dir.join("sources")).unwrap();
    w.write("sources/accounts.toml", ACCOUNTS);
    w.write("accounts.csv", ACCOUNTS_CSV);
    w.write("users.jsonl", &users_jsonl());
    w.write("event.json", &firehose_event());
    let inputs = [
        "sources/accounts.toml",
        "accounts.csv",
        "users.jsonl",
        "event.json",
    ];
    let stamp = std::process::id();

    // The sample source with many bad records.
    let (ok, _, err) = w.run(
        "run",
        &[
            "run",
            "--records",
            "3000",
            "--bad-rate",
            "0.2",
            "--lake",
            &w.path("lake"),
        ],
    );
    w.expect(ok, "run succeeds", &err);
    // Replays into the embedded stream: a malformed CSV, JSON lines.
    let (ok, _, err) = w.run(
        "replay-csv",
        &[
            "replay",
            &w.path("accounts.csv"),
            "--source",
            "accounts",
            "--source-dir",
            &w.path("sources"),
            "--lake",
            &w.path("lake-replay"),
        ],
    );
    w.expect(ok, "CSV replay succeeds", &err);
    let (ok, _, err) = w.run(
        "replay-jsonl",
        &[
            "replay",
            &w.path("users.jsonl"),
            "--lake",
            &w.path("lake-replay"),
        ],
    );
    w.expect(ok, "JSON lines replay succeeds", &err);
    // convert, and the Firehose handler.
    let (ok, _, err) = w.run(
        "convert",
        &[
            "convert",
            &w.path("users.jsonl"),
            &w.path("converted.parquet"),
        ],
    );
    w.expect(ok, "convert succeeds", &err);
    let (ok, out, err) = w.run(
        "transform",
        &["transform", "--event", &w.path("event.json")],
    );
    let answered = out.contains("ProcessingFailed");
    w.expect(ok && answered, "transform answers", &err);
    // A producer dead letter: nothing listens at the broker address; the URL holds a password.
    let dead = format!(
        "kafka://127.0.0.1:{}/dead?sasl.password={KAFKA_SECRET}",
        firelake_testkit::free_port()
    );
    let (ok, _, err) = w.run(
        "produce-dead",
        &[
            "produce",
            "--to",
            &dead,
            "--sample-records",
            "40",
            "--seed",
            "7",
            "--publish-deadline",
            "2s",
            "--state",
            &w.path("state"),
        ],
    );
    w.expect(!ok, "produce to a dead broker fails", &err);
    // The HTTP source with a key in its query, failing (nothing listens) after retries.
    let api = format!(
        "http://127.0.0.1:{}/api/?api_key={HTTP_SECRET}",
        firelake_testkit::free_port()
    );
    let (ok, _, err) = w.run(
        "produce-http",
        &[
            "produce",
            "--to",
            "kinesis://nowhere",
            "--source-url",
            &api,
            "--publish-deadline",
            "1s",
            "--http-timeout",
            "1s",
            "--state",
            &w.path("state-http"),
        ],
    );
    w.expect(
        !ok && err.contains("127.0.0.1"),
        "the HTTP source fails naming its host",
        &err,
    );

    // Kafka replays with a password in the URL: one that runs, one refused for its
    // arguments, one refused by the producer; and a URL with user info.
    let topic = format!("leaks-{stamp}");
    common::create_topic(&broker, &topic, 2, &[]);
    let secret_url = format!("kafka://{broker}/{topic}?sasl.password={KAFKA_SECRET}");
    let (ok, out, err) = w.run(
        "replay-kafka",
        &[
            "replay",
            &w.path("users.jsonl"),
            "--to",
            &secret_url,
            "--state",
            &w.path("state"),
        ],
    );
    let shown = format!("kafka://{broker}/{topic}");
    w.expect(
        ok && out.contains(&shown),
        "Kafka replay succeeds, names its target",
        &err,
    );
    let (ok, _, err) = w.run(
        "replay-kafka-event-time",
        &[
            "replay",
            &w.path("users.jsonl"),
            "--to",
            &secret_url,
            "--event-time",
            "ingested_at",
        ],
    );
    w.expect(!ok, "--event-time with Kafka is refused", &err);
    let (ok, _, err) = w.run(
        "replay-kafka-bad-property",
        &[
            "replay",
            &w.path("users.jsonl"),
            "--to",
            &format!("{secret_url}&linger.ms=soon"),
        ],
    );
    w.expect(!ok, "a bad property is refused", &err);
    let userinfo = format!("kafka://alice:{USERINFO_SECRET}@{broker}/{topic}");
    let (ok, _, err) = w.run(
        "replay-userinfo",
        &["replay", &w.path("users.jsonl"), "--to", &userinfo],
    );
    w.expect(
        !ok && err.contains("user info"),
        "user info is refused",
        &err,
    );
    // A load test on Kafka with the password in its URL: report and chart.
    let lt = format!("kafka://{broker}/leaks-lt-{stamp}?sasl.password={KAFKA_SECRET}");
    let (ok, _, err) = w.run(
        "loadtest",
        &[
            "loadtest",
            "--stream",
            &lt,
            "--create-stream",
            "--shards",
            "1",
            "--rate",
            "200/s",
            "--duration",
            "2s",
            "--flush-interval",
            "1s",
            "--lake",
            &w.path("lake-lt"),
            "--chart",
            &w.path("loadtest.svg"),
            "--report",
            &w.path("loadtest.json"),
            "--quiet",
        ],
    );
    let drawn = w.dir.join("loadtest.svg").exists() && w.dir.join("loadtest.json").exists();
    w.expect(
        ok && drawn,
        "the Kafka load test writes its report and chart",
        &err,
    );

    // Every byte left behind.
    let mut needles: BTreeSet<String> = sample_secrets(42, 0.2, 3000);
    needles.extend(sample_secrets(7, 0.03, 40));
    needles.extend(["QZXJ", KAFKA_SECRET, USERINFO_SECRET, HTTP_SECRET].map(String::from));
    let mut files = Vec::new();
    walk(&w.dir, &mut files);
    let mut leaks = Vec::new();
    let mut marked = BTreeSet::new();
    let mut scanned = 0usize;
    for f in &files {
        let rel = f
            .strip_prefix(&w.dir)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        if inputs.contains(&rel.as_str()) {
            continue;
        }
        for view in views(f) {
            scanned += view.len();
            let text = String::from_utf8_lossy(&view);
            for n in &needles {
                if text.contains(n.as_str()) {
                    leaks.push(format!("{rel}: {n}"));
                }
            }
            if let Err(e) = password_values_redacted(&text) {
                leaks.push(format!("{rel}: {e}"));
            }
            if text.contains(MARKER) {
                marked.insert(rel.clone());
            }
        }
    }
    leaks.sort();
    leaks.dedup();
    // Leaks counted by where they are (the top folder, or the log), for the message.
    let mut by_place = std::collections::BTreeMap::<String, usize>::new();
    for l in &leaks {
        let rel = l.split(": ").next().unwrap_or("");
        let place = match rel.split_once('/') {
            Some(("logs", f)) => format!("logs/{f}"),
            Some((top, _)) => format!("{top}/"),
            None => rel.to_string(),
        };
        *by_place.entry(place).or_default() += 1;
    }
    assert!(
        leaks.is_empty() && w.unexpected.is_empty(),
        "unexpected outcomes: {:#?}\nleaks by place: {by_place:#?}\n{} leaks in {} files ({scanned} bytes scanned), first ones:\n{}",
        w.unexpected,
        leaks.len(),
        files.len(),
        leaks
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // The marker is where records were kept.
    let has = |prefix: &str| marked.iter().any(|m| m.starts_with(prefix));
    for kept in [
        "lake/users/_rejected/",
        "lake-replay/accounts/_rejected/",
        "lake-replay/users/_rejected/",
        "converted.parquet.rejected.jsonl",
        "state/_dead_letter/",
    ] {
        assert!(
            has(kept),
            "no redaction marker under {kept}; marked: {marked:?}"
        );
    }
    let rejects: Vec<&String> = marked
        .iter()
        .filter(|m| m.starts_with("firelake-replay-") && m.ends_with(".rejected.jsonl"))
        .collect();
    assert_eq!(
        rejects.len(),
        3,
        "replay rejects files with the marker: {marked:?}"
    );
    assert!(
        marked
            .iter()
            .any(|m| m.starts_with("logs/") && m.ends_with("-transform.stdout")),
        "the Firehose answers: {marked:?}"
    );
    eprintln!(
        "scanned {} files, {scanned} bytes in all their views",
        files.len()
    );
}
