//! `bootstrap` of the Firehose transformation Lambda. Config: `FIRELAKE_SOURCE` (default
//! `users`), `FIRELAKE_SOURCE_DIR` (optional folder of source definitions), `FIRELAKE_THREADS`
//! (default: the function's vCPUs), `RUST_LOG`.

use firelake_firehose_transformer::{FirehoseEvent, Transformer, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .without_time()
        .init();
    let transformer = Transformer::from_env()?;
    let transformer = &transformer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<FirehoseEvent>| async move {
            Ok::<_, Error>(handle(transformer, event.payload).await)
        },
    ))
    .await
}
