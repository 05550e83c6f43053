//! One test per rule of TRANSFORM.md and per kind of bad input.

use super::*;

const ARRIVAL: i64 = 1_748_779_200_000; // 2025-06-01T12:00:00Z

fn users() -> Cleaner {
    Cleaner::new(Arc::new(SourceDef::resolve("users", None).unwrap()))
}

/// A good randomuser record (v1.4 shape) with `patch` applied as JSON-pointer -> raw JSON.
fn record(patch: &[(&str, Option<&str>)]) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_str(GOOD).unwrap();
    for (ptr, val) in patch {
        let (parent, key) = ptr.rsplit_once('/').unwrap();
        let obj = if parent.is_empty() {
            &mut v
        } else {
            v.pointer_mut(parent).unwrap()
        };
        let map = obj.as_object_mut().unwrap();
        match val {
            Some(raw) => {
                map.insert(key.into(), serde_json::from_str(raw).unwrap());
            }
            None => {
                map.remove(key);
            }
        }
    }
    serde_json::to_vec(&v).unwrap()
}

const GOOD: &str = r#"{"gender":"female","name":{"title":"Ms","first":"Ana","last":"Ruiz"},"location":{"street":{"number":1354,"name":"Calle Mayor"},"city":"Madrid","state":"Madrid","country":"Spain","postcode":28013,"coordinates":{"latitude":"-14.6781","longitude":"120.5"},"timezone":{"offset":"+5:30","description":"Bombay"}},"email":"ana.ruiz@example.com","login":{"uuid":"7a0eed16-9430-4d68-901f-c0d4c1c3bf22","username":"bigfish","password":"hunter2","salt":"s","md5":"m","sha1":"h","sha256":"x"},"dob":{"date":"1982-10-16T14:05:53.220Z","age":42},"registered":{"date":"2010-01-01T00:00:00.000Z","age":15},"phone":"912-345-678","cell":"612-345-678","id":{"name":"DNI","value":"1"},"picture":{"large":"https://example.com/l.jpg","medium":"m","thumbnail":"t"},"nat":"ES"}"#;

fn col(c: &Cleaner, row: &CleanRow<'_>, name: &str) -> CleanValue<'static> {
    let i = c.source().column_index(name).unwrap();
    match &row.values[i] {
        CleanValue::Str(s) => CleanValue::Str(Cow::Owned(s.to_string())),
        CleanValue::Null => CleanValue::Null,
        CleanValue::I32(v) => CleanValue::I32(*v),
        CleanValue::I64(v) => CleanValue::I64(*v),
        CleanValue::F64(v) => CleanValue::F64(*v),
        CleanValue::Bool(v) => CleanValue::Bool(*v),
        CleanValue::TimestampMs(v) => CleanValue::TimestampMs(*v),
    }
}

fn s(v: &str) -> CleanValue<'static> {
    CleanValue::Str(Cow::Owned(v.to_string()))
}

/// Clean a patched good record and return one column.
fn cell(patch: &[(&str, Option<&str>)], name: &str) -> CleanValue<'static> {
    let c = users();
    let raw = record(patch);
    let row = c.clean(&raw, ARRIVAL).expect("record should be kept");
    col(&c, &row, name)
}

