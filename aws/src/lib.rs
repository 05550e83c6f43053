//! firelake's AWS adapters. Every client is built from the standard SDK configuration chain,
//! so `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_REGION` and the credential
//! providers work as everywhere else: the same binaries run against AWS or local emulators.

pub mod glue;
pub mod secrets;

pub use glue::GlueCatalog;

/// The shared SDK configuration (region, credentials, endpoint overrides from the environment).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
