//! `firelake status`, the pure half: facts gathered from a lake (files, their rows and newest
//! record, kept-record lines, curated generations) -> the lake at a glance per table and day.
//! No I/O here; the binary gathers the facts and renders the result.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// Files under this size count as small (the compactor merges them into larger ones).
pub const SMALL_FILE_BYTES: u64 = 32 << 20;

/// One raw data file.
#[derive(Debug, Clone, Default)]
pub struct FileFact {
    /// The file's key in the lake.
    pub key: String,
    pub bytes: u64,
    pub rows: u64,
    /// The newest partition timestamp in the file (epoch ms), from its Parquet statistics.
    pub newest_ms: Option<i64>,
}

/// What one day of one table holds, as gathered.
#[derive(Debug, Clone, Default)]
pub struct DayFacts {
    pub raw: Vec<FileFact>,
    /// Kept rejected-record lines by their `kind`.
    pub rejects: BTreeMap<String, u64>,
    /// `_nulled/` lines by `column reason`.
    pub nulled: BTreeMap<String, u64>,
    /// Generations of the curated table for this day (folder names, which sort by time),
    /// each with its files.
    pub generations: BTreeMap<String, Vec<FileFact>>,
    /// Rejected-record lines `firelake reprocess` landed (its journals under `_reprocessed/`);
    /// left out of `rejects`.
    pub reprocessed: u64,
    /// The generation the catalog's partition points at: `None` when no catalog was read (the
    /// newest generation folder is taken as current), `Some(None)` when it has no partition.
    pub catalog_generation: Option<Option<String>>,
    /// Raw files the current generation does not hold (the compactor's `plan::build`);
    /// `None` when it cannot be told.
    pub stale_raw_files: Option<u64>,
}

/// The current generation of a day: the catalog's, else the newest folder (run ids sort by
/// their start time), which is the current one unless a run stopped before its switch.
pub fn current_generation(f: &DayFacts) -> Option<&str> {
    match &f.catalog_generation {
        Some(g) => g.as_deref(),
        None => f.generations.keys().next_back().map(String::as_str),
    }
}