#[test]
fn good_record_gives_every_column() {
    let c = users();
    let raw = record(&[]);
    let row = c.clean(&raw, ARRIVAL).unwrap();
    assert_eq!(row.values.len(), 24);
    assert_eq!(
        col(&c, &row, "user_id"),
        s("7a0eed16-9430-4d68-901f-c0d4c1c3bf22")
    );
    assert_eq!(
        col(&c, &row, "date_of_birth"),
        CleanValue::TimestampMs(403_625_153_220)
    );
    assert_eq!(
        col(&c, &row, "registered_at"),
        CleanValue::TimestampMs(1_262_304_000_000)
    );
    assert_eq!(col(&c, &row, "age"), CleanValue::I32(42));
    assert_eq!(col(&c, &row, "street_number"), CleanValue::I32(1354));
    assert_eq!(col(&c, &row, "postcode"), s("28013"));
    assert_eq!(col(&c, &row, "latitude"), CleanValue::F64(-14.6781));
    assert_eq!(col(&c, &row, "longitude"), CleanValue::F64(120.5));
    assert_eq!(col(&c, &row, "tz_offset"), s("+5:30"));
    assert_eq!(col(&c, &row, "nationality"), s("ES"));
    assert_eq!(col(&c, &row, "picture_url"), s("https://example.com/l.jpg"));
    assert_eq!(
        col(&c, &row, "ingested_at"),
        CleanValue::TimestampMs(ARRIVAL)
    );
    assert_eq!(row.p_date, 20_240);
}

// ---------------------------------------------------------------- rejections

#[test]
fn invalid_utf8_kinds_are_rejected() {
    let c = users();
    let good = record(&[]);
    let at = good.windows(6).position(|w| w == b"Madrid").unwrap() + 2;
    for bad in [
        &b"\xff"[..],
        b"\xc3\x28",
        b"\xed\xa0\x80",
        b"\xe2\x82",
        b"\xc0\xaf",
        b"\xfe\xfe",
    ] {
        let mut raw = good.clone();
        raw.splice(at..at, bad.iter().copied());
        let r = c.clean(&raw, ARRIVAL).unwrap_err();
        assert_eq!(r.kind(), "invalid_utf8", "{bad:?}");
        assert_eq!(r, Rejection::InvalidUtf8 { offset: at });
    }
}

#[test]
fn truncated_and_invalid_json_is_rejected() {
    let c = users();
    let good = record(&[]);
    for cut in [1, 10, good.len() / 2, good.len() - 1] {
        let r = c.clean(&good[..cut], ARRIVAL).unwrap_err();
        assert_eq!(r.kind(), "invalid_json", "cut at {cut}");
    }
    for bad in [
        &b""[..],
        b"   ",
        b"{\"login\":{\"uuid\":\"a\"}} x",
        b"{\"login\":{\"uuid\":\"a\"}}{}",
        b"{\"login\":{\"uuid\":\"a\"},\"x\":NaN}",
        b"{\"login\":{\"uuid\":\"a\"},\"x\":Infinity}",
        b"{\"login\":{\"uuid\":\"a\"},\"x\":-Infinity}",
        b"{\"login\":{\"uuid\":\"a\"},\"x\":01}",
        b"{\"login\":{\"uuid\":\"a\"},\"x\":\"tab\there\"}",
        b"{'login':{'uuid':'a'}}",
        b"{\"login\":{\"uuid\":\"a\"},}",
        b"{\"login\":{\"uuid\":\"a\"}",
    ] {
        let r = c.clean(bad, ARRIVAL).unwrap_err();
        assert_eq!(r.kind(), "invalid_json", "{}", String::from_utf8_lossy(bad));
    }
    // White space around the value is JSON white space, including a trailing CR.
    assert!(
        c.clean(b"\t{\"login\":{\"uuid\":\"a\"}} \r", ARRIVAL)
            .is_ok()
    );
}

#[test]
fn non_objects_are_rejected() {
    let c = users();
    for bad in [
        &b"[]"[..],
        b"[{\"login\":{\"uuid\":\"a\"}}]",
        b"\"x\"",
        b"1",
        b"null",
        b"true",
    ] {
        assert_eq!(c.clean(bad, ARRIVAL).unwrap_err(), Rejection::NotObject);
    }
}

