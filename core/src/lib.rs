//! firelake-core: what every firelake component shares. Source definitions and the cleaner are
//! pure (no I/O); storage and the catalog sit behind small interfaces.

#[cfg(feature = "lake")]
pub mod batch;
#[cfg(feature = "lake")]
pub mod catalog;
pub mod clean;
#[cfg(feature = "lake")]
pub mod duckdb_views;
pub mod duration;
pub mod emf;
#[doc(hidden)]
pub mod fuzzing;
pub mod kafka_url;
pub mod kept;
#[cfg(feature = "lake")]
pub mod lake;
pub mod layout;
pub mod nulled;
pub mod output;
pub mod redact;
pub mod reprocess;
#[cfg(feature = "lake")]
pub mod schema_dbt;
pub mod schema_evolution;
#[cfg(feature = "lake")]
pub mod schema_export;
pub mod source;
pub mod status;
pub mod stream;
pub mod time;

#[cfg(feature = "lake")]
pub use batch::{BatchBuilder, PartitionColumn, arrow_schema};
pub use clean::{CleanRow, CleanValue, Cleaner, NullReason, Nulled, Rejection};
#[cfg(feature = "lake")]
pub use lake::{Lake, LakeError, PutOutcome};
pub use source::{SourceDef, SourceError};
