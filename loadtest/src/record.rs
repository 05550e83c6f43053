//! The records a load test sends (pure): JSON objects of the built-in `loadtest` source
//! (`sources/loadtest.toml`) carrying the run id, a sequence number, the produce time in epoch
//! ms and a padding string that brings each record to the size asked for. A fixed share of
//! them is bad on purpose, so the run exercises the rejected path and its counts; which
//! sequence numbers are bad is a pure function of the number, so the expected counts are exact.

use firelake_core::layout::StableHash;

/// Which bad form a record takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    Good,
    /// Cut off mid-object: not one JSON text.
    Truncated,
    /// `seq` as a JSON string: the strict cleaner nulls it and, being required, rejects it.
    WrongType,
}

/// Makes the records of one run.
#[derive(Debug, Clone)]
pub struct RecordMaker {
    run: String,
    record_bytes: usize,
    /// Records whose hash falls under this (out of 2^32) are bad.
    bad_threshold: u64,
}

impl RecordMaker {
    /// `run` must be a plain identifier (letters, digits, `-`, `_`): it goes into JSON unescaped.
    pub fn new(run: &str, record_bytes: usize, bad_rate: f64) -> RecordMaker {
        assert!(
            run.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "run id {run:?} must be a plain identifier"
        );
        RecordMaker {
            run: run.to_string(),
            record_bytes,
            bad_threshold: (bad_rate.clamp(0.0, 1.0) * (1u64 << 32) as f64) as u64,
        }
    }

    pub fn run(&self) -> &str {
        &self.run
    }

    /// Whether record `seq` is made bad, and how.
    pub fn quality(&self, seq: u64) -> Quality {
        let h = StableHash::of(&seq.to_le_bytes());
        if (h >> 32) >= self.bad_threshold {
            Quality::Good
        } else if h & 1 == 0 {
            Quality::Truncated
        } else {
            Quality::WrongType
        }
    }

    /// The partition key of record `seq`: its dedupe key (run and seq), as producers use.
    pub fn partition_key(&self, seq: u64) -> String {
        format!("{}-{seq}", self.run)
    }

    /// Record `seq` made at `produced_at` (epoch ms), appended to `out`. Good records are
    /// exactly `record_bytes` long when that is more than the fields need.
    pub fn write(&self, seq: u64, produced_at: i64, out: &mut Vec<u8>) -> Quality {
        let quality = self.quality(seq);
        let start = out.len();
        let mut n = itoa::Buffer::new();
        out.extend_from_slice(b"{\"run\":\"");
        out.extend_from_slice(self.run.as_bytes());
        out.extend_from_slice(b"\",\"seq\":");
        if quality == Quality::WrongType {
            out.push(b'"');
            out.extend_from_slice(n.format(seq).as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(n.format(seq).as_bytes());
        }
        out.extend_from_slice(b",\"produced_at\":");
        out.extend_from_slice(n.format(produced_at).as_bytes());
        out.extend_from_slice(b",\"payload\":\"");
        const CLOSE: usize = 2; // `"}`
        let pad = self.record_bytes.saturating_sub(out.len() - start + CLOSE);
        padding(seq, pad, out);
        if quality == Quality::Truncated {
            return quality; // no closing quote nor brace
        }
        out.extend_from_slice(b"\"}");
        quality
    }
}

/// `len` letters and digits, different per record (so Parquet's compression does not make
/// the payload free), from a xorshift generator seeded by the sequence number.
fn padding(seq: u64, len: usize, out: &mut Vec<u8>) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut left = len;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut bits = x;
        for _ in 0..10.min(left) {
            out.push(ALPHABET[(bits & 63) as usize]);
            bits >>= 6;
        }
        left -= 10.min(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firelake_core::{Cleaner, SourceDef};
    use std::sync::Arc;

    fn cleaner() -> Cleaner {
        Cleaner::new(Arc::new(SourceDef::resolve("loadtest", None).unwrap()))
    }

    #[test]
    fn good_records_are_clean_and_sized() {
        let maker = RecordMaker::new("run-1", 300, 0.0);
        let c = cleaner();
        for seq in [0u64, 7, 123_456_789] {
            let mut out = Vec::new();
            assert_eq!(maker.write(seq, 1_750_000_000_123, &mut out), Quality::Good);
            assert_eq!(out.len(), 300);
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(v["seq"], seq);
            assert_eq!(v["produced_at"], 1_750_000_000_123i64);
            assert!(c.clean(&out, 1_750_000_000_200).is_ok());
        }
        // Records smaller than the fields need are as short as they can be, still valid.
        let mut out = Vec::new();
        RecordMaker::new("r", 10, 0.0).write(5, 1, &mut out);
        assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
    }

    #[test]
    fn bad_records_are_rejected_at_about_the_rate() {
        let maker = RecordMaker::new("r", 120, 0.05);
        let c = cleaner();
        let (mut bad, mut truncated, mut wrong) = (0, 0, 0);
        for seq in 0..20_000u64 {
            let mut out = Vec::new();
            let q = maker.write(seq, 1_750_000_000_000, &mut out);
            assert_eq!(q, maker.quality(seq), "quality is a function of seq");
            let cleaned = c.clean(&out, 1_750_000_000_000);
            assert_eq!(cleaned.is_err(), q != Quality::Good, "seq {seq} {q:?}");
            match q {
                Quality::Good => {}
                Quality::Truncated => truncated += 1,
                Quality::WrongType => wrong += 1,
            }
            bad += (q != Quality::Good) as u32;
        }
        assert!((800..1200).contains(&bad), "{bad} bad of 20000 at 5%");
        assert!(truncated > 300 && wrong > 300, "{truncated} {wrong}");
        let none = RecordMaker::new("r", 120, 0.0);
        assert!((0..10_000).all(|s| none.quality(s) == Quality::Good));
    }

    #[test]
    fn payloads_differ_between_records() {
        let maker = RecordMaker::new("r", 200, 0.0);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        maker.write(1, 0, &mut a);
        maker.write(2, 0, &mut b);
        assert_ne!(a[60..], b[60..]);
    }
}
