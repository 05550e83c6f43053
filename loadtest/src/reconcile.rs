//! After a run: what the lake holds that it did not hold before (the table's new data files,
//! their rows from the Parquet footers, the new rejected-record files and their lines), and
//! whether that equals, exactly, what the load test sent and the consumer reported.

use std::collections::HashSet;

use firelake_core::{Lake, LakeError};
use parquet::file::metadata::{FooterTail, ParquetMetaDataReader};
use serde::Serialize;

use crate::counts::Counts;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("{key}: not a Parquet file: {message}")]
    Parquet { key: String, message: String },
    #[error("{key}: listed but gone")]
    Gone { key: String },
}

/// The keys a table held before the run.
#[derive(Debug, Default)]
pub struct Snapshot {
    keys: HashSet<String>,
}

impl Snapshot {
    pub async fn take(lake: &Lake, table: &str) -> Result<Snapshot, ReconcileError> {
        let keys = lake
            .list(&format!("{table}/"))
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect();
        Ok(Snapshot { keys })
    }
}

/// What the run added to the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LakeCounts {
    pub data_files: u64,
    /// Sum of the data files' footer row counts.
    pub rows: u64,
    pub rejected_files: u64,
    /// Lines of the rejected-record files (one per record).
    pub rejected: u64,
}

/// What kind of file a key is, in the table's layout.
fn kind_of(key: &str, table: &str, partition_column: &str) -> Option<bool> {
    let rest = key.strip_prefix(table)?.strip_prefix('/')?;
    let day = format!("{partition_column}=");
    if let Some(r) = rest.strip_prefix("_rejected/") {
        return (r.starts_with(&day) && r.ends_with(".jsonl")).then_some(false);
    }
    (rest.starts_with(&day) && rest.ends_with(".parquet")).then_some(true)
}

async fn footer_rows(lake: &Lake, key: &str, size: u64) -> Result<u64, ReconcileError> {
    let err = |message: String| ReconcileError::Parquet {
        key: key.to_string(),
        message,
    };
    if size < 12 {
        return Err(err(format!("{size} bytes")));
    }
    let tail = lake.get_range(key, size - 8..size).await?;
    let tail: [u8; 8] = tail[..].try_into().map_err(|_| err("short read".into()))?;
    let footer = FooterTail::try_new(&tail).map_err(|e| err(e.to_string()))?;
    let len = footer.metadata_length() as u64;
    if len + 8 > size {
        return Err(err(format!("footer of {len} bytes in a file of {size}")));
    }
    let meta = lake.get_range(key, size - 8 - len..size - 8).await?;
    let meta = ParquetMetaDataReader::decode_metadata(&meta).map_err(|e| err(e.to_string()))?;
    Ok(meta.file_metadata().num_rows().max(0) as u64)
}

/// Count what the table holds now that `before` did not list.
pub async fn count_new(
    lake: &Lake,
    table: &str,
    partition_column: &str,
    before: &Snapshot,
) -> Result<LakeCounts, ReconcileError> {
    let mut c = LakeCounts::default();
    for o in lake.list(&format!("{table}/")).await? {
        if before.keys.contains(&o.key) {
            continue;
        }
        match kind_of(&o.key, table, partition_column) {
            Some(true) => {
                c.data_files += 1;
                c.rows += footer_rows(lake, &o.key, o.size).await?;
            }
            Some(false) => {
                let bytes = lake
                    .get(&o.key)
                    .await?
                    .ok_or_else(|| ReconcileError::Gone { key: o.key.clone() })?;
                c.rejected_files += 1;
                c.rejected += bytes
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .count() as u64;
            }
            None => {}
        }
    }
    Ok(c)
}

/// One comparison of the reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub what: String,
    /// Each side's name and value; the check holds when all are equal.
    pub values: Vec<(String, u64)>,
    pub ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    pub ok: bool,
    pub lake: LakeCounts,
    pub checks: Vec<Check>,
}

fn check(what: &str, values: &[(&str, u64)]) -> Check {
    Check {
        what: what.into(),
        ok: values.windows(2).all(|w| w[0].1 == w[1].1),
        values: values.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
    }
}

