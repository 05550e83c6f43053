//! Where things live in the lake. Keys are derived from what a file holds, so a replay after a
//! crash writes the same key (and create-if-absent makes that a no-op).

use crate::time;

/// `<table>/p_date=YYYY-MM-DD`
pub fn partition_prefix(table: &str, partition_column: &str, day: i32) -> String {
    format!("{table}/{partition_column}={}", time::format_day(day))
}

/// Which records a file holds: the stream, the shard or partition, and the first and last
/// sequence number or offset. Both ends are in the name: a replay that buffers the same
/// records writes the same key, and one that cut its buffers differently writes another key
/// (its rows are duplicates the compactor removes) instead of being skipped and lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOrigin {
    pub origin: String,
    pub shard: String,
    pub first: String,
    pub last: String,
}

impl FileOrigin {
    pub fn stem(&self) -> String {
        format!(
            "{}-{}-{}-{}",
            sanitize(&self.origin),
            sanitize(&self.shard),
            sanitize(&self.first),
            sanitize(&self.last)
        )
    }
}

/// `<table>/p_date=D/<origin>-<shard>-<first>-<last>.parquet`
pub fn data_file_key(table: &str, partition_column: &str, day: i32, o: &FileOrigin) -> String {
    format!(
        "{}/{}.parquet",
        partition_prefix(table, partition_column, day),
        o.stem()
    )
}

/// `<table>/_rejected/p_date=D/<origin>-<shard>-<first>-<last>.jsonl`
pub fn rejected_file_key(table: &str, partition_column: &str, day: i32, o: &FileOrigin) -> String {
    format!(
        "{table}/_rejected/{partition_column}={}/{}.jsonl",
        time::format_day(day),
        o.stem()
    )
}

/// `<table>/_nulled/p_date=D/<origin>-<shard>-<first>-<last>.jsonl`: the originals of the
/// values the cleaner nulled in the rows of the data file with the same stem.
pub fn nulled_file_key(table: &str, partition_column: &str, day: i32, o: &FileOrigin) -> String {
    format!(
        "{table}/_nulled/{partition_column}={}/{}.jsonl",
        time::format_day(day),
        o.stem()
    )
}

/// FNV-1a, 64 bit: a hash that is the same on every run and platform, for names and shard
/// choices derived from data (std's hashers are seeded per process).
#[derive(Debug, Clone, Copy)]
pub struct StableHash(u64);

impl Default for StableHash {
    fn default() -> Self {
        StableHash(0xcbf2_9ce4_8422_2325)
    }
}

impl StableHash {
    pub fn update(&mut self, bytes: &[u8]) -> &mut Self {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    pub fn finish(&self) -> u64 {
        self.0
    }

    /// The hash of one byte string.
    pub fn of(bytes: &[u8]) -> u64 {
        StableHash::default().update(bytes).finish()
    }
}

/// Keep key components to a portable set: letters, digits, `.`, `_`, `-` become themselves,
/// anything else `_` (shard ids and stream names may hold `:` or `/`).
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_partitioned() {
        let o = FileOrigin {
            origin: "kinesis:users".into(),
            shard: "shardId-000000000001".into(),
            first: "495".into(),
            last: "497".into(),
        };
        assert_eq!(
            data_file_key("users", "p_date", 20_240, &o),
            "users/p_date=2025-06-01/kinesis_users-shardId-000000000001-495-497.parquet"
        );
        assert_eq!(
            rejected_file_key("users", "p_date", 20_240, &o),
            "users/_rejected/p_date=2025-06-01/kinesis_users-shardId-000000000001-495-497.jsonl"
        );
    }
}
