//! Removing secrets before anything is kept or shown (pure: no I/O). A source's `never_read`
//! pointers name credentials that no column reads; a raw record kept outside the tables (a
//! rejected record, a dead letter, a replay or convert reject, a Firehose failure echo) has
//! them replaced by [`MARKER`] first (DESIGN.md decision 6):
//! - valid JSON: each pointed-at value (whatever its type) becomes `"<redacted>"`; every other
//!   byte stays as it was. Conservatively, since a kept record is often one whose shape is
//!   not what the pointers expect (wrapped in an envelope or an array), so is the value of
//!   every member named like a pointer's last key, at any depth, and such a key's value inside
//!   a string (JSON escaped in JSON);
//! - anything else (truncated JSON, invalid UTF-8, a text line): the value after each
//!   pointer's last key, wherever that key appears as a key, is replaced (conservative: the
//!   key's position in the document is not known);
//! - a delimited row (CSV) whose header names a never-read field and that could not be split
//!   into its fields: the whole row is replaced (which field is which is not known).
//!
//! Locations are shown without their query, fragment or user info ([`shown_location`]).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Nesting walked as JSON; a deeper record is redacted as text (and the walk's recursion
/// stays bounded whatever the input).
const MAX_DEPTH: usize = 64;

#[derive(Debug)]
struct TooDeep;

/// What a redacted value becomes (in JSON, as the string `"<redacted>"`).
pub const MARKER: &str = "<redacted>";
const MARKER_JSON: &[u8] = b"\"<redacted>\"";

/// How a record's secrets were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Nothing to redact (no never-read value present).
    None,
    /// Valid JSON: the pointed-at values replaced.
    Json,
    /// Not valid JSON: the values after the pointers' last keys replaced.
    Text,
    /// A row whose header names a never-read field, replaced whole.
    WholeRow,
}

impl Method {
    /// For the reason of a kept record.
    pub fn describe(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::Json => "by JSON pointer",
            Method::Text => "by key, the record is not valid JSON",
            Method::WholeRow => "the whole row, its header names a never_read field",
        }
    }
}

/// A record with its never-read values replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted<'a> {
    pub bytes: Cow<'a, [u8]>,
    /// The never-read pointers whose values were replaced (each once, in definition order).
    pub pointers: Vec<String>,
    pub method: Method,
}

/// The raw bytes to keep, and what is known of their form.
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    /// A record as it came (JSON, or whatever bytes arrived).
    Record(&'a [u8]),
    /// A delimited row (CSV) that could not become a record, with its file's header.
    Row {
        bytes: &'a [u8],
        headers: &'a [String],
    },
}

/// One level of the pointers as a tree: tokens to children; `ends` lists the pointers (by
/// index) that end here.
#[derive(Debug, Default, Clone)]
struct Node {
    children: Vec<(String, Node)>,
    ends: Vec<usize>,
}

impl Node {
    fn insert(&mut self, tokens: &[String], index: usize) {
        match tokens.split_first() {
            None => self.ends.push(index),
            Some((first, rest)) => {
                let at = match self.children.iter().position(|(t, _)| t == first) {
                    Some(i) => i,
                    None => {
                        self.children.push((first.clone(), Node::default()));
                        self.children.len() - 1
                    }
                };
                self.children[at].1.insert(rest, index);
            }
        }
    }

    fn child(&self, key: &str) -> Option<&Node> {
        self.children.iter().find(|(t, _)| t == key).map(|(_, n)| n)
    }
}

/// The redaction of one source's `never_read` pointers.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    pointers: Vec<String>,
    tree: Node,
    /// Each pointer's last token (what text and row redaction look for).
    last_keys: Vec<String>,
}

impl Redactor {
    /// From RFC 6901 pointers (`/login/password`); pointers that do not parse (the source
    /// definition has validated them) are ignored.
    pub fn new<S: AsRef<str>>(never_read: &[S]) -> Redactor {
        let mut r = Redactor::default();
        for p in never_read {
            let Some(tokens) = pointer_tokens(p.as_ref()) else {
                continue;
            };
            let index = r.pointers.len();
            r.pointers.push(p.as_ref().to_string());
            r.last_keys.push(tokens.last().cloned().unwrap_or_default());
            r.tree.insert(&tokens, index);
        }
        r
    }

