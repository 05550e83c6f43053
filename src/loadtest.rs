//! `firelake loadtest`: drive a stream at a rate (or a ramp of rates), run its consumer here,
//! measure produced -> durable latency for every row, reconcile the counts with the lake.
//! Live figures go to stderr, the JSON report to stdout; the command fails when the lake does
//! not hold exactly what was sent.

use std::io::{IsTerminal, Write};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use firelake_core::{Lake, SourceDef};
use firelake_loadtest::{LoadtestConfig, RampPlan, Schedule, StreamSpec};

use crate::flags::{self, count};
use crate::{FlushArgs, parse_duration};

#[derive(Args)]
pub struct LoadtestArgs {
    /// The stream: embedded (in-process), kinesis://STREAM or kafka://HOST:PORT/TOPIC; the
    /// consumer runs in this process either way.
    #[arg(long, env = "FIRELAKE_LOADTEST_STREAM", default_value = "embedded")]
    stream: String,
    /// Records per second (with --ramp: the first step's), e.g. 100000/s.
    #[arg(long, env = "FIRELAKE_LOADTEST_RATE", default_value = "10000/s", value_parser = parse_rate)]
    rate: NonZeroU32,
    /// How long to produce (with --ramp: at most), e.g. 60s, 5m.
    #[arg(long, env = "FIRELAKE_LOADTEST_DURATION", default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Size of each record in bytes (a padding field fills it up).
    #[arg(long, env = "FIRELAKE_LOADTEST_RECORD_BYTES", default_value_t = 256,
          value_parser = count::<usize>(1, flags::MAX_RECORD_BYTES))]
    record_bytes: usize,
    /// Share of records made bad on purpose (rejected by the cleaner, kept under _rejected/).
    #[arg(long, env = "FIRELAKE_BAD_RATE", default_value_t = 0.02, value_parser = flags::fraction)]
    bad_rate: f64,
    /// The lake the consumer writes (table `loadtest`): file://PATH, a plain path, s3://, memory://.
    #[arg(long, env = "FIRELAKE_LAKE", default_value = "file://./lake")]
    lake: String,
    /// Shards of the embedded stream, or of the Kinesis stream --create-stream makes.
    #[arg(long, env = "FIRELAKE_SHARDS", default_value_t = 2,
          value_parser = count::<usize>(1, flags::MAX_PARALLEL))]
    shards: usize,
    /// Create the Kinesis stream for this run (it must not exist) and delete it afterwards;
    /// its consumer then reads it from the start. Without it the stream must exist and is
    /// read from the run's start on (AT_TIMESTAMP, which kinesalite answers only once a
    /// shard holds a newer record: use this flag against it).
    #[arg(long, env = "FIRELAKE_LOADTEST_CREATE_STREAM")]
    create_stream: bool,
    /// Glue-shaped catalog database of a local lake (<lake>/_catalog/<db>.json).
    #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
    database: String,
    #[command(flatten)]
    flush: FlushArgs,
    /// Latency that counts as too late (default: the flush interval + 1 s).
    #[arg(long, env = "FIRELAKE_LOADTEST_TARGET_LATENCY", value_parser = parse_duration)]
    target_latency: Option<Duration>,
    /// Step the rate up (by --ramp-factor every --step) until a step's p99 latency exceeds
    /// the target or the producer cannot reach its rate; reports the sustainable rate.
    #[arg(long, env = "FIRELAKE_LOADTEST_RAMP")]
    ramp: bool,
    /// Length of a ramp step.
    #[arg(long, env = "FIRELAKE_LOADTEST_STEP", default_value = "20s", value_parser = parse_duration)]
    step: Duration,
    /// Each ramp step's rate is the previous one's times this.
    #[arg(long, env = "FIRELAKE_LOADTEST_RAMP_FACTOR", default_value_t = 1.5, value_parser = flags::ramp_factor)]
    ramp_factor: f64,
    /// Publish calls under way at once.
    #[arg(long, env = "FIRELAKE_LOADTEST_IN_FLIGHT", default_value_t = 8,
          value_parser = count::<usize>(1, flags::MAX_PARALLEL))]
    in_flight: usize,
    /// How long the consumer may take to finish after the producer stopped.
    #[arg(long, env = "FIRELAKE_LOADTEST_DRAIN_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// Where the SVG chart of rate and latency over time goes (default:
    /// firelake-loadtest-<run id>.svg in the working directory; `none`: no chart).
    #[arg(long, env = "FIRELAKE_LOADTEST_CHART")]
    chart: Option<PathBuf>,
    /// Also write the JSON report to this file.
    #[arg(long, env = "FIRELAKE_LOADTEST_REPORT")]
    report: Option<PathBuf>,
    /// No live figures on stderr (the summary and the JSON report still come).
    #[arg(long, env = "FIRELAKE_LOADTEST_QUIET")]
    quiet: bool,
}

