//! The one shape of a raw record kept outside the tables, for every path that keeps one
//! (DESIGN.md decision 6): the stream-consumer's rejected records (`<table>/_rejected/`), the
//! producer's dead letters (`_dead_letter/`) and the rejects files of `firelake replay` and
//! `firelake convert` (the Firehose Lambda's `ProcessingFailed` answers carry the record alone,
//! redacted the same way: Firehose keeps its error output itself). One JSON object per record
//! (a line of a `.jsonl` file):
//!
//! `{"source", "kind", "reason", <origin fields>, "data" | "data_base64", "redacted"}`
//!
//! - `kind`: a short machine-friendly word (the cleaner's rejection kind, `undelivered`...);
//! - origin fields: where the record came from, by path: a stream position (`origin`,
//!   `shard`, `position`, `arrival_ms`), a publish target (`target`, `partition_key`,
//!   `failed_at_ms`) or an input file (`file`, `line` or `row`, `published`);
//! - `data` when the kept bytes are UTF-8 text, else `data_base64`;
//! - `redacted`: the `never_read` pointers whose values were replaced by `"<redacted>"`
//!   (the reason then says so).
//!
//! A record is only ever built by [`Keeper::keep`], which redacts first.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::clean::CleanRow;
use crate::redact::{Method, Raw, Redactor};
use crate::source::SourceDef;

/// Where a kept record came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Origin {
    /// Read from a stream's shard or partition (the stream-consumer).
    Stream {
        /// The stream, e.g. `kinesis.users`, `kafka.users`, `embedded`.
        origin: String,
        shard: String,
        /// Sequence number or offset.
        position: String,
        arrival_ms: i64,
    },
    /// Meant for a broker and not delivered by the deadline (the producer's dead letters).
    Publish {
        /// Shown without its query.
        target: String,
        partition_key: String,
        failed_at_ms: i64,
    },
    /// A row of an input file (replay, convert).
    File {
        file: String,
        /// Line number (CSV, JSON lines).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u64>,
        /// 1-based row number (Parquet).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        row: Option<u64>,
        /// Whether the record also went to the stream (replay).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        published: Option<bool>,
    },
}

/// The kept bytes: text when they are UTF-8, base64 otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeptData {
    Text { data: String },
    Binary { data_base64: String },
}

impl KeptData {
    pub fn of(bytes: &[u8]) -> KeptData {
        match std::str::from_utf8(bytes) {
            Ok(text) => KeptData::Text {
                data: text.to_string(),
            },
            Err(_) => KeptData::Binary {
                data_base64: BASE64.encode(bytes),
            },
        }
    }

    /// The kept bytes of a kept record read as JSON (`data` or `data_base64`).
    pub fn bytes_of(record: &serde_json::Value) -> Option<Vec<u8>> {
        serde_json::from_value::<KeptData>(record.clone())
            .ok()?
            .bytes()
    }

    /// The kept bytes (`None` if `data_base64` is not base64).
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            KeptData::Text { data } => Some(data.as_bytes().to_vec()),
            KeptData::Binary { data_base64 } => BASE64.decode(data_base64).ok(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptRecord {
    /// The source definition the record was read as.
    pub source: String,
    pub kind: String,
    pub reason: String,
    #[serde(flatten)]
    pub origin: Origin,
    #[serde(flatten)]
    pub data: KeptData,
    #[serde(default)]
    pub redacted: Vec<String>,
    /// For a value the cleaner nulled (the `_nulled/` side files): which column, its original.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub nulled: Option<NulledValue>,
}

/// The value a rule nulled in a kept record of the `_nulled/` side files; `kind` is the
/// [`crate::clean::NullReason`] and `data` the whole record (redacted), so it can be replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NulledValue {
    pub column: String,
    /// The value's JSON text as it arrived.
    pub original: String,
    /// The record's dedupe key, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl KeptRecord {
    /// One JSON line (with its `\n`) appended to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(&mut *out, self).expect("JSON to memory");
        out.push(b'\n');
    }

    /// Parse one line of a kept-records file.
    pub fn from_line(line: &[u8]) -> Result<KeptRecord, serde_json::Error> {
        serde_json::from_slice(line)
    }
}

/// Builds the kept records of one source: every raw record goes through its `never_read`
/// redaction here, before it can be written anywhere.
#[derive(Debug, Clone)]
pub struct Keeper {
    source: String,
    columns: Vec<String>,
    redactor: Redactor,
}

