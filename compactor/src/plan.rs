//! Planning, pure (no I/O): which days to compact and how a day's raw files become output
//! files. The same listing always gives the same plan, so a re-run (or a recovery) is
//! predictable and a run's inputs can be compared with the next night's listing.

use std::ops::Range;

use serde::{Deserialize, Serialize};

pub const MIB: u64 = 1 << 20;
/// Default output file size (the 128 MB).
pub const DEFAULT_TARGET_BYTES: u64 = 128 * MIB;
/// The range `--target-mb` accepts: smaller files defeat compaction, larger ones hurt engines
/// that split work by file.
pub const TARGET_MB_RANGE: std::ops::RangeInclusive<u64> = 64..=1024;

/// A raw file of a day: its key, size and row count (from its Parquet footer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawFile {
    pub key: String,
    pub size: u64,
    pub rows: u64,
}

/// Consecutive files (in key order) that become one output file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bin {
    /// Indices into [`Plan::files`].
    pub files: Range<usize>,
    pub bytes: u64,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The day's files, sorted by key.
    pub files: Vec<RawFile>,
    pub bins: Vec<Bin>,
    pub target_bytes: u64,
}

impl Plan {
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Row offset of each file within the day (the global row numbers dedupe refers to).
    pub fn row_offsets(&self) -> Vec<u64> {
        self.files
            .iter()
            .scan(0u64, |acc, f| {
                let at = *acc;
                *acc += f.rows;
                Some(at)
            })
            .collect()
    }

    /// A digest of what the plan reads and how (file keys, sizes, rows, target size).
    pub fn digest(&self) -> u64 {
        let mut buf = Vec::with_capacity(self.files.len() * 64);
        buf.extend_from_slice(&self.target_bytes.to_le_bytes());
        for f in &self.files {
            buf.extend_from_slice(f.key.as_bytes());
            buf.push(0);
            buf.extend_from_slice(&f.size.to_le_bytes());
            buf.extend_from_slice(&f.rows.to_le_bytes());
        }
        twox_hash::XxHash3_128::oneshot(&buf) as u64
    }
}

/// Bin a day's files: sort by key (raw keys start with origin, shard and first sequence, so
/// key order keeps each shard's arrival order), then fill bins in that order up to
/// `target_bytes` of input. Input size is a conservative estimate of output size: merged files
/// compress at least as well as the small files they come from (larger row groups, one
/// dictionary per column chunk) and dedupe only removes rows; the merge still starts a new
/// file should one approach the target anyway. A file larger than the target gets a bin of
/// its own. Contiguous bins keep rows in arrival order within a shard.
pub fn plan(mut files: Vec<RawFile>, target_bytes: u64) -> Plan {
    files.sort_by(|a, b| a.key.cmp(&b.key));
    files.dedup_by(|a, b| a.key == b.key);
    let target_bytes = target_bytes.max(1);
    let mut bins: Vec<Bin> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        match bins.last_mut() {
            Some(bin) if bin.bytes + f.size <= target_bytes => {
                bin.files.end = i + 1;
                bin.bytes += f.size;
                bin.rows += f.rows;
            }
            _ => bins.push(Bin {
                files: i..i + 1,
                bytes: f.size,
                rows: f.rows,
            }),
        }
    }
    Plan {
        files,
        bins,
        target_bytes,
    }
}

/// Which days a run looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// One day.
    Day(i32),
    /// Every raw day from this one on.
    Since(i32),
    /// Every raw day.
    All,
    /// The nightly default: every raw day before today (UTC), which is yesterday plus any
    /// earlier day that is new (a missed night) or whose raw files changed since its last
    /// compaction (late data). Days that are up to date are skipped by [`freshness`].
    Default,
}

/// The raw days a selection names, ascending.
pub fn candidate_days(selection: Selection, raw_days: &[i32], today: i32) -> Vec<i32> {
    let mut days: Vec<i32> = match selection {
        Selection::Day(d) => vec![d],
        Selection::Since(d) => raw_days.iter().copied().filter(|x| *x >= d).collect(),
        Selection::All => raw_days.to_vec(),
        Selection::Default => raw_days.iter().copied().filter(|x| *x < today).collect(),
    };
    days.sort_unstable();
    days.dedup();
    days
}

/// How a day's raw listing compares with the inputs of its current curated generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// No curated generation yet.
    New,
    /// Files were added (late data) or changed since the last compaction.
    Changed { added: usize },
    /// Exactly the files the current generation was made from.
    UpToDate,
    /// Files the current generation was made from are gone (expired by lifecycle): compacting
    /// what is left would drop rows from the curated table, so the day is left alone.
    RawExpired { missing: usize },
}

