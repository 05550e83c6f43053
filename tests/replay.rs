//! `firelake replay` end to end through the real binary: batch files -> embedded stream ->
//! stream-consumer -> Parquet lake, read back with the Parquet reader and compared with what
//! the test wrote (row counts and an order-independent checksum of every value).

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use arrow::array::{
    Array, BooleanArray, Int32Array, Int64Array, RecordBatch, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use base64::Engine;
use common::summary_field;
use firelake_core::time;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const DAY_MS: i64 = 86_400_000;
/// 2024-03-01T00:00:00Z
const BASE_MS: i64 = 1_709_251_200_000;

/// One order line the tests write and expect back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Line {
    order_id: i64,
    product_id: i64,
    cart: Option<i32>,
    reordered: Option<bool>,
    ordered_at: Option<i64>,
}

/// Order line `i`: 8 products per order, orders spread over 30 days. (order, product) is unique.
fn line(i: u64) -> Line {
    let o = (i / 8 + 1) as i64;
    Line {
        order_id: o,
        product_id: (i % 8) as i64 * 1009 + o % 97 + 1,
        cart: Some((i % 8 + 1) as i32),
        reordered: Some(i.is_multiple_of(3)),
        ordered_at: Some(
            BASE_MS + (o % 30) * DAY_MS + (o * 37 % 86_400) * 1000 + (i % 1000) as i64,
        ),
    }
}

const HEADER: &str = "order_id,product_id,add_to_cart_order,reordered,ordered_at\n";

fn csv_row(l: &Line, out: &mut impl Write) {
    let b = |v: Option<bool>| match v {
        Some(true) => "1",
        Some(false) => "0",
        None => "",
    };
    writeln!(
        out,
        "{},{},{},{},{}",
        l.order_id,
        l.product_id,
        l.cart.map_or(String::new(), |c| c.to_string()),
        b(l.reordered),
        l.ordered_at.map_or(String::new(), |t| t.to_string()),
    )
    .unwrap();
}

/// Order-independent checksum of a multiset of lines (sum of a mixed hash per line).
fn checksum<'a>(lines: impl IntoIterator<Item = &'a Line>) -> (u64, u64) {
    let mut n = 0;
    let mut sum = 0u64;
    for l in lines {
        n += 1;
        sum = sum.wrapping_add(line_hash(l));
    }
    (n, sum)
}

fn line_hash(l: &Line) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in [
        l.order_id as u64,
        l.product_id as u64,
        l.cart.map_or(u64::MAX, |c| c as u64),
        l.reordered.map_or(2, u64::from),
        l.ordered_at.map_or(u64::MAX, |t| t as u64),
    ] {
        h ^= v;
        h = h.wrapping_mul(0x0100_0000_01b3);
        h ^= h >> 29;
    }
    h
}

fn firelake(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("firelake runs")
}

/// `firelake ARGS` started in `dir` with its output discarded, for a test that kills it.
fn spawn_firelake(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("firelake starts")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "firelake failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn replay(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["replay", "--source", "order_lines", "--lake", "lake"];
    args.extend_from_slice(extra);
    ok(firelake(dir, &args))
}

fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A row of the lake: the line, its arrival time, and its partition folder's day.
struct LakeRow {
    line: Line,
    ingested_at: i64,
    p_date: i32,
}

/// Every data row of the order_lines table, file by file, to `each`.
fn read_lake(lake: &Path, mut each: impl FnMut(LakeRow)) {
    for f in files_under(&lake.join("order_lines"), "parquet") {
        let folder = f.parent().unwrap().file_name().unwrap().to_str().unwrap();
        let p_date = time::parse_day(folder.strip_prefix("p_date=").expect("a p_date folder"))
            .expect("a day");
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let b = batch.unwrap();
            let col = |name: &str| b.column_by_name(name).unwrap_or_else(|| panic!("{name}"));
            let order = col("order_id")
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let product = col("product_id")
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let cart = col("add_to_cart_order")
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap();
            let re = col("reordered")
                .as_any()
                .downcast_ref::<BooleanArray>()
                .unwrap();
            let at = col("ordered_at")
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap();
            let ingested = col("ingested_at")
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap();
            for i in 0..b.num_rows() {
                let opt = |a: &dyn Array| !a.is_null(i);
                each(LakeRow {
                    line: Line {
                        order_id: order.value(i),
                        product_id: product.value(i),
                        cart: opt(cart).then(|| cart.value(i)),
                        reordered: opt(re).then(|| re.value(i)),
                        ordered_at: opt(at).then(|| at.value(i)),
                    },
                    ingested_at: ingested.value(i),
                    p_date,
                });
            }
        }
    }
}

