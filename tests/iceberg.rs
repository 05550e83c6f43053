//! Issue 20 points 1, 2 and 6: `firelake run --iceberg` lands the source's table as an Apache
//! Iceberg table in the SQL catalog file inside the lake, read back by pyiceberg (an
//! independent reader) and compared with the same lake's Hive-style folders read by pyarrow.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::{
    assert_iceberg_table_is_the_lake, firelake_command, iceberg_check, iceberg_check_table, root,
    schema_field, stdout_of, summary_field, users_def,
};
use serde_json::Value;

/// `firelake run` in `dir` with no FIRELAKE_* settings of this environment: its summary.
fn run(dir: &Path, args: &[&str]) -> String {
    stdout_of(firelake_command(dir).arg("run").args(args))
}

#[test]
fn run_lands_an_iceberg_table_that_pyiceberg_reads_and_a_rerun_adds_only_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s1 = run(
        d,
        &[
            "--records",
            "3000",
            "--seed",
            "7",
            "--flush-records",
            "400",
            "--iceberg",
        ],
    );
    let (rows1, rejected1) = (
        summary_field(&s1, "rows out"),
        summary_field(&s1, "rejected"),
    );
    assert_eq!(rows1 + rejected1, 3000);
    assert!(rejected1 > 0, "the sample source makes bad records");
    assert!(s1.contains("iceberg "), "{s1}");
    let c1 = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c1);
    assert_eq!(c1["rows"], rows1, "records minus the rejected: {c1}");
    assert_eq!(
        c1["partition_spec"],
        serde_json::json!(["day(ingested_at)"])
    );
    let columns = c1["columns"].as_array().unwrap();
    assert!(columns.iter().all(|c| {
        let c = c.as_str().unwrap();
        c == c.to_lowercase()
    }));
    assert!(
        !columns.contains(&Value::from("p_date")),
        "p_date is hidden"
    );
    let days: u64 = c1["days"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(days, rows1);
    let files1 = c1["files"].as_u64().unwrap();
    assert!(files1 > 1);
    let positions = c1["positions"].as_array().unwrap();
    // Both shards of the embedded stream, each with the ranges its files cover.
    let p = positions[0].as_str().unwrap();
    assert!(
        p.starts_with("embedded.users-shard-0000:") && p.contains(";embedded.users-shard-0001:"),
        "{c1}"
    );

    // A rerun commits its own files, in batches of at most two files, and nothing again.
    let s2 = run(
        d,
        &[
            "--records",
            "2000",
            "--seed",
            "8",
            "--flush-records",
            "400",
            "--iceberg",
            "--iceberg-commit-files",
            "2",
        ],
    );
    let rows2 = summary_field(&s2, "rows out");
    let c2 = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c2);
    assert_eq!(c2["rows"], rows1 + rows2, "{c2}");
    let files2 = c2["files"].as_u64().unwrap() - files1;
    let snapshots2 = c2["snapshots"].as_u64().unwrap() - c1["snapshots"].as_u64().unwrap();
    assert!(
        snapshots2 >= files2.div_ceil(2),
        "{files2} files in {snapshots2} commits"
    );

    // Run once more with nothing new written by a crash: no commit adds anything twice.
    run(d, &["--records", "1", "--seed", "9", "--iceberg"]);
    assert_iceberg_table_is_the_lake(&iceberg_check(d));
}

