//! firelake compactor: promote raw days (`<table>/p_date=D/*.parquet`, many small files written
//! by Firehose or the stream-consumer) into the curated table `<table>_curated`: merged into
//! files of a target size, deduplicated by the source's key (latest arrival wins), written as a
//! new generation folder no reader lists, verified, and only then made visible by pointing the
//! curated catalog partition at it; the previous generation goes after a grace period. A
//! journal per run lets the next run finish or roll back one that was killed at any point.
//!
//! Planning is pure (`plan`, `layout`, `dedupe`); I/O sits in `merge` (read, write), `commit`
//! (catalog, deletes, recovery) and `run` (the order of things).

pub mod announce;
pub mod args;
pub mod commit;
pub mod crash;
pub mod dedupe;
pub mod encode;
pub mod journal;
pub mod layout;
pub mod lock;
pub mod merge;
pub mod nightly;
pub mod plan;
pub mod quarantine;
pub mod reader;
mod run;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use firelake_core::catalog::{Catalog, CatalogError, TableDef};
use firelake_core::{Lake, LakeError, PartitionColumn, SourceDef, arrow_schema};
use parquet::basic::ZstdLevel;
use serde::Serialize;

pub use commit::{Recovery, RecoveryAction};
pub use plan::{DEFAULT_TARGET_BYTES, Selection, TARGET_MB_RANGE};
pub use run::compact;

#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("{key}: {source}")]
    Parquet {
        key: String,
        source: parquet::errors::ParquetError,
    },
    #[error("{key}: {source}")]
    Arrow {
        key: String,
        source: arrow::error::ArrowError,
    },
    #[error("{key}: {detail}")]
    Schema { key: String, detail: String },
    #[error("raw file {key} changed while it was being compacted ({detail}); run again")]
    InputChanged { key: String, detail: String },
    #[error("verification of {generation} failed: {detail}")]
    Verify { generation: String, detail: String },
    #[error(
        "journal {key} is unreadable ({source}); its day is left as it is: move the journal aside and run again"
    )]
    Journal {
        key: String,
        source: serde_json::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Options(String),
    #[error(
        "table {table} is in the catalog as made from source {found:?}; run with --source {found}"
    )]
    SourceMismatch { table: String, found: String },
    #[error("a compaction task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl CompactError {
    /// The file a read error is about, when the file itself is at fault (not valid Parquet,
    /// or columns that do not fit the source) rather than the store or this process: such a
    /// raw file is quarantined, never retried.
    pub fn unreadable_file(&self) -> Option<&str> {
        match self {
            // External: the store's error through the Parquet reader (retried, reported).
            CompactError::Parquet {
                source: parquet::errors::ParquetError::External(_),
                ..
            } => None,
            CompactError::Parquet { key, .. } | CompactError::Schema { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// What a run does.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    pub selection: Selection,
    /// Output file size to aim for (bytes of input per output file).
    pub target_bytes: u64,
    /// Keep one row per dedupe key (when the source has one).
    pub dedupe: bool,
    /// How long a replaced generation stays readable after the switch.
    pub grace: Duration,
    /// Rebuild selected days even when they are up to date (from their current generation and
    /// the raw files it lacks, like any run: no row of the curated day is dropped).
    pub force: bool,
    /// Rebuild selected days from their raw files alone: rows of raw files that expired since
    /// they were compacted are dropped from the curated table. Asked for by name only.
    pub rebuild_from_raw: bool,
    /// Retries across UTC midnight: rows of a day that arrived this long after its midnight
    /// are dropped when the previous day's generation holds their key from this long before
    /// it (`Duration::ZERO`: off).
    pub midnight_window: Duration,
    /// Memory for dedupe's pass 1 (32 bytes a row); more rows spill to local disk in buckets.
    pub dedupe_memory_bytes: u64,
    /// "Today" (UTC day number) for the nightly selection; `None`: the clock's.
    pub today: Option<i32>,
    /// zstd level of the curated files (`zstd_level_from`).
    pub zstd_level: ZstdLevel,
    /// Set by SIGINT/SIGTERM (a drain): the day being compacted finishes and commits, the
    /// days after it are left for the next run (`CompactReport::not_started`).
    pub stop: Option<Arc<AtomicBool>>,
}

impl CompactOptions {
    /// Whether a stop signal came: no further day is started.
    pub fn stop_asked(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Acquire))
    }
}

