//! A day copied in steps, across runs, within a time budget (a Lambda invocation, or
//! `--max-duration`): its rows go into a staging table of their own, a unit of rows per
//! transaction with the position reached recorded in the progress table in that same
//! transaction; the target's rows of the day are replaced only in the final transaction
//! (delete the day, insert it from staging, record the day in the state table, drop the
//! staging table). A run killed at any point leaves the target as before or as after, and the
//! next run continues from the last committed unit.

use std::time::Instant;

use bytes::BytesMut;
use firelake_core::{Lake, PartitionColumn, SourceDef, arrow_schema, time};
use futures::{SinkExt, StreamExt};
use tokio_postgres::{Client, Transaction};

use crate::pg::failed;
use crate::plan::{LakeDay, TargetTable, quote_ident};
use crate::run::{CHUNK_BYTES, copy_sql, pause_point, record_day};
use crate::{SyncError, encode, lake};

/// Where each staged day is: its version, staging table, file reached and rows staged.
pub const PROGRESS_TABLE: &str = "firelake_sync_progress";

/// Rows staged per transaction at most: what a kill loses, at worst.
const UNIT_ROWS: u64 = 1 << 20;

/// What a staged step of a day ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staged {
    /// The day is in the target (the final transaction committed): its rows.
    Done(u64),
    /// The budget ran out: rows staged so far; the next run continues.
    Partial(u64),
}

/// The position of a staged day, as the progress table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Progress {
    version: String,
    staging: String,
    /// Index in the day's sorted file list, and the rows of that file already staged.
    file: usize,
    file_rows: u64,
    rows: u64,
}

fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// The progress table, in the target's schema.
pub async fn ensure_progress(client: &Client, t: &str, schema: &str) -> Result<(), SyncError> {
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (
           \"table\" text NOT NULL, day date NOT NULL, source_version text NOT NULL,
           staging text NOT NULL, file integer NOT NULL, file_rows bigint NOT NULL,
           rows bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),
           PRIMARY KEY (\"table\", day))",
        quote_ident(schema),
        quote_ident(PROGRESS_TABLE)
    );
    client
        .batch_execute(&sql)
        .await
        .map_err(failed(t, "creating the progress table"))
}

/// The days of `table` with a staged copy under way.
pub async fn staged_days(
    client: &Client,
    t: &str,
    table: &TargetTable,
) -> Result<Vec<i32>, SyncError> {
    let sql = format!(
        "SELECT day::text FROM {} WHERE \"table\" = $1",
        progress_table(table)
    );
    let rows = client
        .query(&sql, &[&table.name])
        .await
        .map_err(failed(t, "reading the progress table"))?;
    Ok(rows
        .iter()
        .filter_map(|r| time::parse_day(r.get::<_, &str>(0)))
        .collect())
}

fn progress_table(table: &TargetTable) -> String {
    format!(
        "{}.{}",
        quote_ident(&table.schema),
        quote_ident(PROGRESS_TABLE)
    )
}

/// The staging table of a day's version and the target's columns: a new version (a
/// re-compaction) or a new column makes a new staging table, so stale rows never mix in.
fn staging_name(table: &TargetTable, d: &LakeDay) -> String {
    let mut key = format!(
        "{}\0{}\0{}\0{}",
        table.name,
        d.day,
        d.version,
        d.files.len()
    );
    for c in &table.columns {
        key.push_str(&format!("\0{}:{}", c.name, c.pg_type));
    }
    let digest = twox_hash::XxHash3_128::oneshot(key.as_bytes());
    format!("firelake_sync_stage_{:016x}", digest as u64)
}

/// Copy one step further (at least one unit of rows, or the final transaction), then more
/// while `deadline` allows. The caller calls this only when it may do some work.
pub async fn sync_day(
    client: &mut Client,
    t: &str,
    lake: &Lake,
    def: &SourceDef,
    table: &TargetTable,
    d: &LakeDay,
    deadline: Option<Instant>,
) -> Result<Staged, SyncError> {
    let mut p = resume_or_start(client, t, table, d).await?;
    let mut worked = false;
    while p.file < d.files.len() {
        if worked && past(deadline) {
            return Ok(Staged::Partial(p.rows));
        }
        p = stage_unit(client, t, lake, def, table, d, p, deadline).await?;
        worked = true;
    }
    if worked && past(deadline) {
        return Ok(Staged::Partial(p.rows));
    }
    swap(client, t, table, d, &p).await?;
    Ok(Staged::Done(p.rows))
}