#[test]
fn missing_uuid_kinds_are_rejected() {
    let c = users();
    for patch in [
        ("/login/uuid", None),
        ("/login/uuid", Some("null")),
        ("/login/uuid", Some("\"\"")),
        ("/login/uuid", Some("42")),
        ("/login/uuid", Some("{\"a\":1}")),
        ("/login", None),
        ("/login", Some("\"7a0eed16\"")),
        ("/login", Some("null")),
    ] {
        let raw = record(&[patch]);
        let r = c.clean(&raw, ARRIVAL).unwrap_err();
        assert_eq!(r.kind(), "missing_required", "{patch:?}");
        assert!(r.to_string().contains("/login/uuid"));
    }
    // A white-space uuid is a non-empty string: kept as is.
    assert_eq!(cell(&[("/login/uuid", Some("\" \""))], "user_id"), s(" "));
}

#[test]
fn rejection_reasons_never_quote_the_record() {
    let c = users();
    let secret = "hunter2-secret";
    let mut raw = record(&[
        ("/login/password", Some(&format!("\"{secret}\""))),
        ("/login/uuid", None),
    ]);
    let e = c.clean(&raw, ARRIVAL).unwrap_err().to_string();
    assert!(!e.contains(secret), "{e}");
    raw.truncate(raw.len() - 3);
    let e = c.clean(&raw, ARRIVAL).unwrap_err().to_string();
    assert!(!e.contains(secret), "{e}");
}

// ---------------------------------------------------------------- field rules

#[test]
fn gender_is_trimmed_lowered_and_must_be_known() {
    assert_eq!(
        cell(&[("/gender", Some("\" Female \""))], "gender"),
        s("female")
    );
    assert_eq!(cell(&[("/gender", Some("\"MALE\""))], "gender"), s("male"));
    assert_eq!(
        cell(&[("/gender", Some("\"\\u00a0male\\t\""))], "gender"),
        s("male")
    );
    for v in ["\"unknown\"", "\"\"", "\"other\"", "1", "null", "true"] {
        assert_eq!(
            cell(&[("/gender", Some(v))], "gender"),
            CleanValue::Null,
            "{v}"
        );
    }
    assert_eq!(cell(&[("/gender", None)], "gender"), CleanValue::Null);
}

#[test]
fn names_are_trimmed_with_unicode_white_space() {
    assert_eq!(
        cell(
            &[("/name/first", Some("\"\\u3000Ana\\u2028 \""))],
            "first_name"
        ),
        s("Ana")
    );
    assert_eq!(
        cell(&[("/name/last", Some("\" Ruiz\\u00a0\""))], "last_name"),
        s("Ruiz")
    );
    assert_eq!(
        cell(&[("/name/title", Some("\"\\tMs\""))], "title"),
        s("Ms")
    );
    // Not lower-cased, non-ASCII kept.
    assert_eq!(
        cell(&[("/name/first", Some("\"ОЛЕНА\""))], "first_name"),
        s("ОЛЕНА")
    );
    // A zero-width space is not White_Space: kept.
    assert_eq!(
        cell(&[("/name/first", Some("\"\\u200bAna\""))], "first_name"),
        s("\u{200b}Ana")
    );
    // `name` a string: every name column null, record kept.
    let c = users();
    let raw = record(&[("/name", Some("\"Ana Ruiz\""))]);
    let row = c.clean(&raw, ARRIVAL).unwrap();
    for n in ["title", "first_name", "last_name"] {
        assert_eq!(col(&c, &row, n), CleanValue::Null);
    }
}

#[test]
fn email_is_trimmed_and_lowered() {
    assert_eq!(
        cell(&[("/email", Some("\" Ana.RUIZ@Example.com \""))], "email"),
        s("ana.ruiz@example.com")
    );
    assert_eq!(
        cell(&[("/email", Some("\"ÀNA@X.COM\""))], "email"),
        s("àna@x.com")
    );
    assert_eq!(cell(&[("/email", Some("5"))], "email"), CleanValue::Null);
}

