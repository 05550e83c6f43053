//! `firelake reprocess`, the pure part: which kept records now pass the current source
//! definition, and the per-file journal that makes landing them exactly-once (docs/reprocess.md).
//!
//! A kept record is landed only when it cleans under the current definition AND none of its
//! column values holds the redaction marker: a `never_read` value replaced by `"<redacted>"`
//! must never land as if it were real data (it stays kept, reported as `redacted_value`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::clean::{CleanRow, CleanValue, Cleaner};
use crate::kept::{KeptRecord, Origin};
use crate::layout::StableHash;
use crate::redact::MARKER;
use crate::source::SourceDef;
use crate::time;

pub mod nulled;

/// Why a kept record is not landed (besides the cleaner's own rejection kinds).
pub const REDACTED_VALUE: &str = "redacted_value";
pub const NO_ARRIVAL_TIME: &str = "no_arrival_time";
pub const UNREADABLE_LINE: &str = "unreadable_line";

/// `<table>/_reprocessed/p_date=D/<stem of the rejected file>.json`: the journal of one
/// rejected-records file (outside `_rejected/`, so status and the compactor ignore it).
pub fn journal_key(table: &str, partition_column: &str, day: i32, stem: &str) -> String {
    format!(
        "{table}/_reprocessed/{partition_column}={}/{stem}.json",
        time::format_day(day)
    )
}

/// A short tag of a source definition's rules (FNV-1a of its parsed form, origin left out):
/// part of the names of the files a reprocess writes, so two definitions never share a name.
pub fn definition_tag(def: &SourceDef) -> String {
    let mut d = def.clone();
    d.origin.clear();
    format!("{:08x}", StableHash::of(format!("{d:?}").as_bytes()) as u32)
}

/// Lines of one rejected-records file landed into a data file, or about to be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// The data file's key.
    pub key: String,
    /// 1-based line numbers of the rejected file.
    pub lines: Vec<u64>,
}

/// What a reprocess did with one rejected-records file. Written (replaced) before its data
/// files with `pending` set, and after them with `pending` moved into `landed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Lines whose records are in the table.
    pub landed: BTreeSet<u64>,
    /// The definition tag of `pending`.
    #[serde(default)]
    pub tag: String,
    /// Data files a run was writing when it stopped (empty after a finished run).
    #[serde(default)]
    pub pending: Vec<Pending>,
}

impl Journal {
    /// After a stop: the pending files of the same definition are redone (same records, same
    /// names: put-if-absent keeps what is there and writes what is missing); those of another
    /// definition count as landed exactly when their data file exists.
    pub fn resolve(mut self, tag: &str, exists: impl Fn(&str) -> bool) -> Journal {
        for p in std::mem::take(&mut self.pending) {
            if p.key.is_empty() || tag == self.tag || !exists(&p.key) {
                continue;
            }
            self.landed.extend(p.lines);
        }
        self
    }

    /// The journal once `pending` is durable.
    pub fn commit(mut self) -> Journal {
        for p in std::mem::take(&mut self.pending) {
            self.landed.extend(p.lines);
        }
        self
    }
}

/// A kept record that now passes: its bytes and arrival time, to be buffered like a stream
/// record (the row is cleaned again there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passing {
    pub line: u64,
    pub bytes: Vec<u8>,
    pub arrival_ms: i64,
    pub day: i32,
}

/// One line of a rejected-records file under the current definition: passes, or why not.
pub fn recheck(cleaner: &Cleaner, line_no: u64, line: &[u8]) -> Result<Passing, String> {
    let kept = KeptRecord::from_line(line).map_err(|_| UNREADABLE_LINE.to_string())?;
    let Origin::Stream { arrival_ms, .. } = kept.origin else {
        return Err(NO_ARRIVAL_TIME.into());
    };
    let bytes = kept.data.bytes().ok_or(UNREADABLE_LINE)?;
    let day = {
        let row = cleaner
            .clean(&bytes, arrival_ms)
            .map_err(|r| r.kind().to_string())?;
        if holds_marker(&row) {
            return Err(REDACTED_VALUE.into());
        }
        row.p_date
    };
    Ok(Passing {
        line: line_no,
        bytes,
        arrival_ms,
        day,
    })
}

/// Whether a value of the row, or an original a rule nulled, is (or holds) the redaction
/// marker: the record's real value is gone, so the row would be wrong.
pub fn holds_marker(row: &CleanRow<'_>) -> bool {
    let in_values = row.values.iter().any(|v| match v {
        CleanValue::Str(s) => s.contains(MARKER),
        _ => false,
    });
    in_values || row.nulled.iter().any(|n| n.original.contains(MARKER))
}