    pub fn pointers(&self) -> &[String] {
        &self.pointers
    }

    /// Replace the never-read values of `raw` by [`MARKER`].
    pub fn redact<'a>(&self, raw: Raw<'a>) -> Redacted<'a> {
        match raw {
            Raw::Record(bytes) => self.redact_record(bytes),
            Raw::Row { bytes, headers } => {
                let hits = self.header_hits(headers);
                if hits.is_empty() {
                    self.redact_record(bytes)
                } else {
                    Redacted {
                        bytes: Cow::Owned(MARKER.as_bytes().to_vec()),
                        pointers: self.named(hits),
                        method: Method::WholeRow,
                    }
                }
            }
        }
    }

    fn redact_record<'a>(&self, bytes: &'a [u8]) -> Redacted<'a> {
        let unchanged = |method| Redacted {
            bytes: Cow::Borrowed(bytes),
            pointers: Vec::new(),
            method,
        };
        if self.pointers.is_empty() {
            return unchanged(Method::None);
        }
        let parsed = std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| serde_json::from_str::<&RawValue>(text).ok());
        let json = parsed.and_then(|root| {
            let mut spans = Vec::new();
            let base = bytes.as_ptr() as usize;
            self.json_spans(Some(&self.tree), root, base, 0, &mut spans)
                .ok()
                .map(|()| spans)
        });
        let (spans, method) = match json {
            Some(spans) => (spans, Method::Json),
            None => (self.text_spans(bytes, 0), Method::Text),
        };
        if spans.is_empty() {
            return unchanged(Method::None);
        }
        let mut hits: Vec<usize> = spans.iter().map(|s| s.pointer).collect();
        hits.sort_unstable();
        hits.dedup();
        Redacted {
            bytes: Cow::Owned(splice(bytes, spans)),
            pointers: self.named(hits),
            method,
        }
    }

    /// The spans to replace inside `value` (`node`: where the pointers stand at this value,
    /// if they reach it; `base`: the address of the whole input, which every raw value
    /// borrows from). `Err` past [`MAX_DEPTH`]: the caller redacts the record as text.
    fn json_spans(
        &self,
        node: Option<&Node>,
        value: &RawValue,
        base: usize,
        depth: usize,
        spans: &mut Vec<Span>,
    ) -> Result<(), TooDeep> {
        if depth > MAX_DEPTH {
            return Err(TooDeep);
        }
        let text = value.get();
        let start = text.as_ptr() as usize - base;
        match text.as_bytes().first() {
            Some(b'{') => {
                let Ok(Entries(entries)) = serde_json::from_str::<Entries>(text) else {
                    return Ok(());
                };
                // Every entry with a matching key: duplicate keys are all redacted.
                for (key, v) in entries {
                    let child = node.and_then(|n| n.child(&key));
                    let by_name = (0..self.last_keys.len())
                        .filter(|i| self.last_keys[*i].eq_ignore_ascii_case(&key));
                    let hits: Vec<usize> = child
                        .map_or(&[][..], |c| &c.ends[..])
                        .iter()
                        .copied()
                        .chain(by_name)
                        .collect();
                    self.member(child, v, hits, base, depth, spans)?;
                }
            }
            Some(b'[') => {
                let Ok(Items(items)) = serde_json::from_str::<Items>(text) else {
                    return Ok(());
                };
                for (i, v) in items.into_iter().enumerate() {
                    let child = node.and_then(|n| {
                        n.children
                            .iter()
                            .find(|(t, _)| array_index(t) == Some(i))
                            .map(|(_, c)| c)
                    });
                    let hits = child.map_or_else(Vec::new, |c| c.ends.clone());
                    self.member(child, v, hits, base, depth, spans)?;
                }
            }
            // A string's inside, as escaped in the record: JSON inside JSON.
            Some(b'"') if self.mentions_a_key(text.as_bytes()) => {
                let inner = &text.as_bytes()[1..text.len() - 1];
                spans.extend(self.text_spans(inner, start + 1));
            }
            _ => {}
        }
        Ok(())
    }

    /// One member or item: replaced whole when a pointer names it, else looked into.
    fn member(
        &self,
        child: Option<&Node>,
        v: &RawValue,
        hits: Vec<usize>,
        base: usize,
        depth: usize,
        spans: &mut Vec<Span>,
    ) -> Result<(), TooDeep> {
        if hits.is_empty() {
            return self.json_spans(child, v, base, depth + 1, spans);
        }
        let start = v.get().as_ptr() as usize - base;
        for p in hits {
            spans.push(Span {
                range: start..start + v.get().len(),
                pointer: p,
                quoted_inner: false,
            });
        }
        Ok(())
    }

    fn mentions_a_key(&self, bytes: &[u8]) -> bool {
        self.last_keys
            .iter()
            .any(|k| !k.is_empty() && !find_all_ignore_case(bytes, k.as_bytes()).is_empty())
    }

    fn named(&self, hits: Vec<usize>) -> Vec<String> {
        hits.into_iter().map(|i| self.pointers[i].clone()).collect()
    }

    /// Pointers whose last key a header names (trimmed, ignoring ASCII case, as replay
    /// matches headers to columns).
    fn header_hits(&self, headers: &[String]) -> Vec<usize> {
        (0..self.pointers.len())
            .filter(|i| {
                let key = &self.last_keys[*i];
                headers.iter().any(|h| h.trim().eq_ignore_ascii_case(key))
            })
            .collect()
    }

    /// Values after any of the last keys, found textually (`offset`: where `bytes` start in
    /// the whole record).
    fn text_spans(&self, bytes: &[u8], offset: usize) -> Vec<Span> {
        let mut spans = Vec::new();
        for (i, key) in self.last_keys.iter().enumerate() {
            if key.is_empty() {
                continue;
            }
            for start in find_all_ignore_case(bytes, key.as_bytes()) {
                if let Some(value) = text_value_after_key(bytes, start, key.len()) {
                    spans.push(Span {
                        range: value.start + offset..value.end + offset,
                        pointer: i,
                        quoted_inner: true,
                    });
                }
            }
        }
        spans
    }
}

