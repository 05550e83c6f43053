//! The dead-letter location: records a publisher could not deliver by its deadline are written
//! to the lake with the reason, so nothing is ever dropped, and an operator can replay them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use firelake_core::layout::sanitize;
use firelake_core::{Lake, LakeError, time};

use crate::publish::OutgoingRecord;

#[derive(Clone)]
pub struct DeadLetter {
    lake: Lake,
    target: String,
}

impl DeadLetter {
    /// Dead letters for records meant for `target` (e.g. `kinesis://users`) go to
    /// `<lake>/_dead_letter/<target>/p_date=D/<ms>-<random>.jsonl`.
    pub fn new(lake: Lake, target: &str) -> DeadLetter {
        // Without a URL's query: it may hold credentials (kafka://...?sasl.password=...).
        let target = target.split_once('?').map_or(target, |(t, _)| t);
        DeadLetter {
            lake,
            target: sanitize(target),
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
            let line = serde_json::json!({
                "reason": reason,
                "target": self.target,
                "partition_key": r.partition_key,
                "failed_at_ms": now,
                "data_base64": BASE64.encode(&r.data),
            });
            serde_json::to_writer(&mut body, &line).expect("JSON to memory");
            body.push(b'\n');
        }
        let key = format!(
            "_dead_letter/{}/p_date={}/{now}-{:08x}.jsonl",
            self.target,
            time::format_day(time::day_of_ms(now)),
            rand::random::<u32>()
        );
        self.lake.put_if_absent(&key, Bytes::from(body)).await?;
        Ok(key)
    }
}
