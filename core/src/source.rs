//! Source definitions: `sources/<name>.toml` says where a source's records come from, which
//! columns they give (JSON pointer, type, cleaning steps), what rejects a record, the dedupe key
//! and which timestamp gives `p_date`. Everything downstream (cleaner, Arrow schema, Glue
//! columns) is derived from this one file, so a new source needs no Rust.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// Source definitions shipped inside the binaries, so Lambdas and `firelake run` need no files.
pub const BUILTIN_SOURCES: &[(&str, &str)] = &[
    ("users", include_str!("../../sources/users.toml")),
    (
        "order_lines",
        include_str!("../../sources/order_lines.toml"),
    ),
    (
        "spacex_launches",
        include_str!("../../sources/spacex_launches.toml"),
    ),
    ("loadtest", include_str!("../../sources/loadtest.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        message: String,
    },
    #[error("cannot read source definition {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "unknown source {name:?}: not a built-in source ({builtin}) and no file {name}.toml in {dir}"
    )]
    Unknown {
        name: String,
        builtin: String,
        dir: String,
    },
    #[error("source {source_name}: p_date cannot come from {column:?}: {message}")]
    PartitionFrom {
        source_name: String,
        column: String,
        message: String,
    },
}

/// The column types a source may declare, with their Arrow / Parquet / Glue meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    String,
    Int32,
    Int64,
    Float64,
    Bool,
    /// UTC instant, millisecond precision (Parquet INT64 TIMESTAMP(MILLIS, UTC)).
    TimestampMs,
}

impl ColumnType {
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Int32 => "int32",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Bool => "bool",
            ColumnType::TimestampMs => "timestamp_ms",
        }
    }

    /// JSON forms a column of this type accepts when `accept` is not given.
    fn default_accept(self) -> &'static [JsonForm] {
        match self {
            ColumnType::String => &[JsonForm::String],
            ColumnType::Int32 | ColumnType::Int64 => &[JsonForm::Integer],
            ColumnType::Float64 => &[JsonForm::Number],
            ColumnType::Bool => &[JsonForm::Boolean],
            ColumnType::TimestampMs => &[JsonForm::Iso8601],
        }
    }

    fn allows(self, form: JsonForm) -> bool {
        use JsonForm::*;
        match self {
            ColumnType::String => matches!(form, String | Integer),
            ColumnType::Int32 | ColumnType::Int64 => matches!(form, Integer),
            ColumnType::Float64 => matches!(form, Number | DecimalString),
            ColumnType::Bool => matches!(form, Boolean),
            ColumnType::TimestampMs => matches!(form, Iso8601 | EpochMs),
        }
    }
}

/// Which JSON values a column takes; anything else becomes null (strict typing: no coercion
/// unless a form asks for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonForm {
    /// A JSON string, as is (then the column's steps).
    String,
    /// A JSON number without fraction or exponent; for a string column, its decimal text.
    Integer,
    /// Any JSON number.
    Number,
    /// A JSON string holding a plain decimal literal (`"-14.6781"`, no white space, no inf/nan).
    DecimalString,
    /// A JSON string `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)`.
    Iso8601,
    /// A JSON integer of milliseconds since the Unix epoch.
    EpochMs,
    /// `true` or `false`.
    Boolean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Remove leading and trailing Unicode White_Space.
    Trim,
    /// Unicode default lower-case mapping.
    Lower,
    /// Unicode default upper-case mapping.
    Upper,
}

/// One output column.
#[derive(Debug, Clone)]
pub struct ColumnDef {
    pub name: String,
    /// JSON pointer into the record (RFC 6901), split into unescaped tokens.
    pub path: Vec<String>,
    pub pointer: String,
    pub column_type: ColumnType,
    pub accept: Vec<JsonForm>,
    pub steps: Vec<Step>,
    pub allowed: Option<Vec<String>>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// A record whose value here is null (or an empty string) is rejected.
    pub required: bool,
    /// The record's arrival time (Kinesis approximateArrivalTimestamp, Kafka timestamp, fetch
    /// time) instead of a JSON value.
    pub arrival: bool,
    pub description: Option<String>,
}

impl ColumnDef {
    pub fn nullable(&self) -> bool {
        !(self.required || self.arrival)
    }
}

