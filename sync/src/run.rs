//! A sync run: the target table brought to the source definition, then each selected day that
//! is new or changed replaced in one transaction (delete the day, binary COPY its rows, record
//! its version in the state table, commit).

use std::time::Instant;

use bytes::BytesMut;
use firelake_core::catalog::Catalog;
use firelake_core::{Lake, PartitionColumn, SourceDef, arrow_schema, time};
use futures::{SinkExt, StreamExt};
use tokio_postgres::Client;

use crate::pg::{self, STATE_TABLE, Target, failed};
use crate::plan::{DayAction, LakeDay, Selection, TargetTable, plan_days, plan_ddl, quote_ident};
use crate::staged::{self, Staged};
use crate::{SyncError, encode, lake};

/// Bytes of COPY data sent per message: big enough that the per-message cost is noise, small
/// enough that memory stays a few batches.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// A test hook: `FIRELAKE_SYNC_PAUSE_AT=copy` stops the process after the first COPY chunk of
/// the first synced day reached the server (says so on stderr, then sleeps), so a test can
/// kill -9 it in the middle of a day.
pub const PAUSE_ENV: &str = "FIRELAKE_SYNC_PAUSE_AT";

pub struct SyncOptions {
    /// The lake table (raw `users`, or curated `users_curated`).
    pub table: String,
    pub schema: String,
    pub selection: Selection,
    /// Sync the selected days even when their version is the recorded one.
    pub force: bool,
    /// The time budget: past it, the run stops after the step under way (a unit of a staged
    /// day, or a day) and the next run continues (see [`crate::staged`]). `None`: no limit,
    /// each day copied in one transaction.
    pub deadline: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayOutcome {
    Synced {
        rows: u64,
        version: String,
    },
    UpToDate,
    /// Staged in part when the budget ran out: the target still has the day as before.
    Partial {
        staged: u64,
    },
}

#[derive(Debug, Default)]
pub struct SyncReport {
    pub days: Vec<(i32, DayOutcome)>,
    /// The DDL run on the target table (CREATE TABLE, ADD COLUMN).
    pub ddl: Vec<String>,
    /// The budget ran out before every selected day was done: run again to continue.
    pub stopped: bool,
}

impl SyncReport {
    pub fn synced(&self) -> usize {
        self.days
            .iter()
            .filter(|(_, o)| matches!(o, DayOutcome::Synced { .. }))
            .count()
    }
    pub fn rows(&self) -> u64 {
        self.days
            .iter()
            .map(|(_, o)| match o {
                DayOutcome::Synced { rows, .. } => *rows,
                _ => 0,
            })
            .sum()
    }
    pub fn partial(&self) -> usize {
        self.days
            .iter()
            .filter(|(_, o)| matches!(o, DayOutcome::Partial { .. }))
            .count()
    }
}

/// Sync `opts.table` of `lake` into `target`. `on_day` hears each day as it is done.
pub async fn sync(
    lake: &Lake,
    catalog: &dyn Catalog,
    def: &SourceDef,
    target: &Target,
    opts: &SyncOptions,
    on_day: &mut dyn FnMut(i32, &DayOutcome),
) -> Result<SyncReport, SyncError> {
    let days = lake::lake_days(lake, catalog, &opts.table, &def.partition_column).await?;
    if days.is_empty() {
        return Err(SyncError::NoPartitions(opts.table.clone()));
    }
    let curated = opts.table.ends_with("_curated");
    let table = TargetTable::for_source(def, &opts.schema, &opts.table, curated);
    let mut client = target.connect().await?;
    let t = target.display.as_str();
    pg::ensure_state(&client, t, &opts.schema).await?;
    staged::ensure_progress(&client, t, &opts.schema).await?;
    pg::lock_table(&client, t, &table).await?;
    let existing = pg::existing_columns(&client, t, &table).await?;
    let ddl = plan_ddl(&table, existing.as_deref())?;
    pg::apply_ddl(&mut client, t, &ddl).await?;
    let state = pg::state(&client, t, &table).await?;
    let plan = plan_days(&days, &state, opts.selection, opts.force)?;
    let under_way = staged::staged_days(&client, t, &table).await?;
    let mut report = SyncReport {
        ddl,
        ..Default::default()
    };
    sync_days(
        &mut client,
        t,
        lake,
        def,
        &table,
        opts,
        plan,
        &under_way,
        &mut report,
        on_day,
    )
    .await?;
    Ok(report)
}

/// The planned days in order, each in one transaction, or staged when there is a budget or
/// a staged copy of the day under way; stops when the budget runs out.
#[allow(clippy::too_many_arguments)]
async fn sync_days(
    client: &mut Client,
    t: &str,
    lake: &Lake,
    def: &SourceDef,
    table: &TargetTable,
    opts: &SyncOptions,
    plan: Vec<(i32, DayAction)>,
    under_way: &[i32],
    report: &mut SyncReport,
    on_day: &mut dyn FnMut(i32, &DayOutcome),
) -> Result<(), SyncError> {
    let mut worked = false;
    for (day, action) in plan {
        let DayAction::Sync(d) = action else {
            on_day(day, &DayOutcome::UpToDate);
            report.days.push((day, DayOutcome::UpToDate));
            continue;
        };
        // At least one step per run, so a run always moves on.
        if worked && opts.deadline.is_some_and(|end| Instant::now() >= end) {
            report.stopped = true;
            break;
        }
        worked = true;
        let outcome = if opts.deadline.is_some() || under_way.contains(&day) {
            match staged::sync_day(client, t, lake, def, table, &d, opts.deadline).await? {
                Staged::Done(rows) => DayOutcome::Synced {
                    rows,
                    version: d.version,
                },
                Staged::Partial(staged) => DayOutcome::Partial { staged },
            }
        } else {
            let rows = sync_day(client, t, lake, def, table, &d).await?;
            DayOutcome::Synced {
                rows,
                version: d.version,
            }
        };
        on_day(day, &outcome);
        let partial = matches!(outcome, DayOutcome::Partial { .. });
        report.days.push((day, outcome));
        if partial {
            report.stopped = true;
            break;
        }
    }
    Ok(())
}

/// Replace one day in one transaction. Killed or failed at any point before the commit, the
/// server rolls it all back: the target keeps the day as it was.
async fn sync_day(
    client: &mut Client,
    t: &str,
    lake: &Lake,
    def: &SourceDef,
    table: &TargetTable,
    d: &LakeDay,
) -> Result<u64, SyncError> {
    let started = Instant::now();
    let day = time::format_day(d.day);
    let tx = client.transaction().await.map_err(failed(t, "BEGIN"))?;
    let delete = format!(
        "DELETE FROM {} WHERE {} = '{day}'::date",
        table.qualified(),
        quote_ident(&table.partition_column)
    );
    tx.execute(&delete, &[]).await.map_err(failed(t, &delete))?;
    let (read, stored) = copy_day(&tx, t, lake, def, table, d).await?;
    if read != stored {
        return Err(SyncError::RowCount { day, read, stored });
    }
    record_day(&tx, t, table, &day, &d.version, stored).await?;
    tx.commit().await.map_err(failed(t, "COMMIT"))?;
    tracing::info!(day = %day, rows = stored, version = %d.version, elapsed_ms = started.elapsed().as_millis() as u64, "day synced");
    Ok(stored)
}

/// The day recorded as synced at `version` with `rows`, in the transaction that put it there.
pub(crate) async fn record_day(
    tx: &tokio_postgres::Transaction<'_>,
    t: &str,
    table: &TargetTable,
    day: &str,
    version: &str,
    rows: u64,
) -> Result<(), SyncError> {
    let upsert = format!(
        "INSERT INTO {}.{} (\"table\", day, source_version, rows, synced_at)
         VALUES ($1, ($2::text)::date, $3, $4, now())
         ON CONFLICT (\"table\", day) DO UPDATE
           SET source_version = EXCLUDED.source_version, rows = EXCLUDED.rows, synced_at = now()",
        quote_ident(&table.schema),
        quote_ident(STATE_TABLE)
    );
    tx.execute(&upsert, &[&table.name, &day, &version, &(rows as i64)])
        .await
        .map_err(failed(t, "recording the day in the state table"))?;
    Ok(())
}

/// `COPY into (the target's columns) FROM STDIN (FORMAT binary)`.
pub(crate) fn copy_sql(into: &str, table: &TargetTable) -> String {
    let cols: Vec<String> = table.columns.iter().map(|c| quote_ident(&c.name)).collect();
    format!(
        "COPY {into} ({}) FROM STDIN (FORMAT binary)",
        cols.join(", ")
    )
}

/// Streams the day's files into `COPY ... FROM STDIN (FORMAT binary)`: (rows read, rows the
/// server stored).
async fn copy_day(
    tx: &tokio_postgres::Transaction<'_>,
    t: &str,
    lake: &Lake,
    def: &SourceDef,
    table: &TargetTable,
    d: &LakeDay,
) -> Result<(u64, u64), SyncError> {
    let copy = copy_sql(&table.qualified(), table);
    let sink = tx
        .copy_in::<_, bytes::Bytes>(&copy)
        .await
        .map_err(failed(t, "COPY"))?;
    futures::pin_mut!(sink);
    let schema = arrow_schema(def, PartitionColumn::FolderOnly);
    let batches = lake::day_batches(lake.clone(), d.files.clone(), schema);
    futures::pin_mut!(batches);
    let mut buf = BytesMut::with_capacity(CHUNK_BYTES + (64 << 10));
    encode::header(&mut buf);
    let (mut read, mut sent_once) = (0u64, false);
    while let Some(batch) = batches.next().await {
        read += encode::encode_batch(&batch?, d.day, &mut buf)?;
        if buf.len() >= CHUNK_BYTES {
            sink.send(buf.split().freeze())
                .await
                .map_err(failed(t, "COPY"))?;
            if !sent_once {
                sent_once = true;
                pause_point("copy");
            }
        }
    }
    encode::trailer(&mut buf);
    sink.send(buf.split().freeze())
        .await
        .map_err(failed(t, "COPY"))?;
    if !sent_once {
        pause_point("copy");
    }
    let stored = sink.as_mut().finish().await.map_err(failed(t, "COPY"))?;
    Ok((read, stored))
}

pub(crate) fn pause_point(step: &str) {
    if std::env::var(PAUSE_ENV).is_ok_and(|s| s == step) {
        eprintln!("firelake-sync: paused at {step} ({PAUSE_ENV})");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
