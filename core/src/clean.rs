//! The cleaner: raw record bytes + arrival time -> one cleaned row, or a rejection with a reason.
//!
//! One pass of serde_json over the record validates it completely (strict RFC 8259) while a
//! tree compiled from the source's JSON pointers captures only the fields the columns read, as
//! borrowed raw JSON text; every other field is skipped without being materialised, which is
//! what makes this fast and what keeps never-read fields (credentials) out of memory we keep.
//! No input can panic it: every access is checked and every failure is a value or a reason.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::source::{ColumnDef, ColumnType, JsonForm, SourceDef, Step};
use crate::time;

/// Why a record was rejected. The text never contains the record's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not valid UTF-8 (strict: no overlong forms, surrogates or truncated sequences).
    InvalidUtf8 { offset: usize },
    /// Not one valid JSON text.
    InvalidJson { detail: String },
    /// Valid JSON, but not an object.
    NotObject,
    /// A required column is missing, null, of the wrong type or empty.
    MissingRequired { column: String, pointer: String },
    /// A string the record needs holds an escape that is no Unicode scalar (a lone surrogate).
    UnrepresentableString { column: String },
    /// A timestamp outside years 0001-9999 ([`time::MIN_MS`]..=[`time::MAX_MS`]) in a column
    /// that is required or gives `p_date` (elsewhere such a value is null). The arrival time
    /// counts too: its column is `(arrival)`.
    TimestampOutOfRange { column: String, pointer: String },
    /// The column that gives `p_date` holds a value that is no timestamp it accepts: the
    /// record is rejected rather than moved to its arrival day (only a missing or `null`
    /// event time places a row on its arrival day).
    InvalidPartitionTime { column: String, pointer: String },
}

impl Rejection {
    /// A short machine-friendly kind, for metrics and rejected-record files.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::InvalidUtf8 { .. } => "invalid_utf8",
            Rejection::InvalidJson { .. } => "invalid_json",
            Rejection::NotObject => "not_an_object",
            Rejection::MissingRequired { .. } => "missing_required",
            Rejection::UnrepresentableString { .. } => "unrepresentable_string",
            Rejection::TimestampOutOfRange { .. } => "timestamp_out_of_range",
            Rejection::InvalidPartitionTime { .. } => "invalid_partition_time",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::InvalidUtf8 { offset } => {
                write!(f, "invalid UTF-8 at byte {offset}")
            }
            Rejection::InvalidJson { detail } => write!(f, "invalid JSON: {detail}"),
            Rejection::NotObject => write!(f, "the JSON value is not an object"),
            Rejection::MissingRequired { column, pointer } => write!(
                f,
                "required field {pointer} (column {column}) is missing, null, empty or not of its type"
            ),
            Rejection::UnrepresentableString { column } => write!(
                f,
                "column {column}: string escape is not a Unicode scalar value (lone surrogate)"
            ),
            Rejection::TimestampOutOfRange { column, pointer } => write!(
                f,
                "timestamp {pointer} (column {column}) is outside years 0001-9999"
            ),
            Rejection::InvalidPartitionTime { column, pointer } => write!(
                f,
                "partition time {pointer} (column {column}) is not a timestamp the column accepts"
            ),
        }
    }
}

/// Why a present value became NULL (the record was kept): counted per column and kept with
/// its original in the `_nulled/` side files, so nothing changes silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NullReason {
    /// A JSON type (or form) the column does not accept.
    WrongType,
    /// A number outside the column's `min`/`max` (or its integer width), or not finite.
    OutOfRange,
    /// A string not in the column's `allowed` list.
    NotAllowed,
    /// A string that should hold a number or timestamp and does not parse.
    Unparsable,
    /// A timestamp outside years 0001-9999 in a column that is neither required nor `p_date`.
    TimestampOutOfRange,
}

impl NullReason {
    /// Every reason, in [`NullReason::index`] order.
    pub const ALL: [NullReason; 5] = [
        NullReason::WrongType,
        NullReason::OutOfRange,
        NullReason::NotAllowed,
        NullReason::Unparsable,
        NullReason::TimestampOutOfRange,
    ];

