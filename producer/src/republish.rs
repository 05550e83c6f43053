//! Dead letters re-published (`firelake republish`, docs/reprocess.md): the records a producer
//! kept under `_dead_letter/<target>/` sent to the target again, at least once and never twice
//! by a rerun (a journal beside each file), and never a record whose redacted values a column
//! would read: its real values are gone, so it would land `"<redacted>"` as if it were data.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use firelake_core::kept::{KeptRecord, Origin};
use firelake_core::layout::sanitize;
use firelake_core::redact::shown_location;
use firelake_core::reprocess::{REDACTED_VALUE, UNREADABLE_LINE, holds_marker};
use firelake_core::{Cleaner, Lake, LakeError, time};
use serde::{Deserialize, Serialize};

use crate::publish::{OutgoingRecord, PublishError, Publisher};

/// What a republish did with one dead-letter file, `<stem>.republished.json` beside it (not
/// `.jsonl`: it is no dead-letter file). Written after each publish: a stop before it sends
/// those records again (at least once; compaction dedupes by key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// 1-based lines sent to the target, or dead-lettered again (into `moved_to`).
    pub done: BTreeSet<u64>,
    /// The dead-letter files that got the lines the target refused again, with their reasons.
    #[serde(default)]
    pub moved_to: Vec<String>,
}

/// The journal of the dead-letter file `key`.
pub fn journal_key(key: &str) -> String {
    format!(
        "{}.republished.json",
        key.strip_suffix(".jsonl").unwrap_or(key)
    )
}

/// The folder of the dead letters meant for `target` (as `DeadLetter` names it).
pub fn folder(target: &str) -> String {
    format!("_dead_letter/{}/", sanitize(&shown_location(target)))
}

