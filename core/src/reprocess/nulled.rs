//! Nulled originals landed (docs/reprocess.md, "Nulled values"): a `_nulled/` line whose
//! original value passes the current definition gives its record to land again, corrected,
//! one millisecond after the nulled row's arrival. Compaction keeps a key's latest arrival
//! (compactor/src/dedupe.rs), so the corrected row replaces the nulled one in the curated
//! table, and any later version the source sends still wins over the correction.

use super::{Passing, REDACTED_VALUE, UNREADABLE_LINE, holds_marker};
use crate::clean::{CleanValue, Cleaner};
use crate::kept::{KeptData, KeptRecord, Origin};

/// How much later than the nulled row its correction arrives.
pub const CORRECTION_MS: i64 = 1;
/// The value is still nulled under the current definition.
pub const STILL_NULLED: &str = "still_nulled";
/// The corrected row would be on another day than the nulled one (an arrival-partitioned
/// record 1 ms before midnight): compaction dedupes within a day, so both would survive.
pub const OTHER_DAY: &str = "other_day";

/// One `_nulled/` line under the current definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NulledLine {
    /// The record the line belongs to (shard and position): a record nulled in two columns
    /// has two lines and is corrected once.
    pub record: String,
    /// The record to land again, when the line's value now passes.
    pub corrected: Option<Passing>,
}

/// What the current definition makes of line `line_no` of a `_nulled/` file of day `day`;
/// `Err(kind)` when its record cannot be corrected at all.
pub fn recheck_line(
    cleaner: &Cleaner,
    line_no: u64,
    line: &[u8],
    day: i32,
) -> Result<NulledLine, String> {
    let kept = KeptRecord::from_line(line).map_err(|_| UNREADABLE_LINE.to_string())?;
    let (
        Some(nulled),
        Origin::Stream {
            shard,
            position,
            arrival_ms,
            ..
        },
    ) = (&kept.nulled, &kept.origin)
    else {
        return Err(UNREADABLE_LINE.into());
    };
    let bytes = KeptData::bytes(&kept.data).ok_or(UNREADABLE_LINE)?;
    let at = arrival_ms + CORRECTION_MS;
    let record = format!("{shard}/{position}");
    let (passes, row_day) = {
        let row = cleaner
            .clean(&bytes, at)
            .map_err(|r| r.kind().to_string())?;
        // The kept record is redacted: a row holding the marker would land it as data.
        if holds_marker(&row) {
            return Err(REDACTED_VALUE.into());
        }
        let passes = cleaner
            .source()
            .column_index(&nulled.column)
            .is_some_and(|i| {
                !matches!(row.values[i], CleanValue::Null)
                    && !row.nulled.iter().any(|n| n.column == i)
            });
        (passes, row.p_date)
    };
    if !passes {
        return Ok(NulledLine {
            record,
            corrected: None,
        });
    }
    if row_day != day {
        return Err(OTHER_DAY.into());
    }
    Ok(NulledLine {
        record,
        corrected: Some(Passing {
            line: line_no,
            bytes,
            arrival_ms: at,
            day,
        }),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::kept::NulledValue;
    use crate::source::SourceDef;
    use crate::time;

    fn nulled_line(data: &str, column: &str, arrival_ms: i64) -> Vec<u8> {
        let kept = KeptRecord {
            source: "users".into(),
            kind: "out_of_range".into(),
            reason: "r".into(),
            origin: Origin::Stream {
                origin: "embedded".into(),
                shard: "s0".into(),
                position: "7".into(),
                arrival_ms,
            },
            data: KeptData::Text { data: data.into() },
            redacted: vec![],
            nulled: Some(NulledValue {
                column: column.into(),
                original: "150".into(),
                key: None,
            }),
        };
        let mut out = Vec::new();
        kept.write_line(&mut out);
        out
    }

    #[test]
    fn a_value_that_now_passes_is_corrected_one_ms_later_on_its_day() {
        let def = SourceDef::resolve("users", None).unwrap();
        let cleaner = Cleaner::new(Arc::new(def));
        let day = 20_240;
        let at = day as i64 * time::MS_PER_DAY + 5;
        let good = nulled_line(r#"{"login":{"uuid":"u1"},"dob":{"age":40}}"#, "age", at);
        let l = recheck_line(&cleaner, 3, &good, day).unwrap();
        assert_eq!(l.record, "s0/7");
        let p = l.corrected.unwrap();
        assert_eq!((p.line, p.arrival_ms, p.day), (3, at + 1, day));
        let still = nulled_line(r#"{"login":{"uuid":"u1"},"dob":{"age":"x"}}"#, "age", at);
        assert_eq!(
            recheck_line(&cleaner, 1, &still, day).unwrap().corrected,
            None
        );
        // 1 ms before midnight: the correction would be on the next day.
        let late = (day as i64 + 1) * time::MS_PER_DAY - 1;
        let edge = nulled_line(r#"{"login":{"uuid":"u1"},"dob":{"age":40}}"#, "age", late);
        assert_eq!(
            recheck_line(&cleaner, 1, &edge, day).unwrap_err(),
            OTHER_DAY
        );
        let marked = nulled_line(
            r#"{"login":{"uuid":"u1"},"email":"<redacted>","dob":{"age":40}}"#,
            "age",
            at,
        );
        assert_eq!(
            recheck_line(&cleaner, 1, &marked, day).unwrap_err(),
            REDACTED_VALUE
        );
    }
}
