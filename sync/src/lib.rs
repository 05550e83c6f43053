//! firelake-sync: a lake table's days into PostgreSQL, one transaction per day, incremental by
//! itself. Planning (which days, which DDL, the COPY encoding) is pure ([`plan`], [`encode`]);
//! the lake side ([`lake`]) and the database side ([`pg`]) do the I/O; [`run`] ties them.

pub mod encode;
pub mod lake;
pub mod lambda;
pub mod login;
pub mod pg;
pub mod plan;
pub mod run;
pub mod staged;

pub use plan::Selection;
pub use run::{DayOutcome, SyncOptions, SyncReport, sync};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Lake(#[from] firelake_compactor::CompactError),
    #[error(transparent)]
    Store(#[from] firelake_core::LakeError),
    #[error(transparent)]
    Catalog(#[from] firelake_core::catalog::CatalogError),
    #[error("the lake has no day {0} in this table: see `firelake catalog --table T`")]
    NoSuchDay(String),
    #[error(
        "table {0} has no partitions in the catalog: nothing to sync (compact it first, or name the raw table)"
    )]
    NoPartitions(String),
    #[error("partition {location} of {table} is not in the lake {lake}")]
    Outside {
        table: String,
        location: String,
        lake: String,
    },
    #[error("the target table {table} differs from the source definition: {detail}")]
    SchemaDiffers { table: String, detail: String },
    #[error("column {column:?} has Arrow type {data_type}, which sync does not map")]
    Unsupported { column: String, data_type: String },
    #[error(
        "cannot connect to {target}: {reason}; check the host, port, user, password (FIRELAKE_PG_PASSWORD, --password-secret or --iam-auth), the CA file (--ca-file) when TLS is on, and that the server is reachable"
    )]
    Connect { target: String, reason: String },
    #[error("bad target {target}: {reason}")]
    Target { target: String, reason: String },
    #[error("PostgreSQL {target}: {what} failed: {reason}")]
    Pg {
        target: String,
        what: String,
        reason: String,
    },
    #[error(transparent)]
    Secret(#[from] firelake_aws::secrets::SecretError),
    #[error(transparent)]
    RdsIam(#[from] firelake_aws::rds_iam::RdsIamError),
    #[error(
        "day {day}: COPY stored {stored} rows but the lake files hold {read}; the day was rolled back"
    )]
    RowCount { day: String, read: u64, stored: u64 },
}

/// One line from a driver error: the server's message when there is one.
pub fn pg_reason(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s = format!("{s}: {t}");
        }
        src = inner.source();
    }
    s
}