/// Count a kept-records file's lines by `kind` (by `column kind` when `by_column`) into
/// `into`, leaving out the lines in `landed` (1-based numbers of the non-empty lines, as
/// `firelake reprocess` numbers them). Returns how many lines it left out.
pub fn count_kept(
    bytes: &[u8],
    by_column: bool,
    landed: &BTreeSet<u64>,
    into: &mut BTreeMap<String, u64>,
) -> u64 {
    let mut left_out = 0;
    let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    for (i, line) in lines.enumerate() {
        if landed.contains(&(i as u64 + 1)) {
            left_out += 1;
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_default();
        let kind = v["kind"].as_str().unwrap_or("unreadable");
        let name = match (by_column, v["column"].as_str()) {
            (true, Some(c)) => format!("{c} {kind}"),
            _ => kind.to_string(),
        };
        *into.entry(name).or_default() += 1;
    }
    left_out
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Curated {
    /// `compacted` or `not compacted`.
    pub state: &'static str,
    pub generation: Option<String>,
    /// Where `generation` comes from: `catalog`, or `newest folder` when no catalog was read.
    pub generation_from: &'static str,
    /// Compacted, but raw files arrived since (late data): the next compaction rebuilds it.
    pub stale: bool,
    /// How many raw files the generation does not hold (`None`: not told).
    pub stale_raw_files: Option<u64>,
    pub files: u64,
    pub bytes: u64,
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayStatus {
    pub day: String,
    pub raw_files: u64,
    pub raw_bytes: u64,
    pub small_files: u64,
    /// Share of raw files under [`SMALL_FILE_BYTES`], 0..=1.
    pub small_share: f64,
    pub rows: u64,
    /// Kept rejected records that still fail (reprocessed ones left out).
    pub rejected: u64,
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// Kept rejected records `firelake reprocess` landed.
    pub reprocessed: u64,
    pub nulled: u64,
    pub nulled_by_column: BTreeMap<String, u64>,
    /// The newest record's partition time (UTC, ISO 8601) and its age in seconds.
    pub newest_record: Option<String>,
    pub newest_age_seconds: Option<i64>,
    pub curated: Curated,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableStatus {
    pub table: String,
    pub rows: u64,
    pub raw_files: u64,
    pub raw_bytes: u64,
    pub rejected: u64,
    pub reprocessed: u64,
    pub nulled: u64,
    /// Compacted days with raw files their generation does not hold.
    pub stale_days: u64,
    pub newest_record: Option<String>,
    pub newest_age_seconds: Option<i64>,
    pub days: Vec<DayStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LakeStatus {
    pub lake: String,
    pub generated_at: String,
    pub small_file_bytes: u64,
    pub tables: Vec<TableStatus>,
    /// Stream-consumer positions from the lake's checkpoints.
    pub consumers: Vec<ConsumerPosition>,
}

/// A checkpoint object as read: its key and content.
#[derive(Debug, Clone, Default)]
pub struct CheckpointFact {
    /// `_checkpoints/<consumer>/<stream>/<shard>.json`
    pub key: String,
    pub position: Option<String>,
    pub updated_ms: i64,
}

/// Where a consumer is on one shard, and how long ago it last checkpointed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ConsumerPosition {
    pub consumer: String,
    /// `<kind>.<stream>` (e.g. `kinesis.orders`, `embedded.users`).
    pub stream: String,
    pub shard: String,
    /// The last durable position (a sequence number or offset; `SHARD_END`: shard done).
    pub position: Option<String>,
    pub checkpointed_at: String,
    pub checkpoint_age_seconds: i64,
}

/// Positions from checkpoint objects; set-aside ones (`_stale/`) and other keys are skipped.
pub fn consumer_positions(facts: &[CheckpointFact], now_ms: i64) -> Vec<ConsumerPosition> {
    let mut out: Vec<ConsumerPosition> = facts
        .iter()
        .filter_map(|f| {
            let rest = f.key.strip_prefix("_checkpoints/")?;
            let [consumer, stream, shard] = rest.split('/').collect::<Vec<_>>()[..] else {
                return None;
            };
            if stream == "_stale" {
                return None;
            }
            Some(ConsumerPosition {
                consumer: consumer.to_string(),
                stream: stream.to_string(),
                shard: shard.strip_suffix(".json")?.to_string(),
                position: f.position.clone(),
                checkpointed_at: iso(f.updated_ms),
                checkpoint_age_seconds: (now_ms - f.updated_ms) / 1000,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.consumer, &a.stream, &a.shard).cmp(&(&b.consumer, &b.stream, &b.shard)));
    out
}

fn iso(ms: i64) -> String {
    let mut s = String::new();
    crate::time::format_ms(ms, &mut s);
    s
}

fn curated_of(f: &DayFacts) -> Curated {
    let generation_from = if f.catalog_generation.is_some() {
        "catalog"
    } else {
        "newest folder"
    };
    let Some(generation) = current_generation(f) else {
        return Curated {
            state: "not compacted",
            generation: None,
            generation_from,
            stale: false,
            stale_raw_files: None,
            files: 0,
            bytes: 0,
            rows: 0,
        };
    };
    let files = f.generations.get(generation).map_or(&[][..], Vec::as_slice);
    Curated {
        state: "compacted",
        generation: Some(generation.to_string()),
        generation_from,
        stale: f.stale_raw_files.is_some_and(|n| n > 0),
        stale_raw_files: f.stale_raw_files,
        files: files.len() as u64,
        bytes: files.iter().map(|f| f.bytes).sum(),
        rows: files.iter().map(|f| f.rows).sum(),
    }
}

/// One day's status at `now_ms`.
pub fn day_status(day: &str, f: &DayFacts, now_ms: i64) -> DayStatus {
    let raw_files = f.raw.len() as u64;
    let small_files = f.raw.iter().filter(|x| x.bytes < SMALL_FILE_BYTES).count() as u64;
    let newest = f.raw.iter().filter_map(|x| x.newest_ms).max();
    DayStatus {
        day: day.to_string(),
        raw_files,
        raw_bytes: f.raw.iter().map(|x| x.bytes).sum(),
        small_files,
        small_share: if raw_files == 0 {
            0.0
        } else {
            small_files as f64 / raw_files as f64
        },
        rows: f.raw.iter().map(|x| x.rows).sum(),
        rejected: f.rejects.values().sum(),
        rejects_by_reason: f.rejects.clone(),
        reprocessed: f.reprocessed,
        nulled: f.nulled.values().sum(),
        nulled_by_column: f.nulled.clone(),
        newest_record: newest.map(iso),
        newest_age_seconds: newest.map(|ms| (now_ms - ms) / 1000),
        curated: curated_of(f),
    }
}

/// A table's status from its days' facts (keyed by `YYYY-MM-DD`).
pub fn table_status(table: &str, days: &BTreeMap<String, DayFacts>, now_ms: i64) -> TableStatus {
    let days: Vec<DayStatus> = days.iter().map(|(d, f)| day_status(d, f, now_ms)).collect();
    let newest = days
        .iter()
        .filter_map(|d| d.newest_record.as_ref().zip(d.newest_age_seconds))
        .min_by_key(|(_, age)| *age);
    TableStatus {
        table: table.to_string(),
        rows: days.iter().map(|d| d.rows).sum(),
        raw_files: days.iter().map(|d| d.raw_files).sum(),
        raw_bytes: days.iter().map(|d| d.raw_bytes).sum(),
        rejected: days.iter().map(|d| d.rejected).sum(),
        reprocessed: days.iter().map(|d| d.reprocessed).sum(),
        nulled: days.iter().map(|d| d.nulled).sum(),
        stale_days: days.iter().filter(|d| d.curated.stale).count() as u64,
        newest_record: newest.map(|(r, _)| r.clone()),
        newest_age_seconds: newest.map(|(_, a)| a),
        days,
    }
}

/// The whole lake's status.
pub fn lake_status(
    lake: &str,
    tables: &BTreeMap<String, BTreeMap<String, DayFacts>>,
    checkpoints: &[CheckpointFact],
    now_ms: i64,
) -> LakeStatus {
    LakeStatus {
        lake: lake.to_string(),
        generated_at: iso(now_ms),
        small_file_bytes: SMALL_FILE_BYTES,
        tables: tables
            .iter()
            .map(|(t, days)| table_status(t, days, now_ms))
            .collect(),
        consumers: consumer_positions(checkpoints, now_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_adds_up_its_files_and_kept_lines() {
        let mut f = DayFacts::default();
        let file = |bytes, rows, newest| FileFact {
            key: String::new(),
            bytes,
            rows,
            newest_ms: newest,
        };
        f.raw = vec![
            file(100, 10, Some(5_000)),
            file(SMALL_FILE_BYTES, 20, Some(9_000)),
        ];
        f.rejects.insert("invalid_json".into(), 2);
        f.nulled.insert("age wrong_type".into(), 3);
        let d = day_status("2026-01-02", &f, 10_000);
        assert_eq!(
            (d.raw_files, d.raw_bytes, d.rows),
            (2, 100 + SMALL_FILE_BYTES, 30)
        );
        assert_eq!((d.small_files, d.small_share), (1, 0.5));
        assert_eq!((d.rejected, d.nulled), (2, 3));
        assert_eq!(d.newest_age_seconds, Some(1));
        assert_eq!(d.newest_record.as_deref(), Some("1970-01-01T00:00:09.000Z"));
        assert_eq!(d.curated.state, "not compacted");
        f.generations
            .insert("20260103T010203000Z-a".into(), vec![file(7, 29, None)]);
        f.generations
            .insert("20260104T010203000Z-b".into(), vec![file(8, 30, None)]);
        let d = day_status("2026-01-02", &f, 10_000);
        assert_eq!(
            d.curated.generation.as_deref(),
            Some("20260104T010203000Z-b")
        );
        assert_eq!((d.curated.rows, d.curated.bytes), (30, 8));
        let mut days = BTreeMap::new();
        days.insert("2026-01-02".to_string(), f.clone());
        days.insert("2026-01-01".to_string(), DayFacts::default());
        let t = table_status("users", &days, 10_000);
        assert_eq!((t.rows, t.rejected, t.days.len()), (30, 2, 2));
        assert_eq!(t.newest_age_seconds, Some(1));
    }

    #[test]
    fn the_catalog_names_the_current_generation_and_staleness_is_shown() {
        let mut f = DayFacts::default();
        let gen_file = FileFact {
            bytes: 8,
            rows: 30,
            ..Default::default()
        };
        f.generations
            .insert("20260103T0-a".into(), vec![gen_file.clone()]);
        // A run stopped before its switch left a newer folder: the catalog still says `a`.
        f.generations.insert("20260104T0-b".into(), vec![gen_file]);
        f.catalog_generation = Some(Some("20260103T0-a".into()));
        f.stale_raw_files = Some(2);
        let c = day_status("2026-01-02", &f, 0).curated;
        assert_eq!(c.generation.as_deref(), Some("20260103T0-a"));
        assert_eq!(
            (c.state, c.generation_from, c.stale),
            ("compacted", "catalog", true)
        );
        assert_eq!((c.stale_raw_files, c.rows), (Some(2), 30));
        f.catalog_generation = Some(None);
        let c = day_status("2026-01-02", &f, 0).curated;
        assert_eq!((c.state, c.stale), ("not compacted", false));
    }

    #[test]
    fn reprocessed_lines_are_left_out_of_the_rejects() {
        let bytes = b"{\"kind\":\"a\"}\n\n{\"kind\":\"b\"}\n{\"kind\":\"b\"}\n";
        let mut into = BTreeMap::new();
        let landed: BTreeSet<u64> = [2, 9].into();
        assert_eq!(count_kept(bytes, false, &landed, &mut into), 1);
        assert_eq!(into, BTreeMap::from([("a".into(), 1), ("b".into(), 1)]));
    }

    #[test]
    fn checkpoints_give_positions_and_ages() {
        let cp = |key: &str| CheckpointFact {
            key: key.into(),
            position: Some("42".into()),
            updated_ms: 1_000,
        };
        let got = consumer_positions(
            &[
                cp("_checkpoints/c/kinesis.s/shard-1.json"),
                cp("_checkpoints/c/_stale/kinesis.s/1/shard-0.json"),
            ],
            61_000,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].stream.as_str(), got[0].shard.as_str()),
            ("kinesis.s", "shard-1")
        );
        assert_eq!(got[0].checkpoint_age_seconds, 60);
    }
}