impl Default for CompactOptions {
    fn default() -> CompactOptions {
        CompactOptions {
            selection: Selection::Default,
            target_bytes: DEFAULT_TARGET_BYTES,
            dedupe: true,
            grace: Duration::from_secs(3600),
            force: false,
            rebuild_from_raw: false,
            midnight_window: DEFAULT_MIDNIGHT_WINDOW,
            dedupe_memory_bytes: 32 << 20,
            today: None,
            zstd_level: zstd_level_from(DEFAULT_ZSTD_LEVEL).expect("the default is in range"),
            stop: None,
        }
    }
}

/// Progress for a terminal (or nothing). Work is counted in rows passed through a pass.
pub trait Progress: Send + Sync {
    /// A day's work is known: `work` rows to pass (rows times passes).
    fn day_started(&self, _day: &str, _work: u64) {}
    fn advanced(&self, _rows: u64) {}
    fn day_finished(&self, _report: &DayReport) {}
}

/// No progress reporting.
pub struct Quiet;
impl Progress for Quiet {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum DayOutcome {
    /// A new generation is visible.
    Compacted {
        generation: String,
        location: String,
        /// The generation it replaced, deleted or kept for the grace period.
        replaced: Option<String>,
        replaced_deleted: bool,
    },
    /// Nothing changed since the last compaction.
    UpToDate,
    /// No raw files for the day.
    NoRawFiles,
    /// Another compactor holds the day's lock; left to it.
    Busy,
    /// The day could not be compacted (the error says why and what to do); it is left as it
    /// was, and the run fails once every other day is done.
    Failed { error: String },
}

/// A raw file set aside because it could not be read (`quarantine`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quarantined {
    /// The raw file (a key of the raw table; left there, never read again) and its copy.
    pub file: String,
    pub kept_at: String,
    pub error: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayReport {
    pub day: String,
    #[serde(flatten)]
    pub outcome: DayOutcome,
    pub files_in: u64,
    pub files_out: u64,
    pub rows_in: u64,
    pub rows_out: u64,
    pub duplicates: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Rows dropped because the day before holds them (retries across midnight); part of
    /// `duplicates`.
    pub previous_day_duplicates: u64,
    /// Raw files quarantined this run.
    pub quarantined: Vec<Quarantined>,
    pub seconds: f64,
}

impl DayReport {
    fn skipped(day: i32, outcome: DayOutcome) -> DayReport {
        DayReport {
            day: firelake_core::time::format_day(day),
            outcome,
            files_in: 0,
            files_out: 0,
            rows_in: 0,
            rows_out: 0,
            duplicates: 0,
            bytes_in: 0,
            bytes_out: 0,
            previous_day_duplicates: 0,
            quarantined: Vec::new(),
            seconds: 0.0,
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, DayOutcome::Failed { .. })
    }

