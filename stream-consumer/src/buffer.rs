//! Per-shard buffering (pure: no I/O). Records are cleaned as they arrive and collected per
//! partition day; a flush takes everything buffered for the shard at once, so the shard's
//! checkpoint can advance to the last record read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use firelake_core::kept::{Keeper, Origin};
use firelake_core::layout::FileOrigin;
use firelake_core::nulled::NullCounts;
use firelake_core::redact::Raw;
use firelake_core::{BatchBuilder, CleanRow, Cleaner, PartitionColumn, time};

/// When a shard's buffer is written out (Firehose-like buffering hints), whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct FlushLimits {
    pub max_records: usize,
    pub max_bytes: usize,
    pub max_age: Duration,
}

impl Default for FlushLimits {
    fn default() -> Self {
        FlushLimits {
            max_records: 500_000,
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(60),
        }
    }
}

/// What one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Row,
    Rejected,
}

struct DayBuffer {
    rows: BatchBuilder,
    rejected: Vec<u8>,
    rejected_count: usize,
    nulled: Vec<u8>,
    nulled_counts: NullCounts,
    first: String,
    last: String,
}

/// Everything buffered for one partition day of one shard, ready to write.
pub struct DayFlush {
    pub day: i32,
    pub origin: FileOrigin,
    pub batch: Option<RecordBatch>,
    /// Rejected records as JSON lines in the kept-record shape (`firelake_core::kept`:
    /// reason, position, arrival, the raw bytes with never-read values redacted).
    pub rejected: Option<Vec<u8>>,
    pub rejected_count: usize,
    /// The originals of the values the cleaner nulled in `batch`, one kept line per value
    /// (`<table>/_nulled/`), and their counts per column and reason.
    pub nulled: Option<Vec<u8>>,
    pub nulled_counts: NullCounts,
}

pub struct ShardBuffer {
    cleaner: Arc<Cleaner>,
    keeper: Keeper,
    origin: String,
    shard: String,
    days: BTreeMap<i32, DayBuffer>,
    records: usize,
    bytes: usize,
    opened: Option<Instant>,
    last_position: Option<String>,
}

impl ShardBuffer {
    pub fn new(cleaner: Arc<Cleaner>, origin: &str, shard: &str) -> ShardBuffer {
        ShardBuffer {
            keeper: Keeper::new(cleaner.source()),
            cleaner,
            origin: origin.to_string(),
            shard: shard.to_string(),
            days: BTreeMap::new(),
            records: 0,
            bytes: 0,
            opened: None,
            last_position: None,
        }
    }

    fn day(&mut self, day: i32, position: &str) -> &mut DayBuffer {
        let def = self.cleaner.source().clone();
        let d = self.days.entry(day).or_insert_with(|| DayBuffer {
            rows: BatchBuilder::new(&def, PartitionColumn::FolderOnly, 1024),
            rejected: Vec::new(),
            rejected_count: 0,
            nulled: Vec::new(),
            nulled_counts: NullCounts::default(),
            first: position.to_string(),
            last: position.to_string(),
        });
        d.last.clear();
        d.last.push_str(position);
        d
    }

    /// Clean one record read at `position` (sequence number or offset) of this shard.
    pub fn push(&mut self, position: &str, arrival_ms: i64, data: &[u8]) -> Pushed {
        self.opened.get_or_insert_with(Instant::now);
        self.records += 1;
        self.bytes += data.len();
        self.last_position = Some(position.to_string());
        match self.cleaner.clean(data, arrival_ms) {
            Ok(row) => {
                let day = row.p_date;
                let nulled = !row.nulled.is_empty();
                let d = self.day(day, position);
                d.rows.append(&row, data.len());
                if nulled {
                    self.keep_nulled(&row, position, arrival_ms, data);
                }
                Pushed::Row
            }
            Err(rejection) => {
                let kept = self.keeper.keep(
                    rejection.kind(),
                    &rejection.to_string(),
                    Origin::Stream {
                        origin: self.origin.clone(),
                        shard: self.shard.clone(),
                        position: position.to_string(),
                        arrival_ms,
                    },
                    Raw::Record(data),
                );
                let d = self.day(time::day_of_ms(arrival_ms), position);
                kept.write_line(&mut d.rejected);
                d.rejected_count += 1;
                Pushed::Rejected
            }
        }
    }

    /// Keep the originals of what the cleaner nulled in `row` (rare: off the common path).
    fn keep_nulled(&mut self, row: &CleanRow<'_>, position: &str, arrival_ms: i64, data: &[u8]) {
        let origin = Origin::Stream {
            origin: self.origin.clone(),
            shard: self.shard.clone(),
            position: position.to_string(),
            arrival_ms,
        };
        let key = self.cleaner.key_of_row(row);
        let d = self
            .days
            .get_mut(&row.p_date)
            .expect("the row's day was just buffered");
        self.keeper
            .keep_nulled(row, key, origin, data, &mut d.nulled);
        d.nulled_counts.add_row(row);
    }

    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// The position of the last record buffered (what a checkpoint may advance to after the
    /// flush is durable).
    pub fn last_position(&self) -> Option<&str> {
        self.last_position.as_deref()
    }

    pub fn should_flush(&self, limits: &FlushLimits) -> bool {
        self.records > 0
            && (self.records >= limits.max_records
                || self.bytes >= limits.max_bytes
                || self.opened.is_some_and(|t| t.elapsed() >= limits.max_age))
    }