#[test]
fn strings_are_strictly_typed_and_kept_as_is() {
    assert_eq!(
        cell(&[("/login/username", Some("591349"))], "username"),
        CleanValue::Null
    );
    assert_eq!(
        cell(&[("/login/username", Some("\" Big \""))], "username"),
        s(" Big ")
    );
    assert_eq!(cell(&[("/phone", Some("true"))], "phone"), CleanValue::Null);
    assert_eq!(
        cell(&[("/phone", Some("[\"1\"]"))], "phone"),
        CleanValue::Null
    );
    assert_eq!(
        cell(&[("/nat", Some("{\"a\":\"ES\"}"))], "nationality"),
        CleanValue::Null
    );
    assert_eq!(
        cell(&[("/cell", Some("\"a\\\"b\\\\c\\/d\""))], "cell"),
        s("a\"b\\c/d")
    );
}

#[test]
fn int32_takes_integers_only() {
    assert_eq!(
        cell(&[("/dob/age", Some("\"38\""))], "age"),
        CleanValue::Null
    );
    assert_eq!(cell(&[("/dob/age", Some("38.0"))], "age"), CleanValue::Null);
    assert_eq!(
        cell(&[("/dob/age", Some("3.8e1"))], "age"),
        CleanValue::Null
    );
    assert_eq!(
        cell(&[("/dob/age", Some("-5"))], "age"),
        CleanValue::I32(-5)
    );
    assert_eq!(
        cell(&[("/dob/age", Some("2147483647"))], "age"),
        CleanValue::I32(i32::MAX)
    );
    assert_eq!(
        cell(&[("/dob/age", Some("2147483648"))], "age"),
        CleanValue::Null
    );
    assert_eq!(
        cell(&[("/dob/age", Some("-2147483649"))], "age"),
        CleanValue::Null
    );
    assert_eq!(cell(&[("/dob/age", Some("true"))], "age"), CleanValue::Null);
    assert_eq!(
        cell(
            &[("/location/street/number", Some("\"1354\""))],
            "street_number"
        ),
        CleanValue::Null
    );
    // Beyond u64: still an integer literal, out of range, null (no parse failure of the record).
    let c = users();
    let raw = String::from_utf8(record(&[]))
        .unwrap()
        .replace("\"age\":42", "\"age\":123456789012345678901234567890");
    let row = c.clean(raw.as_bytes(), ARRIVAL).unwrap();
    assert_eq!(col(&c, &row, "age"), CleanValue::Null);
    let raw = String::from_utf8(record(&[]))
        .unwrap()
        .replace("\"age\":42", "\"age\":-0");
    let row = c.clean(raw.as_bytes(), ARRIVAL).unwrap();
    assert_eq!(col(&c, &row, "age"), CleanValue::I32(0));
}

#[test]
fn postcode_is_string_or_integer() {
    assert_eq!(
        cell(&[("/location/postcode", Some("\"0284\""))], "postcode"),
        s("0284")
    );
    assert_eq!(
        cell(&[("/location/postcode", Some("\" SW1A 1AA\""))], "postcode"),
        s(" SW1A 1AA")
    );
    assert_eq!(
        cell(&[("/location/postcode", Some("72429"))], "postcode"),
        s("72429")
    );
    assert_eq!(
        cell(&[("/location/postcode", Some("-7"))], "postcode"),
        s("-7")
    );
    assert_eq!(
        cell(&[("/location/postcode", Some("true"))], "postcode"),
        CleanValue::Null
    );
    assert_eq!(
        cell(&[("/location/postcode", Some("72429.0"))], "postcode"),
        CleanValue::Null
    );
    assert_eq!(
        cell(&[("/location/postcode", Some("7e4"))], "postcode"),
        CleanValue::Null
    );
    assert_eq!(
        cell(&[("/location/postcode", Some("{}"))], "postcode"),
        CleanValue::Null
    );
    assert_eq!(
        cell(
            &[("/location/postcode", Some("9223372036854775807"))],
            "postcode"
        ),
        s("9223372036854775807")
    );
    assert_eq!(
        cell(
            &[("/location/postcode", Some("9223372036854775808"))],
            "postcode"
        ),
        CleanValue::Null
    );
}

