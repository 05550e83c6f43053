//! Per-shard checkpoints, stored in the lake beside the data they describe. A checkpoint only
//! moves after the files holding everything up to it are durable, and it moves by a
//! conditional write from the version this consumer last saw, so two consumers can never both
//! advance one shard: the second gets a conflict and stops reading that shard.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use firelake_core::lake::{ObjectVersion, VersionedPut};
use firelake_core::layout::sanitize;
use firelake_core::{Lake, LakeError};
use serde::{Deserialize, Serialize};

/// The position meaning "the shard is closed and everything in it is durable".
pub const SHARD_END: &str = "SHARD_END";

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    position: String,
    updated_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(
        "checkpoint of shard {shard} was advanced by another consumer; this one stops reading it"
    )]
    Conflict { shard: String },
}

pub struct LakeCheckpoints {
    lake: Lake,
    prefix: String,
    versions: Mutex<HashMap<String, ObjectVersion>>,
}

impl LakeCheckpoints {
    /// Checkpoints of consumer `consumer` over stream `origin`:
    /// `_checkpoints/<consumer>/<origin>/<shard>.json`.
    pub fn new(lake: Lake, consumer: &str, origin: &str) -> LakeCheckpoints {
        LakeCheckpoints {
            lake,
            prefix: format!("_checkpoints/{}/{}", sanitize(consumer), sanitize(origin)),
            versions: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, shard: &str) -> String {
        format!("{}/{}.json", self.prefix, sanitize(shard))
    }

    /// The last durable position of `shard`, if any.
    pub async fn load(&self, shard: &str) -> Result<Option<String>, LakeError> {
        let Some((bytes, version)) = self.lake.get_versioned(&self.key(shard)).await? else {
            self.versions.lock().unwrap().remove(shard);
            return Ok(None);
        };
        self.versions
            .lock()
            .unwrap()
            .insert(shard.to_string(), version);
        Ok(serde_json::from_slice::<Checkpoint>(&bytes)
            .ok()
            .map(|c| c.position))
    }

    /// Advance `shard` to `position` (from the version last loaded or stored).
    pub async fn store(&self, shard: &str, position: &str) -> Result<(), CheckpointError> {
        let c = Checkpoint {
            position: position.to_string(),
            updated_ms: firelake_core::stream::now_ms(),
        };
        let bytes = Bytes::from(serde_json::to_vec(&c).expect("JSON to memory"));
        let expected = self.versions.lock().unwrap().get(shard).cloned();
        match self
            .lake
            .put_versioned(&self.key(shard), bytes, expected.as_ref())
            .await?
        {
            VersionedPut::Written(v) => {
                self.versions.lock().unwrap().insert(shard.to_string(), v);
                Ok(())
            }
            VersionedPut::Conflict => Err(CheckpointError::Conflict {
                shard: shard.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_consumer_cannot_advance_a_shard() {
        let lake = Lake::from_url("memory://").unwrap();
        let a = LakeCheckpoints::new(lake.clone(), "c", "kinesis.s");
        let b = LakeCheckpoints::new(lake.clone(), "c", "kinesis.s");
        assert_eq!(a.load("shard-1").await.unwrap(), None);
        assert_eq!(b.load("shard-1").await.unwrap(), None);
        a.store("shard-1", "100").await.unwrap();
        assert!(matches!(
            b.store("shard-1", "90").await,
            Err(CheckpointError::Conflict { .. })
        ));
        a.store("shard-1", "200").await.unwrap();
        assert_eq!(b.load("shard-1").await.unwrap().as_deref(), Some("200"));
        b.store("shard-1", "300").await.unwrap();
        assert!(matches!(
            a.store("shard-1", "250").await,
            Err(CheckpointError::Conflict { .. })
        ));
    }
}
