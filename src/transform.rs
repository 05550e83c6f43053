//! `firelake transform`: run the Firehose transformation handler on event files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use firelake_firehose_transformer::{FirehoseEvent, Transformer};

use crate::flags::{self, count};
use crate::{SourceArgs, init_tracing};

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a Firehose transformation event: {source}")]
    Event {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("no event files in {0}")]
    NoEvents(PathBuf),
}

/// Event files: the given files, and the `*.json` files of given folders (sorted).
pub fn event_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, TransformError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|source| TransformError::Io {
                    path: p.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json"))
                .collect();
            if files.is_empty() {
                return Err(TransformError::NoEvents(p.clone()));
            }
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn load(path: &Path) -> Result<FirehoseEvent, TransformError> {
    let bytes = std::fs::read(path).map_err(|source| TransformError::Io {
        path: path.into(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| TransformError::Event {
        path: path.into(),
        source,
    })
}

/// Print each event's response JSON (one per line), or with `summary` only the totals. The
/// timed part is the handler, which renders the response JSON (reading and parsing the event
/// file is not timed, as in the Python peer's driver).
pub fn respond(
    transformer: &Transformer,
    paths: &[PathBuf],
    summary: bool,
    out: &mut dyn std::io::Write,
) -> Result<(), TransformError> {
    let files = event_files(paths)?;
    let (mut rows_in, mut ok, mut failed) = (0usize, 0usize, 0usize);
    let mut timed = 0.0f64;
    let stdout_err = |source| TransformError::Io {
        path: "<stdout>".into(),
        source,
    };
    for f in &files {
        let event = load(f)?;
        let t0 = Instant::now();
        let resp = transformer.transform(&event);
        timed += t0.elapsed().as_secs_f64();
        let stats = resp.stats;
        rows_in += stats.records;
        ok += stats.ok;
        failed += stats.failed;
        if !summary {
            out.write_all(resp.body.as_bytes()).map_err(stdout_err)?;
            out.write_all(b"\n").map_err(stdout_err)?;
        }
    }
    if summary {
        writeln!(
            out,
            "rows_in={rows_in} rows_out={ok} rejected={failed} seconds={timed:.3} rows_per_s={:.0} events={}",
            if timed > 0.0 { rows_in as f64 / timed } else { 0.0 },
            files.len()
        )
        .map_err(stdout_err)?;
    }
    Ok(())
}

/// `firelake transform`'s options.
#[derive(clap::Args, Clone)]
pub struct TransformArgs {
    /// Event JSON files, or folders of them.
    #[arg(long = "event", required = true, num_args = 1..)]
    pub events: Vec<PathBuf>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print only the totals and the time spent in the handler.
    #[arg(long)]
    pub summary: bool,
    /// Threads that clean one event's records (default: the machine's cores, as in a
    /// Lambda, where it is the function's vCPUs).
    #[arg(long, env = "FIRELAKE_THREADS", value_parser = count::<usize>(1, flags::MAX_PARALLEL))]
    pub threads: Option<usize>,
}

/// `firelake transform`: the handler's responses to event files on stdout.
pub fn run(args: TransformArgs) -> Result<(), Box<dyn std::error::Error>> {
    let TransformArgs {
        events,
        source,
        summary,
        threads,
    } = args;
    // Per-record rejection lines are the handler's CloudWatch logs; here they would
    // drown the output, so they show only when RUST_LOG asks.
    init_tracing("error");
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let transformer = Transformer::new(source.load()?).with_threads(threads);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    respond(&transformer, &events, summary, &mut out)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}