    pub fn kind(self) -> &'static str {
        match self {
            NullReason::WrongType => "wrong_type",
            NullReason::OutOfRange => "out_of_range",
            NullReason::NotAllowed => "not_allowed",
            NullReason::Unparsable => "unparsable",
            NullReason::TimestampOutOfRange => "timestamp_out_of_range",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// A short sentence for the kept record's reason.
    pub fn describe(self) -> &'static str {
        match self {
            NullReason::WrongType => "value of a type the column does not accept, nulled",
            NullReason::OutOfRange => "value outside the column's range, nulled",
            NullReason::NotAllowed => "value not in the column's allowed list, nulled",
            NullReason::Unparsable => "text that does not parse as the column's type, nulled",
            NullReason::TimestampOutOfRange => "timestamp outside years 0001-9999, nulled",
        }
    }
}

/// One value the cleaner nulled: its column (index into the source's columns), why, and the
/// original JSON text, borrowed from the record (no allocation while cleaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nulled<'a> {
    pub column: usize,
    pub reason: NullReason,
    pub original: &'a str,
}

/// A cleaned value, borrowing from the record's bytes where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum CleanValue<'a> {
    Null,
    Str(Cow<'a, str>),
    I32(i32),
    I64(i64),
    F64(f64),
    Bool(bool),
    /// UTC epoch milliseconds.
    TimestampMs(i64),
}

/// One cleaned row: a value per source column, in the source's column order, plus its
/// partition day.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanRow<'a> {
    pub values: Vec<CleanValue<'a>>,
    /// Days since 1970-01-01 (UTC) of the partition timestamp.
    pub p_date: i32,
    /// Values present in the record that a rule nulled (empty, unallocated, for most rows).
    pub nulled: Vec<Nulled<'a>>,
}

// ------------------------------------------------------------------ field tree

#[derive(Debug, Default)]
struct Node {
    children: Vec<(String, Child)>,
}

#[derive(Debug)]
enum Child {
    Leaf(usize),
    /// A sub-object and the range of slots below it (cleared when its key repeats, so the
    /// last occurrence of a duplicated key wins, as in the reference).
    Branch(Node, std::ops::Range<usize>),
}

impl Node {
    fn insert(&mut self, path: &[String], slot: usize) {
        let (head, rest) = path.split_first().expect("pointer has at least one token");
        let pos = self.children.iter().position(|(k, _)| k == head);
        if rest.is_empty() {
            if pos.is_none() {
                self.children.push((head.clone(), Child::Leaf(slot)));
            }
            return;
        }
        let idx = match pos {
            Some(i) => i,
            None => {
                self.children
                    .push((head.clone(), Child::Branch(Node::default(), slot..slot)));
                self.children.len() - 1
            }
        };
        if let Child::Branch(node, _) = &mut self.children[idx].1 {
            node.insert(rest, slot);
        }
    }

    /// Fill in every branch's slot range (slots are numbered depth-first, so contiguous).
    fn fix_ranges(&mut self) -> std::ops::Range<usize> {
        let mut lo = usize::MAX;
        let mut hi = 0;
        for (_, child) in &mut self.children {
            let r = match child {
                Child::Leaf(s) => *s..*s + 1,
                Child::Branch(node, range) => {
                    *range = node.fix_ranges();
                    range.clone()
                }
            };
            lo = lo.min(r.start);
            hi = hi.max(r.end);
        }
        if lo == usize::MAX { 0..0 } else { lo..hi }
    }

    fn find(&self, key: &str) -> Option<&Child> {
        self.children.iter().find(|(k, _)| k == key).map(|(_, c)| c)
    }
}

type Slots<'a> = [Option<&'a RawValue>];

struct NodeSeed<'n, 's, 'a> {
    node: &'n Node,
    slots: &'s mut Slots<'a>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_, 'de> {
    /// Whether the value was an object.
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

