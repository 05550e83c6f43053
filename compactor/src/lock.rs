//! One compactor per day on an object store: a lock object per day
//! (`<curated>/_locks/<pcol>=D.lock`) holding its owner and the end of its lease, taken with a
//! conditional put (If-None-Match: * when absent; If-Match on the ETag of a stale or released
//! lock), renewed the same way before the catalog switch, and released at the end of the day
//! by writing it back expired. A run that crashes leaves a lock that blocks the day only until
//! its lease ends. Local lakes use an OS file lock instead (`run::DayLock`).
//!
//! The lease logic (`decide`) is pure; `ObjectLock` does the I/O.

use bytes::Bytes;
use firelake_core::Lake;
use firelake_core::lake::{ObjectVersion, VersionedPut};
use serde::{Deserialize, Serialize};

use crate::CompactError;

/// How long a lock holds without renewal: longer than a Lambda invocation can run (15 min),
/// so a live run is never taken over; a crashed run's day waits at most this long.
pub const LEASE_MS: i64 = 30 * 60 * 1000;

/// The content of a lock object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    /// Who holds it (host, process and start time of the run).
    pub owner: String,
    /// When the lease ends (epoch ms); 0 once released.
    pub expires_at_ms: i64,
}

/// What to do about a day's lock object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// There is none: create it.
    Create,
    /// Its lease is over (released, or its run crashed): replace it, on its version.
    TakeOver,
    /// A live lease of another run.
    Busy { owner: String, expires_at_ms: i64 },
}

/// Decide from the lock object found (`None`: absent; `Some(None)`: unreadable, which is
/// treated as stale so a torn write never blocks a day forever).
pub fn decide(found: Option<Option<&LockRecord>>, now_ms: i64) -> Decision {
    match found {
        None => Decision::Create,
        Some(None) => Decision::TakeOver,
        Some(Some(r)) if r.expires_at_ms <= now_ms => Decision::TakeOver,
        Some(Some(r)) => Decision::Busy {
            owner: r.owner.clone(),
            expires_at_ms: r.expires_at_ms,
        },
    }
}

/// A day's lock held on an object store, at the version this run last wrote.
#[derive(Debug)]
pub struct ObjectLock {
    key: String,
    owner: String,
    version: ObjectVersion,
}

fn record(owner: &str, expires_at_ms: i64) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&LockRecord {
            owner: owner.to_string(),
            expires_at_ms,
        })
        .expect("a lock record serialises"),
    )
}

/// A name for this run as a lock owner.
pub fn owner_id(now_ms: i64) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{host}/pid{}/{now_ms}.{nanos:09}", std::process::id())
}

impl ObjectLock {
    /// Take the lock at `key` for `owner` until `now_ms + LEASE_MS`, or `None` when another
    /// run holds a live lease (or won the race to take it).
    pub async fn acquire(
        lake: &Lake,
        key: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<Option<ObjectLock>, CompactError> {
        let found = lake.get_versioned(key).await?;
        let parsed = found
            .as_ref()
            .map(|(bytes, _)| serde_json::from_slice::<LockRecord>(bytes).ok());
        let expected = match decide(parsed.as_ref().map(Option::as_ref), now_ms) {
            Decision::Busy {
                owner: holder,
                expires_at_ms,
            } => {
                tracing::info!(key, holder, expires_at_ms, "the day's lock is held");
                return Ok(None);
            }
            Decision::Create => None,
            Decision::TakeOver => found.map(|(_, v)| v),
        };
        let bytes = record(owner, now_ms.saturating_add(LEASE_MS));
        match lake.put_versioned(key, bytes, expected.as_ref()).await? {
            VersionedPut::Written(version) => Ok(Some(ObjectLock {
                key: key.to_string(),
                owner: owner.to_string(),
                version,
            })),
            // Another run created or took it between our read and write: it has the day.
            VersionedPut::Conflict => Ok(None),
        }
    }

    /// Extend the lease from `now_ms`, only if the lock is still this run's (nobody took it
    /// over since): false means another run has the day and this one must not switch.
    pub async fn renew(&mut self, lake: &Lake, now_ms: i64) -> Result<bool, CompactError> {
        let bytes = record(&self.owner, now_ms.saturating_add(LEASE_MS));
        match lake
            .put_versioned(&self.key, bytes, Some(&self.version))
            .await?
        {
            VersionedPut::Written(version) => {
                self.version = version;
                Ok(true)
            }
            VersionedPut::Conflict => Ok(false),
        }
    }

    /// Give the day up: the lock is written back expired, on this run's version (a lock
    /// taken over meanwhile is left to its new owner).
    pub async fn release(self, lake: &Lake) -> Result<(), CompactError> {
        if let VersionedPut::Conflict = lake
            .put_versioned(&self.key, record(&self.owner, 0), Some(&self.version))
            .await?
        {
            tracing::warn!(key = %self.key, "the day's lock was taken over before release");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(expires_at_ms: i64) -> LockRecord {
        LockRecord {
            owner: "a".into(),
            expires_at_ms,
        }
    }

    #[test]
    fn absent_is_created_live_is_busy_expired_or_released_or_torn_is_taken_over() {
        assert_eq!(decide(None, 100), Decision::Create);
        assert_eq!(
            decide(Some(Some(&held(101))), 100),
            Decision::Busy {
                owner: "a".into(),
                expires_at_ms: 101
            }
        );
        assert_eq!(decide(Some(Some(&held(100))), 100), Decision::TakeOver);
        assert_eq!(decide(Some(Some(&held(0))), 100), Decision::TakeOver);
        assert_eq!(decide(Some(None), 100), Decision::TakeOver);
    }

    #[tokio::test]
    async fn a_lock_is_exclusive_until_released_and_a_taken_over_lock_cannot_be_renewed() {
        let lake = Lake::from_url("memory://").unwrap();
        let k = "t_curated/_locks/p_date=2025-01-01.lock";
        let mut a = ObjectLock::acquire(&lake, k, "a", 1_000)
            .await
            .unwrap()
            .unwrap();
        assert!(
            ObjectLock::acquire(&lake, k, "b", 2_000)
                .await
                .unwrap()
                .is_none()
        );
        assert!(a.renew(&lake, 3_000).await.unwrap());
        // a's lease runs out (a crashed, or stalled): b takes over; a may no longer switch.
        let late = 3_000 + LEASE_MS;
        let b = ObjectLock::acquire(&lake, k, "b", late)
            .await
            .unwrap()
            .unwrap();
        assert!(!a.renew(&lake, late).await.unwrap());
        a.release(&lake).await.unwrap(); // leaves b's lock alone
        assert!(
            ObjectLock::acquire(&lake, k, "c", late)
                .await
                .unwrap()
                .is_none()
        );
        b.release(&lake).await.unwrap();
        assert!(
            ObjectLock::acquire(&lake, k, "c", late)
                .await
                .unwrap()
                .is_some()
        );
    }
}