#[test]
fn coordinates_are_decimal_strings_within_range() {
    let lat = |v: &str| cell(&[("/location/coordinates/latitude", Some(v))], "latitude");
    let lon = |v: &str| cell(&[("/location/coordinates/longitude", Some(v))], "longitude");
    assert_eq!(lat("\"45.9039\""), CleanValue::F64(45.9039));
    assert_eq!(lat("\"-90\""), CleanValue::F64(-90.0));
    assert_eq!(lat("\"90.0\""), CleanValue::F64(90.0));
    assert_eq!(lat("\"90.0001\""), CleanValue::Null);
    assert_eq!(lat("\"-91\""), CleanValue::Null);
    assert_eq!(lat("45.9039"), CleanValue::Null); // a JSON number gives null
    for bad in [
        "\" 45.9\"",
        "\"45.9 \"",
        "\"nan\"",
        "\"inf\"",
        "\"1_0\"",
        "\"0x10\"",
        "\"\"",
        "\".\"",
        "\"1e\"",
        "\"+\"",
    ] {
        assert_eq!(lat(bad), CleanValue::Null, "{bad}");
    }
    assert_eq!(lat("\"+.5\""), CleanValue::F64(0.5));
    assert_eq!(lat("\"5.\""), CleanValue::F64(5.0));
    assert_eq!(lat("\"1e1\""), CleanValue::F64(10.0));
    assert_eq!(lat("\"1E+1\""), CleanValue::F64(10.0));
    assert_eq!(lat("\"1e400\""), CleanValue::Null);
    assert_eq!(lon("\"180\""), CleanValue::F64(180.0));
    assert_eq!(lon("\"180.5\""), CleanValue::Null);
    // Correct rounding.
    assert_eq!(lon("\"0.1\""), CleanValue::F64(0.1));
}

#[test]
fn timestamps_are_strict_iso8601() {
    let dob = |v: &str| cell(&[("/dob/date", Some(v))], "date_of_birth");
    assert_eq!(
        dob("\"1982-10-16T14:05:53.220Z\""),
        CleanValue::TimestampMs(403_625_153_220)
    );
    assert_eq!(
        dob("\"1982-10-16T19:35:53.220+05:30\""),
        CleanValue::TimestampMs(403_625_153_220)
    );
    assert_eq!(
        dob("\"1982-10-16T14:05:53.2209Z\""),
        CleanValue::TimestampMs(403_625_153_220)
    );
    assert_eq!(dob("\"1982-10-16 14:05:53Z\""), CleanValue::Null);
    assert_eq!(dob("\"1982-02-30T00:00:00Z\""), CleanValue::Null);
    assert_eq!(dob("403625153220"), CleanValue::Null);
    // An escaped but otherwise valid string is the same string.
    assert_eq!(
        dob("\"1982-10-16T14:05:53.220\\u005a\""),
        CleanValue::TimestampMs(403_625_153_220)
    );
    assert_eq!(
        cell(
            &[("/registered/date", Some("1262304000000"))],
            "registered_at"
        ),
        CleanValue::Null
    );
}

#[test]
fn wrong_container_types_give_nulls_not_rejections() {
    let c = users();
    let raw = record(&[("/location", Some("null"))]);
    let row = c.clean(&raw, ARRIVAL).unwrap();
    for n in [
        "street_number",
        "street_name",
        "city",
        "postcode",
        "latitude",
        "tz_offset",
    ] {
        assert_eq!(col(&c, &row, n), CleanValue::Null, "{n}");
    }
    let raw = record(&[("/location", Some("[1,2,{\"city\":\"x\"}]"))]);
    let row = c.clean(&raw, ARRIVAL).unwrap();
    assert_eq!(col(&c, &row, "city"), CleanValue::Null);
}

