//! firelake-core: what every firelake component shares. Source definitions and the cleaner are
//! pure (no I/O); storage and the catalog sit behind small interfaces.

pub mod batch;
pub mod catalog;
pub mod clean;
pub mod duration;
pub mod emf;
#[doc(hidden)]
pub mod fuzzing;
pub mod kafka_url;
pub mod kept;
pub mod lake;
pub mod layout;
pub mod nulled;
pub mod output;
pub mod redact;
pub mod schema_export;
pub mod source;
pub mod status;
pub mod stream;
pub mod time;

pub use batch::{BatchBuilder, PartitionColumn, arrow_schema};
pub use clean::{CleanRow, CleanValue, Cleaner, NullReason, Nulled, Rejection};
pub use lake::{Lake, LakeError, PutOutcome};
pub use source::{SourceDef, SourceError};
