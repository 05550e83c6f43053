//! `compactor`: the compactor's entry point for the nightly schedule, in two modes.
//! - Lambda (`AWS_LAMBDA_RUNTIME_API` set, as the Lambda runtime does): every EventBridge
//!   scheduled event runs one compaction with the configuration from the environment
//!   (`FIRELAKE_*`) and answers with its report; a failed run is a failed invocation (the
//!   Errors alarm), and its journal lets the next run finish or roll it back.
//! - Container or scheduled task (anything else): one compaction from flags or their
//!   environment twins; the report as one JSON object on stdout; non-zero exit on failure,
//!   including a run where any day failed (the other days are still compacted).
//!
//! Logs are JSON lines on stderr. `firelake compact` is the same library call for people.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use firelake_compactor::{
    CompactOptions, CompactReport, Quiet, compact, selection_from, target_bytes_from_mb,
    zstd_level_from,
};
use firelake_core::{Lake, SourceDef};
use lambda_runtime::{LambdaEvent, service_fn};

mod lambda;

use firelake_compactor::args::CompactorArgs as Args;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    firelake_compactor::tune_malloc();
    let result = match firelake_compactor::runtime() {
        Err(e) => Err(e.into()),
        Ok(rt) if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => {
            // In Lambda the configuration is the environment alone (no arguments).
            let args = Args::parse_from(["compactor"]);
            rt.block_on(lambda_runtime::run(service_fn(
                move |e: LambdaEvent<serde_json::Value>| lambda::handle(args.clone(), e.payload),
            )))
            .map_err(|e| -> BoxError { e.to_string().into() })
        }
        Ok(rt) => rt.block_on(run(Args::parse())).and_then(|report| {
            // The report first, whatever happened to its days; then a failed day fails the task.
            println!("{}", serde_json::to_string(&report)?);
            match report.failure() {
                Some(failure) => Err(failure.into()),
                None => Ok(()),
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "compaction failed");
            ExitCode::FAILURE
        }
    }
}

/// ECS stops a task with SIGTERM (SIGKILL 30 s later): the day under way finishes and commits,
/// the rest is the next run's. Without the drain the day's journal still rolls it back.
fn stop_on_sigterm() -> std::io::Result<Arc<AtomicBool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::warn!(
            "stop signal: finishing the day under way; the other days are the next run's"
        );
        flag.store(true, Ordering::Release);
    });
    Ok(stop)
}

/// One compaction as `a` says.
async fn run(a: Args) -> Result<CompactReport, BoxError> {
    let def = Arc::new(SourceDef::resolve(&a.source, a.source_dir.as_deref())?);
    // Many small reads from the page cache on a file:// lake (Lake::with_inline_reads).
    let lake = Lake::from_url(&a.lake)?.with_inline_reads();
    let catalog = firelake_aws::open_catalog(a.catalog.as_deref(), &lake, &a.database).await?;
    let options = CompactOptions {
        selection: selection_from(a.date.as_deref(), a.since.as_deref(), a.all)?,
        target_bytes: target_bytes_from_mb(a.target_mb)?,
        dedupe: !a.no_dedupe,
        grace: a.grace,
        force: a.force,
        rebuild_from_raw: a.rebuild_from_raw,
        midnight_window: a.midnight_window,
        dedupe_memory_bytes: a.dedupe_memory_mb << 20,
        today: None,
        zstd_level: zstd_level_from(a.zstd_level)?,
        stop: Some(stop_on_sigterm()?),
    };
    let table = a.table.unwrap_or_else(|| def.table.clone());
    // The curated table only (the raw one is its writers', and the role may not change it).
    // A refused schema change fails the run before anything is written.
    firelake_core::schema_evolution::apply_to(
        catalog.as_ref(),
        &def,
        Some(&table),
        firelake_core::schema_evolution::Tables::Curated,
        a.schema_policy,
    )
    .await?;
    let report = compact(lake, catalog, def, &table, options, &Quiet).await?;
    firelake_compactor::announce::announce_report(a.events_bus.as_deref(), &report).await?;
    tracing::info!(report = %serde_json::to_string(&report)?, "compaction done");
    Ok(report)
}
