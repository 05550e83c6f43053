//! `firelake run --iceberg`: the source's table landed as an Apache Iceberg table too
//! (docs/iceberg.md). The consumer writes its Parquet files as always; a committer adds the
//! written files to the table in batches while the run goes on and commits the rest at the
//! end, so the table holds every file the lake holds, each once.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use firelake_core::{Lake, SourceDef};
use firelake_iceberg::{CommitPolicy, CommitReport, IcebergError, Landing, TableCatalog, policy};

use crate::flags::{count, parse_duration};
use crate::schema_evolve::Policy;

/// The table `--iceberg` names and how its commits are batched.
#[derive(Debug, Clone)]
pub struct IcebergTarget {
    pub catalog: TableCatalog,
    pub policy: CommitPolicy,
}

/// `--iceberg [CATALOG]` and its commit batching, shared by `run`, `replay` and `consume`.
#[derive(Args, Debug, Clone)]
pub struct IcebergArgs {
    /// Also land the table as an Apache Iceberg table in this catalog: `local` (the default
    /// when the flag has no value) is the SQL catalog file <lake>/_catalog/iceberg.sqlite of a
    /// local lake; glue://DATABASE the Glue Data Catalog, for an s3:// lake (docs/iceberg.md).
    /// `replay`: with the embedded target; `consume`: not with --redrive.
    #[arg(long, env = "FIRELAKE_ICEBERG", num_args = 0..=1, default_missing_value = "local",
          value_parser = TableCatalog::parse)]
    pub iceberg: Option<TableCatalog>,
    #[command(flatten)]
    pub commit: CommitArgs,
}

impl IcebergArgs {
    /// The table and its commit policy when `--iceberg` is given.
    pub fn target(&self) -> Option<IcebergTarget> {
        self.iceberg.as_ref().map(|catalog| IcebergTarget {
            catalog: catalog.clone(),
            policy: self.commit.policy(),
        })
    }

    pub fn enabled(&self) -> bool {
        self.iceberg.is_some()
    }

    /// The Iceberg table and the Hive-style table of one source cannot be the same Glue
    /// table: refused when `--iceberg` names the Glue database `--catalog` names.
    pub fn refuse_shared_glue_database(
        &self,
        hive_catalog: Option<&str>,
    ) -> Result<(), RunIcebergError> {
        match (
            &self.iceberg,
            hive_catalog.and_then(|c| c.strip_prefix("glue://")),
        ) {
            (Some(TableCatalog::Glue { database }), Some(hive)) if hive == database => {
                Err(RunIcebergError::SharedGlueDatabase(database.clone()))
            }
            _ => Ok(()),
        }
    }
}

/// When written files are committed to the Iceberg table.
#[derive(Args, Debug, Clone)]
pub struct CommitArgs {
    /// Commit once this many written files wait (one snapshot per batch).
    #[arg(long, env = "FIRELAKE_ICEBERG_COMMIT_FILES", default_value_t = policy::DEFAULT_FILES,
          value_parser = count::<usize>(1, 1_000_000))]
    pub iceberg_commit_files: usize,
    /// Commit once this many MiB of written files wait.
    #[arg(long, env = "FIRELAKE_ICEBERG_COMMIT_MB", default_value_t = policy::DEFAULT_MB,
          value_parser = count::<u64>(1, crate::flags::MAX_FLUSH_MB))]
    pub iceberg_commit_mb: u64,
    /// Commit once the oldest written file waited this long (e.g. 60s, 5m).
    #[arg(long, env = "FIRELAKE_ICEBERG_COMMIT_INTERVAL", default_value = "60s",
          value_parser = parse_duration)]
    pub iceberg_commit_interval: Duration,
}