/// How the producer's HTTP source fetches records (used by the producer; the cleaner ignores it).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchDef {
    pub url: String,
    /// Where the records are in a response (JSON pointer).
    #[serde(default)]
    pub records_pointer: String,
    #[serde(default)]
    pub results_per_call: Option<u32>,
    /// Query parameter that carries the page number or cursor between ticks.
    #[serde(default)]
    pub page_param: Option<String>,
    /// JSON pointer to the next cursor in a response.
    #[serde(default)]
    pub cursor_pointer: Option<String>,
    /// Header to send with a secret read from `auth_env` (or the secret named by it).
    #[serde(default)]
    pub auth_header: Option<String>,
    #[serde(default)]
    pub auth_env: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SourceDef {
    pub name: String,
    pub table: String,
    pub description: Option<String>,
    pub columns: Vec<ColumnDef>,
    /// Columns that identify a record; the compactor keeps one row per key.
    pub dedupe_key: Vec<String>,
    /// Output column holding the partition date (`p_date`).
    pub partition_column: String,
    /// Index into `columns` of the timestamp that gives `p_date`.
    pub partition_from: usize,
    /// Fields that must never be read into any output or log (credentials).
    pub never_read: Vec<String>,
    pub fetch: Option<FetchDef>,
    /// Where the definition came from, for error messages.
    pub origin: String,
}

