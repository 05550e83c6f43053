//! The dead-letter location: records a publisher could not deliver by its deadline are written
//! to the lake with the reason, so nothing is ever dropped, and an operator can replay them.
//! Each is a kept record (`firelake_core::kept`), its never-read values redacted.

use bytes::Bytes;
use firelake_core::kept::{Keeper, Origin};
use firelake_core::layout::sanitize;
use firelake_core::redact::{Raw, shown_location};
use firelake_core::{Lake, LakeError, SourceDef, time};

use crate::publish::OutgoingRecord;

#[derive(Clone)]
pub struct DeadLetter {
    lake: Lake,
    /// The target as shown (without a query: it may hold credentials).
    target: String,
    keeper: Keeper,
}

impl DeadLetter {
    /// Dead letters for records of source `def` meant for `target` (e.g. `kinesis://users`)
    /// go to `<lake>/_dead_letter/<target>/p_date=D/<ms>-<random>.jsonl`.
    pub fn new(lake: Lake, target: &str, def: &SourceDef) -> DeadLetter {
        DeadLetter {
            lake,
            target: shown_location(target).into_owned(),
            keeper: Keeper::new(def),
        }
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// Write the records with their reasons; returns the key written.
    pub async fn write(&self, records: &[(OutgoingRecord, String)]) -> Result<String, LakeError> {
        let now = firelake_core::stream::now_ms();
        let mut body = Vec::new();
        for (r, reason) in records {
            let origin = Origin::Publish {
                target: self.target.clone(),
                partition_key: r.partition_key.clone(),
                failed_at_ms: now,
            };
            self.keeper
                .keep("undelivered", reason, origin, Raw::Record(&r.data))
                .write_line(&mut body);
        }
        let key = format!(
            "_dead_letter/{}/p_date={}/{now}-{:08x}.jsonl",
            sanitize(&self.target),
            time::format_day(time::day_of_ms(now)),
            rand::random::<u32>()
        );
        self.lake.put_if_absent(&key, Bytes::from(body)).await?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dead_letters_are_kept_records_without_secrets() {
        let lake = Lake::from_url("memory://").unwrap();
        let def = SourceDef::resolve("users", None).unwrap();
        let dl = DeadLetter::new(
            lake.clone(),
            "kafka://b:9092/users?sasl.password=QZXJ",
            &def,
        );
        let rec = OutgoingRecord {
            partition_key: "u-1".into(),
            data: Bytes::from_static(br#"{"login":{"uuid":"u-1","password":"QZXJ-pw"}}"#),
        };
        let key = dl.write(&[(rec, "timed out".into())]).await.unwrap();
        assert!(
            key.starts_with("_dead_letter/kafka___b_9092_users/p_date="),
            "{key}"
        );
        let body = lake.get(&key).await.unwrap().unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("QZXJ"), "{text}");
        let kept = firelake_core::kept::KeptRecord::from_line(text.trim_end().as_bytes()).unwrap();
        assert_eq!(kept.kind, "undelivered");
        assert_eq!(kept.source, "users");
        assert_eq!(
            kept.origin,
            Origin::Publish {
                target: "kafka://b:9092/users".into(),
                partition_key: "u-1".into(),
                failed_at_ms: match kept.origin {
                    Origin::Publish { failed_at_ms, .. } => failed_at_ms,
                    _ => unreachable!(),
                },
            }
        );
        assert_eq!(
            kept.data.bytes().unwrap(),
            br#"{"login":{"uuid":"u-1","password":"<redacted>"}}"#
        );
    }
}
