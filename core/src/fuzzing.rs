//! Property checks over arbitrary bytes, shared by the fuzz targets (`fuzz/`, libFuzzer) and by
//! the corpus replay in the normal test suite (`tests/fuzz_corpus.rs`), so both assert the same
//! things. Each `check_*` panics when a property fails; it never fails on bad input as such.
//! Not an API: hidden from the docs, kept small and pure.

use std::sync::{Arc, OnceLock};

#[cfg(feature = "lake")]
use crate::batch::{BatchBuilder, PartitionColumn, arrow_schema};
use crate::clean::{CleanValue, Cleaner};
use crate::kafka_url::KafkaUrl;
use crate::output::write_json_row;
use crate::redact::{Raw, Redactor, shown_location};
use crate::source::{BUILTIN_SOURCES, ColumnType, SourceDef};
use crate::time;

/// The built-in sources, parsed once per process (the fuzzers call the checks millions of
/// times).
pub fn builtin_sources() -> &'static [Arc<SourceDef>] {
    static SOURCES: OnceLock<Vec<Arc<SourceDef>>> = OnceLock::new();
    SOURCES.get_or_init(|| {
        BUILTIN_SOURCES
            .iter()
            .map(|(n, _)| Arc::new(SourceDef::resolve(n, None).expect("built-in source parses")))
            .collect()
    })
}

/// The built-in source a fuzz input's first byte picks.
pub fn pick_source(selector: u8) -> &'static Arc<SourceDef> {
    let all = builtin_sources();
    &all[selector as usize % all.len()]
}

/// Cleaners of the built-in sources, compiled once.
fn builtin_cleaners() -> &'static [(Cleaner, Redactor)] {
    static CLEANERS: OnceLock<Vec<(Cleaner, Redactor)>> = OnceLock::new();
    CLEANERS.get_or_init(|| {
        builtin_sources()
            .iter()
            .map(|d| (Cleaner::new(d.clone()), Redactor::new(&d.never_read)))
            .collect()
    })
}

/// Input: a byte picking the built-in source, 8 bytes of arrival time (little-endian epoch ms),
/// then the record. The cleaner either rejects the record or gives a row of the source's
/// shape whose JSON form parses back; redaction never leaves a never-read value in place.
pub fn check_clean(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (arrival, record) = match rest.split_first_chunk::<8>() {
        Some((a, r)) => (i64::from_le_bytes(*a), r),
        None => (0, rest),
    };
    // Mostly a sane arrival; the raw bytes (any i64) when the selector's high bit says so.
    let arrival = if selector & 0x80 == 0 {
        arrival.rem_euclid(time::MAX_MS)
    } else {
        arrival
    };
    let cleaners = builtin_cleaners();
    let (cleaner, redactor) = &cleaners[selector as usize % cleaners.len()];
    check_cleaned(cleaner, record, arrival);
    check_redacted(redactor, record);
    if let Ok(text) = std::str::from_utf8(record) {
        check_iso8601(text.trim());
    }
}

/// The row a cleaner makes of `record`, if any, holds to the source's rules.
pub fn check_cleaned(cleaner: &Cleaner, record: &[u8], arrival: i64) {
    let def = cleaner.source();
    let Ok(row) = cleaner.clean(record, arrival) else {
        return;
    };
    assert_eq!(row.values.len(), def.columns.len(), "one value per column");
    let (min_day, max_day) = (time::day_of_ms(time::MIN_MS), time::day_of_ms(time::MAX_MS));
    assert!(
        (min_day..=max_day).contains(&row.p_date),
        "p_date {} outside years 0001-9999",
        row.p_date
    );
    for (col, v) in def.columns.iter().zip(&row.values) {
        let type_ok = match (v, col.column_type) {
            (CleanValue::Null, _) => !col.required && !col.arrival,
            (CleanValue::Str(s), ColumnType::String) => !(col.required && s.is_empty()),
            (CleanValue::I32(_), ColumnType::Int32) | (CleanValue::I64(_), ColumnType::Int64) => {
                true
            }
            (CleanValue::F64(x), ColumnType::Float64) => x.is_finite(),
            (CleanValue::Bool(_), ColumnType::Bool) => true,
            (CleanValue::TimestampMs(ms), ColumnType::TimestampMs) => time::in_range(*ms),
            _ => false,
        };
        assert!(type_ok, "column {}: value {v:?} breaks its rules", col.name);
    }
    let mut json = Vec::new();
    write_json_row(def, &row, &mut json);
    let parsed: serde_json::Value =
        serde_json::from_slice(&json).expect("a cleaned row's JSON parses");
    let obj = parsed.as_object().expect("a cleaned row is a JSON object");
    let mut day = String::new();
    time::push_day(row.p_date, &mut day);
    assert_eq!(
        obj[def.partition_column.as_str()],
        serde_json::Value::from(day)
    );
    #[cfg(feature = "lake")]
    {
        let mut batch = BatchBuilder::new(def, PartitionColumn::Included, 1);
        batch.append(&row, record.len());
        assert_eq!(batch.finish().num_rows(), 1);
    }
    // Cleaning is a function of the bytes and the arrival time.
    assert_eq!(cleaner.clean(record, arrival).ok(), Some(row));
}