#[test]
fn files_written_before_a_kill_9_are_committed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No commit during the run (an hour's wait, a million files): a kill after the first
    // file is written is a kill between writing and committing.
    let mut child = firelake_command(d)
        .args([
            "run",
            "--records",
            "2000000",
            "--flush-records",
            "500",
            "--iceberg",
            "--iceberg-commit-interval",
            "1h",
            "--iceberg-commit-files",
            "1000000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let written = |d: &Path| -> usize {
        let Ok(days) = std::fs::read_dir(d.join("lake/users")) else {
            return 0;
        };
        days.flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("p_date="))
            .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
            .filter(|f| f.file_name().to_string_lossy().ends_with(".parquet"))
            .count()
    };
    while written(d) < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed = iceberg_check(d);
    assert_eq!(
        killed["files"], 0,
        "nothing committed before the kill: {killed}"
    );
    assert!(killed["lake_files"].as_u64().unwrap() >= 2);
    // A kill between writing a file and linking it into place leaves object_store's staging
    // copy, a whole Parquet file (a CI run once had one): it is not a data file of the table.
    let first = std::fs::read_dir(d.join("lake/users"))
        .unwrap()
        .flatten()
        .flat_map(|day| std::fs::read_dir(day.path()).unwrap().flatten())
        .map(|f| f.path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let staging = format!("{}#1", first.display());
    std::fs::copy(&first, &staging).unwrap();

    run(d, &["--records", "1000", "--seed", "3", "--iceberg"]);
    let c = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c);
    assert!(c["files"].as_u64().unwrap() > killed["lake_files"].as_u64().unwrap());
}

#[test]
fn two_committers_at_once_add_every_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Files written and not committed, then two runs with nothing to write commit them at
    // once, one file per commit: they race on the catalog's compare-and-swap and on the
    // same files.
    let written = run(d, &["--records", "3000", "--flush-records", "150"]);
    let rows = summary_field(&written, "rows out");
    let committer = || {
        let mut c = firelake_command(d);
        c.args([
            "run",
            "--records",
            "0",
            "--iceberg",
            "--iceberg-commit-files",
            "1",
        ]);
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (committer(), committer());
    let mut committed = 0;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with("iceberg"))
            .unwrap();
        committed += summary_field(line, "iceberg");
    }
    let c = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c);
    assert_eq!(c["rows"], rows, "{c}");
    assert_eq!(
        c["files"], committed,
        "each file committed by one of the two: {c}"
    );
}

#[test]
fn embedded_replay_lands_an_iceberg_table_partitioned_by_its_event_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 3000 order lines over 30 days (2024-03-01 on), and two lines the source rejects.
    let mut csv = String::from("order_id,product_id,add_to_cart_order,reordered,ordered_at\n");
    for i in 0..3000u64 {
        let ordered_at = 1_709_251_200_000 + (i % 30) * 86_400_000 + i * 1000;
        csv.push_str(&format!(
            "{},{},{},{},{ordered_at}\n",
            i / 8 + 1,
            i % 8 + 1,
            i % 8 + 1,
            i % 2
        ));
    }
    csv.push_str("not-a-number,1,1,1,1709251200000\n,2,1,1,1709251200000\n");
    std::fs::write(d.join("lines.csv"), csv).unwrap();
    let out = firelake_command(d)
        .args([
            "replay",
            "lines.csv",
            "--source",
            "order_lines",
            "--iceberg",
        ])
        .output()
        .unwrap();
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = summary_field(&summary, "lake rows");
    assert_eq!(rows, 3000, "{summary}");
    let c = iceberg_check_table(d, "order_lines");
    assert_iceberg_table_is_the_lake(&c);
    assert_eq!(c["rows"], rows);
    assert_eq!(c["partition_spec"], serde_json::json!(["day(ordered_at)"]));
    assert_eq!(c["days"].as_object().unwrap().len(), 30, "{c}");

    // Another partition timestamp would put files in folders of another day than their
    // partition value says: refused before anything is written.
    let out = firelake_command(d)
        .args([
            "replay",
            "lines.csv",
            "--source",
            "order_lines",
            "--iceberg",
        ])
        .args([
            "--event-time",
            "ingested_at",
            "--progress-file",
            "other.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("partitioned by another column than ingested_at"),
        "{err}"
    );
    let files = |d: &Path| {
        std::fs::read_dir(d.join("lake/order_lines"))
            .unwrap()
            .count()
    };
    assert_eq!(
        files(d),
        c["days"].as_object().unwrap().len() + 1,
        "30 days and _rejected"
    );
}

