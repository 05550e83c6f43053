//! Raw files that cannot be read (not Parquet, cut short, empty, columns that do not fit the
//! source) are set aside, next to the curated day, with the error that condemned them:
//!
//! ```text
//! <table>_curated/_quarantine/p_date=D/<file>               a copy of the file, as it was
//! <table>_curated/_quarantine/p_date=D/<file>.reason.json   {"file", "size", "error", "quarantined_at"}
//! ```
//! The compactor never writes the raw table (its role cannot: infra/iam.tf), so the raw file
//! stays until lifecycle expires it, and every run leaves out a raw file whose name and size
//! match a quarantined one: it is never read again. A file rewritten since (another size) is
//! read again. Copy first, reason second: a run stopped in between quarantines it again.

use std::collections::HashMap;

use bytes::Bytes;
use firelake_core::Lake;
use firelake_core::lake::LakeObject;

use crate::{CompactError, Quarantined};

const REASON: &str = ".reason.json";

/// `<curated>/_quarantine/<pcol>=<day>`: a day's quarantine folder.
pub fn quarantine_folder(curated: &str, partition_column: &str, day: &str) -> String {
    format!("{curated}/_quarantine/{partition_column}={day}")
}

fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// The raw files of `listing` that are not quarantined (`folder`'s listing: copies and
/// reasons). A raw file is quarantined when a reason and a copy of the same size exist.
pub fn not_quarantined(listing: Vec<LakeObject>, folder: &[LakeObject]) -> Vec<LakeObject> {
    let sizes: HashMap<&str, u64> = folder.iter().map(|o| (file_name(&o.key), o.size)).collect();
    listing
        .into_iter()
        .filter(|raw| {
            let name = file_name(&raw.key);
            let reason = format!("{name}{REASON}");
            !(sizes.contains_key(reason.as_str()) && sizes.get(name) == Some(&raw.size))
        })
        .collect()
}

/// Set `key` (of `size` bytes) aside in `folder` with `error`.
pub async fn quarantine(
    lake: &Lake,
    folder: &str,
    key: &str,
    error: &str,
    now_ms: i64,
) -> Result<Quarantined, CompactError> {
    let kept_at = format!("{folder}/{}", file_name(key));
    tracing::warn!(file = %key, %kept_at, %error, "unreadable raw file quarantined");
    let bytes = lake.get(key).await?.unwrap_or_default();
    let size = bytes.len();
    lake.put(&kept_at, bytes).await?;
    let mut at = String::new();
    firelake_core::time::format_ms(now_ms, &mut at);
    let reason =
        serde_json::json!({"file": key, "size": size, "error": error, "quarantined_at": at});
    let reason = serde_json::to_vec_pretty(&reason).expect("JSON");
    lake.put(&format!("{kept_at}{REASON}"), Bytes::from(reason))
        .await?;
    Ok(Quarantined {
        file: key.to_string(),
        kept_at,
        error: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(key: &str, size: u64) -> LakeObject {
        LakeObject {
            key: key.into(),
            size,
        }
    }

    #[test]
    fn quarantined_files_are_left_out_until_rewritten() {
        let folder = quarantine_folder("users_curated", "p_date", "2025-06-01");
        assert_eq!(folder, "users_curated/_quarantine/p_date=2025-06-01");
        let kept = [
            o(&format!("{folder}/a.parquet"), 10),
            o(&format!("{folder}/a.parquet{REASON}"), 99),
            o(&format!("{folder}/b.parquet"), 5), // no reason yet: a run stopped half-way
        ];
        let raw = "users/p_date=2025-06-01";
        let listing = vec![
            o(&format!("{raw}/a.parquet"), 10),
            o(&format!("{raw}/b.parquet"), 5),
            o(&format!("{raw}/c.parquet"), 7),
        ];
        let left: Vec<String> = not_quarantined(listing.clone(), &kept)
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(
            left,
            [format!("{raw}/b.parquet"), format!("{raw}/c.parquet")]
        );
        let mut rewritten = listing;
        rewritten[0].size = 11;
        assert_eq!(not_quarantined(rewritten, &kept).len(), 3);
    }
}
