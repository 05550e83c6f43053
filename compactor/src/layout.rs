//! Where the curated table keeps its generations and journals (pure key arithmetic).
//!
//! ```text
//! <table>_curated/_generations/p_date=D/<run-id>/part-00000.parquet   a generation of day D
//! <table>_curated/_journal/p_date=D/<run-id>.json                      the journal of that run
//! ```
//! The catalog partition of day D points at one generation folder. Everything lives under
//! `_`-prefixed folders, which Hive, Athena, Spark, DuckDB's hive partitioning and pyarrow
//! datasets all skip when they list a table folder: a generation becomes visible only through
//! the catalog, never by being listed, so a half-written or superseded one is never read.

use firelake_core::time;

pub const GENERATIONS: &str = "_generations";
pub const JOURNAL: &str = "_journal";

/// The curated table of a raw table.
pub fn curated_table(raw_table: &str) -> String {
    format!("{raw_table}_curated")
}

/// `<curated>/_generations`
pub fn generations_root(curated: &str) -> String {
    format!("{curated}/{GENERATIONS}")
}

/// `<curated>/_generations/p_date=D/<run-id>`
pub fn generation_prefix(curated: &str, partition_column: &str, day: i32, run_id: &str) -> String {
    format!(
        "{}/{partition_column}={}/{run_id}",
        generations_root(curated),
        time::format_day(day)
    )
}

/// `<curated>/_journal`
pub fn journal_root(curated: &str) -> String {
    format!("{curated}/{JOURNAL}")
}

/// `<curated>/_journal/p_date=D/<run-id>.json`
pub fn journal_key(curated: &str, partition_column: &str, day: i32, run_id: &str) -> String {
    format!(
        "{}/{partition_column}={}/{run_id}.json",
        journal_root(curated),
        time::format_day(day)
    )
}

/// `<generation>/part-00000.parquet`: numbered in write order.
pub fn output_key(generation: &str, index: usize) -> String {
    format!("{generation}/part-{index:05}.parquet")
}

/// A run's id: its UTC start time (so ids sort by time) and a digest of its plan (so two runs
/// started in the same millisecond on different input never share a folder), e.g.
/// `20250602T010203123Z-3fa2c1d04b5e6f70`.
pub fn run_id(now_ms: i64, plan_digest: u64) -> String {
    let mut t = String::with_capacity(24);
    time::format_ms(now_ms, &mut t);
    let compact: String = t
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | '.'))
        .collect();
    format!("{compact}-{plan_digest:016x}")
}

/// The day of a partition folder key such as `users/p_date=2025-06-01` (`None` for anything
/// else, e.g. `users/_rejected`).
pub fn day_of_folder(folder: &str, partition_column: &str) -> Option<i32> {
    let name = folder.trim_end_matches('/').rsplit('/').next()?;
    let value = name.strip_prefix(partition_column)?.strip_prefix('=')?;
    time::parse_day(value)
}

/// Whether `key` is a generation folder of `curated` for `day` (what the compactor may delete).
pub fn is_generation_of(key: &str, curated: &str, partition_column: &str, day: i32) -> bool {
    let day_prefix = format!(
        "{}/{partition_column}={}/",
        generations_root(curated),
        time::format_day(day)
    );
    key.strip_prefix(&day_prefix)
        .is_some_and(|run| !run.is_empty() && !run.contains('/'))
}

/// The run id at the end of a generation folder key.
pub fn run_id_of_generation(generation: &str) -> Option<&str> {
    generation
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_a_generation_and_its_journal() {
        let day = time::parse_day("2025-06-01").unwrap();
        let id = run_id(1_748_826_123_456, 0x3fa2_c1d0);
        assert_eq!(id, "20250602T010203456Z-000000003fa2c1d0");
        let g = generation_prefix("users_curated", "p_date", day, &id);
        assert_eq!(
            g,
            "users_curated/_generations/p_date=2025-06-01/20250602T010203456Z-000000003fa2c1d0"
        );
        assert_eq!(
            journal_key("users_curated", "p_date", day, &id),
            "users_curated/_journal/p_date=2025-06-01/20250602T010203456Z-000000003fa2c1d0.json"
        );
        assert_eq!(
            output_key(&g, 3),
            format!("{g}/part-00003.parquet"),
            "numbered in write order"
        );
        assert!(is_generation_of(&g, "users_curated", "p_date", day));
        assert!(!is_generation_of(&g, "users_curated", "p_date", day + 1));
        assert!(!is_generation_of(
            "users/p_date=2025-06-01",
            "users_curated",
            "p_date",
            day
        ));
        assert_eq!(run_id_of_generation(&format!("{g}/")), Some(id.as_str()));
    }

    #[test]
    fn partition_folders_give_days() {
        assert_eq!(
            day_of_folder("users/p_date=2025-06-01", "p_date"),
            time::parse_day("2025-06-01")
        );
        assert_eq!(
            day_of_folder("users/p_date=2025-06-01/", "p_date"),
            Some(20_240)
        );
        assert_eq!(day_of_folder("users/_rejected", "p_date"), None);
        assert_eq!(day_of_folder("users/p_date=2025-13-01", "p_date"), None);
        assert_eq!(day_of_folder("users/dt=2025-06-01", "p_date"), None);
    }

    #[test]
    fn run_ids_sort_by_time() {
        let a = run_id(1_748_826_123_456, u64::MAX);
        let b = run_id(1_748_826_123_457, 0);
        assert!(a < b);
    }
}
