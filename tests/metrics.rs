//! `--metrics-addr` (issue 21 point 5), through the binary: a Prometheus scrape during a
//! Kinesis `consume` (kinesalite) shows the counters moving to what the consumer read.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use common::{firelake, python_tool, unique};
use firelake_testkit::free_port;

/// One scrape, or None while the endpoint is not up (yet, or any more).
fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    Some(text)
}

fn value(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

#[test]
fn a_scrape_during_consume_shows_the_counters() {
    let dir = tempfile::tempdir().unwrap();
    let stream = unique("metrics");
    python_tool("aws_tool.py", &["create-stream", &stream, "1"]);
    let to = format!("kinesis://{stream}");
    let (ok, out, err) = firelake(
        dir.path(),
        &[
            "produce",
            "--source",
            "users",
            "--to",
            &to,
            "--sample-records",
            "3000",
            "--every",
            "0s",
        ],
    );
    assert!(ok, "produce: {out}\n{err}");
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_firelake"))
        .args([
            "consume",
            "--from",
            &to,
            "--lake",
            "lake",
            "--exit-when-idle",
            "30s",
        ])
        .args(["--flush-interval", "1s", "--metrics-addr", &addr])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Scrape until every record is counted; the consumer waits 30 s idle before it stops,
    // so the endpoint is still up when the counters reach the total.
    let mut last = String::new();
    let done = loop {
        if let Some(text) = scrape(port) {
            let counted = value(&text, "firelake_records_in_total{table=\"users\"}");
            let durable = value(&text, "firelake_flushes_total{table=\"users\"}");
            last = text;
            if counted == Some(3000) && durable.is_some_and(|f| f > 0) {
                break true;
            }
        }
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        done,
        "the consumer ended before a scrape counted 3000 records; last scrape:\n{last}"
    );
    let out_rows = value(&last, "firelake_records_out_total{table=\"users\"}").unwrap();
    let rejected = value(&last, "firelake_rejected_total{table=\"users\"}").unwrap();
    assert_eq!(out_rows + rejected, 3000, "{last}");
    assert!(
        last.contains("Content-Type: text/plain; version=0.0.4"),
        "{last}"
    );
    assert!(
        last.contains("# TYPE firelake_records_in_total counter"),
        "{last}"
    );
    let nulled: u64 = last
        .lines()
        .filter(|l| l.starts_with("firelake_nulled_values_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(nulled > 0, "the sample makes nulled values: {last}");
}
