//! `firelake sync`: a lake table's days into PostgreSQL (the firelake-sync library), a line per
//! day on stderr and a summary at the end.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use firelake_core::{Lake, time};
use firelake_sync::pg::Target;
use firelake_sync::{DayOutcome, Selection, SyncOptions};

use crate::SourceArgs;
use crate::compact::CatalogArgs;

#[derive(Args, Clone)]
pub struct SyncArgs {
    /// Where the lake is: file://PATH, a plain path, s3://BUCKET/PREFIX.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
    lake: String,
    /// The lake table to copy: a curated table (<table>_curated, the default) or a raw one.
    #[arg(long, env = "FIRELAKE_TABLE")]
    table: Option<String>,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    catalog: CatalogArgs,
    /// The database: postgres://USER@HOST:PORT/DB[?sslmode=verify-full]. No password here:
    /// FIRELAKE_PG_PASSWORD or PGPASSWORD, or --password-secret.
    #[arg(long, env = "FIRELAKE_PG_URL")]
    to: String,
    /// A Secrets Manager secret (ARN or secretsmanager://NAME) holding the password, or RDS's
    /// JSON secret {"username", "password"}.
    #[arg(long, env = "FIRELAKE_PG_PASSWORD_SECRET")]
    password_secret: Option<String>,
    /// CA bundle (PEM) that the server's certificate must chain to, for sslmode=verify-full.
    #[arg(long, env = "FIRELAKE_PG_CA_FILE")]
    ca_file: Option<PathBuf>,
    /// Log in with an RDS IAM authentication token (signed with the AWS credentials and
    /// region of the environment) instead of a password; needs sslmode=verify-full.
    #[arg(long, env = "FIRELAKE_PG_IAM_AUTH", conflicts_with = "password_secret")]
    iam_auth: bool,
    /// Schema of the target table and of the state table (created when absent).
    #[arg(long, env = "FIRELAKE_PG_SCHEMA", default_value = "public")]
    schema: String,
    /// Sync this day (YYYY-MM-DD) only, if it is new or changed.
    #[arg(long, env = "FIRELAKE_DATE", conflicts_with_all = ["since", "all"])]
    date: Option<String>,
    /// Sync the new or changed days from this one (YYYY-MM-DD) on.
    #[arg(long, env = "FIRELAKE_SINCE", conflicts_with = "all")]
    since: Option<String>,
    /// Every day of the table (the default: every day not yet synced or changed since).
    #[arg(long, env = "FIRELAKE_ALL")]
    all: bool,
    /// Replace the selected days even when the database holds their current version.
    #[arg(long, env = "FIRELAKE_FORCE")]
    force: bool,
    /// Time budget (e.g. 10m): past it, stop after the step under way; the next run continues
    /// the same day from the state recorded in the database (days are then staged, see
    /// docs/sync.md). Without it, each day is copied in one transaction.
    #[arg(long, env = "FIRELAKE_SYNC_MAX_DURATION", value_parser = firelake_core::duration::parse_duration)]
    max_duration: Option<std::time::Duration>,
}

fn selection(args: &SyncArgs) -> Result<Selection, String> {
    let day = |flag: &str, s: &str| {
        time::parse_day(s).ok_or_else(|| format!("--{flag} {s:?}: expected YYYY-MM-DD"))
    };
    Ok(match (&args.date, &args.since) {
        (Some(d), _) => Selection::Date(day("date", d)?),
        (None, Some(s)) => Selection::Since(day("since", s)?),
        (None, None) => Selection::Every,
    })
}

pub fn run(args: SyncArgs) -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let def = args.source.load()?;
    let lake = Lake::from_url(&args.lake)?;
    let opts = SyncOptions {
        table: args
            .table
            .clone()
            .unwrap_or_else(|| format!("{}_curated", def.table)),
        schema: args.schema.clone(),
        selection: selection(&args)?,
        force: args.force,
        deadline: args.max_duration.map(|d| started + d),
    };
    let rt = firelake_compactor::runtime()?;
    let report = rt.block_on(async {
        let catalog = args.catalog.open(&lake).await?;
        let mut target = Target::parse(&args.to, args.ca_file.clone())?;
        firelake_sync::login::login(&mut target, args.iam_auth, args.password_secret.as_deref())
            .await?;
        let mut on_day = |day: i32, o: &DayOutcome| match o {
            DayOutcome::Synced { rows, version } => {
                eprintln!(
                    "{} synced rows={rows} version={version}",
                    time::format_day(day)
                )
            }
            DayOutcome::UpToDate => eprintln!("{} up to date", time::format_day(day)),
            DayOutcome::Partial { staged } => eprintln!(
                "{} partial rows_staged={staged}: the time budget ran out, the next run continues it",
                time::format_day(day)
            ),
        };
        let r =
            firelake_sync::sync(&lake, catalog.as_ref(), &def, &target, &opts, &mut on_day).await?;
        Ok::<_, Box<dyn std::error::Error>>(r)
    })?;
    for s in &report.ddl {
        eprintln!("ddl: {s}");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sync table={} days_synced={} days_up_to_date={} days_partial={} done={} rows={} elapsed={secs:.2}s rows_per_s={:.0}",
        opts.table,
        report.synced(),
        report.days.len() - report.synced() - report.partial(),
        report.partial(),
        !report.stopped,
        report.rows(),
        report.rows() as f64 / secs.max(1e-9),
    );
    Ok(())
}