fn write_csv(path: &Path, lines: impl Iterator<Item = Line>) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    w.write_all(HEADER.as_bytes()).unwrap();
    for l in lines {
        csv_row(&l, &mut w);
    }
    w.flush().unwrap();
}

#[test]
fn two_million_csv_rows_land_complete_in_the_lake() {
    const ROWS: u64 = 2_000_000;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("order_lines.csv");
    write_csv(&input, (0..ROWS).map(line));
    let expected = checksum(&(0..ROWS).map(line).collect::<Vec<_>>());

    let summary = replay(dir.path(), &["order_lines.csv"]);
    assert_eq!(summary_field(&summary, "records"), ROWS, "{summary}");
    assert_eq!(summary_field(&summary, "rejected"), 0, "{summary}");
    assert_eq!(summary_field(&summary, "lake rows"), ROWS, "{summary}");

    let (mut n, mut sum) = (0u64, 0u64);
    let mut days = HashSet::new();
    read_lake(&dir.path().join("lake"), |row| {
        n += 1;
        sum = sum.wrapping_add(line_hash(&row.line));
        // p_date is the order's day (the source's event-time column).
        assert_eq!(row.p_date, time::day_of_ms(row.line.ordered_at.unwrap()));
        days.insert(row.p_date);
    });
    assert_eq!((n, sum), expected);
    assert_eq!(days.len(), 30);
}

#[test]
fn killed_replay_resumes_without_a_gap() {
    const ROWS: u64 = 300_000;
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("lines.csv"), (0..ROWS).map(line));
    let args = [
        "replay",
        "lines.csv",
        "--source",
        "order_lines",
        "--lake",
        "lake",
        "--progress-file",
        "progress.json",
        "--rate",
        "100000/s",
        "--flush-records",
        "10000",
        "--flush-interval",
        "200ms",
    ];
    let mut child = spawn_firelake(dir.path(), &args);
    // Kill -9 once some progress is confirmed (in the lake) and the replay is not done.
    let progress = dir.path().join("progress.json");
    let confirmed = kill_once_some_progress_is_confirmed(&mut child, &progress);
    assert!(confirmed < ROWS, "killed mid-way");

    // Without --resume the stopped replay is not started over by accident.
    let again = firelake(dir.path(), &args);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));

    let mut resume_args = args.to_vec();
    resume_args.retain(|a| *a != "--rate" && *a != "100000/s");
    resume_args.push("--resume");
    let summary = ok(firelake(dir.path(), &resume_args));
    assert!(summary.contains("resumed in file 1"), "{summary}");
    // The resumed run starts right after the last confirmed row: nothing before it again.
    assert_eq!(
        summary_field(&summary, "records"),
        ROWS - confirmed,
        "{summary}"
    );

    // No gap: every input line is in the lake (duplicates allowed: the compactor removes them).
    let mut seen = HashSet::new();
    let mut rows = 0u64;
    read_lake(&dir.path().join("lake"), |row| {
        rows += 1;
        seen.insert(row.line);
    });
    let missing = (0..ROWS).map(line).filter(|l| !seen.contains(l)).count();
    assert_eq!(missing, 0, "lines missing from the lake after the resume");
    assert!(rows >= ROWS);
    let p: serde_json::Value = serde_json::from_slice(&std::fs::read(&progress).unwrap()).unwrap();
    assert_eq!(p["complete"], true);
    assert_eq!(p["published"].as_u64().unwrap(), ROWS);
}