    /// Take everything buffered; the buffer starts empty.
    pub fn take(&mut self) -> Vec<DayFlush> {
        self.records = 0;
        self.bytes = 0;
        self.opened = None;
        std::mem::take(&mut self.days)
            .into_iter()
            .map(|(day, mut d)| DayFlush {
                day,
                origin: FileOrigin {
                    origin: self.origin.clone(),
                    shard: self.shard.clone(),
                    first: d.first,
                    last: d.last,
                },
                batch: (!d.rows.is_empty()).then(|| d.rows.finish()),
                rejected: (!d.rejected.is_empty()).then_some(d.rejected),
                rejected_count: d.rejected_count,
                nulled: (!d.nulled.is_empty()).then_some(d.nulled),
                nulled_counts: d.nulled_counts,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firelake_core::SourceDef;

    #[test]
    fn rejected_records_are_kept_with_never_read_values_redacted() {
        let def = Arc::new(SourceDef::resolve("users", None).unwrap());
        let mut b = ShardBuffer::new(Arc::new(Cleaner::new(def)), "kafka.users", "3");
        let raw = br#"{"login":{"password":"QZXJ-pw","sha1":"QZXJ-sha1"},"email":"a@b"}"#;
        assert_eq!(b.push("7", 0, raw), Pushed::Rejected);
        assert_eq!(
            b.push("8", 0, br#"{"login":{"salt":"QZXJ-salt""#),
            Pushed::Rejected
        );
        let flushes = b.take();
        let text = String::from_utf8(flushes[0].rejected.clone().unwrap()).unwrap();
        assert!(!text.contains("QZXJ"), "{text}");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0]["data"],
            r#"{"login":{"password":"<redacted>","sha1":"<redacted>"},"email":"a@b"}"#
        );
        assert_eq!(lines[0]["kind"], "missing_required");
        assert!(lines[0]["reason"].as_str().unwrap().contains("redacted"));
        assert_eq!(lines[1]["data"], r#"{"login":{"salt":"<redacted>""#);
        assert_eq!(lines[1]["redacted"], serde_json::json!(["/login/salt"]));
        assert_eq!(
            (&lines[1]["origin"], &lines[1]["shard"]),
            (&"kafka.users".into(), &"3".into())
        );
    }

    #[test]
    fn nulled_values_are_kept_beside_the_rows_they_came_from() {
        let def = Arc::new(SourceDef::resolve("users", None).unwrap());
        let mut b = ShardBuffer::new(Arc::new(Cleaner::new(def.clone())), "embedded", "s0");
        let raw = br#"{"login":{"uuid":"u-7","password":"QZXJ"},"dob":{"age":"old"},"location":{"coordinates":{"latitude":"99"}}}"#;
        assert_eq!(b.push("5", 0, raw), Pushed::Row);
        assert_eq!(b.push("6", 0, br#"{"login":{"uuid":"u-8"}}"#), Pushed::Row);
        let f = b.take().pop().unwrap();
        assert_eq!(
            f.nulled_counts.describe(&def),
            "age wrong_type 1, latitude out_of_range 1"
        );
        let text = String::from_utf8(f.nulled.unwrap()).unwrap();
        assert!(!text.contains("QZXJ"), "{text}");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (
                &lines[0]["column"],
                &lines[0]["kind"],
                &lines[0]["original"]
            ),
            (&"age".into(), &"wrong_type".into(), &"\"old\"".into())
        );
        assert_eq!(
            (&lines[1]["key"], &lines[1]["position"]),
            (&"u-7".into(), &"5".into())
        );
        assert_eq!(lines[1]["original"], "\"99\"");
    }

    #[test]
    fn buffers_per_day_and_names_files_by_positions() {
        let def = Arc::new(SourceDef::resolve("users", None).unwrap());
        let mut b = ShardBuffer::new(Arc::new(Cleaner::new(def)), "embedded", "shard-0000");
        let day0 = 20_240i64 * time::MS_PER_DAY;
        assert_eq!(
            b.push("10", day0, br#"{"login":{"uuid":"a"}}"#),
            Pushed::Row
        );
        assert_eq!(b.push("11", day0, b"{oops"), Pushed::Rejected);
        assert_eq!(
            b.push("12", day0 + time::MS_PER_DAY, br#"{"login":{"uuid":"b"}}"#),
            Pushed::Row
        );
        assert_eq!(b.last_position(), Some("12"));
        assert!(b.should_flush(&FlushLimits {
            max_records: 3,
            ..Default::default()
        }));
        let flushes = b.take();
        assert!(b.is_empty());
        assert_eq!(flushes.len(), 2);
        assert_eq!(flushes[0].day, 20_240);
        assert_eq!(
            (
                flushes[0].origin.first.as_str(),
                flushes[0].origin.last.as_str()
            ),
            ("10", "11")
        );
        assert_eq!(flushes[0].batch.as_ref().unwrap().num_rows(), 1);
        assert_eq!(flushes[0].rejected_count, 1);
        let line: serde_json::Value =
            serde_json::from_slice(flushes[0].rejected.as_ref().unwrap().trim_ascii_end()).unwrap();
        assert_eq!(line["kind"], "invalid_json");
        assert_eq!(line["position"], "11");
        assert_eq!(line["data"], "{oops");
        assert_eq!(line["source"], "users");
        assert_eq!(
            (
                flushes[1].origin.first.as_str(),
                flushes[1].origin.last.as_str()
            ),
            ("12", "12")
        );
        assert!(flushes[1].rejected.is_none());
    }
}
