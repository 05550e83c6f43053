//! `firelake republish`: send a target's dead letters (`_dead_letter/<target>/` of the
//! producer's state lake) to the target again, as `produce` does, at least once and never
//! twice by a rerun; what the target refuses again is dead-lettered again with its reason
//! (docs/reprocess.md, "Dead letters"). The logic is `firelake_producer::republish`.

use std::time::Duration;

use clap::Args;
use firelake_core::reprocess::Tally as Reasons;
use firelake_core::{Cleaner, Lake};
use firelake_producer::dead_letter::DeadLetter;
use firelake_producer::republish::{Republisher, Tally, folder};
use firelake_producer::retry::RetryPolicy;

use crate::SourceArgs;
use crate::flags::parse_duration;

#[derive(Args, Clone)]
#[command(group(clap::ArgGroup::new("days").required(true).multiple(true)
    .args(["date", "since", "until", "all"])))]
pub struct RepublishArgs {
    /// The target whose dead letters are sent again, as given to `produce --to`
    /// (kinesis://STREAM, firehose://NAME, kafka://HOST:PORT/TOPIC[?...]).
    #[arg(long, env = "FIRELAKE_TO")]
    to: String,
    /// The producer's state lake, which holds `_dead_letter/`.
    #[arg(long, env = "FIRELAKE_STATE", default_value = "file://./lake")]
    state: String,
    /// The CURRENT source definition (records whose row would read a redacted value are held).
    #[command(flatten)]
    source: SourceArgs,
    /// How long a publish may retry before what is left is dead-lettered again.
    #[arg(long, env = "FIRELAKE_PUBLISH_DEADLINE", default_value = "30s", value_parser = parse_duration)]
    publish_deadline: Duration,
    #[command(flatten)]
    days: crate::day_range::DayRangeArgs,
}

pub fn run(args: RepublishArgs) -> Result<(), Box<dyn std::error::Error>> {
    let range = args.days.range()?;
    let def = args.source.load()?;
    let retry = RetryPolicy {
        deadline: args.publish_deadline,
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new()?;
    let state = Lake::from_url(&args.state)?;
    let tally = rt.block_on(async {
        // What the target refuses again goes where the producer puts it: the same folder.
        let dead_letter = DeadLetter::new(state.clone(), &args.to, &def);
        let publisher =
            firelake_producer::ticks::publisher_for(&args.to, dead_letter, retry).await?;
        let r = Republisher {
            lake: state,
            target: args.to.clone(),
            cleaner: Cleaner::new(def.clone()),
            publisher,
            after_publish,
        };
        let mut tally = Tally::default();
        // Listed once: dead letters written by this run are for the next one.
        for key in r.files(range).await? {
            r.file(&key, &mut tally).await?;
        }
        Ok::<_, Box<dyn std::error::Error>>(tally)
    })?;
    print_summary(&args.to, &tally);
    if tally.failed > 0 {
        return Err(format!(
            "{} records were refused again and are dead letters again in {} ({}): rerun `firelake republish` once the target takes them",
            tally.failed,
            tally.moved_to.join(", "),
            tally.first_reason.as_deref().unwrap_or("no reason given")
        )
        .into());
    }
    Ok(())
}

/// The step a test build may stop at (compactor/src/crash.rs's hook, same variable): a
/// file's records published, its journal not yet written.
#[cfg(feature = "compact")]
const STEP_PUBLISHED: &str = "republish_published";

fn after_publish(_key: &str) {
    #[cfg(feature = "compact")]
    firelake_compactor::crash::point(STEP_PUBLISHED);
}

fn print_summary(to: &str, t: &Tally) {
    let target = firelake_core::redact::shown_location(to);
    println!(
        "republished target={target} files={} read={} sent={} already_sent={} failed_again={} held={}",
        t.files,
        t.read,
        t.sent,
        t.already,
        t.failed,
        t.held.values().sum::<u64>()
    );
    if t.failed > 0 {
        println!(
            "  failed again  {} (first reason: {}; dead letters again in {})",
            t.failed,
            t.first_reason.as_deref().unwrap_or("none"),
            t.moved_to.join(", ")
        );
    }
    println!(
        "  held          {} ({}; kept where they are, under {})",
        t.held.values().sum::<u64>(),
        Reasons::describe(&t.held),
        folder(to)
    );
    if t.files == 0 {
        println!("  no dead letters for this target on the selected days");
    }
}