/// One dead-letter line: the record to send again, or why not (it stays where it is).
pub fn resend(cleaner: &Cleaner, line: &[u8], now_ms: i64) -> Result<OutgoingRecord, String> {
    let kept = KeptRecord::from_line(line).map_err(|_| UNREADABLE_LINE.to_string())?;
    let Origin::Publish { partition_key, .. } = kept.origin else {
        return Err(UNREADABLE_LINE.into());
    };
    let data = kept.data.bytes().ok_or(UNREADABLE_LINE)?;
    // Redacted values no column reads (the never_read ones) change no row; one a column would
    // read (a member named like a never_read key) would land the marker. A record that does
    // not clean is sent: the consumer rejects and keeps it, as the producer would have.
    if let Ok(row) = cleaner.clean(&data, now_ms)
        && holds_marker(&row)
    {
        return Err(REDACTED_VALUE.into());
    }
    Ok(OutgoingRecord {
        partition_key,
        data: Bytes::from(data),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RepublishError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(
        "republish journal {key} is unreadable ({source}): move it aside to send that file's records again"
    )]
    Journal {
        key: String,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// Counts of a republish.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub files: u64,
    pub read: u64,
    pub sent: u64,
    /// Sent or dead-lettered again by an earlier republish (in a journal).
    pub already: u64,
    /// Refused again by the target: dead letters again, in `moved_to`.
    pub failed: u64,
    pub first_reason: Option<String>,
    pub moved_to: Vec<String>,
    /// Not sent, by reason; they stay in their file.
    pub held: BTreeMap<String, u64>,
}

/// Sends a target's dead letters again through `publisher` (the producer's, whose own dead
/// letters take what the target refuses again).
pub struct Republisher {
    pub lake: Lake,
    pub target: String,
    pub cleaner: Cleaner,
    pub publisher: Arc<dyn Publisher>,
    /// Called with a file's key after its records are published, before its journal is
    /// written (a test build stops there to show that a rerun sends them again).
    pub after_publish: fn(&str),
}

impl Republisher {
    /// The target's dead-letter files of the days `from..=to`, sorted by key.
    pub async fn files(&self, (from, to): (i32, i32)) -> Result<Vec<String>, LakeError> {
        let prefix = folder(&self.target);
        let mut out = Vec::new();
        for obj in self.lake.list(&prefix).await? {
            let rest = &obj.key[prefix.len()..];
            let day = rest
                .split_once('/')
                .and_then(|(f, _)| f.strip_prefix("p_date="))
                .and_then(time::parse_day);
            if day.is_some_and(|d| (from..=to).contains(&d)) && obj.key.ends_with(".jsonl") {
                out.push(obj.key);
            }
        }
        out.sort();
        Ok(out)
    }

    async fn journal(&self, key: &str) -> Result<Journal, RepublishError> {
        let Some(bytes) = self.lake.get(key).await? else {
            return Ok(Journal::default());
        };
        serde_json::from_slice(&bytes).map_err(|source| RepublishError::Journal {
            key: key.into(),
            source,
        })
    }

    /// Send the lines of dead-letter file `key` not sent yet, then record them in its journal.
    pub async fn file(&self, key: &str, tally: &mut Tally) -> Result<(), RepublishError> {
        let Some(body) = self.lake.get(key).await? else {
            return Ok(());
        };
        let jkey = journal_key(key);
        let mut journal = self.journal(&jkey).await?;
        tally.files += 1;
        let now = firelake_core::stream::now_ms();
        let (mut lines, mut records) = (Vec::new(), Vec::new());
        let all = body.split(|b| *b == b'\n').filter(|l| !l.is_empty());
        for (i, line) in all.enumerate() {
            let n = i as u64 + 1;
            tally.read += 1;
            if journal.done.contains(&n) {
                tally.already += 1;
                continue;
            }
            match resend(&self.cleaner, line, now) {
                Ok(r) => {
                    lines.push(n);
                    records.push(r);
                }
                Err(kind) => *tally.held.entry(kind).or_default() += 1,
            }
        }
        if records.is_empty() {
            return Ok(());
        }
        let count = records.len() as u64;
        match self.publisher.publish(records).await {
            Ok(()) => tally.sent += count,
            Err(PublishError::Undelivered {
                count: failed,
                dead_letter,
                first_reason,
            }) => {
                tally.sent += count - failed as u64;
                tally.failed += failed as u64;
                if tally.first_reason.is_none() {
                    tally.first_reason = Some(first_reason);
                }
                journal.moved_to.push(dead_letter.clone());
                tally.moved_to.push(dead_letter);
            }
            Err(e) => return Err(e.into()),
        }
        (self.after_publish)(key);
        journal.done.extend(lines);
        let bytes = serde_json::to_vec(&journal).expect("a journal serializes");
        self.lake.put(&jkey, Bytes::from(bytes)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use firelake_core::SourceDef;
    use firelake_core::kept::Keeper;
    use firelake_core::redact::{MARKER, Raw};

    use super::*;

    fn dead_line(def: &SourceDef, raw: &[u8]) -> Vec<u8> {
        let origin = Origin::Publish {
            target: "kinesis://users".into(),
            partition_key: "k1".into(),
            failed_at_ms: 1,
        };
        let mut out = Vec::new();
        Keeper::new(def)
            .keep("undelivered", "timed out", origin, Raw::Record(raw))
            .write_line(&mut out);
        out
    }

    #[test]
    fn redacted_values_no_column_reads_are_sent_others_are_held() {
        let def = SourceDef::resolve("users", None).unwrap();
        let cleaner = Cleaner::new(Arc::new(def.clone()));
        let line = dead_line(&def, br#"{"login":{"uuid":"u1","password":"hunter2"}}"#);
        let r = resend(&cleaner, &line, 1_750_000_000_000).unwrap();
        assert_eq!(r.partition_key, "k1");
        let text = String::from_utf8(r.data.to_vec()).unwrap();
        assert!(text.contains(MARKER) && !text.contains("hunter2"), "{text}");
        // A column reading a redacted value: the record is held, not sent.
        let marked = dead_line(&def, br#"{"login":{"uuid":"u1"},"email":"<redacted>"}"#);
        assert_eq!(resend(&cleaner, &marked, 1).unwrap_err(), REDACTED_VALUE);
        assert_eq!(resend(&cleaner, b"{", 1).unwrap_err(), UNREADABLE_LINE);
        assert_eq!(
            journal_key("_dead_letter/t/p_date=2026-01-01/1-ab.jsonl"),
            "_dead_letter/t/p_date=2026-01-01/1-ab.republished.json"
        );
        assert_eq!(
            folder("kafka://b:9092/users?x=1"),
            "_dead_letter/kafka___b_9092_users/"
        );
    }
}
