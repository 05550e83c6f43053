//! Rows of text fields (a CSV row, a Parquet row rendered as text) -> one JSON record the
//! cleaner reads. Pure: no I/O.
//!
//! A header names the column whose JSON pointer is `/<header>` (exactly, or else ignoring ASCII
//! case, since Snowflake unloads upper-case headers). The text of a field is turned into the
//! JSON form its column's type asks for, so the strict cleaner accepts it: `"42"` becomes `42`
//! for an integer column, `"1"` becomes `true` for a bool column, `2024-03-01 10:00:00` becomes
//! `"2024-03-01T10:00:00Z"` for a timestamp column. Text that does not convert is kept as a
//! JSON string, so the cleaner nulls it (or rejects the record when the column is required) by
//! its own rules, exactly as for a JSON source. An empty CSV field is null. Headers that name
//! no column go into the record as strings (the cleaner skips them; a rejected record keeps
//! the whole row).

use std::fmt;

use firelake_core::source::{ColumnDef, ColumnType, JsonForm, SourceDef};
use firelake_core::time;

/// How one field's text becomes JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conversion {
    Text,
    Integer,
    /// `number`: the column takes JSON numbers (else it reads decimal strings itself).
    Float {
        number: bool,
    },
    Bool,
    Timestamp {
        iso: bool,
        epoch: bool,
    },
}

impl Conversion {
    fn for_column(col: &ColumnDef) -> Conversion {
        let accepts = |f: JsonForm| col.accept.contains(&f);
        match col.column_type {
            ColumnType::String if !accepts(JsonForm::String) && accepts(JsonForm::Integer) => {
                Conversion::Integer
            }
            ColumnType::String => Conversion::Text,
            ColumnType::Int32 | ColumnType::Int64 => Conversion::Integer,
            ColumnType::Float64 => Conversion::Float {
                number: accepts(JsonForm::Number),
            },
            ColumnType::Bool => Conversion::Bool,
            ColumnType::TimestampMs => Conversion::Timestamp {
                iso: accepts(JsonForm::Iso8601),
                epoch: accepts(JsonForm::EpochMs),
            },
        }
    }
}

#[derive(Debug)]
struct FieldPlan {
    /// The header as written, for messages.
    header: String,
    /// `"key":`, escaped once.
    key_json: Vec<u8>,
    conversion: Conversion,
}

/// The shape of a file's records: one plan per header, in file order.
#[derive(Debug)]
pub struct RecordShape {
    fields: Vec<FieldPlan>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("the header names {0:?} twice")]
    DuplicateHeader(String),
    #[error(
        "no header names a column of source {source_name} (headers: {headers}; the source reads: {columns}): wrong --source, or a file without a header line?"
    )]
    NoColumns {
        source_name: String,
        headers: String,
        columns: String,
    },
    #[error(
        "no header for the required column {column} (pointer {pointer}): every row would be rejected"
    )]
    MissingRequired { column: String, pointer: String },
}

/// One field of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    Null,
    Text(&'a str),
}

/// Why a row could not become a record at all (the replay keeps it in its rejects file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowFault {
    FieldCount {
        expected: usize,
        found: usize,
    },
    InvalidUtf8 {
        header: String,
        offset: usize,
    },
    TooLarge {
        bytes: usize,
        limit: usize,
    },
    /// A line (a CSV record) over the readers' line limit: read past, never held whole; the
    /// rejects file keeps its first `kept` bytes.
    LineTooLong {
        bytes: u64,
        limit: usize,
        kept: usize,
    },
}

impl RowFault {
    pub fn kind(&self) -> &'static str {
        match self {
            RowFault::FieldCount { .. } => "field_count",
            RowFault::InvalidUtf8 { .. } => "invalid_utf8",
            RowFault::TooLarge { .. } => "record_too_large",
            RowFault::LineTooLong { .. } => "line_too_long",
        }
    }
}

