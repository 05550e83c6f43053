//! `--date D | --since D [--until D] | --all`: the days of kept records a command works on
//! (`reprocess`, `republish`), one definition for both.

use clap::Args;
use firelake_core::time;

#[derive(Args, Clone, Debug)]
pub struct DayRangeArgs {
    /// Only this day (YYYY-MM-DD; the day the records were kept).
    #[arg(long, env = "FIRELAKE_DATE", conflicts_with_all = ["since", "until", "all"])]
    date: Option<String>,
    /// The days from this one (YYYY-MM-DD) on.
    #[arg(long, env = "FIRELAKE_SINCE", conflicts_with = "all")]
    since: Option<String>,
    /// The days up to this one (YYYY-MM-DD), inclusive.
    #[arg(long, env = "FIRELAKE_UNTIL", conflicts_with = "all")]
    until: Option<String>,
    /// Every day (the same as naming none).
    #[arg(long, env = "FIRELAKE_ALL")]
    all: bool,
}

impl DayRangeArgs {
    /// The days selected: an inclusive range of days since 1970-01-01.
    pub fn range(&self) -> Result<(i32, i32), String> {
        let day = |flag: &str, s: &Option<String>, default: i32| match s {
            None => Ok(default),
            Some(s) => time::parse_day(s).ok_or(format!("{flag}: expected YYYY-MM-DD, got {s:?}")),
        };
        if self.date.is_some() {
            let d = day("--date", &self.date, 0)?;
            return Ok((d, d));
        }
        Ok((
            day("--since", &self.since, i32::MIN)?,
            day("--until", &self.until, i32::MAX)?,
        ))
    }
}
