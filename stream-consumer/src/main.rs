//! `bootstrap` of the stream-consumer Lambda (behind a Kinesis event source mapping with
//! ReportBatchItemFailures). Settings: [`LambdaConfig`] (`firelake consume`'s env twins) and
//! `RUST_LOG`.

use std::sync::Arc;

use aws_lambda_events::event::kinesis::KinesisEvent;
use clap::Parser;
use firelake_core::{Cleaner, Lake, SourceDef};
use firelake_stream_consumer::lambda::{LambdaConfig, handle_kinesis_event};
use firelake_stream_consumer::{ConsumerMetrics, LakeWriter};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let config = LambdaConfig::try_parse_from(["stream-consumer"])?;
    let def = Arc::new(SourceDef::resolve(
        &config.source,
        config.source_dir.as_deref(),
    )?);
    let lake = Lake::from_url(&config.lake)?;
    let catalog = Arc::new(firelake_aws::GlueCatalog::from_url(&config.catalog).await?);
    // Its own (raw) table only, as its role allows. A refused schema change fails the cold
    // start: the batches wait in the stream (the event source mapping retries) until the
    // definition or the policy is fixed.
    firelake_core::schema_evolution::apply_to(
        catalog.as_ref(),
        &def,
        None,
        firelake_core::schema_evolution::Tables::Raw,
        config.schema_policy,
    )
    .await?;
    let writer = LakeWriter::new(
        lake,
        catalog,
        def.clone(),
        Arc::new(ConsumerMetrics::default()),
    );
    let cleaner = Arc::new(Cleaner::new(def));
    let (writer, cleaner) = (&writer, &cleaner);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<KinesisEvent>| async move {
            Ok::<_, Error>(handle_kinesis_event(event.payload, cleaner, writer).await)
        },
    ))
    .await
}