impl CommitArgs {
    pub fn policy(&self) -> CommitPolicy {
        CommitPolicy {
            max_files: self.iceberg_commit_files,
            max_bytes: self.iceberg_commit_mb << 20,
            max_wait: self.iceberg_commit_interval,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunIcebergError {
    #[error(
        "--iceberg glue://{0} and --catalog glue://{0} would keep the Iceberg and the Hive-style table under one Glue name: name another Glue database for --iceberg (e.g. glue://{0}_iceberg)"
    )]
    SharedGlueDatabase(String),
    #[error("Iceberg table: {0}")]
    Iceberg(#[from] IcebergError),
    #[error("the Iceberg committer failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A committer running beside the consumer.
pub struct Committer {
    landing: Arc<Landing>,
    done: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<CommitReport, IcebergError>>,
}

impl Committer {
    /// Opens (creating) the table, brings its schema to the definition under `schema_policy`
    /// (called where the Hive-style tables are evolved: at start, before anything is
    /// written, so a refusal leaves the table as it was) and starts committing due batches.
    /// Files a crashed run wrote and never committed are found and committed like this run's.
    pub async fn start(
        lake: &Lake,
        target: IcebergTarget,
        database: &str,
        def: Arc<SourceDef>,
        schema_policy: Policy,
    ) -> Result<Committer, RunIcebergError> {
        let IcebergTarget { catalog, policy } = target;
        let landing = Landing::open(lake, &catalog, database, def, policy, schema_policy).await?;
        let landing = Arc::new(landing);
        let (done, mut finished) = tokio::sync::watch::channel(false);
        // Often enough that a batch is committed soon after it is due, never busy.
        let poll = (policy.max_wait / 4).clamp(Duration::from_millis(200), Duration::from_secs(5));
        let task = tokio::spawn({
            let landing = landing.clone();
            async move {
                let mut total = CommitReport::default();
                loop {
                    // Woken at once when the consumer is done; never inside a commit.
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = finished.changed() => return Ok(total),
                    }
                    add(&mut total, landing.commit_pending(false).await?);
                }
            }
        });
        Ok(Committer {
            landing,
            done,
            task,
        })
    }

    /// [`Committer::start`] when `target` is given (`--iceberg`), none otherwise.
    pub async fn start_if(
        target: Option<IcebergTarget>,
        lake: &Lake,
        database: &str,
        def: Arc<SourceDef>,
        schema_policy: Policy,
    ) -> Result<Option<Committer>, RunIcebergError> {
        match target {
            Some(t) => Ok(Some(
                Self::start(lake, t, database, def, schema_policy).await?,
            )),
            None => Ok(None),
        }
    }

    /// After the consumer finished: everything written is committed.
    pub async fn finish(self) -> Result<(CommitReport, String), RunIcebergError> {
        let _ = self.done.send(true);
        let mut total = self.task.await??;
        // The committer looked at unreadable files on every pass: count the last pass only.
        total.unreadable = 0;
        add(&mut total, self.landing.commit_pending(true).await?);
        let at = format!("{} in {}", self.landing.ident(), self.landing.kept_in());
        Ok((total, at))
    }
}

/// What opening the Iceberg table would refuse (a refused schema change, any change under
/// freeze, another partition column), found without writing: called before the Hive-style
/// tables are evolved, so a refusal leaves every table as it was.
pub async fn check_at_start(
    lake: &Lake,
    catalog: &TableCatalog,
    database: &str,
    def: &SourceDef,
    schema_policy: Policy,
) -> Result<(), RunIcebergError> {
    Ok(Landing::check(lake, catalog, database, def, schema_policy).await?)
}

/// After the consumer finished, the summary line of what `committer` (if any) committed.
pub async fn finish_line(committer: Option<Committer>) -> Result<Option<String>, RunIcebergError> {
    match committer {
        Some(c) => Ok(Some(summary_line(c.finish().await?))),
        None => Ok(None),
    }
}

/// The summary line of `run`, `replay` and `consume`.
pub fn summary_line((r, at): (CommitReport, String)) -> String {
    let unreadable = match r.unreadable {
        0 => String::new(),
        n => format!(" ({n} unreadable files not committed)"),
    };
    format!(
        "{} files, {} rows in {} commits to {at}{unreadable}",
        r.files, r.rows, r.commits
    )
}

fn add(total: &mut CommitReport, r: CommitReport) {
    total.commits += r.commits;
    total.files += r.files;
    total.rows += r.rows;
    total.unreadable += r.unreadable;
}
