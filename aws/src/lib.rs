//! firelake's AWS adapters. Every client is built from the standard SDK configuration chain,
//! so `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_REGION` and the credential
//! providers work as everywhere else: the same binaries run against AWS or local emulators.

#[cfg(feature = "sdk")]
pub mod errors;
#[cfg(feature = "eventbridge")]
pub mod events;
#[cfg(feature = "glue")]
pub mod glue;
#[cfg(feature = "msk-iam")]
pub mod msk_iam;
#[cfg(any(feature = "msk-iam", feature = "rds-iam"))]
mod presign;
#[cfg(feature = "rds-iam")]
pub mod rds_iam;
#[cfg(feature = "secrets")]
pub mod secrets;
#[cfg(feature = "sqs")]
pub mod sqs;

#[cfg(feature = "glue")]
pub use glue::GlueCatalog;

use std::sync::Arc;

use firelake_core::Lake;
use firelake_core::catalog::{Catalog, CatalogError};

/// The catalog a `--catalog` URL names: `glue://DATABASE` here, the local ones (`file://`,
/// `memory://`, or none: the file beside a local lake) through `firelake_core`.
pub async fn open_catalog(
    url: Option<&str>,
    lake: &Lake,
    database: &str,
) -> Result<Arc<dyn Catalog>, CatalogError> {
    match url {
        #[cfg(feature = "glue")]
        Some(u) if u.starts_with("glue://") => Ok(Arc::new(GlueCatalog::from_url(u).await?)),
        #[cfg(not(feature = "glue"))]
        Some(u) if u.starts_with("glue://") => Err(CatalogError::Service(format!(
            "{u}: this firelake is built without Glue; rebuild it with the cargo feature `glue`"
        ))),
        _ => firelake_core::catalog::open_catalog(url, lake, database),
    }
}

#[cfg(feature = "sdk")]
/// The shared SDK configuration (region, credentials, endpoint overrides from the environment).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