fn parse_rate(s: &str) -> Result<NonZeroU32, String> {
    let n = s.trim().strip_suffix("/s").unwrap_or(s.trim());
    n.replace('_', "")
        .parse::<NonZeroU32>()
        .map_err(|_| format!("--rate: expected records per second, e.g. 100000/s, got {s:?}"))
}

/// Whole seconds, at least one.
fn whole_secs(d: Duration) -> u64 {
    (d.as_secs_f64().ceil() as u64).max(1)
}

pub fn run(args: LoadtestArgs) -> Result<(), Box<dyn std::error::Error>> {
    let stream = StreamSpec::parse(&args.stream)?;
    let limits = args.flush.limits();
    let target_latency = args
        .target_latency
        .unwrap_or(limits.max_age + Duration::from_secs(1));
    let target_ms = target_latency.as_millis() as u64;
    let schedule = if args.ramp {
        if args.ramp_factor <= 1.0 {
            return Err(format!("--ramp-factor {}: must be above 1", args.ramp_factor).into());
        }
        Schedule::Ramp(RampPlan {
            start_rate: args.rate.get(),
            factor: args.ramp_factor,
            step_secs: whole_secs(args.step),
            max_secs: whole_secs(args.duration),
            target_ms,
            min_achieved: 0.95,
        })
    } else {
        Schedule::Constant {
            rate: args.rate.get(),
            secs: whole_secs(args.duration),
        }
    };
    let run_id = firelake_loadtest::run_id(firelake_core::stream::now_ms());
    let chart = match args.chart {
        Some(p) if p.as_os_str() == "none" => None,
        Some(p) => Some(p),
        None => Some(PathBuf::from(format!("firelake-loadtest-{run_id}.svg"))),
    };
    let cfg = LoadtestConfig {
        stream,
        lake: Lake::from_url(&args.lake)?,
        database: args.database,
        def: Arc::new(SourceDef::resolve("loadtest", None)?),
        schedule,
        record_bytes: args.record_bytes,
        bad_rate: args.bad_rate.clamp(0.0, 1.0),
        shards: args.shards.max(1),
        limits,
        target_latency_ms: target_ms,
        in_flight: args.in_flight.max(1),
        drain_timeout: args.drain_timeout,
        chart,
        run_id,
        create_stream: args.create_stream,
        stop: None,
    };

    let terminal = std::io::stderr().is_terminal();
    let quiet = args.quiet;
    let mut ticks = 0u64;
    let live = move |s: &firelake_loadtest::LiveStatus| {
        if quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        if terminal {
            // One line, rewritten in place.
            let _ = write!(err, "\r\x1b[K{}", s.line());
        } else if ticks.is_multiple_of(5) {
            let _ = writeln!(err, "{}", s.line());
        }
        ticks += 1;
    };
    let rt = tokio::runtime::Runtime::new()?;
    let cfg = LoadtestConfig {
        stop: Some(crate::signals::on_stop(&rt)?),
        ..cfg
    };
    let report = rt.block_on(firelake_loadtest::run(cfg, live))?;
    if terminal && !quiet {
        eprintln!();
    }
    eprint!("{}", report.text());
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.report {
        std::fs::write(path, format!("{json}\n"))
            .map_err(|e| format!("writing the report {}: {e}", path.display()))?;
    }
    println!("{json}");
    if !report.reconciliation.ok {
        return Err("the lake does not hold what the load test sent (see reconcile above)".into());
    }
    Ok(())
}
