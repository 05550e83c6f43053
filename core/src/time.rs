//! Calendar arithmetic on epoch milliseconds and days, and the strict ISO-8601 parser of the
//! cleaning rules. Hand-written because the rules are exact (reject leap seconds, truncate
//! sub-millisecond digits, years 0001-9999) and this runs once per timestamp field per record.

pub const MS_PER_DAY: i64 = 86_400_000;

/// The one range of instants every timestamp form must fall in, in UTC: years 0001 to 9999
/// (what ISO-8601's four-digit years, Athena/Hive dates and Python's `datetime` can all name).
/// An `epoch_ms` value or an offset ISO-8601 string outside it is out of range, never a
/// wrapped day: `0001-01-01T00:00:00.000Z`.
pub const MIN_MS: i64 = -62_135_596_800_000;
/// `9999-12-31T23:59:59.999Z`.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// Whether an instant is inside [`MIN_MS`]..=[`MAX_MS`].
pub fn in_range(ms: i64) -> bool {
    (MIN_MS..=MAX_MS).contains(&ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        _ => 28,
    }
}

/// The UTC day (days since epoch) of an instant in ms, flooring towards the past. Instants
/// outside [`MIN_MS`]..=[`MAX_MS`] are clamped to it (callers check [`in_range`] first where a
/// value can be out of range; the clamp only keeps the day from ever wrapping).
pub fn day_of_ms(ms: i64) -> i32 {
    ms.clamp(MIN_MS, MAX_MS).div_euclid(MS_PER_DAY) as i32
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i32) -> String {
    let mut s = String::with_capacity(10);
    push_day(day, &mut s);
    s
}

/// Digits written by hand: `format!` padding was a visible cost in the per-record paths.
fn push_digits(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    let v = v.unsigned_abs();
    let mut buf = [b'0'; 20];
    let mut n = v;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(buf.len().saturating_sub(width));
    out.push_str(std::str::from_utf8(&buf[start..]).expect("ASCII digits"));
}

fn push_civil(out: &mut String, day: i64) {
    let (y, m, d) = civil_from_days(day);
    push_digits(out, y, 4);
    out.push('-');
    push_digits(out, m as i64, 2);
    out.push('-');
    push_digits(out, d as i64, 2);
}

/// Append `YYYY-MM-DD` of a day number.
pub fn push_day(day: i32, out: &mut String) {
    push_civil(out, day as i64);
}