/// Compare a day's listing (key, size) with the files its current generation read.
pub fn freshness(listing: &[(String, u64)], compacted_from: Option<&[RawFile]>) -> Freshness {
    let Some(before) = compacted_from else {
        return Freshness::New;
    };
    let now: std::collections::HashMap<&str, u64> =
        listing.iter().map(|(k, s)| (k.as_str(), *s)).collect();
    let missing = before
        .iter()
        .filter(|f| !now.contains_key(f.key.as_str()))
        .count();
    if missing > 0 {
        return Freshness::RawExpired { missing };
    }
    let was: std::collections::HashMap<&str, u64> =
        before.iter().map(|f| (f.key.as_str(), f.size)).collect();
    let added = listing
        .iter()
        .filter(|(k, s)| was.get(k.as_str()) != Some(s))
        .count();
    if added == 0 {
        Freshness::UpToDate
    } else {
        Freshness::Changed { added }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(key: &str, mb: u64) -> RawFile {
        RawFile {
            key: key.into(),
            size: mb * MIB,
            rows: mb * 1000,
        }
    }

    #[test]
    fn bins_fill_in_key_order_up_to_the_target() {
        let files = vec![f("d", 50), f("a", 60), f("c", 30), f("b", 60), f("e", 200)];
        let p = plan(files, 128 * MIB);
        let keys: Vec<&str> = p.files.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);
        let ranges: Vec<Range<usize>> = p.bins.iter().map(|b| b.files.clone()).collect();
        // a+b = 120; +c would be 150 -> new bin; c+d = 80; e alone (over the target).
        assert_eq!(ranges, [0..2, 2..4, 4..5]);
        assert_eq!(p.bins[0].bytes, 120 * MIB);
        assert_eq!(p.bins[1].rows, 80_000);
        assert!(p.bins[..2].iter().all(|b| b.bytes <= p.target_bytes));
        assert_eq!(p.rows(), 400_000);
        assert_eq!(p.row_offsets(), [0, 60_000, 120_000, 150_000, 200_000]);
    }

    #[test]
    fn every_file_in_exactly_one_bin() {
        let files: Vec<RawFile> = (0..1440)
            .map(|i| RawFile {
                key: format!("users/p_date=2025-06-01/part-{i:05}.parquet"),
                size: 80_000 + (i * 7919 % 30_000),
                rows: 700,
            })
            .collect();
        let p = plan(files, 20 * MIB);
        let mut next = 0;
        for b in &p.bins {
            assert_eq!(b.files.start, next);
            assert!(b.files.end > b.files.start);
            assert!(b.bytes <= 20 * MIB);
            assert_eq!(
                b.bytes,
                p.files[b.files.clone()].iter().map(|f| f.size).sum::<u64>()
            );
            next = b.files.end;
        }
        assert_eq!(next, 1440);
        assert_eq!(p.rows(), 1440 * 700);
    }

    #[test]
    fn the_same_listing_in_any_order_gives_the_same_plan() {
        let a = vec![f("x/1", 10), f("x/2", 100), f("x/3", 40), f("x/4", 1)];
        let mut b = a.clone();
        b.reverse();
        let (pa, pb) = (plan(a, 128 * MIB), plan(b, 128 * MIB));
        assert_eq!(pa, pb);
        assert_eq!(pa.digest(), pb.digest());
        assert_ne!(pa.digest(), plan(pa.files.clone(), 64 * MIB).digest());
        let mut c = pa.files.clone();
        c[3].size += 1;
        assert_ne!(pa.digest(), plan(c, 128 * MIB).digest());
    }

    #[test]
    fn empty_and_duplicate_listings() {
        let p = plan(Vec::new(), 128 * MIB);
        assert!(p.bins.is_empty() && p.files.is_empty());
        let p = plan(vec![f("a", 1), f("a", 1)], 128 * MIB);
        assert_eq!(p.files.len(), 1);
    }

    #[test]
    fn selections() {
        let raw = [10, 11, 12, 14, 15];
        assert_eq!(candidate_days(Selection::Day(13), &raw, 15), [13]);
        assert_eq!(candidate_days(Selection::Since(12), &raw, 15), [12, 14, 15]);
        assert_eq!(candidate_days(Selection::All, &raw, 15), raw);
        // Nightly: before today only (today is still being written).
        assert_eq!(
            candidate_days(Selection::Default, &raw, 15),
            [10, 11, 12, 14]
        );
        assert_eq!(
            candidate_days(Selection::Default, &raw, 10),
            Vec::<i32>::new()
        );
    }

    #[test]
    fn freshness_against_the_last_compaction() {
        let before = vec![f("a", 1), f("b", 2)];
        let listing = |fs: &[RawFile]| -> Vec<(String, u64)> {
            fs.iter().map(|f| (f.key.clone(), f.size)).collect()
        };
        assert_eq!(freshness(&listing(&before), None), Freshness::New);
        assert_eq!(
            freshness(&listing(&before), Some(&before)),
            Freshness::UpToDate
        );
        let mut late = before.clone();
        late.push(f("c", 1));
        assert_eq!(
            freshness(&listing(&late), Some(&before)),
            Freshness::Changed { added: 1 }
        );
        let mut rewritten = before.clone();
        rewritten[0].size += 1;
        assert_eq!(
            freshness(&listing(&rewritten), Some(&before)),
            Freshness::Changed { added: 1 }
        );
        assert_eq!(
            freshness(&listing(&late[1..]), Some(&before)),
            Freshness::RawExpired { missing: 1 }
        );
    }
}
