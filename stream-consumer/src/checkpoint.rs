//! Per-shard checkpoints, stored in the lake beside the data they describe. A checkpoint only
//! moves after the files holding everything up to it are durable, and it moves by a
//! conditional write from the version this consumer last saw, so two consumers can never both
//! advance one shard: the second gets a conflict and stops reading that shard.
//!
//! Checkpoints fail closed: one that cannot be parsed is an error naming the object, never
//! "no checkpoint". A Kinesis checkpoint is bound to the stream incarnation it was written for
//! (the stream's ARN and creation time): a stream deleted and recreated under the same name
//! has new shards with the old shard ids, and the old positions must never be applied to them.
//! Checkpoints written before incarnations were recorded (no `stream` field) are adopted by
//! the current stream unless they were written before it was created.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use firelake_core::lake::{ObjectVersion, VersionedPut};
use firelake_core::layout::sanitize;
use firelake_core::{Lake, LakeError};
use serde::{Deserialize, Serialize};

/// The position meaning "the shard is closed and everything in it is durable".
pub const SHARD_END: &str = "SHARD_END";

/// Which stream a checkpoint belongs to: a stream's name is reused when it is recreated, its
/// creation time is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incarnation {
    pub arn: String,
    pub created_ms: i64,
}

impl std::fmt::Display for Incarnation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut at = String::new();
        firelake_core::time::format_ms(self.created_ms, &mut at);
        write!(f, "{} created {at}", self.arn)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    /// `None`: no position (a checkpoint of another incarnation was set aside).
    position: Option<String>,
    updated_ms: i64,
    /// The stream incarnation (Kinesis); absent in checkpoints of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stream: Option<Incarnation>,
}

/// Why a stored checkpoint must not be applied to the current stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Foreign {
    /// Written for another incarnation.
    Other(Incarnation),
    /// Written (without an incarnation) before the current stream was created.
    OlderThanStream { updated_ms: i64 },
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Foreign::Other(i) => write!(f, "written for {i}"),
            Foreign::OlderThanStream { updated_ms } => {
                let mut at = String::new();
                firelake_core::time::format_ms(*updated_ms, &mut at);
                write!(f, "written at {at}, before the stream was created")
            }
        }
    }
}

/// Whether checkpoint `c` may be applied to `current` (pure). Without a current incarnation
/// (the embedded stream) every checkpoint applies.
fn foreign(c: &Checkpoint, current: Option<&Incarnation>) -> Option<Foreign> {
    let current = current?;
    match &c.stream {
        Some(s) if s == current => None,
        Some(s) => Some(Foreign::Other(s.clone())),
        None if c.updated_ms < current.created_ms => Some(Foreign::OlderThanStream {
            updated_ms: c.updated_ms,
        }),
        None => None,
    }
}

/// The flag that sets checkpoints of another stream incarnation aside.
pub const IGNORE_STALE_FLAG: &str = "--ignore-stale-checkpoints";

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(
        "checkpoint of shard {shard} was advanced by another consumer; this one stops reading it"
    )]
    Conflict { shard: String },
    #[error(
        "{object} is not a readable checkpoint ({reason}); nothing was read: restore the object (an earlier version of it) or delete it to read that shard again from --start, then run again"
    )]
    Unreadable { object: String, reason: String },
    #[error(
        "{count} checkpoint(s) belong to another stream than {current} (first: {object}, {found}): the stream was deleted and recreated under its name, or this is another account's or region's stream. Nothing was read; if this is the stream to read, run with {IGNORE_STALE_FLAG} to set them aside (kept under {archive}) and read those shards from --start"
    )]
    OtherIncarnation {
        count: usize,
        object: String,
        found: Foreign,
        current: Incarnation,
        archive: String,
    },
}

pub struct LakeCheckpoints {
    lake: Lake,
    consumer: String,
    origin: String,
    prefix: String,
    incarnation: Option<Incarnation>,
    versions: Mutex<HashMap<String, ObjectVersion>>,
}

