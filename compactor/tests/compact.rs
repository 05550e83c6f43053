//! The compactor library on lakes built here: raw files with known duplicates, read back with
//! the synchronous Parquet reader and compared, all columns, with an independent dedupe.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::Bytes;
use firelake_compactor::journal::{Journal, JournalState};
use firelake_compactor::layout::journal_root;
use firelake_compactor::{
    CompactError, CompactOptions, CompactReport, DayOutcome, Quiet, Selection, compact,
    zstd_level_from,
};
use firelake_core::catalog::{Catalog, MemoryCatalog};
use firelake_core::layout::{FileOrigin, data_file_key};
use firelake_core::output::parquet_bytes;
use firelake_core::{BatchBuilder, Cleaner, Lake, PartitionColumn, SourceDef, time};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const DAY: &str = "2025-06-01";
const T0: i64 = 1_748_736_000_000; // 2025-06-01T00:00:00Z

fn day() -> i32 {
    time::parse_day(DAY).unwrap()
}

fn users() -> Arc<SourceDef> {
    Arc::new(SourceDef::resolve("users", None).unwrap())
}

/// A users record whose content depends on its version, so copies of one user differ.
fn record(id: &str, version: u32) -> Vec<u8> {
    format!(
        r#"{{"login":{{"uuid":"{id}","username":"{id}-v{version}"}},"gender":"female","name":{{"first":"F{version}","last":"L"}},"email":"{id}@example.com","dob":{{"date":"1990-01-0{}T00:00:00Z","age":{}}},"location":{{"postcode":{version},"coordinates":{{"latitude":"1.5","longitude":"-2.25"}}}}}}"#,
        1 + version % 9,
        30 + version
    )
    .into_bytes()
}

/// Write a raw file of `(user id, version, arrival ms)` rows the way the consumer does.
async fn raw_file(lake: &Lake, def: &Arc<SourceDef>, name: &str, rows: &[(&str, u32, i64)]) {
    let cleaner = Cleaner::new(def.clone());
    let mut builder = BatchBuilder::new(def, PartitionColumn::FolderOnly, rows.len());
    let records: Vec<Vec<u8>> = rows.iter().map(|(id, v, _)| record(id, *v)).collect();
    for (raw, (_, _, at)) in records.iter().zip(rows) {
        let row = cleaner.clean(raw, *at).expect("valid record");
        assert_eq!(row.p_date, day());
        builder.append(&row, raw.len());
    }
    let batch = builder.finish();
    let bytes = parquet_bytes(batch.schema(), &[batch]).unwrap();
    let origin = FileOrigin {
        origin: "test".into(),
        shard: name.into(),
        first: "0".into(),
        last: "0".into(),
    };
    let key = data_file_key(&def.table, &def.partition_column, day(), &origin);
    lake.put(&key, Bytes::from(bytes)).await.unwrap();
}

/// Every row of some Parquet objects, each as `column=value|...` (all columns), in order.
async fn rows_of(lake: &Lake, keys: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for key in keys {
        let bytes = lake.get(key).await.unwrap().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            out.extend(format_rows(&batch.unwrap()));
        }
    }
    out
}

