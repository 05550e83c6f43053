//! `firelake produce`: producer ticks, the source's HTTP API (or the sample generator) into a
//! stream, as the producer Lambda runs them.

use std::time::Duration;

use firelake_core::Lake;

use crate::flags::{self, count, parse_duration};
use crate::{SourceArgs, init_tracing, signals};

/// `firelake produce`'s options.
#[derive(clap::Args, Clone)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Where records go: kinesis://STREAM, firehose://NAME (Direct PUT) or
    /// kafka://HOST:PORT/TOPIC[?librdkafka.property=value&...].
    #[arg(long, env = "FIRELAKE_TO")]
    pub to: String,
    /// Overrides the source definition's URL (tests, mirrors).
    #[arg(long, env = "FIRELAKE_SOURCE_URL")]
    pub source_url: Option<String>,
    /// Ticks to run.
    #[arg(long, env = "FIRELAKE_TICKS", default_value_t = 1)]
    pub ticks: u64,
    /// Time between ticks (e.g. 60s).
    #[arg(long, env = "FIRELAKE_EVERY", default_value = "60s", value_parser = parse_duration)]
    pub every: Duration,
    /// Each tick publishes this many records of the built-in sample generator instead
    /// of calling the source's API.
    #[arg(long, env = "FIRELAKE_SAMPLE_RECORDS",
          value_parser = count::<usize>(1, flags::MAX_TICK_RECORDS))]
    pub sample_records: Option<usize>,
    #[arg(long, env = "FIRELAKE_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Lake for dead letters (`_dead_letter/`) and the saved source position (`_producer/`).
    #[arg(long, env = "FIRELAKE_STATE", default_value = "file://./lake")]
    pub state: String,
    /// How long a publish may retry before what is left is dead-lettered.
    #[arg(long, env = "FIRELAKE_PUBLISH_DEADLINE", default_value = "30s", value_parser = parse_duration)]
    pub publish_deadline: Duration,
    /// HTTP timeout per call.
    #[arg(long, env = "FIRELAKE_HTTP_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub http_timeout: Duration,
    /// At most this many API calls per second.
    #[arg(long, env = "FIRELAKE_MAX_CALLS_PER_S")]
    pub max_calls_per_s: Option<std::num::NonZeroU32>,
    /// At most this many records per second.
    #[arg(long, env = "FIRELAKE_MAX_RECORDS_PER_S")]
    pub max_records_per_s: Option<std::num::NonZeroU32>,
}

/// Run the ticks, print the totals; an error when a tick failed (its records are dead letters).
pub fn run(args: ProduceArgs) -> Result<(), Box<dyn std::error::Error>> {
    let ProduceArgs {
        source,
        to,
        source_url,
        ticks,
        every,
        sample_records,
        seed,
        state,
        publish_deadline,
        http_timeout,
        max_calls_per_s,
        max_records_per_s,
    } = args;
    init_tracing("info");
    let def = source.load()?;
    let retry = firelake_producer::retry::RetryPolicy {
        deadline: publish_deadline,
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new()?;
    let stop = signals::on_stop(&rt)?;
    let cfg = firelake_producer::ticks::ProduceConfig {
        to,
        ticks,
        every,
        http: firelake_producer::http::HttpSourceOptions {
            url: source_url,
            timeout: http_timeout,
            retry,
            max_calls_per_s,
            max_records_per_s,
        },
        sample_records,
        seed,
        retry,
        state: Lake::from_url(&state)?,
        stop,
    };
    let s = rt
        .block_on(firelake_producer::ticks::produce(def, cfg))
        .map_err(|e| -> Box<dyn std::error::Error> { e })?;
    println!(
        "produced records={} bytes={} dead_lettered={} ticks={} failed_ticks={}",
        s.records, s.bytes, s.dead_lettered, s.ticks, s.failed_ticks
    );
    if s.failed_ticks > 0 {
        return Err(format!("{} of {} ticks failed, {} records dead-lettered (see the log; dead letters are under the state lake's _dead_letter/, reprocess them from there)", s.failed_ticks, s.ticks, s.dead_lettered).into());
    }
    Ok(())
}
