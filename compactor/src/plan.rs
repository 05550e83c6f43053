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
    /// compaction (late data). Days that are up to date are skipped (see [`build`]).
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

/// What a day's next generation is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Build {
    /// Nothing new since the current generation: left as it is.
    UpToDate,
    /// The raw files alone (no generation yet, or `--rebuild-from-raw`): indices into the
    /// listing.
    FromRaw(Vec<usize>),
    /// The current generation's rows plus the raw files it does not hold yet (indices into
    /// the listing), deduplicated across both. Raw files expire (lifecycle) long before the
    /// curated table does: rebuilding from raw alone would drop their rows.
    FromGeneration(Vec<usize>),
}

/// How a day is to be built. `listing` is the day's raw files (key, size); `covered` the raw
/// files whose rows the current generation holds (`None`: no generation). A raw file counts as
/// covered when its key and size match (a rewritten file is new again). `force` rebuilds a day
/// that is up to date, still from its generation; only `from_raw` reads the raw files alone,
/// and a change of dedupe rule while every covered raw file is still there (the generation
/// was made under the other rule; its raw files give the same rows under the new one).
pub fn build(
    listing: &[(String, u64)],
    covered: Option<&[RawFile]>,
    force: bool,
    from_raw: bool,
    rule_changed: bool,
) -> Build {
    let all = || (0..listing.len()).collect();
    let Some(covered) = covered.filter(|_| !from_raw) else {
        return Build::FromRaw(all());
    };
    if rule_changed && expired(listing, covered) == 0 {
        return Build::FromRaw(all());
    }
    let was: std::collections::HashMap<&str, u64> =
        covered.iter().map(|f| (f.key.as_str(), f.size)).collect();
    let new: Vec<usize> = (0..listing.len())
        .filter(|&i| was.get(listing[i].0.as_str()) != Some(&listing[i].1))
        .collect();
    if new.is_empty() && !force && !rule_changed {
        Build::UpToDate
    } else {
        Build::FromGeneration(new)
    }
}

/// Covered raw files that are no longer listed (expired by lifecycle; their rows live on in
/// the curated table).
pub fn expired(listing: &[(String, u64)], covered: &[RawFile]) -> usize {
    let now: std::collections::HashSet<&str> = listing.iter().map(|(k, _)| k.as_str()).collect();
    covered
        .iter()
        .filter(|f| !now.contains(f.key.as_str()))
        .count()
}

/// What the next generation covers: the current one's raw files, with `added` replacing any of
/// the same key.
pub fn covered_after(covered: &[RawFile], added: &[RawFile]) -> Vec<RawFile> {
    let mut by_key: std::collections::BTreeMap<&str, &RawFile> =
        covered.iter().map(|f| (f.key.as_str(), f)).collect();
    for f in added {
        by_key.insert(f.key.as_str(), f);
    }
    by_key.into_values().cloned().collect()
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
    fn a_day_builds_from_its_generation_and_the_raw_files_it_lacks() {
        let before = vec![f("a", 1), f("b", 2)];
        let listing = |fs: &[RawFile]| -> Vec<(String, u64)> {
            fs.iter().map(|f| (f.key.clone(), f.size)).collect()
        };
        let l = listing(&before);
        assert_eq!(
            build(&l, None, false, false, false),
            Build::FromRaw(vec![0, 1])
        );
        assert_eq!(
            build(&l, Some(&before), false, false, false),
            Build::UpToDate
        );
        assert_eq!(
            build(&l, Some(&before), true, false, false),
            Build::FromGeneration(vec![])
        );
        let mut late = before.clone();
        late.push(f("c", 1));
        let l = listing(&late);
        assert_eq!(
            build(&l, Some(&before), false, false, false),
            Build::FromGeneration(vec![2])
        );
        // "a" expired, "c" arrived: still the generation plus "c", never raw alone...
        let l = listing(&late[1..]);
        assert_eq!(expired(&l, &before), 1);
        assert_eq!(
            build(&l, Some(&before), false, false, false),
            Build::FromGeneration(vec![1])
        );
        // ...unless asked by name.
        assert_eq!(
            build(&l, Some(&before), true, true, false),
            Build::FromRaw(vec![0, 1])
        );
        let mut rewritten = before.clone();
        rewritten[0].size += 1;
        assert_eq!(
            build(&listing(&rewritten), Some(&before), false, false, false),
            Build::FromGeneration(vec![0])
        );
        // Another dedupe rule: from raw while nothing expired, else from the generation.
        assert_eq!(
            build(&listing(&before), Some(&before), false, false, true),
            Build::FromRaw(vec![0, 1])
        );
        assert_eq!(
            build(&listing(&before[1..]), Some(&before), false, false, true),
            Build::FromGeneration(vec![])
        );
        let after = covered_after(&before, &[rewritten[0].clone(), f("c", 1)]);
        assert_eq!(after, vec![rewritten[0].clone(), f("b", 2), f("c", 1)]);
    }
}
