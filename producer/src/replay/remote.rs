//! Replay inputs in object storage (`s3://BUCKET/KEY`, globs in the key): listed once when the
//! replay starts, then read in bounded ranged GETs, so a remote file streams like a local one
//! (memory stays at one range whatever the object's size) and a resumed replay starts at its
//! saved byte offset without reading what came before.
//!
//! The row readers are blocking code on the runtime's blocking threads; the object store is
//! async. Every remote call runs on the process's one Tokio runtime and the reader waits for
//! its answer: from a blocking-pool thread, a thread that entered the runtime (`main` listing
//! the inputs), or a worker of a multi-thread runtime.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use firelake_core::{Lake, LakeError};

use super::ReplayError;

/// Bytes per ranged GET: large enough to amortise a request, small enough to keep memory flat.
const RANGE_BYTES: u64 = 8 << 20;

/// Whether an input argument names an object-store location.
pub fn is_remote(arg: &str) -> bool {
    arg.starts_with("s3://")
}

/// `s3://bucket/key` -> (`s3://bucket`, `key`).
fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (format!("s3://{bucket}"), key.to_string()))
}

/// Runs `f` on the process's runtime and waits for it (one runtime per process: no hidden
/// runtime of this module). A caller outside any runtime gets an error, not a panic.
fn wait<T>(f: impl std::future::Future<Output = T>) -> Result<T, String> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let handle = Handle::try_current().map_err(|_| {
        "s3:// inputs are read on the process's Tokio runtime: call from within one".to_string()
    })?;
    Ok(match handle.runtime_flavor() {
        // A worker thread hands its other tasks on while it waits.
        RuntimeFlavor::MultiThread => tokio::task::block_in_place(|| handle.block_on(f)),
        _ => handle.block_on(f),
    })
}

/// An object to read: its store, key and size.
#[derive(Clone)]
pub struct RemoteObject {
    lake: Lake,
    key: String,
    pub url: String,
    pub size: u64,
}

impl std::fmt::Debug for RemoteObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteObject")
            .field("url", &self.url)
            .field("size", &self.size)
            .finish()
    }
}

impl PartialEq for RemoteObject {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url && self.size == other.size
    }
}
impl Eq for RemoteObject {}

fn input_error(arg: &str, message: impl Into<String>) -> ReplayError {
    ReplayError::Input {
        path: arg.to_string(),
        message: message.into(),
    }
}

/// The objects an `s3://` argument names: one object, or every object whose key matches a
/// glob (listed under the key's part before the first glob character), sorted by key.
pub fn resolve(arg: &str) -> Result<Vec<RemoteObject>, ReplayError> {
    let (bucket_url, key) = split_url(arg)
        .ok_or_else(|| input_error(arg, "expected s3://BUCKET/KEY (or a glob in the key)"))?;
    let lake = Lake::from_url(&bucket_url).map_err(|e| input_error(arg, e.to_string()))?;
    let glob_at = key.find(['*', '?', '[']);
    let list_prefix = match glob_at {
        // The folder the pattern starts in: object stores list by whole path segments.
        Some(i) => key[..i]
            .rsplit_once('/')
            .map_or("", |(dir, _)| dir)
            .to_string(),
        None => key.clone(),
    };
    let pattern = match glob_at {
        Some(_) => {
            Some(glob::Pattern::new(&key).map_err(|e| input_error(arg, format!("bad glob: {e}")))?)
        }
        None => None,
    };
    let listing_lake = lake.clone();
    let listed: Result<Vec<firelake_core::lake::LakeObject>, LakeError> =
        wait(async move { listing_lake.list(&list_prefix).await })
            .map_err(|e| input_error(arg, e))?;
    let listed = listed.map_err(|e| input_error(arg, e.to_string()))?;
    let objects: Vec<RemoteObject> = listed
        .into_iter()
        .filter(|o| match &pattern {
            Some(p) => p.matches(&o.key),
            None => o.key == key,
        })
        .map(|o| RemoteObject {
            url: format!("{bucket_url}/{}", o.key),
            lake: lake.clone(),
            key: o.key,
            size: o.size,
        })
        .collect();
    if objects.is_empty() {
        return Err(input_error(
            arg,
            if pattern.is_some() {
                "the pattern matches no object"
            } else {
                "no such object"
            },
        ));
    }
    Ok(objects)
}

impl RemoteObject {
    /// Bytes `start..start+len` of the object.
    pub fn get_range(&self, start: u64, len: u64) -> io::Result<Bytes> {
        let (lake, key) = (self.lake.clone(), self.key.clone());
        let end = (start + len).min(self.size);
        if start >= end {
            return Ok(Bytes::new());
        }
        wait(async move { lake.get_range(&key, start..end).await })
            .map_err(io::Error::other)?
            .map_err(io::Error::other)
    }

    /// A reader from byte `start` to the end, one ranged GET at a time.
    pub fn reader_from(self: &Arc<Self>, start: u64) -> ObjectReader {
        ObjectReader {
            object: self.clone(),
            pos: start,
            chunk: Bytes::new(),
        }
    }
}

/// Sequential reads of an object in `RANGE_BYTES` ranges.
pub struct ObjectReader {
    object: Arc<RemoteObject>,
    /// Offset of the byte after `chunk`.
    pos: u64,
    chunk: Bytes,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.chunk.is_empty() {
            if self.pos >= self.object.size {
                return Ok(0);
            }
            self.chunk = self.object.get_range(self.pos, RANGE_BYTES)?;
            if self.chunk.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{} ended before its listed size", self.object.url),
                ));
            }
            self.pos += self.chunk.len() as u64;
        }
        let n = buf.len().min(self.chunk.len());
        self.chunk.copy_to_slice(&mut buf[..n]);
        Ok(n)
    }
}

/// A remote Parquet file for the Parquet reader: footer and column chunks by ranged GETs.
#[derive(Clone)]
pub struct ObjectChunks(pub Arc<RemoteObject>);

impl parquet::file::reader::Length for ObjectChunks {
    fn len(&self) -> u64 {
        self.0.size
    }
}

impl parquet::file::reader::ChunkReader for ObjectChunks {
    type T = ObjectReader;

    fn get_read(&self, start: u64) -> parquet::errors::Result<ObjectReader> {
        Ok(self.0.reader_from(start))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let bytes = self
            .0
            .get_range(start, length as u64)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
        if bytes.len() != length {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "{}: wanted {length} bytes at {start}, got {}",
                self.0.url,
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_bucket_and_key() {
        assert_eq!(
            split_url("s3://b/exports/x.csv.gz"),
            Some(("s3://b".into(), "exports/x.csv.gz".into()))
        );
        assert_eq!(split_url("s3://b/"), None);
        assert_eq!(split_url("s3://b"), None);
        assert_eq!(split_url("s3:///k"), None);
    }
}