impl LakeCheckpoints {
    /// Checkpoints of consumer `consumer` over stream `origin`:
    /// `_checkpoints/<consumer>/<origin>/<shard>.json`.
    pub fn new(lake: Lake, consumer: &str, origin: &str) -> LakeCheckpoints {
        let (consumer, origin) = (sanitize(consumer), sanitize(origin));
        LakeCheckpoints {
            lake,
            prefix: format!("_checkpoints/{consumer}/{origin}"),
            consumer,
            origin,
            incarnation: None,
            versions: Mutex::new(HashMap::new()),
        }
    }

    /// Bind these checkpoints to a stream incarnation: stored ones record it, loaded ones of
    /// another incarnation are refused.
    pub fn for_incarnation(mut self, incarnation: Incarnation) -> LakeCheckpoints {
        self.incarnation = Some(incarnation);
        self
    }

    fn key(&self, shard: &str) -> String {
        format!("{}/{}.json", self.prefix, sanitize(shard))
    }

    /// Where checkpoints of incarnation `old` are kept once set aside.
    fn archive_prefix(&self, old: &Foreign) -> String {
        let tag = match old {
            Foreign::Other(i) => i.created_ms.to_string(),
            Foreign::OlderThanStream { .. } => "unbound".into(),
        };
        format!(
            "_checkpoints/{}/_stale/{}/{tag}",
            self.consumer, self.origin
        )
    }

    fn parse(&self, key: &str, bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        serde_json::from_slice::<Checkpoint>(bytes).map_err(|e| CheckpointError::Unreadable {
            object: self.lake.url_of(key),
            reason: e.to_string(),
        })
    }

    /// The last durable position of `shard`, if any. An unreadable checkpoint, or one of
    /// another stream incarnation, is an error.
    pub async fn load(&self, shard: &str) -> Result<Option<String>, CheckpointError> {
        let key = self.key(shard);
        let Some((bytes, version)) = self.lake.get_versioned(&key).await? else {
            self.versions.lock().unwrap().remove(shard);
            return Ok(None);
        };
        let c = self.parse(&key, &bytes)?;
        if let Some(found) = foreign(&c, self.incarnation.as_ref()) {
            return Err(self.other_incarnation(1, &key, found));
        }
        self.versions
            .lock()
            .unwrap()
            .insert(shard.to_string(), version);
        Ok(c.position)
    }

    fn other_incarnation(&self, count: usize, key: &str, found: Foreign) -> CheckpointError {
        CheckpointError::OtherIncarnation {
            count,
            object: self.lake.url_of(key),
            archive: self.lake.url_of(&self.archive_prefix(&found)),
            found,
            current: self
                .incarnation
                .clone()
                .expect("only bound checkpoints are foreign"),
        }
    }

    /// Check every stored checkpoint before anything is read: each one of another
    /// incarnation is reported; then, unless `ignore_stale`, the run is refused. With
    /// `ignore_stale` each is copied under `_checkpoints/<consumer>/_stale/` and replaced (by
    /// a conditional write) with an empty checkpoint of the current incarnation, so its shard
    /// is read from `--start`. Returns how many were set aside.
    pub async fn check_incarnation(&self, ignore_stale: bool) -> Result<usize, CheckpointError> {
        if self.incarnation.is_none() {
            return Ok(0);
        }
        let mut stale = Vec::new();
        for o in self.lake.list(&self.prefix).await? {
            let Some(shard) = o
                .key
                .strip_prefix(&format!("{}/", self.prefix))
                .and_then(|k| k.strip_suffix(".json"))
                .filter(|k| !k.contains('/'))
            else {
                continue;
            };
            let Some((bytes, version)) = self.lake.get_versioned(&o.key).await? else {
                continue;
            };
            let c = self.parse(&o.key, &bytes)?;
            if let Some(found) = foreign(&c, self.incarnation.as_ref()) {
                tracing::warn!(object = %self.lake.url_of(&o.key), %found, current = %self.incarnation.as_ref().unwrap(), "checkpoint of another stream incarnation: not applied");
                stale.push((shard.to_string(), o.key, bytes, version, found));
            }
        }
        let Some((_, key, _, _, found)) = stale.first() else {
            return Ok(0);
        };
        if !ignore_stale {
            return Err(self.other_incarnation(stale.len(), key, found.clone()));
        }
        for (shard, key, bytes, version, found) in &stale {
            let archive = format!("{}/{}.json", self.archive_prefix(found), sanitize(shard));
            self.lake.put(&archive, bytes.clone()).await?;
            let reset = self.encode(None);
            match self.lake.put_versioned(key, reset, Some(version)).await? {
                VersionedPut::Written(_) => {}
                VersionedPut::Conflict => {
                    return Err(CheckpointError::Conflict {
                        shard: shard.clone(),
                    });
                }
            }
            tracing::warn!(object = %self.lake.url_of(key), kept = %self.lake.url_of(&archive), "checkpoint of another incarnation set aside; the shard is read from --start");
        }
        Ok(stale.len())
    }

