//! `bootstrap` of the producer Lambda: one tick per EventBridge scheduled event (source ->
//! stream). Every setting is an environment variable (`FIRELAKE_*`, see `--help` of
//! `firelake produce`); the source position lives in `FIRELAKE_STATE` between invocations.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use clap::Parser;
use firelake_core::{Lake, SourceDef};
use firelake_producer::http::HttpSourceOptions;
use firelake_producer::lambda::TickConfig as Config;
use firelake_producer::retry::RetryPolicy;
use firelake_producer::ticks::{ProduceConfig, ProduceSummary, produce};
use lambda_runtime::{Error, LambdaEvent, service_fn};

async fn tick(def: Arc<SourceDef>, c: &Config) -> Result<ProduceSummary, Error> {
    let retry = RetryPolicy {
        deadline: c.publish_deadline,
        ..Default::default()
    };
    let cfg = ProduceConfig {
        to: c.to.clone(),
        ticks: 1,
        every: Duration::ZERO,
        http: HttpSourceOptions {
            url: c.source_url.clone(),
            timeout: c.http_timeout,
            retry,
            ..Default::default()
        },
        sample_records: None,
        seed: 0,
        retry,
        state: Lake::from_url(&c.state)?,
        stop: Default::default(),
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