/// Object keys, borrowed when they have no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match self.node.find(&key) {
                Some(Child::Leaf(slot)) => {
                    self.slots[*slot] = Some(map.next_value::<&'de RawValue>()?);
                }
                Some(Child::Branch(node, range)) => {
                    self.slots[range.clone()].fill(None);
                    map.next_value_seed(NodeSeed {
                        node,
                        slots: &mut *self.slots,
                    })?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

// ------------------------------------------------------------------ the cleaner

/// A source definition compiled for cleaning. Cheap to share across threads.
#[derive(Debug)]
pub struct Cleaner {
    def: Arc<SourceDef>,
    tree: Node,
    /// Per column: the slot it reads (None for the arrival column).
    column_slots: Vec<Option<usize>>,
    n_slots: usize,
}

impl Cleaner {
    pub fn new(def: Arc<SourceDef>) -> Cleaner {
        let mut tree = Node::default();
        let mut column_slots = Vec::with_capacity(def.columns.len());
        let mut pointers: Vec<&str> = Vec::new();
        // Slots are handed out depth-first over the sorted pointers, so each branch covers a
        // contiguous slot range; columns sharing a pointer share a slot.
        let mut order: Vec<&ColumnDef> = def.columns.iter().filter(|c| !c.arrival).collect();
        order.sort_by(|a, b| a.path.cmp(&b.path));
        for c in &order {
            if !pointers.contains(&c.pointer.as_str()) {
                tree.insert(&c.path, pointers.len());
                pointers.push(&c.pointer);
            }
        }
        for c in &def.columns {
            column_slots.push(if c.arrival {
                None
            } else {
                pointers.iter().position(|p| *p == c.pointer)
            });
        }
        tree.fix_ranges();
        let n_slots = pointers.len();
        Cleaner {
            def,
            tree,
            column_slots,
            n_slots,
        }
    }

    pub fn source(&self) -> &Arc<SourceDef> {
        &self.def
    }

    /// Clean one record that arrived at `arrival_ms` (UTC epoch milliseconds).
    pub fn clean<'a>(&self, raw: &'a [u8], arrival_ms: i64) -> Result<CleanRow<'a>, Rejection> {
        // SIMD validation first (the common, valid case); std only to locate an error.
        let text = match simdutf8::basic::from_utf8(raw) {
            Ok(t) => t,
            Err(_) => {
                let offset = std::str::from_utf8(raw).map_or_else(|e| e.valid_up_to(), |_| 0);
                return Err(Rejection::InvalidUtf8 { offset });
            }
        };
        let mut slots: Vec<Option<&'a RawValue>> = vec![None; self.n_slots];
        let mut de = serde_json::Deserializer::from_str(text);
        let is_object = NodeSeed {
            node: &self.tree,
            slots: &mut slots,
        }
        .deserialize(&mut de)
        .and_then(|o| de.end().map(|_| o))
        .map_err(|e| Rejection::InvalidJson {
            detail: json_error_detail(&e),
        })?;
        if !is_object {
            return Err(Rejection::NotObject);
        }

        let mut values = Vec::with_capacity(self.def.columns.len());
        let mut nulled = Vec::new();
        for (i, (col, slot)) in self.def.columns.iter().zip(&self.column_slots).enumerate() {
            let v = match slot {
                None if time::in_range(arrival_ms) => CleanValue::TimestampMs(arrival_ms),
                None => return Err(out_of_range(col)),
                Some(s) => match slots[*s].map(RawValue::get) {
                    None | Some("null") => CleanValue::Null,
                    Some(raw) => self.value_or_null(i, col, raw, &mut nulled)?,
                },
            };
            if col.required {
                let missing = match &v {
                    CleanValue::Null => true,
                    CleanValue::Str(s) => s.is_empty(),
                    _ => false,
                };
                if missing {
                    return Err(Rejection::MissingRequired {
                        column: col.name.clone(),
                        pointer: col.pointer.clone(),
                    });
                }
            }
            values.push(v);
        }
        let p_ms = match values[self.def.partition_from] {
            CleanValue::TimestampMs(ms) => ms,
            // An event-time column that is null places the row on its arrival day.
            _ if time::in_range(arrival_ms) => arrival_ms,
            _ => return Err(arrival_out_of_range(&self.def)),
        };
        Ok(CleanRow {
            values,
            p_date: time::day_of_ms(p_ms),
            nulled,
        })
    }

    /// Column `i`'s value from its present raw text; a value a rule nulls is recorded in
    /// `nulled`, except where the row needs it (required: rejected by the caller; the
    /// partition time: rejected here, never moved to the arrival day).
    fn value_or_null<'a>(
        &self,
        i: usize,
        col: &ColumnDef,
        raw: &'a str,
        nulled: &mut Vec<Nulled<'a>>,
    ) -> Result<CleanValue<'a>, Rejection> {
        let reason = match clean_value(col, raw) {
            Ok(v) => return Ok(v),
            Err(Fault::Reject(r @ Rejection::TimestampOutOfRange { .. }))
                if col.required || i == self.def.partition_from =>
            {
                return Err(r);
            }
            Err(Fault::Reject(Rejection::TimestampOutOfRange { .. })) => {
                NullReason::TimestampOutOfRange
            }
            Err(Fault::Reject(r)) => return Err(r),
            Err(Fault::Null(reason)) => reason,
        };
        if col.required {
            return Ok(CleanValue::Null); // rejected as missing by the caller
        }
        if i == self.def.partition_from {
            return Err(Rejection::InvalidPartitionTime {
                column: col.name.clone(),
                pointer: col.pointer.clone(),
            });
        }
        nulled.push(Nulled {
            column: i,
            reason,
            original: raw,
        });
        Ok(CleanValue::Null)
    }

    /// The source's dedupe key of a cleaned row (key columns joined by U+001F).
    pub fn key_of_row(&self, row: &CleanRow<'_>) -> Option<String> {
        let mut key = String::new();
        for name in &self.def.dedupe_key {
            let i = self.def.column_index(name)?;
            match &row.values[i] {
                CleanValue::Str(s) => key.push_str(s),
                CleanValue::I32(v) => key.push_str(&v.to_string()),
                CleanValue::I64(v) => key.push_str(&v.to_string()),
                CleanValue::TimestampMs(v) => key.push_str(&v.to_string()),
                CleanValue::F64(v) => key.push_str(&v.to_string()),
                CleanValue::Bool(v) => key.push_str(&v.to_string()),
                CleanValue::Null => {}
            }
            key.push('\u{1f}');
        }
        key.pop();
        (!key.is_empty()).then_some(key)
    }

    /// The value of the source's dedupe key of a record, for stream partition keys; `None`
    /// when the record has none (it will be rejected downstream anyway).
    pub fn dedupe_key_of(&self, raw: &[u8]) -> Option<String> {
        self.key_of_row(&self.clean(raw, 0).ok()?)
    }
}