/// A byte range to replace. `quoted_inner`: the range is a quoted value's inside (or an
/// unquoted value), from text redaction; otherwise a whole JSON value.
#[derive(Debug, Clone)]
struct Span {
    range: std::ops::Range<usize>,
    pointer: usize,
    quoted_inner: bool,
}

/// Replace the spans (overlaps merged: the outer one wins).
fn splice(bytes: &[u8], mut spans: Vec<Span>) -> Vec<u8> {
    spans.sort_by_key(|s| (s.range.start, std::cmp::Reverse(s.range.end)));
    let mut out = Vec::with_capacity(bytes.len() + spans.len() * MARKER_JSON.len());
    let mut at = 0;
    for s in spans {
        if s.range.start < at {
            continue; // inside a span already replaced
        }
        out.extend_from_slice(&bytes[at..s.range.start]);
        if s.quoted_inner {
            out.extend_from_slice(MARKER.as_bytes());
        } else {
            out.extend_from_slice(MARKER_JSON);
        }
        at = s.range.end;
    }
    out.extend_from_slice(&bytes[at..]);
    out
}

/// RFC 6901 tokens of a pointer (`None` unless it starts with '/' and its escapes are valid).
fn pointer_tokens(p: &str) -> Option<Vec<String>> {
    let rest = p.strip_prefix('/')?;
    rest.split('/')
        .map(|t| {
            let valid = !t.contains('~') || !t.replace("~0", "").replace("~1", "").contains('~');
            valid.then(|| t.replace("~1", "/").replace("~0", "~"))
        })
        .collect()
}

/// A pointer token as an array index: decimal digits without a leading zero (RFC 6901).
fn array_index(token: &str) -> Option<usize> {
    let canonical = token == "0" || (!token.starts_with('0') && !token.is_empty());
    if canonical && token.bytes().all(|b| b.is_ascii_digit()) {
        token.parse().ok()
    } else {
        None
    }
}

