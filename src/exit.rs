//! The process's exit codes, in one place (the table in docs/operations.md), and the errors
//! that choose a code other than plain failure.

use std::process::ExitCode;

/// What the process's exit status says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done; everything read is in the lake (or its rejected records).
    Success = 0,
    /// Failed: the error line says what and what to do.
    Failure = 1,
    /// Bad flags or arguments (clap exits with this before anything runs).
    Usage = 2,
    /// Finished and kept everything, but rejected more than --max-reject-rate of what it read.
    OverRejectThreshold = 3,
    /// Stopped by a second SIGINT/SIGTERM, or a drain over --shutdown-timeout: what was not
    /// durable is read again by the next run. (A drain that finishes exits 0.)
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// The default share of rejected records above which a run exits with
/// [`Exit::OverRejectThreshold`]: half. Real upstreams reject a few percent at worst; when
/// half of the input fails its rules, the input is the wrong file, format or source
/// definition, which a scheduler should show as red. A run that rejects everything always
/// fails, whatever the flag.
pub const DEFAULT_MAX_REJECT_RATE: f64 = 0.5;

/// `--max-reject-rate`, shared by the commands that clean records.
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct RejectArgs {
    /// Exit with code 3 (after keeping everything) when more than this share of the records
    /// read is rejected; a run that rejects every record always does.
    #[arg(long, env = "FIRELAKE_MAX_REJECT_RATE", default_value_t = DEFAULT_MAX_REJECT_RATE,
          value_parser = crate::flags::fraction)]
    pub max_reject_rate: f64,
}

impl RejectArgs {
    pub fn check(
        &self,
        rejected: u64,
        read: u64,
        kept: impl Into<String>,
    ) -> Result<(), OverRejectThreshold> {
        check_reject_rate(rejected, read, self.max_reject_rate, kept)
    }
}

/// A run that finished (its rejected records kept) but rejected too much.
#[derive(Debug)]
pub struct OverRejectThreshold {
    pub rejected: u64,
    pub read: u64,
    pub max: f64,
    /// Where the rejected records are.
    pub kept: String,
}

impl std::fmt::Display for OverRejectThreshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} records rejected ({:.1}%), over --max-reject-rate {}; they are kept ({}): check the input's format and the source definition, or raise --max-reject-rate",
            self.rejected,
            self.read,
            100.0 * self.rejected as f64 / self.read as f64,
            self.max,
            self.kept
        )
    }
}

impl std::error::Error for OverRejectThreshold {}

/// An error when `rejected` of `read` is over `max` (a share, 0..=1), or is everything.
pub fn check_reject_rate(
    rejected: u64,
    read: u64,
    max: f64,
    kept: impl Into<String>,
) -> Result<(), OverRejectThreshold> {
    let over = read > 0 && (rejected >= read || rejected as f64 > max * read as f64);
    if !over {
        return Ok(());
    }
    Err(OverRejectThreshold {
        rejected,
        read,
        max,
        kept: kept.into(),
    })
}

/// The exit code for an error that ended the run.
pub fn code_for(e: &(dyn std::error::Error + 'static)) -> Exit {
    if e.downcast_ref::<OverRejectThreshold>().is_some() {
        Exit::OverRejectThreshold
    } else if e
        .downcast_ref::<crate::pipeline_file::FileError>()
        .is_some()
    {
        Exit::Usage
    } else {
        Exit::Failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_rejected_is_always_over() {
        assert!(check_reject_rate(10, 10, 1.0, "x").is_err());
        assert!(check_reject_rate(6, 10, 0.5, "x").is_err());
        assert!(check_reject_rate(5, 10, 0.5, "x").is_ok());
        assert!(check_reject_rate(0, 0, 0.0, "x").is_ok());
        assert!(check_reject_rate(0, 10, 0.0, "x").is_ok());
    }
}