impl fmt::Display for RowFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowFault::FieldCount { expected, found } => {
                write!(f, "the row has {found} fields, the header {expected}")
            }
            RowFault::InvalidUtf8 { header, offset } => {
                write!(
                    f,
                    "field {header:?} is not UTF-8 (at byte {offset} of the field)"
                )
            }
            RowFault::TooLarge { bytes, limit } => write!(
                f,
                "the record is {bytes} bytes, over the {limit}-byte record limit of the streams"
            ),
            RowFault::LineTooLong { bytes, limit, kept } => write!(
                f,
                "the line is {bytes} bytes, over the {limit}-byte line limit: skipped (its first {kept} bytes are kept here)"
            ),
        }
    }
}

impl RecordShape {
    /// Plan the records of a file with these headers for source `def`.
    pub fn new<S: AsRef<str>>(def: &SourceDef, headers: &[S]) -> Result<RecordShape, ShapeError> {
        let readable: Vec<&ColumnDef> = def
            .columns
            .iter()
            .filter(|c| !c.arrival && c.path.len() == 1)
            .collect();
        let mut fields = Vec::with_capacity(headers.len());
        let mut keys: Vec<&str> = Vec::with_capacity(headers.len());
        let mut matched: Vec<&ColumnDef> = Vec::new();
        for h in headers {
            let header = h.as_ref().trim_start_matches('\u{feff}').trim();
            let column = readable
                .iter()
                .find(|c| c.path[0] == header)
                .or_else(|| {
                    readable
                        .iter()
                        .find(|c| c.path[0].eq_ignore_ascii_case(header))
                })
                .copied();
            let key = column.map_or(header, |c| c.path[0].as_str());
            if keys.contains(&key) {
                return Err(ShapeError::DuplicateHeader(header.to_string()));
            }
            keys.push(key);
            let mut key_json = Vec::with_capacity(key.len() + 3);
            write_json_string(key, &mut key_json);
            key_json.push(b':');
            fields.push(FieldPlan {
                header: header.to_string(),
                key_json,
                conversion: column.map_or(Conversion::Text, Conversion::for_column),
            });
            matched.extend(column);
        }
        if matched.is_empty() {
            return Err(ShapeError::NoColumns {
                source_name: def.name.clone(),
                headers: fields
                    .iter()
                    .map(|f| f.header.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                columns: readable
                    .iter()
                    .map(|c| c.pointer.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if let Some(c) = def
            .columns
            .iter()
            .find(|c| c.required && !matched.iter().any(|m| m.name == c.name))
        {
            return Err(ShapeError::MissingRequired {
                column: c.name.clone(),
                pointer: c.pointer.clone(),
            });
        }
        Ok(RecordShape { fields })
    }

    /// The headers as written, in file order.
    pub fn headers(&self) -> Vec<String> {
        self.fields.iter().map(|f| f.header.clone()).collect()
    }

    pub fn width(&self) -> usize {
        self.fields.len()
    }

    /// A CSV row's raw fields -> JSON record in `out` (cleared first). An empty field is null.
    pub fn write_csv_row<'a, I>(&self, fields: I, out: &mut Vec<u8>) -> Result<(), RowFault>
    where
        I: ExactSizeIterator<Item = &'a [u8]>,
    {
        if fields.len() != self.fields.len() {
            return Err(RowFault::FieldCount {
                expected: self.fields.len(),
                found: fields.len(),
            });
        }
        out.clear();
        out.push(b'{');
        for (i, (plan, raw)) in self.fields.iter().zip(fields).enumerate() {
            let field = if raw.is_empty() {
                Field::Null
            } else {
                Field::Text(std::str::from_utf8(raw).map_err(|e| RowFault::InvalidUtf8 {
                    header: plan.header.clone(),
                    offset: e.valid_up_to(),
                })?)
            };
            write_field(plan, field, i == 0, out);
        }
        out.push(b'}');
        Ok(())
    }

    /// Fields in header order (a Parquet row) -> JSON record in `out` (cleared first).
    pub fn write_row(&self, fields: &[Field<'_>], out: &mut Vec<u8>) -> Result<(), RowFault> {
        if fields.len() != self.fields.len() {
            return Err(RowFault::FieldCount {
                expected: self.fields.len(),
                found: fields.len(),
            });
        }
        out.clear();
        out.push(b'{');
        for (i, (plan, field)) in self.fields.iter().zip(fields).enumerate() {
            write_field(plan, *field, i == 0, out);
        }
        out.push(b'}');
        Ok(())
    }
}

fn write_field(plan: &FieldPlan, field: Field<'_>, first: bool, out: &mut Vec<u8>) {
    if !first {
        out.push(b',');
    }
    out.extend_from_slice(&plan.key_json);
    match field {
        Field::Null => out.extend_from_slice(b"null"),
        Field::Text(text) => write_converted(plan.conversion, text, out),
    }
}

/// The JSON form of `text` for a column converted as `conversion`; text that does not
/// convert stays a string (the cleaner decides what becomes of it).
fn write_converted(conversion: Conversion, text: &str, out: &mut Vec<u8>) {
    match conversion {
        Conversion::Text => write_json_string(text, out),
        Conversion::Integer => match text.trim().parse::<i64>() {
            Ok(v) => out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
            Err(_) => write_json_string(text, out),
        },
        Conversion::Float { number: true } => {
            let t = text.trim();
            if is_json_number(t) {
                out.extend_from_slice(t.as_bytes());
            } else {
                match parse_decimal(t) {
                    // `{:?}` is the shortest text that reads back as the same f64, and valid JSON.
                    Some(v) => out.extend_from_slice(format!("{v:?}").as_bytes()),
                    None => write_json_string(text, out),
                }
            }
        }
        Conversion::Float { number: false } => write_json_string(text.trim(), out),
        Conversion::Bool => match parse_bool(text.trim()) {
            Some(true) => out.extend_from_slice(b"true"),
            Some(false) => out.extend_from_slice(b"false"),
            None => write_json_string(text, out),
        },
        Conversion::Timestamp { iso, epoch } => {
            let t = text.trim();
            if epoch && let Ok(ms) = t.parse::<i64>() {
                out.extend_from_slice(itoa::Buffer::new().format(ms).as_bytes());
                return;
            }
            match normalize_timestamp(t) {
                Some(s) if iso => write_json_string(&s, out),
                Some(s) if epoch => {
                    let ms = time::parse_iso8601_ms(&s).expect("normalized text parses");
                    out.extend_from_slice(itoa::Buffer::new().format(ms).as_bytes());
                }
                _ => write_json_string(text, out),
            }
        }
    }
}

/// `true`/`false`, `t`/`f`, `1`/`0`, `yes`/`no`, `y`/`n`, in any ASCII case.
pub fn parse_bool(t: &str) -> Option<bool> {
    const TRUE: &[&str] = &["true", "t", "1", "yes", "y"];
    const FALSE: &[&str] = &["false", "f", "0", "no", "n"];
    if TRUE.iter().any(|w| w.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|w| w.eq_ignore_ascii_case(t)) {
        Some(false)
    } else {
        None
    }
}

/// RFC 8259 number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// A plain decimal literal (`+1.`, `.5`, `1e3`) as a finite f64; no `inf`, `nan` or words.
fn parse_decimal(s: &str) -> Option<f64> {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'.' | b'e' | b'E'))
        && s.bytes().any(|c| c.is_ascii_digit());
    s.parse::<f64>().ok().filter(|v| plain && v.is_finite())
}

/// Common export spellings of an instant -> the strict ISO-8601 text the cleaner reads, or
/// `None`. Accepted: `YYYY-MM-DD`, then `T` or a space, `HH:MM:SS`, an optional fraction, and
/// an optional zone (`Z`, `UTC`, `+HH:MM`, `+HHMM`, `+HH`, possibly after a space). Without a
/// zone the time is taken as UTC (Snowflake's TIMESTAMP_NTZ exports); a date alone is midnight
/// UTC.
pub fn normalize_timestamp(t: &str) -> Option<String> {
    let b = t.as_bytes();
    if !t.is_ascii() || b.len() < 10 {
        return None;
    }
    let mut s = String::with_capacity(b.len() + 8);
    s.push_str(&t[..10]);
    if b.len() == 10 {
        s.push_str("T00:00:00Z");
    } else {
        if !matches!(b[10], b'T' | b' ') || b.len() < 19 {
            return None;
        }
        s.push('T');
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        s.push_str(&t[11..i]);
        let zone = t[i..].trim_start_matches(' ');
        let zb = zone.as_bytes();
        match zb {
            [] | [b'Z'] | [b'U', b'T', b'C'] => s.push('Z'),
            [b'+' | b'-', _, _, b':', _, _] => s.push_str(zone),
            [b'+' | b'-', _, _, _, _] => {
                s.push_str(&zone[..3]);
                s.push(':');
                s.push_str(&zone[3..]);
            }
            [b'+' | b'-', _, _] => {
                s.push_str(zone);
                s.push_str(":00");
            }
            _ => return None,
        }
    }
    time::parse_iso8601_ms(&s).map(|_| s)
}

/// A JSON string literal for `s`.
pub fn write_json_string(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, s).expect("JSON to memory");
}

#[cfg(test)]
mod tests {
    use super::*;
    use firelake_core::{CleanValue, Cleaner};
    use std::sync::Arc;

    fn order_lines() -> SourceDef {
        SourceDef::resolve("order_lines", None).unwrap()
    }

    fn csv_json(shape: &RecordShape, row: &[&str]) -> Result<String, RowFault> {
        let mut out = Vec::new();
        shape.write_csv_row(row.iter().map(|f| f.as_bytes()), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn csv_text_is_typed_by_column() {
        let def = order_lines();
        let shape = RecordShape::new(
            &def,
            &[
                "ORDER_ID",
                "product_id",
                "add_to_cart_order",
                "reordered",
                "ordered_at",
                "note",
            ],
        )
        .unwrap();
        let json = csv_json(
            &shape,
            &["17", "4242", "3", "1", "2024-03-01 10:00:00.5", "x\"y"],
        )
        .unwrap();
        assert_eq!(
            json,
            r#"{"order_id":17,"product_id":4242,"add_to_cart_order":3,"reordered":true,"ordered_at":"2024-03-01T10:00:00.5Z","note":"x\"y"}"#
        );
        let cleaner = Cleaner::new(Arc::new(def));
        let row = cleaner.clean(json.as_bytes(), 0).unwrap();
        assert_eq!(row.values[0], CleanValue::I64(17));
        assert_eq!(row.values[3], CleanValue::Bool(true));
        assert_eq!(row.values[4], CleanValue::TimestampMs(1_709_287_200_500));
        assert_eq!(row.p_date, time::day_of_ms(1_709_287_200_500));
    }

    #[test]
    fn unconvertible_text_stays_a_string_for_the_cleaner_to_judge() {
        let def = order_lines();
        let shape = RecordShape::new(
            &def,
            &[
                "order_id",
                "product_id",
                "add_to_cart_order",
                "reordered",
                "ordered_at",
            ],
        )
        .unwrap();
        let json = csv_json(&shape, &["12x", "5", "", "maybe", "yesterday"]).unwrap();
        assert_eq!(
            json,
            r#"{"order_id":"12x","product_id":5,"add_to_cart_order":null,"reordered":"maybe","ordered_at":"yesterday"}"#
        );
        let cleaner = Cleaner::new(Arc::new(def));
        let e = cleaner.clean(json.as_bytes(), 0).unwrap_err();
        assert_eq!(e.kind(), "missing_required");
        // A partition time that is not a time rejects the record (issue 21), never moves it.
        let bad_time = csv_json(&shape, &["12", "5", "0", "maybe", "yesterday"]).unwrap();
        let e = cleaner.clean(bad_time.as_bytes(), 7).unwrap_err();
        assert_eq!(e.kind(), "invalid_partition_time");
        let ok = csv_json(&shape, &["12", "5", "0", "maybe", ""]).unwrap();
        let row = cleaner.clean(ok.as_bytes(), 7).unwrap();
        // Out of range, not a bool: nulls (counted); no time: the arrival day as p_date.
        assert_eq!(row.values[2], CleanValue::Null);
        assert_eq!(row.values[3], CleanValue::Null);
        assert_eq!(row.values[4], CleanValue::Null);
        assert_eq!(row.nulled.len(), 2);
        assert_eq!(row.p_date, 0);
    }

    #[test]
    fn row_faults_name_the_problem() {
        let def = order_lines();
        let shape = RecordShape::new(&def, &["order_id", "product_id"]).unwrap();
        assert_eq!(
            csv_json(&shape, &["1"]).unwrap_err(),
            RowFault::FieldCount {
                expected: 2,
                found: 1
            }
        );
        let mut out = Vec::new();
        let bad: [&[u8]; 2] = [b"1", b"\xff2"];
        let fault = shape.write_csv_row(bad.into_iter(), &mut out).unwrap_err();
        assert_eq!(fault.kind(), "invalid_utf8");
        assert!(fault.to_string().contains("\"product_id\""), "{fault}");
    }

    #[test]
    fn header_problems_are_errors() {
        let def = order_lines();
        assert!(matches!(
            RecordShape::new(&def, &["a", "b"]),
            Err(ShapeError::NoColumns { .. })
        ));
        assert!(matches!(
            RecordShape::new(&def, &["order_id", "ORDER_ID", "product_id"]),
            Err(ShapeError::DuplicateHeader(_))
        ));
        let e = RecordShape::new(&def, &["order_id", "reordered"]).unwrap_err();
        assert!(e.to_string().contains("product_id"), "{e}");
    }

    #[test]
    fn floats_bools_and_timestamps_convert_per_accepted_form() {
        let f = |c, t| {
            let mut out = Vec::new();
            write_converted(c, t, &mut out);
            String::from_utf8(out).unwrap()
        };
        let num = Conversion::Float { number: true };
        assert_eq!(f(num, "-1.5e3"), "-1.5e3");
        assert_eq!(f(num, ".5"), "0.5");
        assert_eq!(f(num, "+2."), "2.0");
        assert_eq!(f(num, "inf"), "\"inf\"");
        assert_eq!(f(num, "NaN"), "\"NaN\"");
        assert_eq!(f(Conversion::Float { number: false }, " 1.25 "), "\"1.25\"");
        assert_eq!(f(Conversion::Bool, "FALSE"), "false");
        assert_eq!(f(Conversion::Bool, "Y"), "true");
        assert_eq!(f(Conversion::Integer, "-0"), "0");
        assert_eq!(
            f(Conversion::Integer, "99999999999999999999"),
            "\"99999999999999999999\""
        );
        let both = Conversion::Timestamp {
            iso: true,
            epoch: true,
        };
        assert_eq!(f(both, "1709287200500"), "1709287200500");
        assert_eq!(f(both, "2024-03-01"), "\"2024-03-01T00:00:00Z\"");
        let epoch_only = Conversion::Timestamp {
            iso: false,
            epoch: true,
        };
        assert_eq!(f(epoch_only, "2024-03-01T10:00:00+0100"), "1709283600000");
    }

    #[test]
    fn timestamp_spellings_normalize_or_fail() {
        let n = |t| normalize_timestamp(t);
        assert_eq!(
            n("2024-03-01T10:00:00Z").as_deref(),
            Some("2024-03-01T10:00:00Z")
        );
        assert_eq!(
            n("2024-03-01 10:00:00.123 +0000").as_deref(),
            Some("2024-03-01T10:00:00.123+00:00")
        );
        assert_eq!(
            n("2024-03-01 10:00:00 UTC").as_deref(),
            Some("2024-03-01T10:00:00Z")
        );
        assert_eq!(
            n("2024-03-01T10:00:00-05").as_deref(),
            Some("2024-03-01T10:00:00-05:00")
        );
        assert_eq!(n("2024-02-30"), None);
        assert_eq!(n("2024-03-01 25:00:00"), None);
        assert_eq!(n("03/01/2024"), None);
        assert_eq!(n("2024-03-01 10:00:00 CET"), None);
    }
}
