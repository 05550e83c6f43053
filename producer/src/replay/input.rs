//! The replay's input files: paths and globs resolved to a fixed, ordered list, each file's
//! format and compression from its name (or `--format`), and readers that decompress as they
//! go, start at a saved position and count the bytes they take from disk (for the progress
//! bar). Memory stays at the buffer sizes whatever the file size.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ReplayError;
use super::remote::{self, RemoteObject};

const READ_BUFFER: usize = 256 << 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
    Parquet,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// Absolute, so a resumed replay finds the same file from any working directory; for an
    /// object, its URL (`s3://bucket/key`).
    pub path: PathBuf,
    /// Set for an object in object storage (read by ranged GETs).
    pub remote: Option<Arc<RemoteObject>>,
    pub format: Format,
    pub compression: Compression,
    /// Bytes on disk.
    pub size: u64,
}

/// Compression and format from a file name: `x.csv.gz` is gzip-compressed CSV.
pub fn detect(name: &str) -> (Compression, Option<Format>) {
    let lower = name.to_ascii_lowercase();
    let (compression, rest) = if let Some(r) = lower
        .strip_suffix(".gz")
        .or_else(|| lower.strip_suffix(".gzip"))
    {
        (Compression::Gzip, r)
    } else if let Some(r) = lower
        .strip_suffix(".zst")
        .or_else(|| lower.strip_suffix(".zstd"))
    {
        (Compression::Zstd, r)
    } else {
        (Compression::None, lower.as_str())
    };
    let format = match rest.rsplit_once('.').map(|(_, ext)| ext) {
        Some("csv") => Some(Format::Csv),
        Some("jsonl" | "ndjson") => Some(Format::Jsonl),
        Some("parquet" | "pq") => Some(Format::Parquet),
        _ => None,
    };
    (compression, format)
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// A named input before it is looked at: a local path or a listed remote object.
enum Named {
    Local(PathBuf),
    Remote(RemoteObject),
}

/// Expand paths and globs into the ordered input list: arguments in the order given, each
/// glob's matches sorted, every file once.
pub fn resolve_inputs(
    args: &[String],
    format: Option<Format>,
) -> Result<Vec<InputFile>, ReplayError> {
    let mut named: Vec<Named> = Vec::new();
    for arg in args {
        named.extend(expand(arg)?);
    }
    let mut out: Vec<InputFile> = Vec::with_capacity(named.len());
    for n in named {
        let file = input_file(n, format)?;
        if !out.iter().any(|f| f.path == file.path) {
            out.push(file);
        }
    }
    if out.is_empty() {
        return Err(ReplayError::Input {
            path: String::new(),
            message: "no input files".into(),
        });
    }
    Ok(out)
}

/// One argument's inputs: a remote listing, a glob's sorted matches, or the path itself.
fn expand(arg: &str) -> Result<Vec<Named>, ReplayError> {
    let input_err = |message: String| ReplayError::Input {
        path: arg.to_string(),
        message,
    };
    if remote::is_remote(arg) {
        return Ok(remote::resolve(arg)?
            .into_iter()
            .map(Named::Remote)
            .collect());
    }
    if let Some((scheme, _)) = arg.split_once("://") {
        return Err(input_err(format!(
            "{scheme}:// inputs are not supported: use a local path or s3://BUCKET/KEY"
        )));
    }
    if !has_glob_chars(arg) {
        let p = PathBuf::from(arg);
        if p.is_dir() {
            return Err(input_err(format!(
                "is a folder; name its files, e.g. '{arg}/*.csv.gz'"
            )));
        }
        return Ok(vec![Named::Local(p)]);
    }
    let pattern = glob::glob(arg).map_err(|e| input_err(format!("bad glob pattern: {e}")))?;
    let mut matched = Vec::new();
    for entry in pattern {
        let p = entry.map_err(|e| input_err(e.to_string()))?;
        if p.is_file() {
            matched.push(p);
        }
    }
    if matched.is_empty() {
        return Err(input_err("the pattern matches no file".into()));
    }
    matched.sort();
    Ok(matched.into_iter().map(Named::Local).collect())
}

/// A named input with its size, compression and format (from the name unless given).
fn input_file(n: Named, format: Option<Format>) -> Result<InputFile, ReplayError> {
    let (path, size, remote, shown) = match n {
        Named::Local(p) => {
            let shown = p.display().to_string();
            let io_err = |e: io::Error| ReplayError::Input {
                path: shown.clone(),
                message: e.to_string(),
            };
            let path = std::fs::canonicalize(&p).map_err(io_err)?;
            let size = std::fs::metadata(&path).map_err(io_err)?.len();
            (path, size, None, shown)
        }
        Named::Remote(o) => (
            PathBuf::from(&o.url),
            o.size,
            Some(Arc::new(o.clone())),
            o.url,
        ),
    };
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let (compression, detected) = detect(&name);
    let format = format.or(detected).ok_or_else(|| ReplayError::Input {
        path: shown.clone(),
        message: "cannot tell the format from the name (.csv, .jsonl, .parquet, optionally .gz or .zst): pass --format".into(),
    })?;
    if format == Format::Parquet && compression != Compression::None {
        return Err(ReplayError::Input {
            path: shown,
            message:
                "Parquet files compress their pages themselves: replay the .parquet file itself"
                    .into(),
        });
    }
    Ok(InputFile {
        path,
        remote,
        format,
        compression,
        size,
    })
}

/// Counts the bytes read from disk into a shared counter (progress).
pub struct CountingReader<R> {
    inner: R,
    counter: Option<Arc<AtomicU64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(c) = &self.counter {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// The file's decompressed bytes from byte `skip` on. Plain files seek; compressed ones are
/// decompressed from the start and the first `skip` bytes dropped (gzip and zstd streams have
/// no random access).
pub fn open_decoded(
    input: &InputFile,
    skip: u64,
    counter: Option<Arc<AtomicU64>>,
) -> Result<Box<dyn BufRead + Send>, ReplayError> {
    let path = &input.path;
    let io_err = |e: io::Error| ReplayError::Read {
        path: path.clone(),
        source: e,
    };
    let mut reader: Box<dyn BufRead + Send> = match input.compression {
        Compression::None => {
            if skip > input.size {
                return Err(ReplayError::Read {
                    path: path.clone(),
                    source: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the saved position {skip} is past the end of the file"),
                    ),
                });
            }
            let file = open_raw(input, skip)?;
            if let Some(c) = &counter {
                c.fetch_add(skip, Ordering::Relaxed);
            }
            return Ok(Box::new(BufReader::with_capacity(
                READ_BUFFER,
                CountingReader {
                    inner: file,
                    counter,
                },
            )));
        }
        Compression::Gzip => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
                READ_BUFFER,
                CountingReader {
                    inner: open_raw(input, 0)?,
                    counter,
                },
            )),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            zstd::stream::read::Decoder::new(CountingReader {
                inner: open_raw(input, 0)?,
                counter,
            })
            .map_err(io_err)?,
        )),
    };
    if skip > 0 {
        let skipped = io::copy(&mut (&mut reader).take(skip), &mut io::sink()).map_err(io_err)?;
        if skipped < skip {
            return Err(ReplayError::Read {
                path: path.clone(),
                source: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the saved position {skip} is past the end of the data ({skipped} bytes)"
                    ),
                ),
            });
        }
    }
    Ok(reader)
}

