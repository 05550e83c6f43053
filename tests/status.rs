//! `firelake status` (issue 21 point 4), through the binary: `--json` agrees with what DuckDB
//! counts in the lake, and the `--html` page renders in headless Chromium with the same
//! numbers (read back from its DOM) and a screenshot.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{firelake, python};

fn ok(dir: &Path, args: &[&str]) -> String {
    let (success, out, err) = firelake(dir, args);
    assert!(success, "firelake {args:?} failed: {err}\n{out}");
    out
}

/// A lake with rows, rejects and nulled values on one day.
fn lake_with_data() -> (tempfile::TempDir, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["run", "--lake", "lake", "--records", "4000"]);
    ok(dir.path(), &["compact", "--lake", "lake", "--all"]);
    let json = ok(dir.path(), &["status", "--lake", "lake", "--json"]);
    (dir, serde_json::from_str(&json).unwrap())
}

const DUCKDB_COUNTS: &str = r#"
import duckdb, json, sys
t = sys.argv[1]
q = lambda sql: duckdb.sql(sql).fetchall()
rows = q(f"SELECT p_date::VARCHAR, count(*) FROM read_parquet('{t}/p_date=*/*.parquet', hive_partitioning=true) GROUP BY 1")
rej = q(f"SELECT p_date::VARCHAR, kind, count(*) FROM read_json('{t}/_rejected/p_date=*/*.jsonl', hive_partitioning=true, format='newline_delimited') GROUP BY 1, 2")
nul = q(f'''SELECT p_date::VARCHAR, "column" || ' ' || kind, count(*) FROM read_json('{t}/_nulled/p_date=*/*.jsonl', hive_partitioning=true, format='newline_delimited') GROUP BY 1, 2''')
out = {}
for d, n in rows: out.setdefault(d, {"rows": 0, "rejects": {}, "nulled": {}})["rows"] = n
for d, k, n in rej: out.setdefault(d, {"rows": 0, "rejects": {}, "nulled": {}})["rejects"][k] = n
for d, k, n in nul: out.setdefault(d, {"rows": 0, "rejects": {}, "nulled": {}})["nulled"][k] = n
print(json.dumps(out))
"#;

#[test]
fn status_json_agrees_with_duckdb() {
    let (dir, status) = lake_with_data();
    let out = Command::new(python())
        .args(["-c", DUCKDB_COUNTS])
        .arg(dir.path().join("lake/users"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let duck: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let table = &status["tables"][0];
    assert_eq!(table["table"], "users");
    let days = table["days"].as_array().unwrap();
    assert_eq!(days.len(), duck.len(), "{duck:?}");
    let mut total = 0;
    for d in days {
        let day = d["day"].as_str().unwrap();
        let want = &duck[day];
        assert_eq!(d["rows"], want["rows"], "{day}");
        assert_eq!(d["rejects_by_reason"], want["rejects"], "{day}");
        assert_eq!(d["nulled_by_column"], want["nulled"], "{day}");
        total += d["rows"].as_u64().unwrap();
    }
    assert_eq!(table["rows"].as_u64(), Some(total));
    assert!(table["nulled"].as_u64().unwrap() > 0 && table["rejected"].as_u64().unwrap() > 0);
    assert!(table["newest_age_seconds"].as_i64().is_some());
}

/// The value of every `data-metric` element in the DOM, as `(day or "", metric) -> text`.
fn metrics_in(dom: &str) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    let mut day = String::new();
    for tag in dom.split('<').skip(1) {
        if let Some(rest) = tag.strip_prefix("tr data-day=\"") {
            day = rest.split('"').next().unwrap().to_string();
        }
        if let Some(i) = tag.find("data-metric=\"") {
            let name = tag[i + 13..].split('"').next().unwrap().to_string();
            let text = tag.split('>').nth(1).unwrap_or("").to_string();
            out.insert((day.clone(), name), text);
        }
    }
    out
}

#[test]
fn status_html_renders_in_headless_chromium_with_the_json_numbers() {
    let chromium = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(chromium) = chromium else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing in CI: .ci/run installs Debian's chromium package"
        );
        eprintln!("SKIPPED: no chromium here (apt-get install -y chromium); CI runs this test");
        return;
    };
    let (dir, status) = lake_with_data();
    ok(
        dir.path(),
        &["status", "--lake", "lake", "--html", "page.html"],
    );
    let page = dir.path().join("page.html");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "self-contained"
    );
    let url = format!("file://{}", page.display());
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1200,1400",
    ];
    let dom = Command::new(chromium)
        .args(flags)
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
    let table = &status["tables"][0];
    // The page's script ran and counted the same rows.
    let js = format!("data-js-rows=\"{}\"", table["rows"]);
    assert!(dom.contains(&js), "{js} not in the rendered page");
    let got = metrics_in(&dom);
    for m in [
        "rows",
        "raw_files",
        "rejected",
        "reprocessed",
        "nulled",
        "stale_days",
    ] {
        assert_eq!(
            got[&(String::new(), m.to_string())],
            table[m].to_string(),
            "{m}"
        );
    }
    for d in table["days"].as_array().unwrap() {
        let day = d["day"].as_str().unwrap().to_string();
        for m in [
            "rows",
            "raw_files",
            "raw_bytes",
            "rejected",
            "reprocessed",
            "nulled",
        ] {
            assert_eq!(
                got[&(day.clone(), m.to_string())],
                d[m].to_string(),
                "{day} {m}"
            );
        }
        assert_eq!(
            got[&(day.clone(), "stale_raw_files".to_string())],
            d["curated"]["stale_raw_files"].to_string(),
            "{day}"
        );
    }
    for chart in ["rows", "rejects", "sizes", "freshness"] {
        assert!(
            dom.contains(&format!("data-chart=\"{chart}\"")),
            "{chart} chart"
        );
    }
    let shot = dir.path().join("status.png");
    let out = Command::new(chromium)
        .args(flags)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("a screenshot is made");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}
