//! `bootstrap` of the stream-consumer Lambda (behind a Kinesis event source mapping with
//! ReportBatchItemFailures). Config: `FIRELAKE_LAKE` (s3://BUCKET/PREFIX), `FIRELAKE_CATALOG`
//! (glue://DATABASE), `FIRELAKE_SOURCE` (default users), `FIRELAKE_SOURCE_DIR`, `RUST_LOG`.

use std::sync::Arc;

use aws_lambda_events::event::kinesis::KinesisEvent;
use firelake_core::{Cleaner, Lake, SourceDef};
use firelake_stream_consumer::lambda::handle_kinesis_event;
use firelake_stream_consumer::{ConsumerMetrics, LakeWriter};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let env = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    let source = std::env::var("FIRELAKE_SOURCE").unwrap_or_else(|_| "users".into());
    let dir = std::env::var_os("FIRELAKE_SOURCE_DIR").map(std::path::PathBuf::from);
    let def = Arc::new(SourceDef::resolve(&source, dir.as_deref())?);
    let lake = Lake::from_url(&env("FIRELAKE_LAKE")?)?;
    let catalog = Arc::new(firelake_aws::GlueCatalog::from_url(&env("FIRELAKE_CATALOG")?).await?);
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