/// The file's stored bytes from byte `start` on: a local file seeked there, or an object read
/// by ranged GETs from there.
fn open_raw(input: &InputFile, start: u64) -> Result<Box<dyn Read + Send>, ReplayError> {
    if let Some(object) = &input.remote {
        return Ok(Box::new(object.reader_from(start)));
    }
    let io_err = |e: io::Error| ReplayError::Read {
        path: input.path.clone(),
        source: e,
    };
    let mut file = File::open(&input.path).map_err(io_err)?;
    if start > 0 {
        file.seek(SeekFrom::Start(start)).map_err(io_err)?;
    }
    Ok(Box::new(file))
}

/// A path as the progress file and messages show it.
pub fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_format_and_compression() {
        assert_eq!(detect("a.csv"), (Compression::None, Some(Format::Csv)));
        assert_eq!(detect("A.CSV.GZ"), (Compression::Gzip, Some(Format::Csv)));
        assert_eq!(
            detect("x.jsonl.zst"),
            (Compression::Zstd, Some(Format::Jsonl))
        );
        assert_eq!(
            detect("x.parquet"),
            (Compression::None, Some(Format::Parquet))
        );
        assert_eq!(detect("x.txt.gz"), (Compression::Gzip, None));
        assert_eq!(detect("noext"), (Compression::None, None));
    }

    #[test]
    fn globs_resolve_sorted_and_once_and_misses_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b.csv", "a.csv", "c.jsonl.gz"] {
            std::fs::write(dir.path().join(n), b"x\n").unwrap();
        }
        let d = dir.path().display();
        let args = vec![
            format!("{d}/*.csv"),
            format!("{d}/a.csv"),
            format!("{d}/c.*"),
        ];
        let files = resolve_inputs(&args, None).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.csv", "b.csv", "c.jsonl.gz"]);
        assert_eq!(files[2].compression, Compression::Gzip);
        assert_eq!(files[0].size, 2);
        let e = resolve_inputs(&[format!("{d}/*.parquet")], None).unwrap_err();
        assert!(e.to_string().contains("matches no file"), "{e}");
        let e = resolve_inputs(&["gs://bucket/x.csv".into()], None).unwrap_err();
        assert!(e.to_string().contains("s3://"), "{e}");
        std::fs::write(dir.path().join("data.txt"), b"x").unwrap();
        let e = resolve_inputs(&[format!("{d}/data.txt")], None).unwrap_err();
        assert!(e.to_string().contains("--format"), "{e}");
        let forced = resolve_inputs(&[format!("{d}/data.txt")], Some(Format::Jsonl)).unwrap();
        assert_eq!(forced[0].format, Format::Jsonl);
    }

    #[test]
    fn decoded_readers_skip_to_a_position_in_every_compression() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let text = b"line one\nline two\nline three\n";
        let plain = dir.path().join("t.csv");
        std::fs::write(&plain, text).unwrap();
        let gz = dir.path().join("t.csv.gz");
        let mut enc = flate2::write::GzEncoder::new(File::create(&gz).unwrap(), Default::default());
        enc.write_all(text).unwrap();
        enc.finish().unwrap();
        let zst = dir.path().join("t.csv.zst");
        std::fs::write(&zst, zstd::stream::encode_all(&text[..], 3).unwrap()).unwrap();
        for p in [plain, gz, zst] {
            let input = &resolve_inputs(&[p.display().to_string()], None).unwrap()[0];
            let counter = Arc::new(AtomicU64::new(0));
            let mut r = open_decoded(input, 9, Some(counter.clone())).unwrap();
            let mut rest = String::new();
            r.read_to_string(&mut rest).unwrap();
            assert_eq!(rest, "line two\nline three\n", "{}", input.path.display());
            assert_eq!(counter.load(Ordering::Relaxed), input.size);
            assert!(open_decoded(input, 1000, None).is_err());
        }
    }
}