impl Keeper {
    pub fn new(def: &SourceDef) -> Keeper {
        Keeper {
            source: def.name.clone(),
            columns: def.columns.iter().map(|c| c.name.clone()).collect(),
            redactor: Redactor::new(&def.never_read),
        }
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The kept form of `raw`: never-read values replaced, the reason saying so.
    pub fn keep(&self, kind: &str, reason: &str, origin: Origin, raw: Raw<'_>) -> KeptRecord {
        let redacted = self.redactor.redact(raw);
        let reason = match redacted.method {
            Method::None => reason.to_string(),
            m => format!("{reason} (never_read values redacted: {})", m.describe()),
        };
        KeptRecord {
            source: self.source.clone(),
            kind: kind.to_string(),
            reason,
            origin,
            data: KeptData::of(&redacted.bytes),
            redacted: redacted.pointers,
            nulled: None,
        }
    }

    /// One kept line per value `row` had nulled (the record redacted once), appended to
    /// `out`; returns how many. Costs nothing for a row with no nulled value.
    pub fn keep_nulled(
        &self,
        row: &CleanRow<'_>,
        key: Option<String>,
        origin: Origin,
        raw: &[u8],
        out: &mut Vec<u8>,
    ) -> usize {
        let Some(first) = row.nulled.first() else {
            return 0;
        };
        let mut kept = self.keep(first.reason.kind(), "", origin, Raw::Record(raw));
        let redaction = kept.reason.clone();
        for n in &row.nulled {
            let column = self.columns.get(n.column).cloned().unwrap_or_default();
            kept.kind = n.reason.kind().to_string();
            kept.reason = format!("column {column}: {}{redaction}", n.reason.describe());
            kept.nulled = Some(NulledValue {
                column,
                original: n.original.to_string(),
                key: key.clone(),
            });
            kept.write_line(out);
        }
        row.nulled.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keeper() -> Keeper {
        Keeper::new(&SourceDef::resolve("users", None).unwrap())
    }

    #[test]
    fn every_origin_round_trips_through_one_json_line() {
        let origins = [
            Origin::Stream {
                origin: "kinesis.users".into(),
                shard: "shardId-0".into(),
                position: "4961".into(),
                arrival_ms: 1_700_000_000_000,
            },
            Origin::Publish {
                target: "kafka://b:9092/users".into(),
                partition_key: "u-1".into(),
                failed_at_ms: 5,
            },
            Origin::File {
                file: "/in/a.csv".into(),
                line: Some(3),
                row: None,
                published: Some(false),
            },
            Origin::File {
                file: "/in/a.parquet".into(),
                line: None,
                row: Some(9),
                published: None,
            },
        ];
        for origin in origins {
            for raw in [
                &br#"{"login":{"password":"QZXJ"}}"#[..],
                b"\xff{\"salt\":\"QZXJ\"",
            ] {
                let kept = keeper().keep("invalid_json", "bad", origin.clone(), Raw::Record(raw));
                let mut line = Vec::new();
                kept.write_line(&mut line);
                assert_eq!(line.last(), Some(&b'\n'));
                assert!(!line.windows(4).any(|w| w == b"QZXJ"));
                let back = KeptRecord::from_line(&line).unwrap();
                assert_eq!(back, kept);
            }
        }
    }

    #[test]
    fn the_line_has_the_documented_fields() {
        let kept = keeper().keep(
            "missing_required",
            "required field /login/uuid is missing",
            Origin::Stream {
                origin: "kafka.users".into(),
                shard: "0".into(),
                position: "17".into(),
                arrival_ms: 1,
            },
            Raw::Record(br#"{"login":{"password":"QZXJ","md5":"QZXJ2"},"n":1}"#),
        );
        let v: serde_json::Value = serde_json::to_value(&kept).unwrap();
        assert_eq!(v["source"], "users");
        assert_eq!(v["kind"], "missing_required");
        assert_eq!(
            v["reason"],
            "required field /login/uuid is missing (never_read values redacted: by JSON pointer)"
        );
        assert_eq!(v["origin"], "kafka.users");
        assert_eq!(v["position"], "17");
        assert_eq!(
            v["data"],
            r#"{"login":{"password":"<redacted>","md5":"<redacted>"},"n":1}"#
        );
        assert_eq!(
            v["redacted"],
            serde_json::json!(["/login/password", "/login/md5"])
        );
        assert!(v.get("data_base64").is_none());
        // Not UTF-8: base64, and nothing to redact leaves the reason as it was.
        let kept = keeper().keep(
            "invalid_utf8",
            "invalid UTF-8 at byte 0",
            Origin::File {
                file: "in.jsonl".into(),
                line: Some(1),
                row: None,
                published: None,
            },
            Raw::Record(b"\xff"),
        );
        let v: serde_json::Value = serde_json::to_value(&kept).unwrap();
        assert_eq!(v["data_base64"], "/w==");
        assert_eq!(v["reason"], "invalid UTF-8 at byte 0");
        assert_eq!(v["redacted"], serde_json::json!([]));
        assert_eq!(kept.data.bytes().unwrap(), b"\xff");
    }
}