/// What a refused start must leave as it was: the table's schema, metadata and snapshots.
fn table_state(c: &Value) -> Value {
    serde_json::json!([
        c["schema"],
        c["name_mapping"],
        c["metadata_location"],
        c["snapshots"],
        c["rows"]
    ])
}

/// Issue 20 point 5 for the Iceberg table: a definition that gained a nullable column and
/// widened an int32 evolves the table at the next `--iceberg` start (new field id, the name
/// mapping follows); a refused change, or any change under freeze, fails before anything is
/// written and leaves the table as it was.
#[test]
fn a_changed_definition_evolves_the_iceberg_table_and_a_refused_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let records =
        |seed: &'static str| ["--records", "600", "--seed", seed, "--flush-records", "200"];
    let s1 = run(d, &[&records("1")[..], &["--iceberg"]].concat());
    let rows1 = summary_field(&s1, "rows out");
    assert_eq!(rows1 + summary_field(&s1, "rejected"), 600);
    let c1 = iceberg_check(d);
    let (street_id, street_type) = schema_field(&c1, "street_number");
    assert_eq!(street_type, "int");
    let last_id = c1["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_u64().unwrap())
        .max()
        .unwrap();

    // v2: a new nullable column (the users' nationality) and street_number int32 -> int64.
    let v2 = users_def(d, "v2", "int64", &[("nat", "/nat")]);
    let s2 = run(
        d,
        &[&records("2")[..], &["--iceberg", "--source-dir", &v2]].concat(),
    );
    let rows2 = summary_field(&s2, "rows out");
    assert_eq!(rows2 + summary_field(&s2, "rejected"), 600);
    let c2 = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c2);
    assert_eq!(c2["rows"], rows1 + rows2, "{c2}");
    assert_eq!(
        schema_field(&c2, "street_number"),
        (street_id, "long".into()),
        "widened in place"
    );
    let (nat_id, nat_type) = schema_field(&c2, "nat");
    assert_eq!(
        (nat_id, nat_type.as_str()),
        (last_id + 1, "string"),
        "a new id: {c2}"
    );
    assert!(
        c2["name_mapping"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"field-id": nat_id, "names": ["nat"]})),
        "{c2}"
    );
    // The first run's rows read null, the second's have values.
    let nat = c2["non_null"]["nat"].as_u64().unwrap();
    assert!(nat > 0 && nat <= rows2, "{c2}");
    // Old int32 values are read through the widened type (not as nulls).
    let streets = c2["non_null"]["street_number"].as_u64().unwrap();
    assert!(streets > rows2, "{c2}");

    // v3 drops nat: refused before anything is written, the table unchanged.
    let v3 = users_def(d, "v3", "int64", &[]);
    let out = firelake_command(d)
        .arg("run")
        .args(records("3"))
        .args(["--iceberg", "--source-dir", &v3])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("column nat was dropped"), "{err}");
    let c3 = iceberg_check(d);
    assert_eq!(table_state(&c3), table_state(&c2));
    assert_eq!(c3["lake_files"], c2["lake_files"], "nothing written");

    // v4 adds a column. The Hive-style table is evolved by a run without --iceberg (its files
    // wait uncommitted); under freeze the Iceberg table's difference alone refuses the start.
    let v4 = users_def(
        d,
        "v4",
        "int64",
        &[("nat", "/nat"), ("cell_country", "/cell_country")],
    );
    let s4 = run(d, &[&records("4")[..], &["--source-dir", &v4]].concat());
    let rows4 = summary_field(&s4, "rows out");
    let c4 = iceberg_check(d);
    // `schema diff` shows the Iceberg table's change beside the up-to-date catalog table,
    // and changes nothing.
    let diff = stdout_of(firelake_command(d).args(["schema", "diff", "--source-dir", &v4]));
    assert!(diff.contains("table users: up to date"), "{diff}");
    assert!(
        diff.contains("iceberg table firelake.users: add column cell_country string (applied"),
        "{diff}"
    );
    assert_eq!(table_state(&iceberg_check(d)), table_state(&c2));
    let out = firelake_command(d)
        .arg("run")
        .args(records("5"))
        .args([
            "--iceberg",
            "--source-dir",
            &v4,
            "--schema-policy",
            "freeze",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("add column cell_country string: refused by the schema policy freeze"),
        "{err}"
    );
    let c5 = iceberg_check(d);
    assert_eq!(table_state(&c5), table_state(&c2));
    assert_eq!(c5["lake_files"], c4["lake_files"], "nothing written");

    // Evolving: the waiting files are committed with the new column.
    let s6 = run(
        d,
        &[&records("6")[..], &["--iceberg", "--source-dir", &v4]].concat(),
    );
    let c6 = iceberg_check(d);
    assert_iceberg_table_is_the_lake(&c6);
    assert_eq!(
        c6["rows"],
        rows1 + rows2 + rows4 + summary_field(&s6, "rows out"),
        "{c6}"
    );
    assert_eq!(schema_field(&c6, "cell_country").0, nat_id + 1, "{c6}");
    let diff = stdout_of(firelake_command(d).args(["schema", "diff", "--source-dir", &v4]));
    assert!(
        diff.contains("iceberg table firelake.users: up to date"),
        "{diff}"
    );
}