impl SourceDef {
    /// Resolve a source by name: `<dir>/<name>.toml` when `dir` is given and has it, else the
    /// built-in definition; a name ending in `.toml` is read as a path.
    pub fn resolve(name: &str, dir: Option<&Path>) -> Result<SourceDef, SourceError> {
        if name.ends_with(".toml") {
            return Self::from_file(Path::new(name));
        }
        if let Some(dir) = dir {
            let path = dir.join(format!("{name}.toml"));
            if path.exists() {
                return Self::from_file(&path);
            }
        }
        match BUILTIN_SOURCES.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Self::parse(text, &format!("<built-in>/sources/{n}.toml")),
            None => Err(SourceError::Unknown {
                name: name.to_string(),
                builtin: BUILTIN_SOURCES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
                dir: dir.map_or_else(|| "(no source dir)".into(), |d| d.display().to_string()),
            }),
        }
    }

    pub fn from_file(path: &Path) -> Result<SourceDef, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|source| SourceError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse and validate a definition; `origin` names the file in errors.
    pub fn parse(text: &str, origin: &str) -> Result<SourceDef, SourceError> {
        let invalid = |span: Option<Range<usize>>, message: String| SourceError::Invalid {
            file: origin.to_string(),
            line: span.map_or(1, |s| line_of(text, s.start)),
            message,
        };
        let raw: RawSource = toml::from_str(text).map_err(|e| {
            // toml's message already names the key; keep its first line only (the rest is a
            // source excerpt we replace with file:line).
            let msg = e.message().trim().to_string();
            invalid(e.span(), msg)
        })?;
        raw.validate(origin, text)
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The same source with `p_date` taken from another timestamp column, e.g. an event-time
    /// column for a backfill (`firelake replay --event-time`), so history lands on the day it
    /// belongs to. The column must be a `timestamp_ms` column of the source; a record whose
    /// value there is null is placed on its arrival day, as the cleaner does for any source.
    pub fn with_partition_from(mut self, column: &str) -> Result<SourceDef, SourceError> {
        let err = |message: String| SourceError::PartitionFrom {
            source_name: self.name.clone(),
            column: column.to_string(),
            message,
        };
        let timestamps = self
            .columns
            .iter()
            .filter(|c| c.column_type == ColumnType::TimestampMs)
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        match self.column_index(column) {
            Some(i) if self.columns[i].column_type == ColumnType::TimestampMs => {
                self.partition_from = i;
                Ok(self)
            }
            Some(i) => Err(err(format!(
                "its type is {}, not timestamp_ms (timestamp_ms columns: {timestamps})",
                self.columns[i].column_type.name()
            ))),
            None => Err(err(format!(
                "no such column (timestamp_ms columns: {timestamps})"
            ))),
        }
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

// ------------------------------------------------------------------- TOML shape

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: Spanned<String>,
    table: Option<Spanned<String>>,
    description: Option<String>,
    dedupe_key: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    never_read: Vec<Spanned<String>>,
    partition: Spanned<RawPartition>,
    fetch: Option<FetchDef>,
    columns: Vec<Spanned<RawColumn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartition {
    column: Spanned<String>,
    from: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: Spanned<String>,
    pointer: Option<Spanned<String>>,
    #[serde(rename = "type")]
    column_type: Spanned<ColumnType>,
    accept: Option<Spanned<Vec<JsonForm>>>,
    #[serde(default)]
    steps: Vec<Step>,
    allowed: Option<Vec<String>>,
    min: Option<f64>,
    max: Option<f64>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    arrival: bool,
    description: Option<String>,
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// RFC 6901 pointer -> unescaped tokens.
fn parse_pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Err("the pointer is empty: a column reads one field, e.g. \"/login/uuid\"".into());
    }
    if !p.starts_with('/') {
        return Err(format!("JSON pointer {p:?} must start with '/'"));
    }
    p[1..]
        .split('/')
        .map(|t| {
            if t.contains('~') && t.replace("~0", "").replace("~1", "").contains('~') {
                return Err(format!(
                    "JSON pointer {p:?}: '~' must be followed by 0 or 1"
                ));
            }
            Ok(t.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

/// Errors of one definition file, located by line.
struct At<'a> {
    origin: &'a str,
    text: &'a str,
}

impl At<'_> {
    fn err(&self, span: Range<usize>, message: String) -> SourceError {
        SourceError::Invalid {
            file: self.origin.to_string(),
            line: line_of(self.text, span.start),
            message,
        }
    }
}

impl RawSource {
    fn validate(self, origin: &str, text: &str) -> Result<SourceDef, SourceError> {
        let at = At { origin, text };
        let (name, table) = self.names(&at)?;
        let never_read = self
            .never_read
            .iter()
            .map(|p| {
                parse_pointer(p.get_ref())
                    .map(|_| p.get_ref().clone())
                    .map_err(|m| at.err(p.span(), format!("never_read: {m}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut columns = Vec::with_capacity(self.columns.len());
        let mut seen = HashSet::new();
        for col in &self.columns {
            let cname = col.get_ref().name.get_ref();
            if !seen.insert(cname.clone()) {
                return Err(at.err(
                    col.get_ref().name.span(),
                    format!("column {cname:?}: defined twice"),
                ));
            }
            columns.push(column(col, &never_read, &at)?);
        }
        if columns.is_empty() {
            return Err(at.err(0..0, "no [[columns]] defined".into()));
        }
        self.no_pointer_inside_another(&columns, &at)?;
        let dedupe_span = self.dedupe_key.as_ref().map_or(0..0, |d| d.span());
        let dedupe_key = self.dedupe_key.map(|d| d.into_inner()).unwrap_or_default();
        if let Some(key) = dedupe_key
            .iter()
            .find(|key| !columns.iter().any(|c| &c.name == *key))
        {
            return Err(at.err(
                dedupe_span,
                format!("dedupe_key names {key:?}, which is not a column"),
            ));
        }
        let (partition_column, partition_from) =
            partition(self.partition.get_ref(), &columns, &at)?;
        Ok(SourceDef {
            name,
            table,
            description: self.description,
            columns,
            dedupe_key,
            partition_column,
            partition_from,
            never_read,
            fetch: self.fetch,
            origin: origin.to_string(),
        })
    }

    /// The source's name and table (the name unless given), both identifiers.
    fn names(&self, at: &At) -> Result<(String, String), SourceError> {
        let name = self.name.get_ref().clone();
        if !is_identifier(&name) {
            return Err(at.err(
                self.name.span(),
                format!("name {name:?}: use lower-case letters, digits and '_'"),
            ));
        }
        let table = match &self.table {
            Some(t) if !is_identifier(t.get_ref()) => {
                return Err(at.err(
                    t.span(),
                    format!(
                        "table {:?}: use lower-case letters, digits and '_'",
                        t.get_ref()
                    ),
                ));
            }
            Some(t) => t.get_ref().clone(),
            None => name.clone(),
        };
        Ok((name, table))
    }

    /// A pointer that is a prefix of another would need the same value as a scalar and as
    /// an object; reject it so every column has one clear meaning.
    fn no_pointer_inside_another(&self, columns: &[ColumnDef], at: &At) -> Result<(), SourceError> {
        for a in columns.iter().filter(|c| !c.arrival) {
            for b in columns.iter().filter(|c| !c.arrival) {
                if b.path.len() > a.path.len() && b.path.starts_with(&a.path) {
                    let span = self
                        .columns
                        .iter()
                        .find(|c| c.get_ref().name.get_ref() == &b.name)
                        .map_or(0..0, |c| c.span());
                    return Err(at.err(
                        span,
                        format!(
                            "column {:?}: pointer {} is inside {}, which column {:?} reads as a value",
                            b.name, b.pointer, a.pointer, a.name
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// One column, checked: its name, where its value comes from, and rules that fit its type.
fn column(
    col: &Spanned<RawColumn>,
    never_read: &[String],
    at: &At,
) -> Result<ColumnDef, SourceError> {
    let c = col.get_ref();
    let cname = c.name.get_ref();
    let named = |m: String| at.err(c.name.span(), format!("column {cname:?}: {m}"));
    if !is_identifier(cname) {
        return Err(named("use lower-case letters, digits and '_'".into()));
    }
    let ty = *c.column_type.get_ref();
    let (path, pointer) = column_source(col, never_read, at)?;
    let accept = match &c.accept {
        Some(a) if a.get_ref().is_empty() => {
            return Err(at.err(a.span(), format!("column {cname:?}: accept is empty")));
        }
        Some(a) => match a.get_ref().iter().find(|f| !ty.allows(**f)) {
            Some(bad) => {
                let m = format!(
                    "column {cname:?}: a {} column cannot accept {bad:?}",
                    ty.name()
                );
                return Err(at.err(a.span(), m));
            }
            None => a.get_ref().clone(),
        },
        None => ty.default_accept().to_vec(),
    };
    if let Some(m) = rule_mismatch(c, ty) {
        return Err(named(m));
    }
    Ok(ColumnDef {
        name: cname.clone(),
        path,
        pointer,
        column_type: ty,
        accept,
        steps: c.steps.clone(),
        allowed: c.allowed.clone(),
        min: c.min,
        max: c.max,
        required: c.required,
        arrival: c.arrival,
        description: c.description.clone(),
    })
}

/// A column's value: a JSON pointer (never into a never-read field) or the arrival time.
fn column_source(
    col: &Spanned<RawColumn>,
    never_read: &[String],
    at: &At,
) -> Result<(Vec<String>, String), SourceError> {
    let c = col.get_ref();
    let cname = c.name.get_ref();
    match (&c.pointer, c.arrival) {
        (Some(p), false) => {
            let path = parse_pointer(p.get_ref())
                .map_err(|m| at.err(p.span(), format!("column {cname:?}: {m}")))?;
            let a = p.get_ref().as_str();
            let overlaps = |b: &str| {
                a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"))
            };
            if let Some(b) = never_read.iter().find(|b| overlaps(b)) {
                return Err(at.err(
                    p.span(),
                    format!("column {cname:?}: pointer {a} reaches the never-read field {b}"),
                ));
            }
            Ok((path, p.get_ref().clone()))
        }
        (None, true) if *c.column_type.get_ref() != ColumnType::TimestampMs => Err(at.err(
            c.name.span(),
            format!("column {cname:?}: an arrival column must have type = \"timestamp_ms\""),
        )),
        (None, true) => Ok((Vec::new(), String::new())),
        (Some(p), true) => Err(at.err(
            p.span(),
            format!("column {cname:?}: give either pointer or arrival = true, not both"),
        )),
        (None, false) => Err(at.err(
            col.span(),
            format!("column {cname:?}: missing pointer (or arrival = true)"),
        )),
    }
}

/// Why a column's rules do not fit its type, if they do not.
fn rule_mismatch(c: &RawColumn, ty: ColumnType) -> Option<String> {
    let numeric = matches!(
        ty,
        ColumnType::Int32 | ColumnType::Int64 | ColumnType::Float64
    );
    if !c.steps.is_empty() && ty != ColumnType::String {
        return Some(format!("steps apply to string columns, not {}", ty.name()));
    }
    if c.allowed.is_some() && ty != ColumnType::String {
        return Some("allowed applies to string columns".into());
    }
    if (c.min.is_some() || c.max.is_some()) && !numeric {
        return Some(format!(
            "min/max apply to numeric columns, not {}",
            ty.name()
        ));
    }
    match (c.min, c.max) {
        (Some(lo), Some(hi)) if lo > hi => Some(format!("min {lo} is above max {hi}")),
        _ => None,
    }
}

/// The partition column (a new identifier) and the timestamp column it is made from.
fn partition(
    part: &RawPartition,
    columns: &[ColumnDef],
    at: &At,
) -> Result<(String, usize), SourceError> {
    let pcol = part.column.get_ref().clone();
    if !is_identifier(&pcol) || columns.iter().any(|c| c.name == pcol) {
        return Err(at.err(
            part.column.span(),
            format!("partition column {pcol:?} must be a new identifier, not one of the columns"),
        ));
    }
    let from = part.from.get_ref();
    match columns.iter().position(|c| &c.name == from) {
        Some(i) if columns[i].column_type == ColumnType::TimestampMs => Ok((pcol, i)),
        Some(_) => Err(at.err(
            part.from.span(),
            format!("partition.from {from:?} must be a timestamp_ms column"),
        )),
        None => Err(at.err(
            part.from.span(),
            format!("partition.from names {from:?}, which is not a column"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "t"
dedupe_key = ["id"]

[partition]
column = "p_date"
from = "at"

[[columns]]
name = "id"
pointer = "/id"
type = "string"
required = true

[[columns]]
name = "at"
type = "timestamp_ms"
arrival = true
"#;

    fn err_of(text: &str) -> String {
        SourceDef::parse(text, "src.toml").unwrap_err().to_string()
    }

    #[test]
    fn builtin_users_parses() {
        let def = SourceDef::resolve("users", None).unwrap();
        assert_eq!(def.table, "users");
        assert_eq!(def.columns.len(), 24);
        assert_eq!(def.partition_column, "p_date");
        assert_eq!(def.columns[def.partition_from].name, "ingested_at");
        assert_eq!(def.dedupe_key, vec!["user_id"]);
        assert!(def.never_read.iter().any(|p| p == "/login/password"));
    }

    /// Each column rule that does not fit names its column and the line of that column.
    #[test]
    fn column_rules_that_do_not_fit_are_errors_with_their_line() {
        let extra = |column: &str| format!("{MINIMAL}\n[[columns]]\n{column}\n");
        let cases = [
            (
                "name = \"n\"\npointer = \"/n\"\ntype = \"int32\"\nmin = 5.0\nmax = 1.0",
                "min 5 is above max 1",
            ),
            (
                "name = \"n\"\npointer = \"/n\"\ntype = \"int32\"\nallowed = [\"a\"]",
                "allowed applies to string columns",
            ),
            (
                "name = \"n\"\npointer = \"/n\"\ntype = \"string\"\nmin = 1.0",
                "min/max apply to numeric columns",
            ),
            (
                "name = \"n\"\ntype = \"int64\"\narrival = true",
                "an arrival column must have type",
            ),
            (
                "name = \"n\"\npointer = \"/n\"\ntype = \"timestamp_ms\"\narrival = true",
                "not both",
            ),
            ("name = \"n\"\ntype = \"string\"", "missing pointer"),
            (
                "name = \"id\"\npointer = \"/x\"\ntype = \"string\"",
                "defined twice",
            ),
            (
                "name = \"N\"\npointer = \"/n\"\ntype = \"string\"",
                "lower-case",
            ),
        ];
        for (column, expected) in cases {
            let e = err_of(&extra(column));
            assert!(e.contains(expected), "{column}: {e}");
            assert!(e.starts_with("src.toml:2"), "{column}: {e}");
        }
    }

    #[test]
    fn minimal_parses() {
        let def = SourceDef::parse(MINIMAL, "src.toml").unwrap();
        assert_eq!(def.columns[0].path, vec!["id"]);
        assert!(!def.columns[0].nullable());
    }

    #[test]
    fn pointer_escapes_unescape() {
        assert_eq!(parse_pointer("/a~1b/c~0d").unwrap(), vec!["a/b", "c~d"]);
        assert!(parse_pointer("a/b").is_err());
        assert!(parse_pointer("/a~2").is_err());
    }

    #[test]
    fn toml_syntax_error_names_file_and_line() {
        let text = MINIMAL.replace("type = \"string\"", "type = string");
        let e = err_of(&text);
        assert!(e.starts_with("src.toml:12:"), "{e}");
    }

    #[test]
    fn unknown_type_names_line() {
        let e = err_of(&MINIMAL.replace("\"string\"", "\"strin\""));
        assert!(e.starts_with("src.toml:12:") && e.contains("strin"), "{e}");
    }

    #[test]
    fn unknown_field_is_an_error() {
        let e = err_of(&MINIMAL.replace("required = true", "requird = true"));
        assert!(e.contains("requird"), "{e}");
        assert!(e.starts_with("src.toml:"), "{e}");
    }

    #[test]
    fn bad_pointer_names_column_and_line() {
        let e = err_of(&MINIMAL.replace("\"/id\"", "\"id\""));
        assert!(e.starts_with("src.toml:11:") && e.contains("\"id\""), "{e}");
    }

    #[test]
    fn never_read_field_cannot_be_a_column() {
        let text = MINIMAL.replace("dedupe_key", "never_read = [\"/id\"]\ndedupe_key");
        let e = err_of(&text);
        assert!(e.contains("never-read"), "{e}");
    }

    #[test]
    fn dedupe_key_must_be_a_column() {
        let e = err_of(&MINIMAL.replace("[\"id\"]", "[\"nope\"]"));
        assert!(e.contains("nope") && e.starts_with("src.toml:3:"), "{e}");
    }

    #[test]
    fn partition_from_must_be_timestamp() {
        let e = err_of(&MINIMAL.replace("from = \"at\"", "from = \"id\""));
        assert!(
            e.contains("timestamp_ms") && e.starts_with("src.toml:7:"),
            "{e}"
        );
    }

    #[test]
    fn accept_must_fit_type() {
        let text = MINIMAL.replace("required = true", "required = true\naccept = [\"iso8601\"]");
        let e = err_of(&text);
        assert!(e.contains("cannot accept"), "{e}");
    }

    #[test]
    fn prefix_pointers_are_rejected() {
        let text = format!(
            "{MINIMAL}\n[[columns]]\nname = \"sub\"\npointer = \"/id/x\"\ntype = \"string\"\n"
        );
        let e = err_of(&text);
        assert!(e.contains("inside /id"), "{e}");
    }

    #[test]
    fn partition_from_can_be_overridden_with_a_timestamp_column() {
        let text = format!(
            "{MINIMAL}\n[[columns]]\nname = \"happened_at\"\npointer = \"/ts\"\ntype = \"timestamp_ms\"\n"
        );
        let def = SourceDef::parse(&text, "src.toml").unwrap();
        assert_eq!(def.columns[def.partition_from].name, "at");
        let moved = def.clone().with_partition_from("happened_at").unwrap();
        assert_eq!(moved.columns[moved.partition_from].name, "happened_at");
        let e = def
            .clone()
            .with_partition_from("id")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"id\"") && e.contains("type is string") && e.contains("at, happened_at"),
            "{e}"
        );
        let e = def.with_partition_from("nope").unwrap_err().to_string();
        assert!(e.contains("no such column"), "{e}");
    }

    #[test]
    fn builtin_batch_and_api_sources_parse() {
        let lines = SourceDef::resolve("order_lines", None).unwrap();
        assert_eq!(lines.dedupe_key, vec!["order_id", "product_id"]);
        assert_eq!(lines.columns[lines.partition_from].name, "ordered_at");
        assert!(lines.fetch.is_none());
        let launches = SourceDef::resolve("spacex_launches", None).unwrap();
        assert_eq!(launches.dedupe_key, vec!["launch_id"]);
        assert!(
            launches
                .fetch
                .as_ref()
                .is_some_and(|f| f.url.starts_with("https://"))
        );
        assert!(launches.with_partition_from("launched_at").is_ok());
    }

    #[test]
    fn unknown_source_lists_builtins() {
        let e = SourceDef::resolve("nope", None).unwrap_err().to_string();
        assert!(e.contains("users"), "{e}");
    }
}