fn out_of_range(col: &ColumnDef) -> Rejection {
    Rejection::TimestampOutOfRange {
        column: col.name.clone(),
        pointer: if col.arrival {
            "(arrival)".into()
        } else {
            col.pointer.clone()
        },
    }
}

/// An arrival time out of range (a Kafka producer sets its own timestamps).
fn arrival_out_of_range(def: &SourceDef) -> Rejection {
    Rejection::TimestampOutOfRange {
        column: def
            .columns
            .iter()
            .find(|c| c.arrival)
            .map_or_else(|| "(arrival)".into(), |c| c.name.clone()),
        pointer: "(arrival)".into(),
    }
}

/// serde_json's syntax messages carry a position and never input text: every visitor here
/// accepts every JSON type, so no "invalid type: string \"...\"" message can arise.
fn json_error_detail(e: &serde_json::Error) -> String {
    e.to_string()
}

/// A JSON value's kind, judged from its raw text (already validated by serde_json).
enum RawKind<'a> {
    String(&'a str),
    Integer(&'a str),
    Number(&'a str),
    Bool(bool),
    Other,
}

fn kind_of(raw: &str) -> RawKind<'_> {
    match raw.as_bytes().first() {
        Some(b'"') => RawKind::String(raw),
        Some(b't') => RawKind::Bool(true),
        Some(b'f') => RawKind::Bool(false),
        Some(b'-' | b'0'..=b'9') => {
            if raw.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
                RawKind::Number(raw)
            } else {
                RawKind::Integer(raw)
            }
        }
        _ => RawKind::Other, // null, objects, arrays
    }
}

/// The content of a raw JSON string literal: borrowed when it has no escapes.
fn decode_string<'a>(raw: &'a str, col: &ColumnDef) -> Result<Cow<'a, str>, Rejection> {
    let inner = &raw[1..raw.len() - 1];
    if !inner.contains('\\') {
        return Ok(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(raw)
        .map(Cow::Owned)
        .map_err(|_| Rejection::UnrepresentableString {
            column: col.name.clone(),
        })
}

/// `^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - s;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let s = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == s {
            return false;
        }
    }
    i == b.len()
}

fn in_range(col: &ColumnDef, v: f64) -> bool {
    col.min.is_none_or(|lo| v >= lo) && col.max.is_none_or(|hi| v <= hi)
}

fn apply_steps<'a>(mut s: Cow<'a, str>, steps: &[Step]) -> Cow<'a, str> {
    for step in steps {
        s = match step {
            Step::Trim => match s {
                Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
                Cow::Owned(o) => {
                    let t = o.trim();
                    if t.len() == o.len() {
                        Cow::Owned(o)
                    } else {
                        Cow::Owned(t.to_owned())
                    }
                }
            },
            Step::Lower => {
                let unchanged = if s.is_ascii() {
                    !s.bytes().any(|b| b.is_ascii_uppercase())
                } else {
                    false
                };
                if unchanged {
                    s
                } else {
                    Cow::Owned(s.to_lowercase())
                }
            }
            Step::Upper => {
                let unchanged = s.is_ascii() && !s.bytes().any(|b| b.is_ascii_lowercase());
                if unchanged {
                    s
                } else {
                    Cow::Owned(s.to_uppercase())
                }
            }
        };
    }
    s
}