    pub fn compacted(&self) -> bool {
        matches!(self.outcome, DayOutcome::Compacted { .. })
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactReport {
    pub raw_table: String,
    pub curated_table: String,
    /// The dedupe key, empty when every row was kept.
    pub dedupe_key: Vec<String>,
    pub recovered: Vec<RecoveryAction>,
    pub days: Vec<DayReport>,
    /// Days a stop signal left untouched (neither recovered nor compacted): the next run's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_started: Vec<String>,
    pub seconds: f64,
}

impl CompactReport {
    fn sum(&self, f: impl Fn(&DayReport) -> u64) -> u64 {
        self.days.iter().map(f).sum()
    }
    pub fn days_compacted(&self) -> usize {
        self.days.iter().filter(|d| d.compacted()).count()
    }
    pub fn days_failed(&self) -> usize {
        self.days.iter().filter(|d| d.failed()).count()
    }
    pub fn quarantined(&self) -> usize {
        self.days.iter().map(|d| d.quarantined.len()).sum()
    }
    /// One line naming the failed days, or `None` when none failed.
    pub fn failure(&self) -> Option<String> {
        let failed: Vec<String> = self
            .days
            .iter()
            .filter_map(|d| match &d.outcome {
                DayOutcome::Failed { error } => Some(format!("{}: {error}", d.day)),
                _ => None,
            })
            .collect();
        (!failed.is_empty()).then(|| {
            format!(
                "{} of {} days failed, the others are done ({}); fix what each day's error says and run again",
                failed.len(),
                self.days.len(),
                failed.join("; ")
            )
        })
    }
    pub fn files_in(&self) -> u64 {
        self.sum(|d| d.files_in)
    }
    pub fn files_out(&self) -> u64 {
        self.sum(|d| d.files_out)
    }
    pub fn rows_in(&self) -> u64 {
        self.sum(|d| d.rows_in)
    }
    pub fn rows_out(&self) -> u64 {
        self.sum(|d| d.rows_out)
    }
    pub fn duplicates(&self) -> u64 {
        self.sum(|d| d.duplicates)
    }
    pub fn bytes_in(&self) -> u64 {
        self.sum(|d| d.bytes_in)
    }
    pub fn bytes_out(&self) -> u64 {
        self.sum(|d| d.bytes_out)
    }
}

/// Everything a run works with.
pub struct Context {
    pub lake: Lake,
    pub catalog: Arc<dyn Catalog>,
    pub def: Arc<SourceDef>,
    pub raw_table: String,
    pub curated: String,
    /// The curated files' schema: the source's columns, p_date only in folder names.
    pub schema: SchemaRef,
    pub options: CompactOptions,
}

impl Context {
    pub fn new(
        lake: Lake,
        catalog: Arc<dyn Catalog>,
        def: Arc<SourceDef>,
        raw_table: &str,
        options: CompactOptions,
    ) -> Context {
        Context {
            schema: arrow_schema(&def, PartitionColumn::FolderOnly),
            curated: layout::curated_table(raw_table),
            raw_table: raw_table.to_string(),
            lake,
            catalog,
            def,
            options,
        }
    }

    pub fn now_ms(&self) -> i64 {
        firelake_core::stream::now_ms()
    }

    /// The curated table's definition: the source's columns, at `<lake>/<table>_curated/`.
    pub fn curated_table_def(&self) -> TableDef {
        let mut t = TableDef::for_source(
            &self.def,
            &self.curated,
            format!("{}/", self.lake.url_of(&self.curated)),
        );
        t.parameters
            .insert("firelake.layer".into(), "curated".into());
        t.parameters
            .insert("firelake.raw_table".into(), self.raw_table.clone());
        t
    }

    pub async fn ensure_curated_table(&self) -> Result<(), CompactError> {
        self.catalog.ensure_table(&self.curated_table_def()).await?;
        Ok(())
    }
}

/// Tune glibc's malloc before the runtime starts its threads:
/// - Arenas capped at two. glibc gives each thread that allocates an arena of its own (up to 8
///   per core), and memory freed in one arena is not reused by threads attached to another.
///   With decoders and column encoders on every worker, the 10x bench day peaked at 135-150
///   MiB with the default and at 125-133 MiB with two arenas, at the same speed.
/// - Blocks of 4 MiB and more always mapped on their own (returned to the system when freed).
///   By default the threshold rises to the largest block freed so far, so after the key pass
///   frees its 32 MiB of key rows, pass 2's buffers land in the heap around what is left there:
///   the 10x day with dedupe went from 123-130 MiB to 115 MiB with the fixed threshold, and the
///   day without it from 118-125 to 111 MiB, at the same speed.
/// - Free memory at the top of the heap kept up to 1 MiB. A fixed mmap threshold also fixes
///   the trim threshold, at 128 KiB: every file fetched whole (tens of KiB) and freed again
///   gave memory back to the system, to fault it back in for the next file. The key pass went
///   from 208 to 181 ms (median of eight) on the bench day.
///
/// The binaries call it (the compactor's `main`, `firelake compact`), never the library: the
/// process's allocator is the program's choice. Measured on a 2-core VM; it does nothing when
/// the environment sets glibc's own malloc settings (`MALLOC_ARENA_MAX`, `GLIBC_TUNABLES`), so
/// a larger host picks its own.
pub fn tune_malloc() {
    if ["MALLOC_ARENA_MAX", "GLIBC_TUNABLES"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
    {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes no pointers; it only sets allocator parameters.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
}

/// The runtime a compaction runs on: a worker per core (decoders and column encoders share
/// them) and few blocking threads. Binaries call `tune_malloc` first.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
}

/// The default look-back across UTC midnight (`CompactOptions::midnight_window`): retries of
/// PutRecords, Firehose and page fetches come seconds to minutes after the first attempt.
pub const DEFAULT_MIDNIGHT_WINDOW: Duration = Duration::from_secs(15 * 60);

/// `--date D | --since D | --all` (none: the nightly default).
pub fn selection_from(
    date: Option<&str>,
    since: Option<&str>,
    all: bool,
) -> Result<Selection, CompactError> {
    let day = |flag: &str, s: &str| {
        firelake_core::time::parse_day(s)
            .ok_or_else(|| CompactError::Options(format!("{flag}: expected YYYY-MM-DD, got {s:?}")))
    };
    match (date, since, all) {
        (None, None, false) => Ok(Selection::Default),
        (Some(d), None, false) => Ok(Selection::Day(day("--date", d)?)),
        (None, Some(d), false) => Ok(Selection::Since(day("--since", d)?)),
        (None, None, true) => Ok(Selection::All),
        _ => Err(CompactError::Options(
            "give at most one of --date, --since and --all".into(),
        )),
    }
}

/// zstd level of the curated files. Level 2, not the raw lake's 3: on the bench day level 3's
/// files are 1.5% smaller for 55% more compression time, and compression is the largest part
/// of a compaction (README, Performance). `--zstd-level 3` gives the raw lake's.
pub const DEFAULT_ZSTD_LEVEL: i32 = 2;

/// zstd levels `--zstd-level` takes: zstd's own, without the negative "fast" levels, which
/// compress too little for a table that is kept.
pub const ZSTD_LEVEL_RANGE: std::ops::RangeInclusive<i32> = 1..=22;

/// `--zstd-level`, checked against `ZSTD_LEVEL_RANGE`.
pub fn zstd_level_from(level: i32) -> Result<ZstdLevel, CompactError> {
    if !ZSTD_LEVEL_RANGE.contains(&level) {
        return Err(CompactError::Options(format!(
            "--zstd-level {level}: use {} to {}",
            ZSTD_LEVEL_RANGE.start(),
            ZSTD_LEVEL_RANGE.end()
        )));
    }
    Ok(ZstdLevel::try_new(level).expect("zstd takes every level of ZSTD_LEVEL_RANGE"))
}

/// `--target-mb`, checked against the allowed range.
pub fn target_bytes_from_mb(mb: u64) -> Result<u64, CompactError> {
    if !TARGET_MB_RANGE.contains(&mb) {
        return Err(CompactError::Options(format!(
            "--target-mb {mb}: use {} to {}",
            TARGET_MB_RANGE.start(),
            TARGET_MB_RANGE.end()
        )));
    }
    Ok(mb * plan::MIB)
}