/// The recorded position when it is for this version and its staging table holds the rows it
/// says; else a fresh start (the old staging table dropped).
async fn resume_or_start(
    client: &mut Client,
    t: &str,
    table: &TargetTable,
    d: &LakeDay,
) -> Result<Progress, SyncError> {
    let day = time::format_day(d.day);
    let staging = staging_name(table, d);
    let sql = format!(
        "SELECT source_version, staging, file, file_rows, rows FROM {}
          WHERE \"table\" = $1 AND day = ($2::text)::date",
        progress_table(table)
    );
    let row = client
        .query_opt(&sql, &[&table.name, &day])
        .await
        .map_err(failed(t, "reading the progress table"))?;
    let old = row.map(|r| Progress {
        version: r.get(0),
        staging: r.get(1),
        file: r.get::<_, i32>(2) as usize,
        file_rows: r.get::<_, i64>(3) as u64,
        rows: r.get::<_, i64>(4) as u64,
    });
    if let Some(p) = &old
        && p.version == d.version
        && p.staging == staging
        && staged_rows(client, t, table, &staging).await? == Some(p.rows)
    {
        tracing::info!(day = %day, rows = p.rows, file = p.file, "continuing a staged day");
        return Ok(p.clone());
    }
    start(client, t, table, d, old.map(|p| p.staging), staging).await
}

/// Rows in the staging table, `None` when it is gone.
async fn staged_rows(
    client: &Client,
    t: &str,
    table: &TargetTable,
    staging: &str,
) -> Result<Option<u64>, SyncError> {
    let exists = client
        .query_one(
            "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NOT NULL",
            &[&table.schema, &staging],
        )
        .await
        .map_err(failed(t, "looking for the staging table"))?;
    if !exists.get::<_, bool>(0) {
        return Ok(None);
    }
    let sql = format!(
        "SELECT count(*) FROM {}.{}",
        quote_ident(&table.schema),
        quote_ident(staging)
    );
    let n = client
        .query_one(&sql, &[])
        .await
        .map_err(failed(t, "counting the staged rows"))?;
    Ok(Some(n.get::<_, i64>(0) as u64))
}

/// A new staging table (unlogged: it is rebuilt when lost) and the day's position at zero.
async fn start(
    client: &mut Client,
    t: &str,
    table: &TargetTable,
    d: &LakeDay,
    old: Option<String>,
    staging: String,
) -> Result<Progress, SyncError> {
    let tx = client.transaction().await.map_err(failed(t, "BEGIN"))?;
    for name in old.iter().chain(std::iter::once(&staging)) {
        let drop = format!(
            "DROP TABLE IF EXISTS {}.{}",
            quote_ident(&table.schema),
            quote_ident(name)
        );
        tx.batch_execute(&drop).await.map_err(failed(t, &drop))?;
    }
    let create = format!(
        "CREATE UNLOGGED TABLE {}.{} (LIKE {} INCLUDING DEFAULTS)",
        quote_ident(&table.schema),
        quote_ident(&staging),
        table.qualified()
    );
    tx.batch_execute(&create)
        .await
        .map_err(failed(t, &create))?;
    let p = Progress {
        version: d.version.clone(),
        staging,
        file: 0,
        file_rows: 0,
        rows: 0,
    };
    save(&tx, t, table, d, &p).await?;
    tx.commit().await.map_err(failed(t, "COMMIT"))?;
    tracing::info!(day = %time::format_day(d.day), staging = %p.staging, "staging a day");
    Ok(p)
}

async fn save(
    tx: &Transaction<'_>,
    t: &str,
    table: &TargetTable,
    d: &LakeDay,
    p: &Progress,
) -> Result<(), SyncError> {
    let sql = format!(
        "INSERT INTO {} (\"table\", day, source_version, staging, file, file_rows, rows, updated_at)
         VALUES ($1, ($2::text)::date, $3, $4, $5, $6, $7, now())
         ON CONFLICT (\"table\", day) DO UPDATE SET source_version = EXCLUDED.source_version,
           staging = EXCLUDED.staging, file = EXCLUDED.file, file_rows = EXCLUDED.file_rows,
           rows = EXCLUDED.rows, updated_at = now()",
        progress_table(table)
    );
    let day = time::format_day(d.day);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
        &table.name,
        &day,
        &p.version,
        &p.staging,
        &(p.file as i32),
        &(p.file_rows as i64),
        &(p.rows as i64),
    ];
    tx.execute(&sql, &params)
        .await
        .map_err(failed(t, "recording the staged position"))?;
    Ok(())
}