/// Why [`clean_value`] gave no value: a null with its reason, or a rejection.
enum Fault {
    Null(NullReason),
    Reject(Rejection),
}

impl From<Rejection> for Fault {
    fn from(r: Rejection) -> Fault {
        Fault::Reject(r)
    }
}

use NullReason::{NotAllowed, OutOfRange, Unparsable, WrongType};

fn clean_value<'a>(col: &ColumnDef, raw: &'a str) -> Result<CleanValue<'a>, Fault> {
    let kind = kind_of(raw);
    let accepts = |f: JsonForm| col.accept.contains(&f);
    let null = |r: NullReason| Err(Fault::Null(r));
    Ok(match col.column_type {
        ColumnType::String => {
            let s = match kind {
                RawKind::String(r) if accepts(JsonForm::String) => decode_string(r, col)?,
                RawKind::Integer(r) if accepts(JsonForm::Integer) => match r.parse::<i64>() {
                    // Re-format so "-0" reads "0", as the integer's decimal text.
                    Ok(i) => Cow::Owned(itoa::Buffer::new().format(i).to_owned()),
                    Err(_) => return null(OutOfRange),
                },
                _ => return null(WrongType),
            };
            let s = apply_steps(s, &col.steps);
            if let Some(allowed) = &col.allowed
                && !allowed.iter().any(|a| a.as_str() == s.as_ref())
            {
                return null(NotAllowed);
            }
            CleanValue::Str(s)
        }
        ColumnType::Int32 | ColumnType::Int64 => match kind {
            RawKind::Integer(r) => match r.parse::<i64>() {
                Ok(i) if in_range(col, i as f64) => {
                    if col.column_type == ColumnType::Int64 {
                        CleanValue::I64(i)
                    } else {
                        match i32::try_from(i) {
                            Ok(v) => CleanValue::I32(v),
                            Err(_) => return null(OutOfRange),
                        }
                    }
                }
                _ => return null(OutOfRange),
            },
            _ => return null(WrongType),
        },
        ColumnType::Float64 => clean_float(col, kind)?,
        ColumnType::Bool => match kind {
            RawKind::Bool(b) => CleanValue::Bool(b),
            _ => return null(WrongType),
        },
        ColumnType::TimestampMs => clean_timestamp(col, kind)?,
    })
}

fn clean_float<'a>(col: &ColumnDef, kind: RawKind<'_>) -> Result<CleanValue<'a>, Fault> {
    let accepts = |f: JsonForm| col.accept.contains(&f);
    let parsed = match kind {
        RawKind::Integer(r) | RawKind::Number(r) if accepts(JsonForm::Number) => {
            r.parse::<f64>().ok()
        }
        RawKind::String(r) if accepts(JsonForm::DecimalString) => {
            let text = decode_string(r, col)?;
            if !is_decimal_literal(&text) {
                return Err(Fault::Null(Unparsable));
            }
            text.parse::<f64>().ok()
        }
        _ => return Err(Fault::Null(WrongType)),
    };
    match parsed {
        Some(v) if v.is_finite() && in_range(col, v) => Ok(CleanValue::F64(v)),
        _ => Err(Fault::Null(OutOfRange)),
    }
}

fn clean_timestamp<'a>(col: &ColumnDef, kind: RawKind<'_>) -> Result<CleanValue<'a>, Fault> {
    let accepts = |f: JsonForm| col.accept.contains(&f);
    let ms = match kind {
        RawKind::String(r) if accepts(JsonForm::Iso8601) => {
            time::parse_iso8601_ms(&decode_string(r, col)?).ok_or(Fault::Null(Unparsable))?
        }
        // Digits beyond i64 are out of range too, not malformed.
        RawKind::Integer(r) if accepts(JsonForm::EpochMs) => r.parse::<i64>().unwrap_or(i64::MAX),
        _ => return Err(Fault::Null(WrongType)),
    };
    if time::in_range(ms) {
        Ok(CleanValue::TimestampMs(ms))
    } else {
        Err(Fault::Reject(out_of_range(col)))
    }
}

#[cfg(test)]
mod tests;