/// `replay --iceberg` evolves the table at the same point as `run`: order lines replayed with
/// the built-in definition, then with one that gained `note` and widened `add_to_cart_order`.
#[test]
fn replay_with_a_changed_definition_evolves_the_iceberg_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 100 lines per file on 2024-03-01; the file's `note` column is read only by the new
    // definition.
    let lines = |file: &str, first: u64| {
        let mut csv =
            String::from("order_id,product_id,add_to_cart_order,reordered,ordered_at,note\n");
        for i in first..first + 100 {
            let at = 1_709_251_200_000 + i * 1000;
            csv.push_str(&format!("{i},{},{},1,{at},n{i}\n", i % 7 + 1, i % 5 + 1));
        }
        std::fs::write(d.join(file), csv).unwrap();
    };
    let replay = |file: &str, extra: &[&str]| {
        let out = firelake_command(d)
            .args(["replay", file, "--source", "order_lines", "--iceberg"])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        summary_field(&String::from_utf8(out.stdout).unwrap(), "lake rows")
    };
    lines("a.csv", 1);
    assert_eq!(replay("a.csv", &[]), 100);
    let c1 = iceberg_check_table(d, "order_lines");
    let last_id = c1["schema"].as_array().unwrap().iter();
    let last_id = last_id.map(|f| f["id"].as_u64().unwrap()).max().unwrap();
    let (cart_id, _) = schema_field(&c1, "add_to_cart_order");

    let text = std::fs::read_to_string(root().join("sources/order_lines.toml")).unwrap();
    let cart = "pointer = \"/add_to_cart_order\"\ntype = \"int32\"";
    assert!(text.contains(cart));
    let text = text.replace(cart, &cart.replace("int32", "int64"));
    let note = "[[columns]]\nname = \"note\"\npointer = \"/note\"\ntype = \"string\"\n";
    std::fs::create_dir_all(d.join("v2")).unwrap();
    std::fs::write(d.join("v2/order_lines.toml"), format!("{text}\n{note}")).unwrap();
    lines("b.csv", 1001);
    assert_eq!(replay("b.csv", &["--source-dir", "v2"]), 100);
    let c2 = iceberg_check_table(d, "order_lines");
    assert_iceberg_table_is_the_lake(&c2);
    assert_eq!(c2["rows"], 200, "{c2}");
    assert_eq!(schema_field(&c2, "note"), (last_id + 1, "string".into()));
    assert_eq!(
        schema_field(&c2, "add_to_cart_order"),
        (cart_id, "long".into())
    );
    // Exactly the second file's lines have a note; every line has its cart position.
    assert_eq!(c2["non_null"]["note"], 100, "{c2}");
    assert_eq!(c2["non_null"]["add_to_cart_order"], 200, "{c2}");
}
