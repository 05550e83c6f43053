//! Issue 21 point 3, through the binary: every value a rule nulls is counted in the summary
//! and kept, with its original, in `<table>/_nulled/` side files; a partition time that does
//! not parse rejects its record instead of moving it to the arrival day.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::firelake;

fn ok(dir: &Path, args: &[&str]) -> String {
    let (success, out, err) = firelake(dir, args);
    assert!(success, "firelake {args:?} failed: {err}\n{out}");
    out
}

fn jsonl_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(jsonl_under(&p));
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
    out
}

fn lines_under(dir: &Path) -> Vec<serde_json::Value> {
    jsonl_under(dir)
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `nulled values  N (col reason n, ...; originals under ...)` -> (N, {"col reason": n}).
fn nulled_summary(out: &str) -> (u64, BTreeMap<String, u64>) {
    let line = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("nulled values"))
        .unwrap_or_else(|| panic!("no nulled line in:\n{out}"))
        .trim();
    let (total, rest) = line.split_once(' ').unwrap();
    let inner = rest.trim_start_matches('(').split(';').next().unwrap();
    let mut by = BTreeMap::new();
    for part in inner.split(", ").filter(|p| *p != "none") {
        let (name, n) = part.rsplit_once(' ').unwrap();
        by.insert(name.to_string(), n.parse().unwrap());
    }
    (total.parse().unwrap(), by)
}

#[test]
fn run_counts_every_nulled_value_and_keeps_its_original() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["run", "--lake", "lake"]);
    let (total, by) = nulled_summary(&out);
    assert!(total > 0, "the default sample makes nulls: {out}");
    let lines = lines_under(&dir.path().join("lake/users/_nulled"));
    assert_eq!(lines.len() as u64, total, "{out}");
    let mut from_files: BTreeMap<String, u64> = BTreeMap::new();
    for l in &lines {
        let key = format!(
            "{} {}",
            l["column"].as_str().unwrap(),
            l["kind"].as_str().unwrap()
        );
        *from_files.entry(key).or_default() += 1;
        assert!(l["original"].as_str().is_some_and(|o| !o.is_empty()), "{l}");
        assert!(l["key"].as_str().is_some_and(|k| !k.is_empty()), "{l}");
        // The record is kept whole for reprocessing, its never-read values redacted.
        let data = l["data"].as_str().unwrap();
        let record: serde_json::Value = serde_json::from_str(data).unwrap();
        let original: serde_json::Value =
            serde_json::from_str(l["original"].as_str().unwrap()).unwrap();
        assert!(
            data.contains(&original.to_string()) || data.contains(l["original"].as_str().unwrap())
        );
        if let Some(pw) = record.pointer("/login/password") {
            assert_eq!(pw, "<redacted>", "{l}");
        }
    }
    assert_eq!(from_files, by, "{out}");
    assert!(by.keys().any(|k| k.starts_with("age ")), "{by:?}");
    assert!(by.keys().any(|k| k.starts_with("latitude ")), "{by:?}");
}

#[test]
fn a_replayed_partition_time_that_does_not_parse_is_rejected_not_moved_to_today() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lines.jsonl"),
        concat!(
            r#"{"order_id":1,"product_id":2,"ordered_at":"2024-03-01T10:00:00Z"}"#,
            "\n",
            r#"{"order_id":2,"product_id":2,"ordered_at":"not-a-date"}"#,
            "\n",
            r#"{"order_id":3,"product_id":2,"ordered_at":"2024-03-01T11:00:00Z","add_to_cart_order":0}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = ok(
        dir.path(),
        &[
            "replay",
            "lines.jsonl",
            "--source",
            "order_lines",
            "--lake",
            "lake",
        ],
    );
    let table = dir.path().join("lake/order_lines");
    let days: Vec<String> = std::fs::read_dir(&table)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("p_date="))
        .collect();
    assert_eq!(
        days,
        ["p_date=2024-03-01"],
        "no row moved to another day: {out}"
    );
    let rejected = lines_under(&table.join("_rejected"));
    let kinds: Vec<&str> = rejected.iter().filter_map(|l| l["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"invalid_partition_time"),
        "{rejected:?}\n{out}"
    );
    let (total, by) = nulled_summary(&out);
    assert_eq!(
        (total, by.get("add_to_cart_order out_of_range")),
        (1, Some(&1)),
        "{out}"
    );
    let nulled = lines_under(&table.join("_nulled"));
    assert_eq!(nulled.len(), 1);
    assert_eq!(
        (nulled[0]["original"].as_str(), nulled[0]["key"].as_str()),
        (Some("0"), Some("3\u{1f}2"))
    );
}

#[test]
fn convert_counts_nulled_values_and_keeps_their_originals_beside_the_rejects() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.jsonl"),
        concat!(
            r#"{"login":{"uuid":"a","password":"QZXJ"},"dob":{"age":"old"}}"#,
            "\n",
            r#"{"login":{"uuid":"b"},"gender":"robot","dob":{"age":30}}"#,
            "\n",
            r#"{"login":{"uuid":"c"}}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = ok(
        dir.path(),
        &["convert", "in.jsonl", "out.parquet", "--source", "users"],
    );
    assert!(out.contains("rows_out=3 rejected=0 nulled=2 "), "{out}");
    assert!(
        out.contains("nulled_by=\"age wrong_type 1, gender not_allowed 1\""),
        "{out}"
    );
    let text = std::fs::read_to_string(dir.path().join("out.parquet.nulled.jsonl")).unwrap();
    assert!(!text.contains("QZXJ"), "never-read values redacted: {text}");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        (lines[0]["line"].as_u64(), lines[0]["original"].as_str()),
        (Some(1), Some("\"old\""))
    );
    assert_eq!(
        (lines[1]["column"].as_str(), lines[1]["key"].as_str()),
        (Some("gender"), Some("b"))
    );
}