#[test]
fn the_last_duplicate_key_wins() {
    let c = users();
    let good = String::from_utf8(record(&[])).unwrap();
    let dup = good.replacen(
        "{\"gender\"",
        "{\"location\":{\"city\":\"First\",\"state\":\"S\"},\"gender\"",
        1,
    );
    let row = c.clean(dup.as_bytes(), ARRIVAL).unwrap();
    assert_eq!(col(&c, &row, "city"), s("Madrid"));
    let dup = format!("{},\"location\":5}}", &good[..good.len() - 1]);
    let row = c.clean(dup.as_bytes(), ARRIVAL).unwrap();
    assert_eq!(col(&c, &row, "city"), CleanValue::Null);
    assert_eq!(col(&c, &row, "state"), CleanValue::Null);
    let dup = format!("{},\"login\":\"x\"}}", &good[..good.len() - 1]);
    assert_eq!(
        c.clean(dup.as_bytes(), ARRIVAL).unwrap_err().kind(),
        "missing_required"
    );
}

#[test]
fn escaped_keys_match() {
    let c = users();
    let raw = br#"{"lo\u0067in":{"uuid":"a"},"\u0065mail":"X@Y"}"#;
    let row = c.clean(raw, ARRIVAL).unwrap();
    assert_eq!(col(&c, &row, "user_id"), s("a"));
    assert_eq!(col(&c, &row, "email"), s("x@y"));
}

#[test]
fn lone_surrogate_in_a_read_string_is_rejected_with_its_column() {
    let c = users();
    let raw = br#"{"login":{"uuid":"a"},"city":"x","name":{"first":"\ud800"}}"#;
    let r = c.clean(raw, ARRIVAL).unwrap_err();
    assert_eq!(r.kind(), "unrepresentable_string");
    assert!(r.to_string().contains("first_name"));
    // A surrogate pair is one character.
    let raw = br#"{"login":{"uuid":"a"},"name":{"first":"\ud83d\ude00"}}"#;
    let row = c.clean(raw, ARRIVAL).unwrap();
    assert_eq!(col(&c, &row, "first_name"), s("😀"));
}

#[test]
fn p_date_is_the_utc_day_of_arrival() {
    let c = users();
    let raw = record(&[]);
    assert_eq!(c.clean(&raw, 0).unwrap().p_date, 0);
    assert_eq!(c.clean(&raw, -1).unwrap().p_date, -1);
    assert_eq!(c.clean(&raw, 86_399_999).unwrap().p_date, 0);
    assert_eq!(c.clean(&raw, 86_400_000).unwrap().p_date, 1);
}

#[test]
fn event_time_partitioning_uses_the_column_and_falls_back_to_arrival() {
    let text = include_str!("../../../sources/users.toml")
        .replace("from = \"ingested_at\"", "from = \"registered_at\"");
    let c = Cleaner::new(Arc::new(SourceDef::parse(&text, "t.toml").unwrap()));
    let raw = record(&[]);
    assert_eq!(c.clean(&raw, ARRIVAL).unwrap().p_date, 14_610); // 2010-01-01
    let raw = record(&[("/registered", None)]);
    assert_eq!(c.clean(&raw, ARRIVAL).unwrap().p_date, 20_240);
}

#[test]
fn credentials_are_never_captured() {
    // The compiled field tree holds no never-read pointer, so no value of theirs is kept.
    let c = users();
    let tree = format!("{:?}", c.tree);
    for f in ["password", "salt", "md5", "sha1", "sha256"] {
        assert!(!tree.contains(&format!("\"{f}\"")), "{f} in {tree}");
    }
}

#[test]
fn dedupe_key_of_reads_the_key() {
    let c = users();
    assert_eq!(
        c.dedupe_key_of(&record(&[])).as_deref(),
        Some("7a0eed16-9430-4d68-901f-c0d4c1c3bf22")
    );
    assert_eq!(c.dedupe_key_of(b"{"), None);
}

