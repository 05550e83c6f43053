//! The replay's durable state: a progress file (what is confirmed: the input position, the
//! counts, how much of the rejects file belongs to it) replaced atomically after each
//! confirmed batch, and the rejects file (one JSON line per rejected row), cut back on resume
//! to the length the progress file vouches for, so nothing in it is listed twice.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use firelake_core::SourceDef;
use firelake_core::kept::{Keeper, Origin};
use firelake_core::redact::{Raw, shown_location};
use serde::{Deserialize, Serialize};

use super::ReplayError;
use super::batch::{Cursor, RejectedRow};
use super::input::{Format, InputFile, shown};

const VERSION: u32 = 1;

/// One input as the progress file identifies it (a changed size means a changed file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputIdentity {
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayProgress {
    pub version: u32,
    pub source: String,
    /// The target as shown, without a URL's query (it may hold credentials, and does not
    /// say where records go: the brokers and topic do).
    pub target: String,
    pub inputs: Vec<InputIdentity>,
    /// The first row not yet confirmed.
    pub next: Cursor,
    pub complete: bool,
    /// Records confirmed by the target, over every run of this replay.
    pub published: u64,
    /// Rows rejected (by the reader or the cleaner) up to `next`.
    pub rejected: u64,
    /// Bytes of the rejects file that belong to the rows before `next`.
    pub rejects_len: u64,
    pub updated_ms: i64,
}

impl ReplayProgress {
    pub fn new(source: &str, target: &str, inputs: &[InputFile]) -> ReplayProgress {
        ReplayProgress {
            version: VERSION,
            source: source.to_string(),
            target: shown_location(target).into_owned(),
            inputs: identities(inputs),
            next: Cursor::start(0),
            complete: false,
            published: 0,
            rejected: 0,
            rejects_len: 0,
            updated_ms: 0,
        }
    }

    /// Whether this progress is about the same replay: same source, target and input files.
    pub fn check_same_replay(
        &self,
        source: &str,
        target: &str,
        inputs: &[InputFile],
    ) -> Result<(), String> {
        if self.version != VERSION {
            return Err(format!(
                "it has version {}, this build writes {VERSION}",
                self.version
            ));
        }
        let target = shown_location(target);
        if self.source != source || self.target != target {
            return Err(format!(
                "it is a replay of source {} to {}, not of {source} to {target}",
                self.source, self.target
            ));
        }
        let now = identities(inputs);
        if self.inputs != now {
            let first = self
                .inputs
                .iter()
                .zip(&now)
                .find(|(a, b)| a != b)
                .map_or_else(
                    || format!("{} inputs then, {} now", self.inputs.len(), now.len()),
                    |(a, b)| {
                        format!(
                            "{} ({} bytes) then, {} ({} bytes) now",
                            a.path, a.size, b.path, b.size
                        )
                    },
                );
            return Err(format!("its input files differ: {first}"));
        }
        Ok(())
    }
}

fn identities(inputs: &[InputFile]) -> Vec<InputIdentity> {
    inputs
        .iter()
        .map(|i| InputIdentity {
            path: shown(&i.path),
            size: i.size,
        })
        .collect()
}

/// The progress file: read at start, replaced (write to a temporary file, rename) on each save
/// so a killed process leaves the old or the new state, never half of one.
pub struct ProgressFile {
    path: PathBuf,
}

impl ProgressFile {
    pub fn new(path: &Path) -> ProgressFile {
        ProgressFile {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, message: String) -> ReplayError {
        ReplayError::Progress {
            path: self.path.clone(),
            message,
        }
    }

    pub fn load(&self) -> Result<Option<ReplayProgress>, ReplayError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.err(format!("unreadable ({e}); move it away to start over"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(e.to_string())),
        }
    }

    pub fn save(&self, progress: &ReplayProgress) -> Result<(), ReplayError> {
        let bytes = serde_json::to_vec_pretty(progress).expect("JSON to memory");
        // fsynced before and after the rename: the saved position survives a power loss.
        firelake_core::lake::replace_file_durably(&self.path, &bytes)
            .map_err(|e| self.err(e.to_string()))
    }
}

