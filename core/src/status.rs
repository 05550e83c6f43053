//! `firelake status`, the pure half: facts gathered from a lake (files, their rows and newest
//! record, kept-record lines, curated generations) -> the lake at a glance per table and day.
//! No I/O here; the binary gathers the facts and renders the result.

use std::collections::BTreeMap;

use serde::Serialize;

/// Files under this size count as small (the compactor merges them into larger ones).
pub const SMALL_FILE_BYTES: u64 = 32 << 20;

/// One raw data file.
#[derive(Debug, Clone, Default)]
pub struct FileFact {
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
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Curated {
    /// `compacted` or `not compacted`.
    pub state: &'static str,
    pub generation: Option<String>,
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
    pub rejected: u64,
    pub rejects_by_reason: BTreeMap<String, u64>,
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
    pub nulled: u64,
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
}

fn iso(ms: i64) -> String {
    let mut s = String::new();
    crate::time::format_ms(ms, &mut s);
    s
}

fn curated_of(generations: &BTreeMap<String, Vec<FileFact>>) -> Curated {
    // Run ids sort by their start time: the last is the newest generation.
    match generations.iter().next_back() {
        Some((generation, files)) => Curated {
            state: "compacted",
            generation: Some(generation.clone()),
            files: files.len() as u64,
            bytes: files.iter().map(|f| f.bytes).sum(),
            rows: files.iter().map(|f| f.rows).sum(),
        },
        None => Curated {
            state: "not compacted",
            generation: None,
            files: 0,
            bytes: 0,
            rows: 0,
        },
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
        nulled: f.nulled.values().sum(),
        nulled_by_column: f.nulled.clone(),
        newest_record: newest.map(iso),
        newest_age_seconds: newest.map(|ms| (now_ms - ms) / 1000),
        curated: curated_of(&f.generations),
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
        nulled: days.iter().map(|d| d.nulled).sum(),
        newest_record: newest.map(|(r, _)| r.clone()),
        newest_age_seconds: newest.map(|(_, a)| a),
        days,
    }
}

/// The whole lake's status.
pub fn lake_status(
    lake: &str,
    tables: &BTreeMap<String, BTreeMap<String, DayFacts>>,
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_adds_up_its_files_and_kept_lines() {
        let mut f = DayFacts::default();
        let file = |bytes, rows, newest| FileFact {
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
}
