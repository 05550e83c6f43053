//! Durations as every flag and environment variable spells them (`60s`, `500ms`, `5m`, `2h`),
//! one parser for the CLI and the Lambdas so a setting means the same in both.

use std::time::Duration;

/// The longest duration a flag takes: 365 days (instants plus it stay far from overflow).
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// `60s`, `500ms`, `5m`, `2h` (a bare number is seconds), at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| s.split_at(i));
    let v: f64 = num
        .parse()
        .map_err(|_| format!("not a duration: {s:?} (e.g. 60s, 500ms, 5m)"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("unknown unit in {s:?}: use ms, s, m or h")),
    };
    if !(0.0..=MAX_DURATION.as_secs_f64()).contains(&secs) {
        return Err(format!(
            "{s:?} is longer than the {}h (365 days) a duration may be",
            MAX_DURATION.as_secs() / 3600
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_within_the_cap() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("8760h"), Ok(MAX_DURATION));
        for bad in [
            "8761h",
            "99999999999999999999s",
            "1e30s",
            "-1s",
            "",
            "5d",
            ".",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