/// A never-read string value that occurs once in a JSON record is gone after redaction.
pub fn check_redacted(redactor: &Redactor, record: &[u8]) {
    let redacted = redactor.redact(Raw::Record(record));
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(record) else {
        return;
    };
    for pointer in redactor.pointers() {
        let Some(secret) = value.pointer(pointer).and_then(|v| v.as_str()) else {
            continue;
        };
        // As it is written in the record (JSON-escaped, quotes included); a value that also
        // appears elsewhere (a key, another field) cannot be told apart by bytes.
        let written = serde_json::to_vec(secret).expect("a string serialises");
        if secret.len() < 3 || occurrences(record, &written[1..written.len() - 1]) != 1 {
            continue;
        }
        assert_eq!(
            occurrences(&redacted.bytes, &written[1..written.len() - 1]),
            0,
            "{pointer} survived redaction"
        );
    }
}

fn occurrences(hay: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() || needle.len() > hay.len() {
        return 0;
    }
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

/// A timestamp the strict ISO-8601 parser takes is in range and reads back from its own form.
pub fn check_iso8601(text: &str) {
    let Some(ms) = time::parse_iso8601_ms(text) else {
        return;
    };
    assert!(time::in_range(ms), "{text:?} parsed to {ms}, out of range");
    let mut formatted = String::new();
    time::format_ms(ms, &mut formatted);
    assert_eq!(time::parse_iso8601_ms(&formatted), Some(ms), "{formatted}");
}

/// A source definition either fails with a one-line error or is one every consumer can use:
/// its partition column is a timestamp, its dedupe key names columns, and the cleaner, the
/// Arrow schema and the redactor build from it.
pub fn check_source_def(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let def = match SourceDef::parse(text, "fuzz.toml") {
        Ok(def) => def,
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "error is not one line: {msg:?}");
            return;
        }
    };
    let pcol = &def.columns[def.partition_from];
    assert_eq!(
        pcol.column_type,
        ColumnType::TimestampMs,
        "p_date from a timestamp"
    );
    for key in &def.dedupe_key {
        assert!(
            def.column_index(key).is_some(),
            "dedupe key {key} is a column"
        );
    }
    for (i, c) in def.columns.iter().enumerate() {
        assert_eq!(
            def.column_index(&c.name),
            Some(i),
            "column {} is unique",
            c.name
        );
    }
    #[cfg(feature = "lake")]
    arrow_schema(&def, PartitionColumn::Included);
    let cleaner = Cleaner::new(Arc::new(def));
    for record in [&b"{}"[..], br#"{"a":1,"b":{"c":"x"}}"#] {
        check_cleaned(&cleaner, record, 1_700_000_000_000);
    }
    let def = cleaner.source();
    check_redacted(&Redactor::new(&def.never_read), br#"{"a":"secret"}"#);
}

/// Locations: a Kafka URL that parses names a valid topic and brokers and shows no query; an
/// error never shows the query (it may hold credentials); a shown location has no user info,
/// query or fragment; S3 and memory lake URLs name what they were given.
pub fn check_locations(data: &[u8]) {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    let query = url.split_once('?').map(|(_, q)| q);
    match KafkaUrl::parse(url) {
        Ok(k) => {
            assert!(!k.brokers.is_empty() && !k.topic.is_empty());
            assert!(k.topic.len() <= 249 && !k.topic.contains(['/', '?']));
            let shown = k.to_string();
            assert!(!shown.contains('?'), "{shown}");
            let again = KafkaUrl::parse(&shown).expect("a shown Kafka URL parses");
            assert_eq!((again.brokers, again.topic), (k.brokers, k.topic));
        }
        Err(e) => assert_hides_query(&e, url, query),
    }
    let shown = shown_location(url);
    assert!(!shown.contains(['?', '#']), "{shown:?}");
    if let Some((_, rest)) = shown.split_once("://") {
        let authority = rest.split('/').next().unwrap_or("");
        assert!(!authority.contains('@'), "{shown:?} shows user info");
    }
    assert_eq!(shown_location(&shown), shown, "showing is idempotent");
    #[cfg(feature = "lake")]
    check_lake_url(url);
}

fn assert_hides_query(message: &str, url: &str, query: Option<&str>) {
    let Some(q) = query else { return };
    let before = &url[..url.len() - q.len()];
    // A query that also occurs in the part shown (or is too short to tell) proves nothing.
    if q.len() >= 4 && !before.contains(q) {
        assert!(!message.contains(q), "{message:?} shows the query");
    }
}

/// `s3://` and `memory://` lakes only: a `file://` lake creates its folder.
#[cfg(feature = "lake")]
fn check_lake_url(url: &str) {
    if !url.starts_with("s3://") && !url.starts_with("memory://") {
        return;
    }
    let Ok(lake) = crate::Lake::from_url(url) else {
        return;
    };
    let key = "t/p_date=2025-01-01/x.parquet";
    assert_eq!(lake.key_of_url(&lake.url_of(key)).as_deref(), Some(key));
}