/// Parse `YYYY-MM-DD` into a day number.
pub fn parse_day(s: &str) -> Option<i32> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits(&b[0..4])? as i64;
    let m = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    if y < 1 || !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d) as i32)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of an instant in ms (what Firehose's OpenX JSON SerDe reads).
pub fn format_ms(ms: i64, out: &mut String) {
    use std::fmt::Write;
    let day = ms.div_euclid(MS_PER_DAY);
    let rem = ms.rem_euclid(MS_PER_DAY);
    let (y, mo, d) = civil_from_days(day);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    let _ = write!(
        out,
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z"
    );
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Strict `YYYY-MM-DDTHH:MM:SS(.F{1,9})?(Z|+HH:MM|-HH:MM)` -> UTC epoch ms, fraction digits
/// after the third dropped (truncation toward the past). Anything else is `None`: impossible
/// dates, hour 24, leap seconds, offsets beyond 23:59, lower-case `t`/`z`, year 0000.
/// The offset can move the instant out of [`MIN_MS`]..=[`MAX_MS`]
/// (`0001-01-01T00:00:00+01:00`): check [`in_range`].
pub fn parse_iso8601_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let y = digits(&b[0..4])? as i64;
    let mo = digits(&b[5..7])?;
    let d = digits(&b[8..10])?;
    let h = digits(&b[11..13])? as i64;
    let mi = digits(&b[14..16])? as i64;
    let sec = digits(&b[17..19])? as i64;
    // Year 0 is not a date for the reference (Python's datetime starts at year 1).
    if y < 1 || !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut milli = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let n = end - start;
        if n == 0 || n > 9 {
            return None;
        }
        for k in 0..3 {
            milli = milli * 10
                + if k < n {
                    (b[start + k] - b'0') as i64
                } else {
                    0
                };
        }
        i = end;
    }
    let offset_ms = match &b[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let oh = digits(&[*oh1, *oh2])? as i64;
            let om = digits(&[*om1, *om2])? as i64;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = (oh * 60 + om) * 60_000;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + milli - offset_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        for day in [-719_162i64, -1, 0, 1, 10_957, 20_240, 2_932_896] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2025, 6, 1), 20_240);
    }

    #[test]
    fn parses_reference_form() {
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_iso8601_ms("1982-10-16T14:05:53.220Z"),
            Some(403_625_153_220)
        );
    }

    #[test]
    fn fraction_truncates_and_offsets_apply() {
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:00.9999Z"), Some(999));
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:00.5Z"), Some(500));
        assert_eq!(
            parse_iso8601_ms("1970-01-01T00:00:00.123456789Z"),
            Some(123)
        );
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:00.1234567891Z"), None);
        assert_eq!(parse_iso8601_ms("1970-01-01T05:30:00+05:30"), Some(0));
        assert_eq!(parse_iso8601_ms("1969-12-31T23:00:00-01:00"), Some(0));
        // Truncation toward the past also before 1970.
        assert_eq!(parse_iso8601_ms("1969-12-31T23:59:59.9999Z"), Some(-1));
    }

    #[test]
    fn rejects_what_the_rule_rejects() {
        for s in [
            "2021-02-29T00:00:00Z",
            "2021-04-31T00:00:00Z",
            "2021-01-01T24:00:00Z",
            "2021-01-01T23:60:00Z",
            "2016-12-31T23:59:60Z",
            "2021-01-01t00:00:00Z",
            "2021-01-01T00:00:00z",
            "2021-01-01T00:00:00",
            "2021-01-01T00:00:00.Z",
            "2021-01-01T00:00:00+24:00",
            "2021-01-01T00:00:00+05:60",
            "2021-01-01T00:00:00+0530",
            "0000-01-01T00:00:00Z",
            "2021-1-01T00:00:00Z",
            " 2021-01-01T00:00:00Z",
            "2021-01-01T00:00:00Z ",
            "２０２１-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_iso8601_ms(s), None, "{s}");
        }
        assert!(parse_iso8601_ms("2020-02-29T00:00:00Z").is_some());
        assert!(parse_iso8601_ms("2000-02-29T00:00:00Z").is_some());
        assert!(parse_iso8601_ms("1900-02-29T00:00:00Z").is_none());
    }

    #[test]
    fn the_range_is_years_0001_to_9999_and_days_never_wrap() {
        assert_eq!(parse_iso8601_ms("0001-01-01T00:00:00.000Z"), Some(MIN_MS));
        assert_eq!(parse_iso8601_ms("9999-12-31T23:59:59.999Z"), Some(MAX_MS));
        assert!(in_range(MIN_MS) && in_range(MAX_MS) && in_range(0));
        assert!(!in_range(MIN_MS - 1) && !in_range(MAX_MS + 1));
        // Offsets can leave the range: the caller checks.
        let early = parse_iso8601_ms("0001-01-01T00:00:00+00:01").unwrap();
        assert!(!in_range(early));
        assert_eq!(format_day(day_of_ms(MIN_MS)), "0001-01-01");
        assert_eq!(format_day(day_of_ms(MAX_MS)), "9999-12-31");
        // Before the clamp, the first two were the days 56135-02-26 and -1701532-04-06.
        for ms in [
            1_709_287_200_500_000,
            i64::MAX,
            i64::MIN,
            -53_746_553_323_000_000,
        ] {
            let day = format_day(day_of_ms(ms));
            assert!(day == "9999-12-31" || day == "0001-01-01", "{ms}: {day}");
        }
    }

    #[test]
    fn formats_ms() {
        let mut s = String::new();
        format_ms(403_625_153_220, &mut s);
        assert_eq!(s, "1982-10-16T14:05:53.220Z");
        s.clear();
        format_ms(-1, &mut s);
        assert_eq!(s, "1969-12-31T23:59:59.999Z");
        assert_eq!(format_day(day_of_ms(-1)), "1969-12-31");
        assert_eq!(parse_day("2025-06-01"), Some(20_240));
        assert_eq!(parse_day("2025-02-30"), None);
    }
}