/// The rejects file: one kept record (`firelake_core::kept`) per line, its origin `{file,
/// line|row, published}`. Its data is the record as published (or the row, when it could not
/// become a record), never-read values redacted; `published` says whether it also went to
/// the stream (where the consumer keeps it under `_rejected/` with the cleaner's reason).
pub struct RejectsFile {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    len: u64,
    line: Vec<u8>,
    keeper: Keeper,
}

impl RejectsFile {
    /// Open for appending after the first `keep` bytes (what the progress file vouches for);
    /// anything after them belongs to rows that will be read again. Created on first write.
    /// Rows are kept as records of source `def`.
    pub fn open(path: &Path, keep: u64, def: &SourceDef) -> Result<RejectsFile, ReplayError> {
        let err = |e: io::Error| ReplayError::Rejects {
            path: path.to_path_buf(),
            source: e,
        };
        let out = match OpenOptions::new().write(true).open(path) {
            Ok(f) => {
                let len = f.metadata().map_err(err)?.len();
                if len < keep {
                    return Err(err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("it has {len} bytes, the progress file counts {keep}"),
                    )));
                }
                f.set_len(keep).map_err(err)?;
                Some(BufWriter::new(
                    OpenOptions::new().append(true).open(path).map_err(err)?,
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && keep == 0 => None,
            Err(e) => return Err(err(e)),
        };
        Ok(RejectsFile {
            path: path.to_path_buf(),
            out,
            len: keep,
            line: Vec::new(),
            keeper: Keeper::new(def),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far (flushed or not).
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn err(&self, e: io::Error) -> ReplayError {
        ReplayError::Rejects {
            path: self.path.clone(),
            source: e,
        }
    }

    pub fn append(
        &mut self,
        rows: &[RejectedRow],
        inputs: &[InputFile],
    ) -> Result<(), ReplayError> {
        for r in rows {
            let input = &inputs[r.file];
            let parquet = input.format == Format::Parquet;
            let origin = Origin::File {
                file: shown(&input.path),
                line: (!parquet).then_some(r.line),
                row: parquet.then_some(r.line),
                published: Some(r.published),
            };
            let raw = if r.headers.is_empty() {
                Raw::Record(&r.data)
            } else {
                Raw::Row {
                    bytes: &r.data,
                    headers: &r.headers,
                }
            };
            self.line.clear();
            self.keeper
                .keep(&r.kind, &r.reason, origin, raw)
                .write_line(&mut self.line);
            if self.out.is_none() {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .map_err(|e| self.err(e))?;
                // The new name is durable too (its content is synced by `flush`).
                let folder = match self.path.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                firelake_core::lake::sync_dir(folder).map_err(|e| self.err(e))?;
                self.out = Some(BufWriter::new(f));
            }
            let out = self.out.as_mut().expect("opened above");
            let written = out.write_all(&self.line);
            written.map_err(|e| self.err(e))?;
            self.len += self.line.len() as u64;
        }
        Ok(())
    }

    /// Everything appended is in the file, on disk (before a progress save that counts it:
    /// after a power loss the file must still hold what the progress file vouches for).
    pub fn flush(&mut self) -> Result<(), ReplayError> {
        match &mut self.out {
            Some(out) => {
                let flushed = out.flush().and_then(|()| out.get_ref().sync_data());
                flushed.map_err(|e| self.err(e))
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::input::Compression;

    fn input(path: &str, size: u64) -> InputFile {
        InputFile {
            path: PathBuf::from(path),
            remote: None,
            format: Format::Csv,
            compression: Compression::None,
            size,
        }
    }

    #[test]
    fn progress_round_trips_and_knows_its_replay() {
        let dir = tempfile::tempdir().unwrap();
        let file = ProgressFile::new(&dir.path().join("p.json"));
        assert_eq!(file.load().unwrap(), None);
        let inputs = vec![input("/a.csv", 10), input("/b.csv", 20)];
        let mut p = ReplayProgress::new("order_lines", "embedded", &inputs);
        p.next = Cursor {
            file: 1,
            offset: 5,
            line: 2,
            row: 1,
        };
        file.save(&p).unwrap();
        assert_eq!(file.load().unwrap(), Some(p.clone()));
        assert!(
            p.check_same_replay("order_lines", "embedded", &inputs)
                .is_ok()
        );
        let e = p
            .check_same_replay("users", "embedded", &inputs)
            .unwrap_err();
        assert!(e.contains("source order_lines"), "{e}");
        let changed = vec![input("/a.csv", 10), input("/b.csv", 21)];
        let e = p
            .check_same_replay("order_lines", "embedded", &changed)
            .unwrap_err();
        assert!(e.contains("/b.csv (20 bytes) then"), "{e}");
        std::fs::write(file.path(), b"{not json").unwrap();
        assert!(file.load().unwrap_err().to_string().contains("unreadable"));
    }

    #[test]
    fn rejects_file_is_cut_back_to_what_progress_vouches_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let inputs = vec![input("/a.csv", 10)];
        let row = |line: u64, data: &[u8]| RejectedRow {
            file: 0,
            line,
            kind: "field_count".into(),
            reason: "short".into(),
            data: data.to_vec(),
            published: false,
            headers: Vec::new(),
        };
        let def = SourceDef::resolve("order_lines", None).unwrap();
        let mut r = RejectsFile::open(&path, 0, &def).unwrap();
        assert!(!path.exists(), "created on first write only");
        r.append(&[row(2, b"a,b")], &inputs).unwrap();
        let keep = r.len();
        r.append(&[row(9, b"\xff")], &inputs).unwrap();
        r.flush().unwrap();
        drop(r);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains("\"data_base64\":\"/w==\""), "{text}");
        let mut r = RejectsFile::open(&path, keep, &def).unwrap();
        r.append(&[row(9, b"c")], &inputs).unwrap();
        r.flush().unwrap();
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["line"], 2);
        assert_eq!(lines[0]["data"], "a,b");
        assert_eq!(lines[1]["data"], "c");
        assert_eq!(lines[1]["file"], "/a.csv");
    }

    #[test]
    fn rejects_are_kept_redacted_and_the_target_without_its_query() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let def = SourceDef::resolve("users", None).unwrap();
        let inputs = vec![input("/a.csv", 10)];
        let mut r = RejectsFile::open(&path, 0, &def).unwrap();
        let row = |data: &[u8], headers: &[&str]| RejectedRow {
            file: 0,
            line: 4,
            kind: "k".into(),
            reason: "why".into(),
            data: data.to_vec(),
            published: true,
            headers: headers.iter().map(|h| h.to_string()).collect(),
        };
        r.append(
            &[
                row(br#"{"login":{"password":"QZXJ"}}"#, &[]),
                row(b"1,QZXJ,x", &["id", "sha1", "city"]),
                row(b"1,a,x", &["id", "name", "city"]),
            ],
            &inputs,
        )
        .unwrap();
        r.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("QZXJ"), "{text}");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["data"], r#"{"login":{"password":"<redacted>"}}"#);
        assert_eq!(lines[0]["source"], "users");
        assert_eq!(lines[0]["published"], true);
        assert_eq!(lines[1]["data"], "<redacted>");
        assert_eq!(lines[2]["data"], "1,a,x");

        let secret = "kafka://b:9092/t?sasl.password=QZXJ";
        let p = ReplayProgress::new("users", secret, &inputs);
        assert_eq!(p.target, "kafka://b:9092/t");
        let saved = serde_json::to_string(&p).unwrap();
        assert!(!saved.contains("QZXJ"), "{saved}");
        // A resume with another password in the query is the same replay.
        assert!(
            p.check_same_replay("users", "kafka://b:9092/t?sasl.password=other", &inputs)
                .is_ok()
        );
        let e = p
            .check_same_replay("users", "kafka://c:9092/t?sasl.password=QZXJ", &inputs)
            .unwrap_err();
        assert!(e.contains("kafka://c:9092/t") && !e.contains("QZXJ"), "{e}");
    }
}