/// Counts of a reprocess, by outcome and reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub files: u64,
    pub read: u64,
    pub landed: u64,
    /// Landed by an earlier reprocess (in a journal).
    pub already: u64,
    pub still_failing: BTreeMap<String, u64>,
    pub nulled_read: u64,
    pub nulled_now_valid: u64,
    pub nulled_failing: BTreeMap<String, u64>,
    /// Records landed again with their nulled values now valid (`nulled::recheck_line`).
    pub nulled_corrected: u64,
    /// `_nulled/` lines whose record an earlier reprocess corrected (in a journal).
    pub nulled_already: u64,
}

impl Tally {
    pub fn failing(&self) -> u64 {
        self.still_failing.values().sum()
    }

    /// `invalid_json 3, missing_required 7` (`none` when empty).
    pub fn describe(by: &BTreeMap<String, u64>) -> String {
        if by.is_empty() {
            return "none".into();
        }
        let parts: Vec<String> = by.iter().map(|(k, n)| format!("{k} {n}")).collect();
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::kept::Keeper;
    use crate::redact::Raw;

    const NOTE_READS_SALT: &str = r#"
name = "t"
table = "t"
never_read = ["/login/salt"]
[partition]
column = "p_date"
from = "at"
[[columns]]
name = "id"
pointer = "/id"
type = "string"
required = true
[[columns]]
name = "note"
pointer = "/meta/salt"
type = "string"
[[columns]]
name = "at"
type = "timestamp_ms"
arrival = true
"#;

    fn kept_line(def: &SourceDef, raw: &[u8]) -> Vec<u8> {
        let origin = Origin::Stream {
            origin: "embedded".into(),
            shard: "s0".into(),
            position: "1".into(),
            arrival_ms: 20_240 * time::MS_PER_DAY,
        };
        let mut out = Vec::new();
        Keeper::new(def)
            .keep("x", "y", origin, Raw::Record(raw))
            .write_line(&mut out);
        out
    }

    #[test]
    fn passes_fails_and_never_lands_a_redacted_value() {
        let def = SourceDef::resolve("users", None).unwrap();
        let cleaner = Cleaner::new(Arc::new(def.clone()));
        let ok = kept_line(&def, br#"{"login":{"uuid":"u1","password":"p"}}"#);
        let p = recheck(&cleaner, 4, &ok).unwrap();
        assert_eq!((p.line, p.day), (4, 20_240));
        assert!(String::from_utf8(p.bytes).unwrap().contains(MARKER));
        let missing = kept_line(&def, br#"{"login":{}}"#);
        assert_eq!(
            recheck(&cleaner, 1, &missing).unwrap_err(),
            "missing_required"
        );
        let marked = kept_line(&def, br#"{"login":{"uuid":"u1"},"email":"<redacted>"}"#);
        assert_eq!(recheck(&cleaner, 1, &marked).unwrap_err(), REDACTED_VALUE);
        // A column reading a member named like a never_read key gets the marker (redaction
        // is conservative): held back, never landed as data.
        let def = SourceDef::parse(NOTE_READS_SALT, "test").unwrap();
        let cleaner = Cleaner::new(Arc::new(def.clone()));
        let odd = kept_line(&def, br#"{"id":"u1","meta":{"salt":"s3cret"}}"#);
        assert_eq!(recheck(&cleaner, 1, &odd).unwrap_err(), REDACTED_VALUE);
        assert_eq!(recheck(&cleaner, 1, b"{").unwrap_err(), UNREADABLE_LINE);
    }

    #[test]
    fn a_journal_resolves_pending_files_exactly() {
        let j = Journal {
            landed: [1].into(),
            tag: "a".into(),
            pending: vec![
                Pending {
                    key: "k2".into(),
                    lines: vec![2, 3],
                },
                Pending {
                    key: "k4".into(),
                    lines: vec![4],
                },
            ],
        };
        // Same definition: redo every pending file (put-if-absent makes it exact).
        assert_eq!(j.clone().resolve("a", |_| true).landed, [1].into());
        // Another definition: landed exactly where the file exists.
        let r = j.clone().resolve("b", |k| k == "k2");
        assert_eq!((r.landed, r.pending), ([1, 2, 3].into(), vec![]));
        assert_eq!(j.commit().landed, [1, 2, 3, 4].into());
    }

    #[test]
    fn the_tag_follows_the_rules_not_the_path() {
        let a = SourceDef::resolve("users", None).unwrap();
        let mut b = a.clone();
        b.origin = "/elsewhere/users.toml".into();
        assert_eq!(definition_tag(&a), definition_tag(&b));
        b.columns[0].required = false;
        assert_ne!(definition_tag(&a), definition_tag(&b));
    }
}