#[test]
fn bad_rows_are_rejected_with_line_and_reason_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = HEADER.to_string();
    text += "1,11,1,1,2024-03-01 10:00:00\n"; // line 2: good (space-separated UTC time)
    text += ",12,2,0,2024-03-01T10:00:00Z\n"; // 3: no order id -> cleaner rejects (published)
    text += "2,abc,1,1,1709287200000\n"; // 4: product id not an integer -> cleaner rejects
    text += "3,13,1\n"; // 5: short row -> reader rejects (not published)
    text += "4,14,0,maybe,\n"; // 6: kept: cart 0 out of range, not a bool (nulled), no time
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"5,15,1,1,2024-03-0\xff\n"); // 7: not UTF-8 -> reader rejects
    bytes.extend_from_slice(b"6,16,2,FALSE,2024-03-02\n"); // 8: good (a date alone)
    // 9: a partition time that is not a time -> the cleaner rejects it (issue 21: it used to
    // land on the arrival day).
    bytes.extend_from_slice(b"7,17,1,1,yesterday\n");
    std::fs::write(dir.path().join("bad.csv"), &bytes).unwrap();

    let summary = replay(
        dir.path(),
        &[
            "bad.csv",
            "--rejected",
            "rejected.jsonl",
            "--flush-interval",
            "100ms",
            // Four of seven rows are rejected on purpose: over the default threshold.
            "--max-reject-rate",
            "1",
        ],
    );
    assert_eq!(summary_field(&summary, "rows"), 8, "{summary}");
    assert_eq!(summary_field(&summary, "records"), 6, "{summary}");
    assert_eq!(summary_field(&summary, "rejected"), 5, "{summary}");
    assert_eq!(summary_field(&summary, "nulled values"), 2, "{summary}");

    let rejects: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.path().join("rejected.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let got: Vec<(u64, &str, bool)> = rejects
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["kind"].as_str().unwrap(),
                r["published"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (3, "missing_required", true),
            (4, "missing_required", true),
            (5, "field_count", false),
            (7, "invalid_utf8", false),
            (9, "invalid_partition_time", true),
        ]
    );
    assert!(rejects[0]["reason"].as_str().unwrap().contains("order_id"));
    assert!(
        rejects[1]["reason"]
            .as_str()
            .unwrap()
            .contains("product_id")
    );
    assert_eq!(rejects[2]["data"], "3,13,1");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(rejects[3]["data_base64"].as_str().unwrap())
            .unwrap(),
        b"5,15,1,1,2024-03-0\xff"
    );
    assert!(rejects[2]["file"].as_str().unwrap().ends_with("bad.csv"));

    // The published bad records are kept in the lake too, raw, with the cleaner's reason.
    let mut kept = Vec::new();
    for f in files_under(&dir.path().join("lake/order_lines/_rejected"), "jsonl") {
        for l in std::fs::read_to_string(f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let raw = firelake_core::kept::KeptData::bytes_of(&v).unwrap();
            kept.push((
                String::from_utf8(raw).unwrap(),
                v["kind"].as_str().unwrap().to_string(),
            ));
        }
    }
    kept.sort();
    let mut want: Vec<(String, String)> = [&rejects[0], &rejects[1], &rejects[4]]
        .iter()
        .map(|r| {
            (
                r["data"].as_str().unwrap().to_string(),
                r["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(kept, want);

    let mut rows = Vec::new();
    read_lake(&dir.path().join("lake"), |r| rows.push(r));
    rows.sort_by_key(|r| r.line.order_id);
    let got: Vec<Line> = rows.iter().map(|r| r.line).collect();
    assert_eq!(
        got,
        vec![
            Line {
                order_id: 1,
                product_id: 11,
                cart: Some(1),
                reordered: Some(true),
                ordered_at: Some(1_709_287_200_000),
            },
            Line {
                order_id: 4,
                product_id: 14,
                cart: None,
                reordered: None,
                ordered_at: None,
            },
            Line {
                order_id: 6,
                product_id: 16,
                cart: Some(2),
                reordered: Some(false),
                ordered_at: Some(BASE_MS + DAY_MS),
            },
        ]
    );
    // Without an order time the row lands on its arrival day.
    assert_eq!(rows[1].p_date, time::day_of_ms(rows[1].ingested_at));
}

#[test]
fn rate_limit_holds_within_ten_percent() {
    const ROWS: u64 = 6000;
    const RATE: u64 = 2000;
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("lines.csv"), (0..ROWS).map(line));
    let summary = replay(dir.path(), &["lines.csv", "--rate", "2000/s"]);
    assert_eq!(summary_field(&summary, "records"), ROWS);
    // Arrival times are stamped as each batch goes onto the stream. The limiter's burst is one
    // batch (a tenth of a second: 200 records), so the first batch goes at once and the rest
    // at the rate: the last arrives (ROWS - 200) / RATE seconds after the first.
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    let mut n = 0;
    read_lake(&dir.path().join("lake"), |row| {
        n += 1;
        first = first.min(row.ingested_at);
        last = last.max(row.ingested_at);
    });
    assert_eq!(n, ROWS);
    let expected_ms = ((ROWS - RATE / 10) * 1000 / RATE) as i64;
    let took_ms = last - first;
    assert!(
        took_ms * 10 >= expected_ms * 9 && took_ms * 2 <= expected_ms * 3,
        "{ROWS} records at {RATE}/s: the first and last arrived {took_ms} ms apart, expected {expected_ms} ms"
    );
}

fn write_parquet(path: &Path, lines: &[Line]) {
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new("product_id", DataType::Int64, false),
        Field::new("add_to_cart_order", DataType::Int32, true),
        Field::new("reordered", DataType::Boolean, true),
        Field::new(
            "ordered_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(Int64Array::from_iter_values(
                lines.iter().map(|l| l.order_id),
            )),
            std::sync::Arc::new(Int64Array::from_iter_values(
                lines.iter().map(|l| l.product_id),
            )),
            std::sync::Arc::new(Int32Array::from_iter(lines.iter().map(|l| l.cart))),
            std::sync::Arc::new(BooleanArray::from_iter(lines.iter().map(|l| l.reordered))),
            std::sync::Arc::new(
                TimestampMillisecondArray::from_iter(lines.iter().map(|l| l.ordered_at))
                    .with_timezone("UTC"),
            ),
        ],
    )
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1000))
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn compressed_json_lines_and_parquet_inputs_land_the_same_rows() {
    const ROWS: u64 = 5000;
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<Line> = (0..ROWS).map(line).collect();
    // Some nulls, to see them survive every format.
    lines[7].cart = None;
    lines[8].reordered = None;
    lines[9].ordered_at = None;
    let expected = checksum(&lines);
    let mut csv = HEADER.as_bytes().to_vec();
    for l in &lines {
        csv_row(l, &mut csv);
    }
    let mut jsonl = Vec::new();
    for l in &lines {
        let v = serde_json::json!({
            "order_id": l.order_id, "product_id": l.product_id, "add_to_cart_order": l.cart,
            "reordered": l.reordered,
            "ordered_at": l.ordered_at.map(|t| { let mut s = String::new(); time::format_ms(t, &mut s); s }),
        });
        serde_json::to_writer(&mut jsonl, &v).unwrap();
        jsonl.push(b'\n');
    }
    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let zst = |data: &[u8]| zstd::stream::encode_all(data, 3).unwrap();
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("lines.csv.gz", gz(&csv)),
        ("lines.csv.zst", zst(&csv)),
        ("lines.jsonl.gz", gz(&jsonl)),
        ("lines.jsonl.zst", zst(&jsonl)),
    ];
    let mut names: Vec<&str> = Vec::new();
    for (name, bytes) in &inputs {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        names.push(name);
    }
    write_parquet(&dir.path().join("lines.parquet"), &lines);
    names.push("lines.parquet");
    for name in names {
        let lake = format!("lake-{name}");
        let out = ok(firelake(
            dir.path(),
            &["replay", name, "--source", "order_lines", "--lake", &lake],
        ));
        assert_eq!(summary_field(&out, "records"), ROWS, "{name}: {out}");
        let mut got = Vec::new();
        read_lake(&dir.path().join(&lake), |r| got.push(r.line));
        assert_eq!(checksum(&got), expected, "{name}");
    }
}