/// One transaction: COPY from the recorded position into the staging table until a unit of
/// rows is sent, the budget runs out or the day ends, then the new position, COMMIT.
#[allow(clippy::too_many_arguments)]
async fn stage_unit(
    client: &mut Client,
    t: &str,
    lake: &Lake,
    def: &SourceDef,
    table: &TargetTable,
    d: &LakeDay,
    mut p: Progress,
    deadline: Option<Instant>,
) -> Result<Progress, SyncError> {
    let tx = client.transaction().await.map_err(failed(t, "BEGIN"))?;
    let into = format!("{}.{}", quote_ident(&table.schema), quote_ident(&p.staging));
    let sink = tx
        .copy_in::<_, bytes::Bytes>(&copy_sql(&into, table))
        .await
        .map_err(failed(t, "COPY"))?;
    futures::pin_mut!(sink);
    let schema = arrow_schema(def, PartitionColumn::FolderOnly);
    let mut buf = BytesMut::with_capacity(CHUNK_BYTES + (64 << 10));
    encode::header(&mut buf);
    let mut sent = 0u64;
    'files: while p.file < d.files.len() {
        let (key, size) = d.files[p.file].clone();
        let batches = lake::file_batches(lake.clone(), key, size, schema.clone(), p.file_rows);
        let batches = batches.await?;
        futures::pin_mut!(batches);
        while let Some(batch) = batches.next().await {
            let n = encode::encode_batch(&batch?, d.day, &mut buf)?;
            (p.file_rows, p.rows, sent) = (p.file_rows + n, p.rows + n, sent + n);
            if buf.len() >= CHUNK_BYTES {
                sink.send(buf.split().freeze())
                    .await
                    .map_err(failed(t, "COPY"))?;
                pause_point("copy");
            }
            if sent >= UNIT_ROWS || past(deadline) {
                break 'files;
            }
        }
        (p.file, p.file_rows) = (p.file + 1, 0);
    }
    encode::trailer(&mut buf);
    sink.send(buf.split().freeze())
        .await
        .map_err(failed(t, "COPY"))?;
    pause_point("copy");
    let stored = sink.as_mut().finish().await.map_err(failed(t, "COPY"))?;
    if stored != sent {
        let day = time::format_day(d.day);
        return Err(SyncError::RowCount {
            day,
            read: sent,
            stored,
        });
    }
    save(&tx, t, table, d, &p).await?;
    tx.commit().await.map_err(failed(t, "COMMIT"))?;
    tracing::info!(day = %time::format_day(d.day), rows = p.rows, file = p.file, "staged");
    Ok(p)
}

/// The final transaction: the day's rows replaced from the staging table, the day recorded,
/// the staging table and the position dropped.
async fn swap(
    client: &mut Client,
    t: &str,
    table: &TargetTable,
    d: &LakeDay,
    p: &Progress,
) -> Result<(), SyncError> {
    let day = time::format_day(d.day);
    let tx = client.transaction().await.map_err(failed(t, "BEGIN"))?;
    let delete = format!(
        "DELETE FROM {} WHERE {} = '{day}'::date",
        table.qualified(),
        quote_ident(&table.partition_column)
    );
    tx.execute(&delete, &[]).await.map_err(failed(t, &delete))?;
    let cols: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let staging = format!("{}.{}", quote_ident(&table.schema), quote_ident(&p.staging));
    let insert = format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {staging}",
        table.qualified(),
        cols = cols.join(", ")
    );
    let stored = tx
        .execute(&insert, &[])
        .await
        .map_err(failed(t, "inserting the staged day"))?;
    if stored != p.rows {
        return Err(SyncError::RowCount {
            day,
            read: p.rows,
            stored,
        });
    }
    record_day(&tx, t, table, &day, &d.version, stored).await?;
    let clean = format!(
        "DROP TABLE {staging}; DELETE FROM {} WHERE \"table\" = {} AND day = '{day}'::date",
        progress_table(table),
        quote_literal(&table.name)
    );
    tx.batch_execute(&clean)
        .await
        .map_err(failed(t, "dropping the staging table"))?;
    tx.commit().await.map_err(failed(t, "COMMIT"))?;
    Ok(())
}

fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_version_or_column_makes_a_new_staging_table() {
        let def = SourceDef::resolve("users", None).unwrap();
        let table = TargetTable::for_source(&def, "s", "users_curated", true);
        let day = LakeDay {
            day: 20_000,
            version: "gen:a".into(),
            files: vec![("k".into(), 1)],
        };
        let name = staging_name(&table, &day);
        assert!(name.len() < 63, "{name}");
        assert_eq!(name, staging_name(&table, &day.clone()));
        let newer = LakeDay {
            version: "gen:b".into(),
            ..day.clone()
        };
        assert_ne!(name, staging_name(&table, &newer));
        let mut wider = table.clone();
        wider.columns.pop();
        assert_ne!(name, staging_name(&wider, &day));
    }
}