#[test]
fn deep_nesting_and_huge_input_do_not_panic() {
    let c = users();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(c.clean(deep.as_bytes(), ARRIVAL).is_err());
    let deep = format!("{{\"a\":{}1{}}}", "{\"b\":".repeat(5000), "}".repeat(5000));
    assert!(c.clean(deep.as_bytes(), ARRIVAL).is_err());
    let big = format!(
        "{{\"login\":{{\"uuid\":\"a\"}},\"pad\":\"{}\"}}",
        "x".repeat(1 << 20)
    );
    assert!(c.clean(big.as_bytes(), ARRIVAL).is_ok());
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz over mutations of a good record.
    let c = users();
    let good = record(&[]);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut raw = good.clone();
        let n = (x % 4 + 1) as usize;
        for k in 0..n {
            let pos = ((x >> (k * 8)) as usize) % raw.len();
            match (x >> (40 + k)) % 3 {
                0 => raw[pos] = (x >> (k * 5)) as u8,
                1 => {
                    raw.remove(pos);
                }
                _ => raw.truncate(pos),
            }
            if raw.is_empty() {
                break;
            }
        }
        let _ = c.clean(&raw, ARRIVAL);
    }
}

fn order_lines() -> Cleaner {
    Cleaner::new(Arc::new(SourceDef::resolve("order_lines", None).unwrap()))
}