#[test]
fn several_files_by_glob_and_resume_after_completion_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("part-1.csv"), (0..3000).map(line));
    write_csv(&dir.path().join("part-2.csv"), (3000..3500).map(line));
    std::fs::write(dir.path().join("part-3.csv"), HEADER).unwrap(); // header only
    let summary = replay(dir.path(), &["part-*.csv"]);
    assert_eq!(summary_field(&summary, "files"), 3);
    assert_eq!(summary_field(&summary, "records"), 3500);
    let lake_files = files_under(&dir.path().join("lake"), "parquet");
    let mut got = Vec::new();
    read_lake(&dir.path().join("lake"), |r| got.push(r.line));
    assert_eq!(
        checksum(&got),
        checksum(&(0..3500).map(line).collect::<Vec<_>>())
    );

    let again = replay(dir.path(), &["part-*.csv", "--resume"]);
    assert!(again.contains("already complete"), "{again}");
    assert_eq!(summary_field(&again, "records"), 0);
    assert_eq!(files_under(&dir.path().join("lake"), "parquet"), lake_files);
    let refused = firelake(
        dir.path(),
        &[
            "replay",
            "part-*.csv",
            "--source",
            "order_lines",
            "--lake",
            "lake",
        ],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("complete"));
}

#[test]
fn event_time_flag_moves_p_date_and_must_name_a_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("lines.csv"), (0..100).map(line));
    // p_date from the arrival column instead of the order time: every row on today's date.
    replay(dir.path(), &["lines.csv", "--event-time", "ingested_at"]);
    let mut days = HashSet::new();
    read_lake(&dir.path().join("lake"), |r| {
        assert_eq!(r.p_date, time::day_of_ms(r.ingested_at));
        days.insert(r.p_date);
    });
    assert!(!days.is_empty() && days.len() <= 2, "{days:?}");

    let bad = firelake(
        dir.path(),
        &[
            "replay",
            "lines.csv",
            "--source",
            "order_lines",
            "--event-time",
            "order_id",
        ],
    );
    assert!(!bad.status.success());
    let e = String::from_utf8_lossy(&bad.stderr);
    assert!(
        e.contains("int64") && e.contains("ordered_at, ingested_at"),
        "{e}"
    );
}

