//! Iceberg landing tables (docs/iceberg.md): the Parquet data files a firelake writer already
//! wrote, committed to an Apache Iceberg table through a catalog with the `iceberg` crate
//! (`fast_append`). Pure parts: the table a source definition gives ([`spec`]), the source
//! positions a commit covers ([`positions`]), when a batch is committed ([`policy`]) and how
//! a changed definition changes the table's schema ([`evolution`]), which metadata files are
//! orphans ([`orphans`]); the I/O is in [`landing`] and [`maintain`] (snapshot expiry and
//! orphan clean-up).

pub mod catalogs;
mod dry_run;
pub mod evolution;
mod glue;
pub mod landing;
pub mod maintain;
pub mod orphans;
pub mod policy;
pub mod positions;
pub mod spec;
mod widening;

use std::path::{Path, PathBuf};

use firelake_core::schema_evolution::StartError;

pub use catalogs::TableCatalog;
pub use landing::{CommitReport, Landing};
pub use maintain::{MaintainOptions, MaintainReport, maintain, maintain_local};
pub use policy::CommitPolicy;

#[derive(Debug, thiserror::Error)]
pub enum IcebergError {
    #[error("iceberg: {0}")]
    Iceberg(#[from] iceberg::Error),
    /// The table's schema cannot follow the definition (refused, or frozen).
    #[error(transparent)]
    Schema(#[from] StartError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "Iceberg table {table} is partitioned by another column than {column}: land this source's partition column in another lake or database"
    )]
    OtherPartition { table: String, column: String },
    #[error(
        "no Iceberg table {table} in {kept_in}: land one on this lake first (`firelake run --iceberg` or `replay --iceberg`), or name the lake, --source, --database and --iceberg catalog it was landed with"
    )]
    NoTable { table: String, kept_in: String },
    #[error(
        "Iceberg table {table}'s current metadata {location} is not in {expected}: the table of a moved lake or another lake's table is not maintained"
    )]
    MetadataElsewhere {
        table: String,
        location: String,
        expected: String,
    },
    #[error("data file {path} cannot be committed: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(transparent)]
    Lake(#[from] firelake_core::lake::LakeError),
    #[error(
        "--iceberg local keeps the table in a catalog file inside a local lake, and {lake} is not local: name a Glue database for an s3:// lake (--iceberg glue://DATABASE)"
    )]
    LocalNeedsLocalLake { lake: String },
    #[error(
        "--iceberg glue://... keeps the table over an s3:// lake, and {lake} is not one: land the lake in S3 (--lake s3://BUCKET/PREFIX), or use --iceberg local for a local lake"
    )]
    GlueNeedsS3 { lake: String },
}

impl IcebergError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IcebergError + '_ {
        move |source| IcebergError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
