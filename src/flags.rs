//! Bounds of the numeric flags. A value outside them is a usage error (clap's one line naming
//! the flag, exit code 2), never a panic, a wrapped size or an allocation abort later on. The
//! README's "Limits of the flags" lists them.

// Some bounds belong to subcommands a build can leave out (cargo features, Cargo.toml).
#![cfg_attr(
    not(all(
        feature = "compact",
        feature = "loadtest",
        feature = "kinesis",
        feature = "kafka",
        feature = "sqs"
    )),
    allow(dead_code, unused_imports)
)]

pub use firelake_core::duration::parse_duration;

use clap::builder::{RangedI64ValueParser, RangedU64ValueParser};

/// Records a shard buffers before a flush (`--flush-records`).
pub const MAX_FLUSH_RECORDS: u64 = 100_000_000;
/// MiB a shard buffers before a flush (`--flush-mb`): 16 GiB.
pub const MAX_FLUSH_MB: u64 = 16 << 10;
/// Shards of an embedded or created stream, cleaning threads, calls in flight.
pub const MAX_PARALLEL: u64 = 1024;
/// Records one producer tick makes or publishes (`--per-tick`, `--sample-records`).
pub const MAX_TICK_RECORDS: u64 = 1_000_000;
/// Records per GetRecords call: Kinesis's own limit.
pub const MAX_READ_BATCH: u64 = 10_000;
/// A load-test record: Kinesis's 1 MiB record limit.
pub const MAX_RECORD_BYTES: u64 = 1 << 20;
/// A ramp step's rate factor.
pub const MAX_RAMP_FACTOR: f64 = 100.0;

/// A count flag of type `T` in `lo..=hi`.
pub fn count<T: TryFrom<u64>>(lo: u64, hi: u64) -> RangedU64ValueParser<T> {
    RangedU64ValueParser::from(lo..=hi)
}

/// `--target-mb` of `firelake compact`: the compactor's range of output file sizes.
#[cfg(feature = "compact")]
pub fn target_mb() -> RangedU64ValueParser<u64> {
    RangedU64ValueParser::from(firelake_compactor::plan::TARGET_MB_RANGE)
}

/// `--zstd-level` of `firelake compact`: the compactor's range of zstd levels.
#[cfg(feature = "compact")]
pub fn zstd_level() -> RangedI64ValueParser<i32> {
    let r = firelake_compactor::ZSTD_LEVEL_RANGE;
    RangedI64ValueParser::from(i64::from(*r.start())..=i64::from(*r.end()))
}

/// A share of records, 0 to 1 (`--bad-rate`).
pub fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a share from 0 to 1 (e.g. 0.03)")),
    }
}

/// A ramp factor above 1, at most [`MAX_RAMP_FACTOR`].
pub fn ramp_factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 1.0 && v <= MAX_RAMP_FACTOR => Ok(v),
        _ => Err(format!(
            "{s:?} is not a factor above 1 and at most {MAX_RAMP_FACTOR} (e.g. 1.5)"
        )),
    }
}

/// Memory for the compactor's dedupe pass in MiB (`--dedupe-memory-mb`): at least 1, at most
/// this machine's memory (the pass reserves its budget up front).
pub fn memory_mb(s: &str) -> Result<u64, String> {
    let max = physical_memory_mb();
    match s.parse::<u64>() {
        Ok(v) if (1..=max).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?} is not a size in MiB from 1 to {max} (this machine's memory)"
        )),
    }
}

/// This machine's memory in MiB (1 TiB when it cannot be told).
fn physical_memory_mb() -> u64 {
    // SAFETY: sysconf only reads system configuration values.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages <= 0 || page <= 0 {
        return 1 << 20;
    }
    (pages as u64).saturating_mul(page as u64) >> 20
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_factors_and_memory_are_bounded() {
        assert_eq!(fraction("0.03"), Ok(0.03));
        for bad in ["NaN", "-0.1", "1.5", "inf", "x"] {
            assert!(fraction(bad).is_err(), "{bad}");
        }
        assert_eq!(ramp_factor("1.5"), Ok(1.5));
        for bad in ["1", "NaN", "inf", "101", "0.5"] {
            assert!(ramp_factor(bad).is_err(), "{bad}");
        }
        assert_eq!(memory_mb("32"), Ok(32));
        assert!(memory_mb("0").is_err());
        assert!(memory_mb("99999999999999").is_err());
    }
}