#[test]
fn a_file_with_a_foreign_header_fails_before_anything_is_published() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("a.csv"), (0..10).map(line));
    std::fs::write(dir.path().join("b.csv"), "id,name\n1,x\n").unwrap();
    let out = firelake(
        dir.path(),
        &[
            "replay",
            "a.csv",
            "b.csv",
            "--source",
            "order_lines",
            "--progress-file",
            "p.json",
        ],
    );
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("b.csv") && e.contains("no header names a column"),
        "{e}"
    );
    assert!(!dir.path().join("p.json").exists());
    assert!(files_under(&dir.path().join("lake"), "parquet").is_empty());
}

#[test]
fn unknown_streams_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_csv(&dir.path().join("lines.csv"), (0..10).map(line));
    for to in ["pulsar://x/y", "kinesis://", "firehose://"] {
        let out = firelake(
            dir.path(),
            &["replay", "lines.csv", "--source", "order_lines", "--to", to],
        );
        assert!(!out.status.success());
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains("unknown stream"), "{to}: {e}");
    }
    assert!(!dir.path().join("lake").exists());
}

fn aws_tool(args: &[&str]) -> String {
    common::python_tool("aws_tool.py", args)
}

/// Replay into Kinesis (kinesalite) through the producer's Kinesis publisher, killed once
/// mid-way and resumed, then `firelake consume` into a local lake: every row lands (the
/// consumer's files may hold the last unconfirmed batch twice; the compactor removes such
/// duplicates, so the check is on the distinct rows plus the multiset of what landed).
#[test]
fn replay_into_kinesis_killed_and_resumed_then_consumed_lands_every_row() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    common::require_emulators();
    const ROWS: u64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let stream = common::unique("lines");
    aws_tool(&["create-stream", &stream, "2"]);
    let lines: Vec<Line> = (0..ROWS).map(line).collect();
    // Two bad rows (no integer order id): rejected with their line numbers, never published.
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.path().join("l.csv")).unwrap());
    w.write_all(HEADER.as_bytes()).unwrap();
    for (i, l) in lines.iter().enumerate() {
        if i == 100 || i == 40_000 {
            w.write_all(b"not-an-id,1,1,1,1709251200000\n").unwrap();
        } else {
            csv_row(l, &mut w);
        }
    }
    drop(w);
    let to = format!("kinesis://{stream}");
    let args = [
        "replay",
        "l.csv",
        "--source",
        "order_lines",
        "--to",
        &to,
        "--progress-file",
        "p.json",
        "--rate",
        "20000/s",
    ];
    // Kill it once it has published something (the progress file exists).
    let mut child = spawn_firelake(dir.path(), &args);
    kill_once_some_progress_is_confirmed(&mut child, &dir.path().join("p.json"));
    let mut resumed = args.to_vec();
    resumed.push("--resume");
    let summary = ok(firelake(dir.path(), &resumed));
    assert!(summary.contains("resumed"), "{summary}");
    assert!(summary.contains(&to), "{summary}");

    let consumed = ok(firelake(
        dir.path(),
        &[
            "consume",
            "--from",
            &to,
            "--source",
            "order_lines",
            "--lake",
            "lake",
            "--exit-when-idle",
            "3s",
            "--flush-interval",
            "1s",
        ],
    ));
    let rejects = std::fs::read_to_string(dir.path().join("p.json.rejected.jsonl")).unwrap();
    assert_eq!(rejects.lines().count(), 2, "{rejects}");
    assert!(rejects.contains("\"line\":102"), "{rejects}");
    let expected: HashSet<Line> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 100 && *i != 40_000)
        .map(|(_, l)| *l)
        .collect();
    let mut got = HashSet::new();
    let mut n = 0u64;
    read_lake(&dir.path().join("lake"), |row| {
        n += 1;
        got.insert(row.line);
    });
    assert_eq!(got.len(), expected.len(), "{consumed}");
    assert!(
        got == expected,
        "the distinct rows are the input minus the 2 rejected"
    );
    // At most the batch in flight at the kill (500 records, the replay's batch for a
    // broker) is sent twice.
    assert!(n - got.len() as u64 <= 500, "{n} rows");
}