#[test]
fn out_of_range_event_times_are_rejected_never_a_wrapped_day() {
    let c = order_lines();
    let line = |at: &str| format!(r#"{{"order_id":1,"product_id":2,"ordered_at":{at}}}"#);
    // The first and third made the folders p_date=56135-02-26 and p_date=-1701532-04-06.
    for at in [
        "1709287200500000",
        "-53746553323000000",
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999",
        "253402300800000",               // 10000-01-01
        "-62135596800001",               // 0000-12-31T23:59:59.999
        "\"0001-01-01T00:30:00+01:00\"", // year 0 in UTC
        "\"9999-12-31T23:30:00-01:00\"", // year 10000 in UTC
    ] {
        let r = c.clean(line(at).as_bytes(), ARRIVAL).unwrap_err();
        assert_eq!(r.kind(), "timestamp_out_of_range", "{at}");
        assert_eq!(
            r.to_string(),
            "timestamp /ordered_at (column ordered_at) is outside years 0001-9999"
        );
    }
    // The range's ends are in it, and their days are the first and last of it.
    let day = |at: &str| c.clean(line(at).as_bytes(), ARRIVAL).unwrap().p_date;
    assert_eq!(time::format_day(day("-62135596800000")), "0001-01-01");
    assert_eq!(time::format_day(day("253402300799999")), "9999-12-31");
    assert_eq!(
        time::format_day(day("\"9999-12-31T23:59:59.999Z\"")),
        "9999-12-31"
    );
    // Only a missing or null event time places the row on its arrival day.
    assert_eq!(day("null"), 20_240);
    assert_eq!(
        c.clean(br#"{"order_id":1,"product_id":2}"#, ARRIVAL)
            .unwrap()
            .p_date,
        20_240
    );
}

#[test]
fn a_partition_time_that_does_not_parse_rejects_the_record_never_moves_it() {
    // Issue 21: `ordered_at = "not-a-date"` moved a replayed row to today's partition.
    let c = order_lines();
    let line = |at: &str| format!(r#"{{"order_id":1,"product_id":2,"ordered_at":{at}}}"#);
    for at in [
        "\"not-a-date\"",
        "\"yesterday\"",
        "true",
        "{}",
        "[1]",
        "\"\"",
    ] {
        let r = c.clean(line(at).as_bytes(), ARRIVAL).unwrap_err();
        assert_eq!(r.kind(), "invalid_partition_time", "{at}");
        assert_eq!(
            r.to_string(),
            "partition time /ordered_at (column ordered_at) is not a timestamp the column accepts"
        );
    }
}

#[test]
fn nulled_values_are_reported_with_column_reason_and_original() {
    let c = users();
    let raw = record(&[
        ("/dob/age", Some("\"42\"")),
        ("/gender", Some("\"robot\"")),
        ("/location/coordinates/latitude", Some("\"91.5\"")),
        ("/location/coordinates/longitude", Some("\"east\"")),
        ("/dob/date", Some("\"0001-01-01T00:00:00+00:01\"")),
        ("/registered/date", Some("\"last week\"")),
        ("/location/street/number", Some("3000000000")),
        ("/phone", Some("null")),
    ]);
    let row = c.clean(&raw, ARRIVAL).unwrap();
    let got: Vec<(&str, &str, &str)> = row
        .nulled
        .iter()
        .map(|n| {
            (
                c.source().columns[n.column].name.as_str(),
                n.reason.kind(),
                n.original,
            )
        })
        .collect();
    let mut got = got;
    got.sort();
    assert_eq!(
        got,
        [
            ("age", "wrong_type", "\"42\""),
            (
                "date_of_birth",
                "timestamp_out_of_range",
                "\"0001-01-01T00:00:00+00:01\""
            ),
            ("gender", "not_allowed", "\"robot\""),
            ("latitude", "out_of_range", "\"91.5\""),
            ("longitude", "unparsable", "\"east\""),
            ("registered_at", "unparsable", "\"last week\""),
            ("street_number", "out_of_range", "3000000000"),
        ]
    );
    // A clean record (and a JSON null) nulls nothing and allocates no list.
    let raw = record(&[("/phone", Some("null"))]);
    let row = c.clean(&raw, ARRIVAL).unwrap();
    assert!(row.nulled.is_empty() && row.nulled.capacity() == 0);
}

#[test]
fn out_of_range_is_null_in_an_optional_column_and_rejects_a_required_one() {
    // registered_at is optional and not the partition column: null, the row is kept.
    let text = include_str!("../../../sources/users.toml").replace(
        "name = \"registered_at\"",
        "name = \"registered_at\"\naccept = [\"iso8601\", \"epoch_ms\"]",
    );
    let c = Cleaner::new(Arc::new(SourceDef::parse(&text, "t.toml").unwrap()));
    let raw = record(&[("/registered/date", Some("1709287200500000"))]);
    let row = c.clean(&raw, ARRIVAL).unwrap();
    assert_eq!(col(&c, &row, "registered_at"), CleanValue::Null);
    assert_eq!(row.p_date, 20_240);
    let raw = record(&[("/dob/date", Some("\"0001-01-01T00:00:00+00:01\""))]);
    let row = users().clean(&raw, ARRIVAL).unwrap();
    assert_eq!(col(&users(), &row, "date_of_birth"), CleanValue::Null);
    // The same value in a required column rejects the record with the range as the reason.
    let text = text.replace(
        "name = \"registered_at\"",
        "name = \"registered_at\"\nrequired = true",
    );
    let c = Cleaner::new(Arc::new(SourceDef::parse(&text, "t.toml").unwrap()));
    let raw = record(&[("/registered/date", Some("1709287200500000"))]);
    let r = c.clean(&raw, ARRIVAL).unwrap_err();
    assert_eq!(r.kind(), "timestamp_out_of_range");
    assert!(r.to_string().contains("/registered/date"), "{r}");
}

#[test]
fn an_out_of_range_arrival_time_is_rejected() {
    // A Kafka producer stamps its own records; a bad stamp must not make a wrapped day.
    let raw = record(&[]);
    for at in [i64::MAX, i64::MIN, time::MAX_MS + 1, time::MIN_MS - 1] {
        let r = users().clean(&raw, at).unwrap_err();
        assert_eq!(r.kind(), "timestamp_out_of_range", "{at}");
        assert!(r.to_string().contains("column ingested_at"), "{r}");
    }
    assert!(users().clean(&raw, time::MAX_MS).is_ok());
    // Also with an event-time column: its value places the row, but the arrival column
    // still has to hold the arrival time.
    let line = br#"{"order_id":1,"product_id":2,"ordered_at":0}"#;
    assert!(order_lines().clean(line, i64::MAX).is_err());
}