fn format_rows(batch: &RecordBatch) -> Vec<String> {
    let opts = FormatOptions::default().with_null("<null>");
    // Timestamps as their epoch ms: exact, and no time zone database needed.
    let columns: Vec<arrow::array::ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            arrow::datatypes::DataType::Timestamp(..) => {
                arrow::compute::cast(c, &arrow::datatypes::DataType::Int64).unwrap()
            }
            _ => c.clone(),
        })
        .collect();
    let formatters: Vec<ArrayFormatter> = columns
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap())
        .collect();
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    (0..batch.num_rows())
        .map(|i| {
            names
                .iter()
                .zip(&formatters)
                .map(|(n, f)| format!("{n}={}", f.value(i)))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// The day's raw rows reduced by the rule, computed here without the compactor: per user_id
/// the latest ingested_at, ties to the first row in key order then row order.
async fn expected_distinct(lake: &Lake, dedupe: bool) -> Vec<String> {
    let keys: Vec<String> = raw_keys(lake).await;
    let mut best: HashMap<String, (i64, usize)> = HashMap::new();
    let mut all = Vec::new();
    for key in &keys {
        let bytes = lake.get(key).await.unwrap().unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
        {
            let batch = batch.unwrap();
            let ids = batch
                .column_by_name("user_id")
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            let at = batch
                .column_by_name("ingested_at")
                .unwrap()
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap()
                .clone();
            for (i, row) in format_rows(&batch).into_iter().enumerate() {
                let n = all.len();
                let (id, t) = (ids.value(i).to_string(), at.value(i));
                match best.get(&id) {
                    Some((bt, _)) if *bt >= t => {}
                    _ => {
                        best.insert(id, (t, n));
                    }
                }
                all.push(row);
            }
        }
    }
    let mut out: Vec<String> = if dedupe {
        best.values().map(|(_, n)| all[*n].clone()).collect()
    } else {
        all
    };
    out.sort();
    out
}

async fn raw_keys(lake: &Lake) -> Vec<String> {
    lake.list(&format!("users/p_date={DAY}"))
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect()
}

/// The curated day as readers see it: the files at the catalog's location.
async fn curated_rows(lake: &Lake, catalog: &dyn Catalog) -> (String, Vec<String>) {
    let parts = catalog.partitions("users_curated").await.unwrap();
    let p = parts
        .iter()
        .find(|p| p.values == [DAY])
        .expect("a curated partition");
    let key = lake.key_of_url(&p.location).expect("inside the lake");
    let files: Vec<String> = lake
        .list(&key)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert!(!files.is_empty());
    let mut rows = rows_of(lake, &files).await;
    rows.sort();
    (key, rows)
}

fn options(selection: Selection) -> CompactOptions {
    CompactOptions {
        selection,
        grace: Duration::ZERO,
        ..CompactOptions::default()
    }
}

async fn run(
    lake: &Lake,
    catalog: &Arc<MemoryCatalog>,
    options: CompactOptions,
) -> Result<CompactReport, CompactError> {
    compact(
        lake.clone(),
        catalog.clone() as Arc<dyn Catalog>,
        users(),
        "users",
        options,
        &Quiet,
    )
    .await
}

/// Three files with copies of users across them: later copies, a tie, an older late copy.
async fn lake_with_duplicates() -> Lake {
    let lake = Lake::from_url("memory://").unwrap();
    let def = users();
    raw_file(
        &lake,
        &def,
        "a",
        &[("u1", 1, T0 + 10), ("u2", 1, T0 + 10), ("u3", 1, T0 + 50)],
    )
    .await;
    raw_file(
        &lake,
        &def,
        "b",
        &[
            ("u1", 2, T0 + 20), // later: wins over a/u1
            ("u2", 2, T0 + 10), // same time as a/u2: the first occurrence (a) wins
            ("u4", 1, T0 + 30),
            ("u4", 2, T0 + 40), // later copy in the same file wins
        ],
    )
    .await;
    raw_file(
        &lake,
        &def,
        "c",
        &[("u3", 2, T0 + 40), ("u5", 1, T0 + 60)], // older copy of u3: loses
    )
    .await;
    lake
}

#[tokio::test]
async fn the_latest_copy_of_each_key_is_kept_and_ties_go_to_the_first() {
    let lake = lake_with_duplicates().await;
    let catalog = Arc::new(MemoryCatalog::default());
    let report = run(&lake, &catalog, options(Selection::All)).await.unwrap();
    let d = &report.days[0];
    assert!(d.compacted(), "{d:?}");
    assert_eq!(
        (d.files_in, d.rows_in, d.rows_out, d.duplicates),
        (3, 9, 5, 4)
    );

    let (_, rows) = curated_rows(&lake, catalog.as_ref()).await;
    assert_eq!(rows, expected_distinct(&lake, true).await);
    let usernames: Vec<&str> = rows
        .iter()
        .map(|r| {
            r.split('|')
                .find_map(|kv| kv.strip_prefix("username="))
                .unwrap()
        })
        .collect();
    let mut usernames = usernames;
    usernames.sort();
    assert_eq!(usernames, ["u1-v2", "u2-v1", "u3-v1", "u4-v2", "u5-v1"]);
}

#[tokio::test]
async fn without_dedupe_every_row_is_kept() {
    let lake = lake_with_duplicates().await;
    let catalog = Arc::new(MemoryCatalog::default());
    let report = run(
        &lake,
        &catalog,
        CompactOptions {
            dedupe: false,
            ..options(Selection::Day(day()))
        },
    )
    .await
    .unwrap();
    assert_eq!((report.rows_in(), report.rows_out()), (9, 9));
    assert!(report.dedupe_key.is_empty());
    let (_, rows) = curated_rows(&lake, catalog.as_ref()).await;
    assert_eq!(rows, expected_distinct(&lake, false).await);
}

#[tokio::test]
async fn small_targets_make_several_files_and_pass_one_can_split_its_keys() {
    let lake = Lake::from_url("memory://").unwrap();
    let def = users();
    // 12 files of 50 users; every user appears in two files, the later copy in the later file.
    for f in 0..12u32 {
        let rows: Vec<(String, u32, i64)> = (0..50u32)
            .map(|i| {
                let user = (f * 25 + i) % 300;
                (format!("user-{user:03}"), f, T0 + (f * 100 + i) as i64)
            })
            .collect();
        let rows: Vec<(&str, u32, i64)> =
            rows.iter().map(|(u, v, t)| (u.as_str(), *v, *t)).collect();
        raw_file(&lake, &def, &format!("f{f:02}"), &rows).await;
    }
    let raw_bytes: u64 = lake
        .list("users")
        .await
        .unwrap()
        .iter()
        .map(|o| o.size)
        .sum();
    let catalog = Arc::new(MemoryCatalog::default());
    let report = run(
        &lake,
        &catalog,
        CompactOptions {
            target_bytes: raw_bytes / 4,
            // 10 rows' worth of memory: pass 1 reads the key columns in many buckets.
            dedupe_memory_bytes: 10 * firelake_compactor::dedupe::KEY_ROW_BYTES,
            ..options(Selection::All)
        },
    )
    .await
    .unwrap();
    let d = &report.days[0];
    assert!(d.files_out >= 4, "{d:?}");
    assert_eq!((d.rows_in, d.rows_out), (600, 300));
    let (generation, rows) = curated_rows(&lake, catalog.as_ref()).await;
    assert_eq!(rows, expected_distinct(&lake, true).await);
    for o in lake.list(&generation).await.unwrap() {
        assert!(
            o.size <= raw_bytes / 4 + (64 << 10),
            "{} is {} bytes",
            o.key,
            o.size
        );
    }
}

#[tokio::test]
async fn the_same_input_gives_the_same_files() {
    let lake = lake_with_duplicates().await;
    let catalog = Arc::new(MemoryCatalog::default());
    let generation_files = |r: &CompactReport| match &r.days[0].outcome {
        DayOutcome::Compacted { generation, .. } => generation.clone(),
        other => panic!("{other:?}"),
    };
    let first = run(&lake, &catalog, options(Selection::All)).await.unwrap();
    let g0 = generation_files(&first);
    let bytes0 = lake
        .get(&format!("{g0}/part-00000.parquet"))
        .await
        .unwrap()
        .unwrap();
    // Nothing changed: up to date, no new generation.
    let again = run(&lake, &catalog, options(Selection::All)).await.unwrap();
    assert_eq!(again.days[0].outcome, DayOutcome::UpToDate);
    // Another dedupe setting is another curated day: rebuilt without --force.
    let all_rows = run(
        &lake,
        &catalog,
        CompactOptions {
            dedupe: false,
            ..options(Selection::All)
        },
    )
    .await
    .unwrap();
    assert_eq!(all_rows.days[0].rows_out, 9);
    let back = run(&lake, &catalog, options(Selection::All)).await.unwrap();
    assert_eq!(back.days[0].rows_out, 5);
    let g1 = generation_files(&back);
    let bytes1 = lake
        .get(&format!("{g1}/part-00000.parquet"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bytes0, bytes1, "the same input and rule, the same file");
    assert!(lake.list(&g0).await.unwrap().is_empty());
    // Forced: a new generation, byte for byte the same files.
    let forced = run(
        &lake,
        &catalog,
        CompactOptions {
            force: true,
            ..options(Selection::All)
        },
    )
    .await
    .unwrap();
    let g2 = generation_files(&forced);
    assert_ne!(g1, g2);
    let bytes2 = lake
        .get(&format!("{g2}/part-00000.parquet"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bytes1, bytes2);
    assert!(
        lake.list(&g1).await.unwrap().is_empty(),
        "grace 0: replaced generation deleted"
    );
}

#[tokio::test]
async fn late_data_makes_the_next_generation_and_the_old_one_waits_out_its_grace() {
    let lake = lake_with_duplicates().await;
    let def = users();
    let catalog = Arc::new(MemoryCatalog::default());
    let nightly = |grace| CompactOptions {
        grace,
        today: Some(day() + 1),
        ..options(Selection::Default)
    };
    let first = run(&lake, &catalog, nightly(Duration::ZERO)).await.unwrap();
    assert_eq!(first.days_compacted(), 1);
    let (g1, _) = curated_rows(&lake, catalog.as_ref()).await;

    // The nightly default skips a day that did not change, and never touches today.
    let today = run(
        &lake,
        &catalog,
        CompactOptions {
            today: Some(day()),
            ..nightly(Duration::ZERO)
        },
    )
    .await
    .unwrap();
    assert!(today.days.is_empty());
    let unchanged = run(&lake, &catalog, nightly(Duration::ZERO)).await.unwrap();
    assert_eq!(unchanged.days[0].outcome, DayOutcome::UpToDate);

    // Late rows for the day: a new user and a newer copy of u5.
    raw_file(
        &lake,
        &def,
        "late",
        &[("u6", 1, T0 + 70), ("u5", 7, T0 + 80)],
    )
    .await;
    let late = run(&lake, &catalog, nightly(Duration::from_secs(3600)))
        .await
        .unwrap();
    let d = &late.days[0];
    assert!(d.compacted());
    // Read: the current generation's file and the late one (not the raw files it holds).
    assert_eq!((d.files_in, d.rows_out), (2, 6));
    let (g2, rows) = curated_rows(&lake, catalog.as_ref()).await;
    assert_ne!(g1, g2, "the next generation");
    assert_eq!(rows, expected_distinct(&lake, true).await);
    assert!(rows.iter().any(|r| r.contains("username=u5-v7")));
    // The replaced generation stays readable for its grace period, its journal says so.
    assert!(!lake.list(&g1).await.unwrap().is_empty());
    let journals = Journal::list(&lake, &journal_root("users_curated"))
        .await
        .unwrap();
    let states: BTreeMap<&str, JournalState> = journals
        .iter()
        .map(|j| (j.generation.as_str(), j.state))
        .collect();
    assert_eq!(states[g1.as_str()], JournalState::Cleaned);
    assert_eq!(states[g2.as_str()], JournalState::Committed);
    let next = run(&lake, &catalog, nightly(Duration::ZERO)).await.unwrap();
    assert!(
        next.recovered
            .iter()
            .any(|a| a.action == firelake_compactor::Recovery::CleanupPending)
    );
    assert!(
        !lake.list(&g1).await.unwrap().is_empty(),
        "grace not over yet"
    );
}

#[tokio::test]
async fn a_raw_file_whose_rows_do_not_fit_is_quarantined_and_the_day_goes_on() {
    let lake = lake_with_duplicates().await;
    // A raw file without the required user_id column: its footer is fine, its rows are not.
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("email", arrow::datatypes::DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(StringArray::from(vec!["x@y.z"]))],
    )
    .unwrap();
    let broken = format!("users/p_date={DAY}/zz-broken.parquet");
    lake.put(
        &broken,
        Bytes::from(parquet_bytes(schema, &[batch]).unwrap()),
    )
    .await
    .unwrap();
    let catalog = Arc::new(MemoryCatalog::default());
    let report = run(&lake, &catalog, options(Selection::All)).await.unwrap();
    let d = &report.days[0];
    assert!(d.compacted(), "{d:?}");
    assert_eq!(d.quarantined.len(), 1);
    assert_eq!(d.quarantined[0].file, broken);
    assert!(d.quarantined[0].error.contains("user_id"), "{d:?}");
    let kept = format!("users_curated/_quarantine/p_date={DAY}/zz-broken.parquet");
    assert_eq!(d.quarantined[0].kept_at, kept);
    assert!(lake.get(&kept).await.unwrap().is_some());
    assert!(
        lake.get(&format!("{kept}.reason.json"))
            .await
            .unwrap()
            .is_some()
    );
    // The raw table is never written; the file is left there and never read again.
    assert!(lake.get(&broken).await.unwrap().is_some());
    let again = run(&lake, &catalog, options(Selection::All)).await.unwrap();
    assert_eq!(again.days[0].outcome, DayOutcome::UpToDate);
    assert!(again.days[0].quarantined.is_empty());
    lake.delete(&broken).await.unwrap();
    let (_, rows) = curated_rows(&lake, catalog.as_ref()).await;
    assert_eq!(rows, expected_distinct(&lake, true).await);
}

#[tokio::test]
async fn the_curated_table_comes_from_the_source_definition() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::from_url(dir.path().join("lake").to_str().unwrap()).unwrap();
    let def = users();
    raw_file(&lake, &def, "a", &[("u1", 1, T0)]).await;
    let catalog = Arc::new(MemoryCatalog::default());
    run(&lake, &catalog, options(Selection::Day(day())))
        .await
        .unwrap();
    let t = catalog.table("users_curated").await.unwrap().unwrap();
    assert_eq!(t.columns.len(), def.columns.len());
    assert_eq!(t.location, format!("{}/", lake.url_of("users_curated")));
    assert_eq!(t.parameters["firelake.source"], "users");
    assert_eq!(t.parameters["firelake.layer"], "curated");
    let p = &catalog.partitions("users_curated").await.unwrap()[0];
    assert!(
        p.location
            .contains("/users_curated/_generations/p_date=2025-06-01/"),
        "{}",
        p.location
    );
    // Only the current generation, its journal and the day's lock are on disk.
    let root = lake.local_root().unwrap().join("users_curated");
    let mut names: Vec<String> = walk(&root)
        .iter()
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names[0].starts_with("_generations/p_date=2025-06-01/")
            && names[0].ends_with("/part-00000.parquet")
    );
    assert!(names[1].starts_with("_journal/p_date=2025-06-01/") && names[1].ends_with(".json"));
    assert_eq!(names[2], "_locks/p_date=2025-06-01.lock");

    // A raw table registered from another source is refused.
    let other = Arc::new(MemoryCatalog::default());
    let mut t = firelake_core::catalog::TableDef::for_source(&def, "users", "x/".into());
    t.parameters
        .insert("firelake.source".into(), "orders".into());
    other.ensure_table(&t).await.unwrap();
    let err = run(&lake, &other, options(Selection::All))
        .await
        .unwrap_err();
    assert!(matches!(err, CompactError::SourceMismatch { .. }), "{err}");
}

#[tokio::test]
async fn a_day_another_compactor_holds_is_left_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::from_url(dir.path().join("lake").to_str().unwrap()).unwrap();
    raw_file(&lake, &users(), "a", &[("u1", 1, T0)]).await;
    let locks = lake.local_root().unwrap().join("users_curated/_locks");
    std::fs::create_dir_all(&locks).unwrap();
    let held = std::fs::File::create(locks.join("p_date=2025-06-01.lock")).unwrap();
    held.lock().unwrap();
    let catalog = Arc::new(MemoryCatalog::default());
    let busy = run(&lake, &catalog, options(Selection::All)).await.unwrap();
    assert_eq!(busy.days[0].outcome, DayOutcome::Busy);
    assert!(
        lake.list("users_curated/_generations")
            .await
            .unwrap()
            .is_empty()
    );
    drop(held);
    let done = run(&lake, &catalog, options(Selection::All)).await.unwrap();
    assert!(done.days[0].compacted());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn the_zstd_level_changes_the_bytes_not_the_rows() {
    // A local lake: its reads take the direct path (`Lake::get`, `get_range` on files).
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::from_url(&format!("file://{}/lake", dir.path().display())).unwrap();
    let def = users();
    for f in 0..4u32 {
        let rows: Vec<(String, u32, i64)> = (0..400u32)
            .map(|i| {
                let user = (f * 200 + i) % 1000;
                (
                    format!("user-{user:04}"),
                    f * 7 + i % 5,
                    T0 + (f * 1000 + i) as i64,
                )
            })
            .collect();
        let rows: Vec<(&str, u32, i64)> =
            rows.iter().map(|(u, v, t)| (u.as_str(), *v, *t)).collect();
        raw_file(&lake, &def, &format!("f{f:02}"), &rows).await;
    }
    let catalog = Arc::new(MemoryCatalog::default());
    let mut sizes = Vec::new();
    for level in [1, 19] {
        let report = run(
            &lake,
            &catalog,
            CompactOptions {
                force: true,
                zstd_level: zstd_level_from(level).unwrap(),
                ..options(Selection::All)
            },
        )
        .await
        .unwrap();
        assert_eq!(report.days[0].rows_out, 1000);
        let (generation, rows) = curated_rows(&lake, catalog.as_ref()).await;
        assert_eq!(rows, expected_distinct(&lake, true).await, "level {level}");
        let bytes: u64 = lake
            .list(&generation)
            .await
            .unwrap()
            .iter()
            .map(|o| o.size)
            .sum();
        sizes.push(bytes);
    }
    // The level reached the writer. (Which is smaller is not a given on 1,000 rows: level
    // 19's larger entropy tables can cost more than they save on pages this small.)
    assert_ne!(sizes[0], sizes[1], "level 1 and level 19 files: {sizes:?}");
    for bad in [0, -1, 23] {
        let e = zstd_level_from(bad).unwrap_err().to_string();
        assert!(e.contains("--zstd-level") && e.contains("1 to 22"), "{e}");
    }
}