/// Inputs in S3 (moto): a plain CSV object larger than one ranged read, a gzip CSV and a
/// Parquet object, named by one glob; the replay is killed mid-way and resumed (the reader
/// starts again at its saved byte offset in the object): every row lands exactly.
#[test]
fn s3_inputs_by_glob_replay_completely_across_a_kill_and_resume() {
    if firelake_testkit::skip(firelake_testkit::Needs::Aws) {
        return;
    }
    common::require_emulators();
    let dir = tempfile::tempdir().unwrap();
    let bucket = common::unique("exports");
    aws_tool(&["create-bucket", &bucket]);
    // part-1: 300,000 lines, about 12 MB: two ranged reads.
    write_csv(&dir.path().join("part-1.csv"), (0..300_000).map(line));
    let mut csv = HEADER.as_bytes().to_vec();
    for i in 300_000..320_000 {
        csv_row(&line(i), &mut csv);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&csv).unwrap();
    std::fs::write(dir.path().join("part-2.csv.gz"), gz.finish().unwrap()).unwrap();
    let tail: Vec<Line> = (320_000..330_000).map(line).collect();
    write_parquet(&dir.path().join("part-3.parquet"), &tail);
    for name in ["part-1.csv", "part-2.csv.gz", "part-3.parquet"] {
        let local = dir.path().join(name);
        aws_tool(&[
            "put-file",
            &bucket,
            &format!("in/{name}"),
            local.to_str().unwrap(),
        ]);
        std::fs::remove_file(local).unwrap();
    }
    let glob = format!("s3://{bucket}/in/part-*");
    let args = [
        "replay",
        &glob,
        "--source",
        "order_lines",
        "--lake",
        "lake",
        "--progress-file",
        "p.json",
        "--rate",
        "150000/s",
        "--flush-records",
        "20000",
    ];
    let mut child = spawn_firelake(dir.path(), &args);
    let confirmed = kill_once_some_progress_is_confirmed(&mut child, &dir.path().join("p.json"));
    let mut resumed = args.to_vec();
    resumed.push("--resume");
    let summary = ok(firelake(dir.path(), &resumed));
    assert!(summary.contains("resumed"), "{summary}");
    assert_eq!(summary_field(&summary, "files"), 3, "{summary}");
    let expected: HashSet<Line> = (0..330_000).map(line).collect();
    let mut got = HashSet::new();
    let mut n = 0u64;
    read_lake(&dir.path().join("lake"), |row| {
        n += 1;
        got.insert(row.line);
    });
    assert!(
        got == expected,
        "{} distinct rows of {}",
        got.len(),
        expected.len()
    );
    // The resumed run starts right after the last confirmed row; duplicates are only what the
    // killed run wrote after that (the compactor removes them).
    assert_eq!(
        summary_field(&summary, "records"),
        330_000 - confirmed,
        "{summary}"
    );
    assert!(n >= 330_000, "{summary}");
}

/// Kill -9 the replay once its progress file has moved past the start and before it is
/// complete (a kill mid-way, whatever the machine's speed).
/// Returns the records the killed run had confirmed.
fn kill_once_some_progress_is_confirmed(child: &mut std::process::Child, progress: &Path) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "no progress within 120 s");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the replay ended ({status}) before it could be killed: make it slower");
        }
        let saved: Option<serde_json::Value> = std::fs::read(progress)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if saved.is_some_and(|p| p["published"].as_u64().unwrap_or(0) > 0) {
            child.kill().unwrap();
            child.wait().unwrap();
            let at: serde_json::Value =
                serde_json::from_slice(&std::fs::read(progress).unwrap()).unwrap();
            assert_eq!(at["complete"], false, "killed mid-way: {at}");
            return at["published"].as_u64().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