/// An object's entries in order, duplicates kept, values unparsed.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Entries<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Entries<'a>, M::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// An array's items, unparsed.
struct Items<'a>(Vec<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Items<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Items<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON array")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Items<'a>, S::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<&'de RawValue>()? {
                    out.push(v);
                }
                Ok(Items(out))
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

/// Start offsets of `needle` in `hay`, ASCII case ignored, standing alone as a word (no
/// letter, digit or '_' right before or after it).
fn find_all_ignore_case(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    if needle.is_empty() || hay.len() < needle.len() {
        return out;
    }
    for i in 0..=hay.len() - needle.len() {
        if hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
            && (i == 0 || !word(hay[i - 1]))
            && hay.get(i + needle.len()).is_none_or(|b| !word(*b))
        {
            out.push(i);
        }
    }
    out
}

/// Quote characters that may close a key and open its value in text: JSON's `"`, its escaped
/// form inside a string (`\"`), CSV's doubled `""`, and `'`.
fn is_quote(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b'\\')
}

/// The value after a key found at `start..start+len`: the key must be followed (after its
/// closing quotes and blanks) by ':' or '='. A value opened the way the key was closed (or by
/// a plain quote) runs to its closing quote (or the end of the input, when cut off); an
/// unquoted one to the next delimiter.
fn text_value_after_key(bytes: &[u8], start: usize, len: usize) -> Option<std::ops::Range<usize>> {
    let skip_blanks = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut i = start + len;
    let closed_by = bytes[i..]
        .iter()
        .take(3)
        .take_while(|b| is_quote(**b))
        .count();
    let key_close = &bytes[i..i + closed_by];
    i = skip_blanks(i + closed_by);
    if i >= bytes.len() || !matches!(bytes[i], b':' | b'=') {
        return None;
    }
    i = skip_blanks(i + 1);
    let open: &[u8] = if !key_close.is_empty() && bytes[i..].starts_with(key_close) {
        key_close
    } else if i < bytes.len() && matches!(bytes[i], b'"' | b'\'') {
        &bytes[i..i + 1]
    } else {
        b""
    };
    let value_start = i + open.len();
    let end = if open.is_empty() {
        bytes[i..]
            .iter()
            .position(|b| matches!(b, b',' | b'}' | b']' | b'&' | b';' | b'\r' | b'\n'))
            .map_or(bytes.len(), |p| i + p)
    } else {
        find_closing(bytes, value_start, open)
    };
    // A value with nothing in it hides nothing.
    (end > value_start).then_some(value_start..end)
}

/// Where a value opened by the quote sequence `open` (k backslashes, then `"`, `""` or `'`)
/// ends: at the next quote that the same level of escaping closes (for `"`, one after an even
/// run of backslashes; for `\"`, inside an escaped string, one after 1, 5, 9...), or the end of
/// the input.
fn find_closing(bytes: &[u8], from: usize, open: &[u8]) -> usize {
    let k = open.iter().take_while(|b| **b == b'\\').count() as u32;
    let quote = &open[k as usize..];
    let Some(first) = quote.first() else {
        return bytes.len();
    };
    let period = 1usize << (k + 1);
    let mut i = from;
    while i < bytes.len() {
        if bytes[i] == *first && bytes[i..].starts_with(quote) {
            let run = bytes[from..i]
                .iter()
                .rev()
                .take_while(|b| **b == b'\\')
                .count();
            if *first != b'"' || run % period == (1usize << k) - 1 {
                return i - k as usize;
            }
        }
        i += 1;
    }
    bytes.len()
}

/// A location as it may be shown or stored: without user info, query or fragment (they may
/// hold credentials: `kafka://...?sasl.password=`, `https://api/?api_key=`).
pub fn shown_location(url: &str) -> Cow<'_, str> {
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let base = &url[..cut];
    let Some(scheme_end) = base.find("://").map(|i| i + 3) else {
        return Cow::Borrowed(base);
    };
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    match base[scheme_end..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!(
            "{}{}",
            &base[..scheme_end],
            &base[scheme_end + at + 1..]
        )),
        None => Cow::Borrowed(base),
    }
}

#[cfg(test)]
mod tests;