    fn encode(&self, position: Option<&str>) -> Bytes {
        let c = Checkpoint {
            position: position.map(str::to_string),
            updated_ms: firelake_core::stream::now_ms(),
            stream: self.incarnation.clone(),
        };
        Bytes::from(serde_json::to_vec(&c).expect("JSON to memory"))
    }

    /// Advance `shard` to `position` (from the version last loaded or stored).
    pub async fn store(&self, shard: &str, position: &str) -> Result<(), CheckpointError> {
        let bytes = self.encode(Some(position));
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

    fn inc(created_ms: i64) -> Incarnation {
        Incarnation {
            arn: "arn:aws:kinesis:us-east-1:1:stream/s".into(),
            created_ms,
        }
    }

    #[test]
    fn a_checkpoint_applies_to_its_own_incarnation_only() {
        let cp = |stream, updated_ms| Checkpoint {
            position: Some("1".into()),
            updated_ms,
            stream,
        };
        let now = inc(1_000);
        assert_eq!(foreign(&cp(Some(inc(1_000)), 5_000), Some(&now)), None);
        assert_eq!(
            foreign(&cp(Some(inc(500)), 5_000), Some(&now)),
            Some(Foreign::Other(inc(500)))
        );
        // Older checkpoints without an incarnation: adopted unless older than the stream.
        assert_eq!(foreign(&cp(None, 2_000), Some(&now)), None);
        assert_eq!(
            foreign(&cp(None, 900), Some(&now)),
            Some(Foreign::OlderThanStream { updated_ms: 900 })
        );
        // No incarnation known (the embedded stream): everything applies.
        assert_eq!(foreign(&cp(Some(inc(500)), 5_000), None), None);
    }

    #[tokio::test]
    async fn unreadable_and_foreign_checkpoints_are_errors_until_set_aside() {
        let lake = Lake::from_url("memory://").unwrap();
        let old = LakeCheckpoints::new(lake.clone(), "c", "kinesis.s").for_incarnation(inc(1));
        old.store("shard-0", SHARD_END).await.unwrap();
        let key = "_checkpoints/c/kinesis.s/shard-1.json";
        lake.put(key, Bytes::from_static(b"{not json"))
            .await
            .unwrap();
        let new = LakeCheckpoints::new(lake.clone(), "c", "kinesis.s").for_incarnation(inc(2));
        let e = new.load("shard-1").await.unwrap_err();
        assert!(matches!(e, CheckpointError::Unreadable { .. }), "{e}");
        assert!(e.to_string().contains(key), "{e}");
        assert!(matches!(
            new.check_incarnation(true).await,
            Err(CheckpointError::Unreadable { .. })
        ));
        lake.delete(key).await.unwrap();
        let e = new.check_incarnation(false).await.unwrap_err();
        assert!(e.to_string().contains(IGNORE_STALE_FLAG), "{e}");
        assert!(matches!(
            new.load("shard-0").await,
            Err(CheckpointError::OtherIncarnation { .. })
        ));
        assert_eq!(new.check_incarnation(true).await.unwrap(), 1);
        assert_eq!(new.load("shard-0").await.unwrap(), None);
        assert_eq!(new.check_incarnation(false).await.unwrap(), 0);
        let kept = lake
            .get("_checkpoints/c/_stale/kinesis.s/1/shard-0.json")
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&kept).contains(SHARD_END));
        new.store("shard-0", "42").await.unwrap();
        assert_eq!(new.load("shard-0").await.unwrap().as_deref(), Some("42"));
    }
}
