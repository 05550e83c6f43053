//! Counts of the values the cleaner nulled, per column and reason (issue 21: nothing changes
//! silently). Adding a row is a few array increments: no allocation on the hot path.

use std::collections::BTreeMap;

use crate::clean::{CleanRow, NullReason};
use crate::source::SourceDef;

const REASONS: usize = NullReason::ALL.len();

/// Per column index, per [`NullReason::index`]: how many values were nulled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NullCounts {
    counts: Vec<[u64; REASONS]>,
}

impl NullCounts {
    pub fn add_row(&mut self, row: &CleanRow<'_>) {
        for n in &row.nulled {
            self.add(n.column, n.reason, 1);
        }
    }

    pub fn add(&mut self, column: usize, reason: NullReason, n: u64) {
        if self.counts.len() <= column {
            self.counts.resize(column + 1, [0; REASONS]);
        }
        self.counts[column][reason.index()] += n;
    }

    pub fn merge(&mut self, other: &NullCounts) {
        for (column, per) in other.counts.iter().enumerate() {
            for reason in NullReason::ALL {
                if per[reason.index()] > 0 {
                    self.add(column, reason, per[reason.index()]);
                }
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Non-zero counts by (column name, reason kind), sorted.
    pub fn by_column(&self, def: &SourceDef) -> BTreeMap<(String, &'static str), u64> {
        let mut out = BTreeMap::new();
        for (column, per) in self.counts.iter().enumerate() {
            let name = def.columns.get(column).map_or("?", |c| c.name.as_str());
            for reason in NullReason::ALL {
                let n = per[reason.index()];
                if n > 0 {
                    out.insert((name.to_string(), reason.kind()), n);
                }
            }
        }
        out
    }

    /// `age out_of_range 102, latitude out_of_range 229` (`none` when nothing was nulled).
    pub fn describe(&self, def: &SourceDef) -> String {
        let parts: Vec<String> = self
            .by_column(def)
            .into_iter()
            .map(|((c, r), n)| format!("{c} {r} {n}"))
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::Cleaner;

    #[test]
    fn counts_per_column_and_reason() {
        let def = Arc::new(SourceDef::resolve("users", None).unwrap());
        let cleaner = Cleaner::new(def.clone());
        let raw = br#"{"login":{"uuid":"u1"},"dob":{"age":"150"},"location":{"coordinates":{"latitude":"north"}}}"#;
        let row = cleaner.clean(raw, 1_750_000_000_000).unwrap();
        let mut counts = NullCounts::default();
        counts.add_row(&row);
        counts.merge(&counts.clone());
        assert_eq!(counts.total(), 2 * row.nulled.len() as u64);
        let by = counts.by_column(&def);
        assert_eq!(by.get(&("age".to_string(), "wrong_type")), Some(&2));
        assert!(counts.describe(&def).contains("age wrong_type 2"));
        assert_eq!(NullCounts::default().describe(&def), "none");
    }
}
