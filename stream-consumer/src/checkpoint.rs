//! Per-shard checkpoints, stored in the lake beside the data they describe. A checkpoint only
//! moves after the files holding everything up to it are durable.

use bytes::Bytes;
use firelake_core::layout::sanitize;
use firelake_core::{Lake, LakeError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    position: String,
    updated_ms: i64,
}

pub struct LakeCheckpoints {
    lake: Lake,
    prefix: String,
}

impl LakeCheckpoints {
    /// Checkpoints of consumer `consumer` over stream `origin`:
    /// `_checkpoints/<consumer>/<origin>/<shard>.json`.
    pub fn new(lake: Lake, consumer: &str, origin: &str) -> LakeCheckpoints {
        LakeCheckpoints {
            lake,
            prefix: format!("_checkpoints/{}/{}", sanitize(consumer), sanitize(origin)),
        }
    }

    fn key(&self, shard: &str) -> String {
        format!("{}/{}.json", self.prefix, sanitize(shard))
    }

    /// The last durable position of `shard`, if any.
    pub async fn load(&self, shard: &str) -> Result<Option<String>, LakeError> {
        Ok(self
            .lake
            .get(&self.key(shard))
            .await?
            .and_then(|b| serde_json::from_slice::<Checkpoint>(&b).ok())
            .map(|c| c.position))
    }

    pub async fn store(&self, shard: &str, position: &str) -> Result<(), LakeError> {
        let c = Checkpoint {
            position: position.to_string(),
            updated_ms: firelake_core::stream::now_ms(),
        };
        let bytes = serde_json::to_vec(&c).expect("JSON to memory");
        self.lake.put(&self.key(shard), Bytes::from(bytes)).await
    }
}
