//! The Lambda's one request (`sync-lambda`, src/main.rs): sync a table until done or until the
//! invocation's budget (its time left less a reserve, at most `FIRELAKE_SYNC_MAX_DURATION`)
//! runs out.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use crate::pg::Target;
use crate::{Selection, SyncOptions, SyncReport, sync};
use firelake_core::duration::parse_duration;
use firelake_core::{Lake, SourceDef};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `firelake sync`'s env twins, with its defaults (tests/env_twins.rs holds them together);
/// the Lambda takes no arguments.
#[derive(clap::Parser, Debug, Clone)]
pub struct LambdaConfig {
    #[arg(long, env = "FIRELAKE_SOURCE", default_value = "users")]
    source: String,
    #[arg(long, env = "FIRELAKE_SOURCE_DIR")]
    source_dir: Option<PathBuf>,
    /// s3://BUCKET/PREFIX
    #[arg(long, env = "FIRELAKE_LAKE")]
    lake: String,
    /// glue://DATABASE (a local catalog file beside a local lake when left out)
    #[arg(long, env = "FIRELAKE_CATALOG")]
    catalog: Option<String>,
    #[arg(long, env = "FIRELAKE_DATABASE", default_value = "firelake")]
    database: String,
    /// The lake table (default `<source>_curated`); the event's `table` wins.
    #[arg(long, env = "FIRELAKE_TABLE")]
    table: Option<String>,
    #[arg(long, env = "FIRELAKE_PG_URL")]
    to: String,
    #[arg(long, env = "FIRELAKE_PG_PASSWORD_SECRET")]
    password_secret: Option<String>,
    #[arg(long, env = "FIRELAKE_PG_CA_FILE")]
    ca_file: Option<PathBuf>,
    #[arg(long, env = "FIRELAKE_PG_IAM_AUTH")]
    iam_auth: bool,
    #[arg(long, env = "FIRELAKE_PG_SCHEMA", default_value = "public")]
    schema: String,
    /// At most this long per invocation (the deadline bounds it anyway).
    #[arg(long, env = "FIRELAKE_SYNC_MAX_DURATION", value_parser = parse_duration)]
    max_duration: Option<Duration>,
}

/// The most kept free before the deadline: the step under way when the budget runs out (up
/// to 2^20 rows, or a day's final INSERT ... SELECT) finishes in it.
const MAX_RESERVE: Duration = Duration::from_secs(180);

/// The budget of an invocation that must end by `deadline`: the time left less a quarter of
/// it, at most [`MAX_RESERVE`] (a 15-minute invocation: 12 minutes).
pub fn budget(max_duration: Option<Duration>, deadline: SystemTime) -> Duration {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let left = left.saturating_sub((left / 4).min(MAX_RESERVE));
    max_duration.map_or(left, |m| m.min(left))
}

/// Sync the table; `{"done": false}` asks for another invocation (the workflow loops).
pub async fn handle(
    config: LambdaConfig,
    payload: serde_json::Value,
    deadline: SystemTime,
) -> Result<serde_json::Value, BoxError> {
    let started = Instant::now();
    let budget = budget(config.max_duration, deadline);
    let def = SourceDef::resolve(&config.source, config.source_dir.as_deref())?;
    let lake = Lake::from_url(&config.lake)?;
    let catalog =
        firelake_aws::open_catalog(config.catalog.as_deref(), &lake, &config.database).await?;
    let table = payload["table"]
        .as_str()
        .map(String::from)
        .or(config.table.clone())
        .unwrap_or_else(|| format!("{}_curated", def.table));
    let opts = SyncOptions {
        table,
        schema: config.schema.clone(),
        selection: Selection::Every,
        force: false,
        deadline: Some(started + budget),
    };
    let mut target = Target::parse(&config.to, config.ca_file.clone())?;
    crate::login::login(
        &mut target,
        config.iam_auth,
        config.password_secret.as_deref(),
    )
    .await?;
    let report = sync(
        &lake,
        catalog.as_ref(),
        &def,
        &target,
        &opts,
        &mut |_, _| {},
    )
    .await?;
    tracing::info!(table = %opts.table, budget_ms = budget.as_millis() as u64, done = !report.stopped, "sync invocation");
    Ok(answer(&opts.table, &report, started.elapsed()))
}

fn answer(table: &str, r: &SyncReport, elapsed: Duration) -> serde_json::Value {
    serde_json::json!({
        "table": table,
        "done": !r.stopped,
        "days_synced": r.synced(),
        "days_partial": r.partial(),
        "rows": r.rows(),
        "elapsed_s": elapsed.as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_keeps_a_quarter_of_the_time_left_at_most_three_minutes() {
        let in_secs = |s: u64| SystemTime::now() + Duration::from_secs(s);
        let b = budget(None, in_secs(900)).as_secs();
        assert!((718..=720).contains(&b), "{b}");
        let b = budget(None, in_secs(60)).as_secs();
        assert!((43..=45).contains(&b), "{b}");
        assert_eq!(budget(None, SystemTime::now()), Duration::ZERO);
        let capped = budget(Some(Duration::from_secs(10)), in_secs(900));
        assert_eq!(capped, Duration::from_secs(10));
    }
}