/// Compare the run's counters with the lake's (pure).
pub fn reconcile(c: &Counts, lake: &LakeCounts) -> Reconciliation {
    let mut checks = vec![
        check(
            "records",
            &[
                ("published", c.published),
                ("consumer records_in", c.records_in),
                ("lake rows + rejected", lake.rows + lake.rejected),
            ],
        ),
        check(
            "rows",
            &[
                ("consumer rows_out", c.rows_out),
                ("rows with a latency", c.durable_rows_measured),
                ("lake rows (Parquet footers)", lake.rows),
            ],
        ),
        check(
            "rejected",
            &[
                ("consumer rejected", c.rejected),
                ("lake rejected-file lines", lake.rejected),
            ],
        ),
        check(
            "data files",
            &[
                ("consumer files", c.files),
                ("lake new files", lake.data_files),
            ],
        ),
        check(
            "rejected files",
            &[
                ("consumer rejected files", c.rejected_files),
                ("lake new rejected files", lake.rejected_files),
            ],
        ),
    ];
    // Which records are good is known for each one sent; with every record delivered the
    // split must match exactly (undelivered ones are dead-lettered, good or bad).
    if c.undelivered == 0 {
        checks.push(check(
            "good records",
            &[("sent good", c.expected_rows), ("lake rows", lake.rows)],
        ));
        checks.push(check(
            "bad records",
            &[
                ("sent bad", c.expected_rejected),
                ("lake rejected", lake.rejected),
            ],
        ));
    }
    Reconciliation {
        ok: checks.iter().all(|c| c.ok),
        lake: lake.clone(),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn kinds() {
        let k = |key| kind_of(key, "loadtest", "p_date");
        assert_eq!(k("loadtest/p_date=2025-06-01/a.parquet"), Some(true));
        assert_eq!(
            k("loadtest/_rejected/p_date=2025-06-01/a.jsonl"),
            Some(false)
        );
        assert_eq!(k("loadtest_curated/p_date=2025-06-01/a.parquet"), None);
        assert_eq!(k("loadtest/_generations/p_date=2025-06-01/a.parquet"), None);
        assert_eq!(k("loadtest/p_date=2025-06-01/a.parquet.tmp"), None);
    }

    fn counts() -> Counts {
        Counts {
            produced: 100,
            published: 100,
            undelivered: 0,
            expected_rows: 97,
            expected_rejected: 3,
            records_in: 100,
            rows_out: 97,
            rejected: 3,
            files: 2,
            rejected_files: 1,
            bytes_written: 0,
            durable_rows_measured: 97,
        }
    }

    #[test]
    fn reconciles_exactly_or_names_the_difference() {
        let lake = LakeCounts {
            data_files: 2,
            rows: 97,
            rejected_files: 1,
            rejected: 3,
        };
        assert!(reconcile(&counts(), &lake).ok);
        let short = LakeCounts { rows: 96, ..lake };
        let r = reconcile(&counts(), &short);
        assert!(!r.ok);
        let failed: Vec<&str> = r
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.what.as_str())
            .collect();
        assert_eq!(failed, ["records", "rows", "good records"]);
    }

    #[tokio::test]
    async fn counts_only_what_the_run_added() {
        let lake = Lake::from_url("memory://").unwrap();
        let def = std::sync::Arc::new(firelake_core::SourceDef::resolve("loadtest", None).unwrap());
        let schema = firelake_core::arrow_schema(&def, firelake_core::PartitionColumn::FolderOnly);
        let batch = |n: usize| {
            let cleaner = firelake_core::Cleaner::new(def.clone());
            let mut b = firelake_core::BatchBuilder::new(
                &def,
                firelake_core::PartitionColumn::FolderOnly,
                n,
            );
            for i in 0..n {
                let raw = format!(r#"{{"run":"r","seq":{i},"produced_at":1,"payload":"x"}}"#);
                b.append(
                    &cleaner.clean(raw.as_bytes(), 1_750_000_000_000).unwrap(),
                    raw.len(),
                );
            }
            b.finish()
        };
        let put = |key: &'static str, bytes: Vec<u8>| {
            let lake = lake.clone();
            async move { lake.put(key, Bytes::from(bytes)).await.unwrap() }
        };
        let pq = |n| firelake_core::output::parquet_bytes(schema.clone(), &[batch(n)]).unwrap();
        put("loadtest/p_date=2025-06-01/old.parquet", pq(5)).await;
        let before = Snapshot::take(&lake, "loadtest").await.unwrap();
        put("loadtest/p_date=2025-06-01/new1.parquet", pq(7)).await;
        put("loadtest/p_date=2025-06-02/new2.parquet", pq(3)).await;
        put(
            "loadtest/_rejected/p_date=2025-06-01/r.jsonl",
            b"{}\n{}\n".to_vec(),
        )
        .await;
        put("loadtest/_checkpoint.json", b"{}".to_vec()).await;
        let c = count_new(&lake, "loadtest", "p_date", &before)
            .await
            .unwrap();
        assert_eq!(
            c,
            LakeCounts {
                data_files: 2,
                rows: 10,
                rejected_files: 1,
                rejected: 2
            }
        );
        put(
            "loadtest/p_date=2025-06-03/bad.parquet",
            b"not parquet at all".to_vec(),
        )
        .await;
        assert!(matches!(
            count_new(&lake, "loadtest", "p_date", &before).await,
            Err(ReconcileError::Parquet { .. })
        ));
    }
}
