//! The source positions a commit covers (pure). A data file's name ends in
//! `<origin>-<shard>-<first>-<last>.parquet` (core's layout), so the files of a commit give,
//! per stream shard, the ranges of sequence numbers or offsets it lands. They go in the
//! snapshot summary under [`SUMMARY_KEY`] so that an operator (or a consumer) can tell from
//! the table alone which records it holds.

use std::collections::BTreeMap;

/// Snapshot summary key of the positions a commit covers.
pub const SUMMARY_KEY: &str = "firelake.positions";
/// Snapshot summary key of the number of files firelake added in the commit.
pub const FILES_KEY: &str = "firelake.files";

/// One file's place in its stream: `<origin>-<shard>` and the first and last position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePosition {
    pub stream_shard: String,
    pub first: String,
    pub last: String,
}

/// The position in a data file's name (its last path segment), `None` for a name that is not
/// firelake's (it is still committed; it just covers no known position).
pub fn of_file(path: &str) -> Option<FilePosition> {
    let name = path.rsplit('/').next()?.strip_suffix(".parquet")?;
    let (rest, last) = name.rsplit_once('-')?;
    let (stream_shard, first) = rest.rsplit_once('-')?;
    if stream_shard.is_empty() || first.is_empty() || last.is_empty() {
        return None;
    }
    Some(FilePosition {
        stream_shard: stream_shard.to_string(),
        first: first.to_string(),
        last: last.to_string(),
    })
}

/// `<stream-shard>:<first>-<last>,<first>-<last>;...`, shards sorted, ranges in file order
/// sorted by their first position (numerically when both are numbers).
pub fn summary(paths: &[String]) -> String {
    let mut by_shard: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for p in paths.iter().filter_map(|p| of_file(p)) {
        by_shard
            .entry(p.stream_shard)
            .or_default()
            .push((p.first, p.last));
    }
    by_shard
        .into_iter()
        .map(|(shard, mut ranges)| {
            ranges.sort_by(|a, b| position_order(&a.0, &b.0));
            let r: Vec<String> = ranges.iter().map(|(f, l)| format!("{f}-{l}")).collect();
            format!("{shard}:{}", r.join(","))
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// Numbers by value (Kinesis sequence numbers exceed u64 as text, so by length first), other
/// text as text.
fn position_order(a: &str, b: &str) -> std::cmp::Ordering {
    let numeric = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    if numeric(a) && numeric(b) {
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.cmp(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_come_from_the_file_names() {
        let p = of_file(
            "file:///l/users/p_date=2025-06-01/kinesis_users-shardId-000000000001-495-497.parquet",
        )
        .unwrap();
        assert_eq!(p.stream_shard, "kinesis_users-shardId-000000000001");
        assert_eq!((p.first.as_str(), p.last.as_str()), ("495", "497"));
        assert_eq!(of_file("users/p_date=2025-06-01/other.parquet"), None);
        assert_eq!(of_file("users/x.jsonl"), None);
    }

    #[test]
    fn summary_groups_ranges_by_shard_in_order() {
        let paths = [
            "t/p_date=2025-06-02/users-1-10-19.parquet",
            "t/p_date=2025-06-01/users-0-100-199.parquet",
            "t/p_date=2025-06-01/users-0-9-99.parquet",
            "t/p_date=2025-06-01/foreign.parquet",
        ]
        .map(String::from);
        assert_eq!(summary(&paths), "users-0:9-99,100-199;users-1:10-19");
        assert_eq!(summary(&[]), "");
    }
}
