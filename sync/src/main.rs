//! `sync-lambda`: `firelake sync` as a Lambda function (docs/sync.md). Each invocation syncs
//! one table within the time the invocation has left (less a reserve) and answers with
//! `done`; a day larger than one invocation continues in the next from the state recorded in
//! the database. Configuration: the environment (`firelake sync`'s env twins); the event may
//! name the table (`{"table": "users_curated"}`). Logs are JSON lines on stderr.

use clap::Parser;
use firelake_sync::lambda;
use lambda_runtime::{LambdaEvent, service_fn};

fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = lambda::LambdaConfig::parse_from(["sync-lambda"]);
    let rt = firelake_compactor::runtime()?;
    rt.block_on(lambda_runtime::run(service_fn(
        move |e: LambdaEvent<serde_json::Value>| {
            lambda::handle(config.clone(), e.payload, e.context.deadline())
        },
    )))
}
