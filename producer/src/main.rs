//! `bootstrap` of the producer Lambda: one tick per EventBridge scheduled event (source ->
//! stream). Every setting is an environment variable (`FIRELAKE_*`, see `--help` of
//! `firelake produce`); the source position lives in `FIRELAKE_STATE` between invocations.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use clap::Parser;
use firelake_core::{Lake, SourceDef};
use firelake_producer::http::HttpSourceOptions;
use firelake_producer::retry::RetryPolicy;
use firelake_producer::ticks::{ProduceConfig, ProduceSummary, produce};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[derive(Parser, Debug, Clone)]
struct Config {
    #[arg(long, env = "FIRELAKE_SOURCE", default_value = "users")]
    source: String,
    #[arg(long, env = "FIRELAKE_SOURCE_DIR")]
    source_dir: Option<std::path::PathBuf>,
    #[arg(long, env = "FIRELAKE_TO")]
    to: String,
    #[arg(long, env = "FIRELAKE_SOURCE_URL")]
    source_url: Option<String>,
    #[arg(long, env = "FIRELAKE_STATE")]
    state: String,
    #[arg(long, env = "FIRELAKE_PUBLISH_DEADLINE_S", default_value_t = 30)]
    publish_deadline_s: u64,
    #[arg(long, env = "FIRELAKE_HTTP_TIMEOUT_S", default_value_t = 10)]
    http_timeout_s: u64,
}

async fn tick(def: Arc<SourceDef>, c: &Config) -> Result<ProduceSummary, Error> {
    let retry = RetryPolicy {
        deadline: Duration::from_secs(c.publish_deadline_s),
        ..Default::default()
    };
    let cfg = ProduceConfig {
        to: c.to.clone(),
        ticks: 1,
        every: Duration::ZERO,
        http: HttpSourceOptions {
            url: c.source_url.clone(),
            timeout: Duration::from_secs(c.http_timeout_s),
            retry,
            ..Default::default()
        },
        sample_records: None,
        seed: 0,
        retry,
        state: Lake::from_url(&c.state)?,
    };
    let s = produce(def, cfg).await?;
    if s.failed_ticks > 0 {
        // A failed invocation shows in the Lambda Errors metric and its alarm.
        return Err(
            "the tick failed: see the log; undelivered records are in the dead-letter location"
                .into(),
        );
    }
    Ok(s)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let config = Config::parse_from(["producer"]);
    let def = Arc::new(SourceDef::resolve(
        &config.source,
        config.source_dir.as_deref(),
    )?);
    let (config, def) = (&config, &def);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            tick(def.clone(), config).await
        },
    ))
    .await
}
