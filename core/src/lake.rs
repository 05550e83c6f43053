//! The lake's storage: one object-store interface over `file://`, `memory://` (and, with the
//! AWS path, `s3://`) locations. Writes of data files are create-if-absent, so a replayed
//! write of the same key is a no-op and two writers can never clobber each other.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

/// Upload part size (`Lake::upload`). S3 takes parts of at least 5 MiB; a local lake takes any
/// size, and 1 MiB parts cut both the peak memory and the system time spent faulting in fresh
/// 5 MiB buffers (the compactor's 10x bench day: 132 -> 125 MiB, 5.2 -> 3.1 s of system time).
pub const S3_UPLOAD_PART_BYTES: usize = 5 << 20;
pub const LOCAL_UPLOAD_PART_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error(
        "unsupported lake URL {0:?}: use s3://BUCKET/PREFIX, file://PATH, a plain path, or memory://"
    )]
    UnsupportedUrl(String),
    #[error("cannot create the lake folder {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("lake storage error at {key}: {source}")]
    Store {
        key: String,
        source: object_store::Error,
    },
    #[error("cannot read {key} in the lake: {source}")]
    Read { key: String, source: std::io::Error },
}

/// What a create-if-absent write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// The key existed: a replay of a write that had already landed.
    AlreadyExisted,
}

/// A listed object.
#[derive(Debug, Clone)]
pub struct LakeObject {
    pub key: String,
    pub size: u64,
}

/// A lake location: an object store and how to name it to people.
#[derive(Debug, Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    url: String,
    /// The local folder of a `file://` lake (for the local catalog and for messages).
    local_root: Option<PathBuf>,
    /// The store of a `file://` lake again, for direct file reads (`local_file`).
    local_fs: Option<Arc<LocalFileSystem>>,
    /// Local reads in the calling task instead of the blocking pool (`with_inline_reads`).
    inline_reads: bool,
}

impl Lake {
    /// `s3://bucket/prefix`, `file://./lake`, `file:///abs/path`, `./lake` (a plain path) or
    /// `memory://`.
    pub fn from_url(url: &str) -> Result<Lake, LakeError> {
        Lake::check_url(url)?;
        if let Some(rest) = url.strip_prefix("s3://") {
            return s3_lake(url, rest);
        }
        if url == "memory://" || url.starts_with("memory://") {
            return Ok(Lake {
                store: Arc::new(InMemory::new()),
                url: "memory://".into(),
                local_root: None,
                local_fs: None,
                inline_reads: false,
            });
        }
        let path = match url.strip_prefix("file://") {
            Some(p) => p,
            None if url.contains("://") || looks_like_a_scheme(url) => {
                return Err(LakeError::UnsupportedUrl(url.into()));
            }
            None => url,
        };
        if path.is_empty() {
            return Err(LakeError::UnsupportedUrl(url.into()));
        }
        create_dir_durably(std::path::Path::new(path)).map_err(|source| LakeError::CreateDir {
            path: path.into(),
            source,
        })?;
        let root = std::fs::canonicalize(path).map_err(|source| LakeError::CreateDir {
            path: path.into(),
            source,
        })?;
        // Durable as S3 is: every write fsyncs the file before its name appears (rename or
        // link) and the folder after, so a power loss never leaves a checkpoint that outlived
        // its data, or an empty file under a final name that create-if-absent then keeps.
        let store = LocalFileSystem::new_with_prefix(&root)
            .map_err(|source| LakeError::Store {
                key: root.display().to_string(),
                source,
            })?
            .with_fsync(true);
        let store = Arc::new(store);
        Ok(Lake {
            store: store.clone(),
            url: format!("file://{}", root.display()),
            local_root: Some(root),
            local_fs: Some(store),
            inline_reads: false,
        })
    }

    /// A lake over any object store (tests, S3).
    pub fn from_store(store: Arc<dyn ObjectStore>, url: impl Into<String>) -> Lake {
        Lake {
            store,
            url: url.into(),
            local_root: None,
            local_fs: None,
            inline_reads: false,
        }
    }

    /// Read a `file://` lake's files in the calling task, blocking its worker thread for the
    /// read. For a program whose lake files sit in the page cache and whose reads are many and
    /// small (the compactor: object_store's blocking-pool hand-off was 15% of a compaction's
    /// time over 1,440 small files read twice). A binary's choice: by default a read runs on
    /// the blocking pool and never stalls the runtime on a slow disk.
    pub fn with_inline_reads(mut self) -> Lake {
        self.inline_reads = true;
        self
    }

    /// Whether `url` is a lake location [`Lake::from_url`] accepts, without opening it
    /// (`firelake validate`): `s3://BUCKET[/PREFIX]`, `memory://`, `file://PATH` or a path.
    pub fn check_url(url: &str) -> Result<(), LakeError> {
        let ok = match url.strip_prefix("s3://") {
            Some(rest) => !rest.split('/').next().unwrap_or_default().is_empty(),
            None if url.starts_with("memory://") => true,
            None => match url.strip_prefix("file://") {
                Some(path) => !path.is_empty(),
                None => !url.is_empty() && !url.contains("://") && !looks_like_a_scheme(url),
            },
        };
        if ok {
            Ok(())
        } else {
            Err(LakeError::UnsupportedUrl(url.into()))
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    /// The URL of a key, for catalog locations and messages.
    pub fn url_of(&self, key: &str) -> String {
        format!("{}/{}", self.url.trim_end_matches('/'), key)
    }

    fn err(key: &str) -> impl FnOnce(object_store::Error) -> LakeError + '_ {
        move |source| LakeError::Store {
            key: key.to_string(),
            source,
        }
    }

    /// Write `bytes` at `key` unless something is there already.
    ///
    /// object_store does not retry a conditional put that timed out or lost its connection
    /// (it may have landed). Retrying it is safe here: every caller writes the same bytes on
    /// every attempt (names derive from content), so "already there" after an unanswered
    /// attempt means this write landed.
    pub async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, LakeError> {
        let mut attempt = 0;
        loop {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            let payload = PutPayload::from(bytes.clone());
            match self
                .store
                .put_opts(&ObjectPath::from(key), payload, opts)
                .await
            {
                Ok(_) => return Ok(PutOutcome::Created),
                Err(object_store::Error::AlreadyExists { .. }) => {
                    return Ok(PutOutcome::AlreadyExisted);
                }
                Err(e) if unanswered(&e) && attempt < UNANSWERED_RETRIES => {
                    attempt += 1;
                    tracing::warn!(key, attempt, error = %e, "write unanswered; retrying");
                    tokio::time::sleep(unanswered_backoff(attempt)).await;
                }
                Err(e) => return Err(Self::err(key)(e)),
            }
        }
    }

    /// Write `bytes` at `key`, replacing what is there (checkpoints, catalog files).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), LakeError> {
        self.store
            .put(&ObjectPath::from(key), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(Self::err(key))
    }

    /// The file behind `key` in a `file://` lake (`None` for other lakes), read with std::fs:
    /// on the blocking pool, or in the calling task with `with_inline_reads`.
    fn local_file(&self, key: &str) -> Option<Result<PathBuf, LakeError>> {
        let fs = self.local_fs.as_ref()?;
        Some(
            fs.path_to_filesystem(&ObjectPath::from(key))
                .map_err(Self::err(key)),
        )
    }

    fn read_err(key: &str) -> impl FnOnce(std::io::Error) -> LakeError + '_ {
        move |source| LakeError::Read {
            key: key.to_string(),
            source,
        }
    }

    /// Delete the staging files object_store leaves in a `file://` lake when a process dies
    /// between writing a file (`NAME#N`) and renaming it into place. Listings hide them, so
    /// nothing else would ever remove them. Call only while no writer can be at work under
    /// `prefix` (the compactor holds the day's lock). Other lakes have none: `Ok(0)`.
    pub async fn sweep_local_staging(&self, prefix: &str) -> Result<usize, LakeError> {
        let Some(root) = &self.local_root else {
            return Ok(0);
        };
        let dir = root.join(prefix);
        let key = prefix.to_string();
        tokio::task::spawn_blocking(move || remove_staging_files(&dir))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r)
            .map_err(|source| LakeError::Read { key, source })
    }

    /// Bytes `ranges` of the local file behind `key`; a range past its end is an error.
    fn get_local_ranges(
        path: &std::path::Path,
        key: &str,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Bytes>, LakeError> {
        use std::os::unix::fs::FileExt;
        let file = std::fs::File::open(path).map_err(Self::read_err(key))?;
        ranges
            .iter()
            .map(|range| {
                let len = range.end.checked_sub(range.start).ok_or_else(|| {
                    Self::read_err(key)(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("invalid range {range:?}"),
                    ))
                })?;
                let mut buf = vec![0u8; len as usize];
                file.read_exact_at(&mut buf, range.start)
                    .map_err(Self::read_err(key))?;
                Ok(Bytes::from(buf))
            })
            .collect()
    }

    /// `read` on a `file://` lake's file: on the blocking pool unless `with_inline_reads`.
    async fn read_local<T: Send + 'static>(
        &self,
        key: &str,
        read: impl FnOnce() -> Result<T, LakeError> + Send + 'static,
    ) -> Result<T, LakeError> {
        if self.inline_reads {
            return read();
        }
        tokio::task::spawn_blocking(read)
            .await
            .map_err(|e| Self::read_err(key)(std::io::Error::other(e)))?
    }

    async fn local_ranges(
        &self,
        path: PathBuf,
        key: &str,
        ranges: Vec<Range<u64>>,
    ) -> Result<Vec<Bytes>, LakeError> {
        let owned_key = key.to_string();
        self.read_local(key, move || {
            Self::get_local_ranges(&path, &owned_key, &ranges)
        })
        .await
    }

    /// The object at `key`, or `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, LakeError> {
        if let Some(path) = self.local_file(key) {
            let path = path?;
            let read = self
                .read_local(key, move || Ok(std::fs::read(path)))
                .await?;
            return match read {
                Ok(bytes) => Ok(Some(Bytes::from(bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Self::read_err(key)(e)),
            };
        }
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(r) => r.bytes().await.map(Some).map_err(Self::err(key)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Self::err(key)(e)),
        }
    }

    /// Every object under `prefix` (recursively), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<LakeObject>, LakeError> {
        let listed = self.list_written(prefix).await?;
        Ok(listed.into_iter().map(|(o, _)| o).collect())
    }

    /// [`Lake::list`] with each object's last write time (the Iceberg committer's batching).
    pub async fn list_written(
        &self,
        prefix: &str,
    ) -> Result<Vec<(LakeObject, std::time::SystemTime)>, LakeError> {
        let p = ObjectPath::from(prefix);
        let mut out: Vec<(LakeObject, std::time::SystemTime)> = self
            .store
            .list(Some(&p))
            .map_ok(|m| {
                let object = LakeObject {
                    key: m.location.to_string(),
                    size: m.size,
                };
                (object, m.last_modified.into())
            })
            .try_collect()
            .await
            .map_err(Self::err(prefix))?;
        out.sort_by(|a, b| a.0.key.cmp(&b.0.key));
        Ok(out)
    }

    pub async fn delete(&self, key: &str) -> Result<(), LakeError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::err(key)(e)),
        }
    }

    /// Bytes `range` of the object at `key` (Parquet footers and column chunks).
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, LakeError> {
        if let Some(path) = self.local_file(key) {
            let mut parts = self.local_ranges(path?, key, vec![range]).await?;
            return Ok(parts.pop().expect("one range, one part"));
        }
        self.store
            .get_range(&ObjectPath::from(key), range)
            .await
            .map_err(Self::err(key))
    }

    /// Several byte ranges of one object; the store may coalesce nearby ranges into one read.
    pub async fn get_ranges(
        &self,
        key: &str,
        ranges: &[Range<u64>],
    ) -> Result<Vec<Bytes>, LakeError> {
        if let Some(path) = self.local_file(key) {
            return self.local_ranges(path?, key, ranges.to_vec()).await;
        }
        self.store
            .get_ranges(&ObjectPath::from(key), ranges)
            .await
            .map_err(Self::err(key))
    }

    /// A streaming writer for `key` (`tokio::io::AsyncWrite`): it buffers up to a part's size,
    /// switches to a multipart upload beyond that, and makes the object appear only
    /// when it is shut down, so no reader ever sees a partial object. Memory stays at about
    /// a part times the upload concurrency, whatever the object's size.
    /// Parts are `LOCAL_UPLOAD_PART_BYTES` on a local lake, `S3_UPLOAD_PART_BYTES` otherwise.
    pub fn upload(&self, key: &str) -> BufWriter {
        let part_bytes = match self.local_root {
            Some(_) => LOCAL_UPLOAD_PART_BYTES,
            None => S3_UPLOAD_PART_BYTES,
        };
        self.upload_in_parts(key, part_bytes)
    }

    /// `upload` with parts of `part_bytes` (tests: a multipart upload from a few bytes).
    pub fn upload_in_parts(&self, key: &str, part_bytes: usize) -> BufWriter {
        BufWriter::with_capacity(self.store.clone(), ObjectPath::from(key), part_bytes)
            .with_max_concurrency(2)
    }

    /// The folders directly under `prefix` (one level, as keys), sorted: e.g. the partition
    /// folders of a table without listing their files.
    pub async fn list_folders(&self, prefix: &str) -> Result<Vec<String>, LakeError> {
        let listing = self
            .store
            .list_with_delimiter(Some(&ObjectPath::from(prefix)))
            .await
            .map_err(Self::err(prefix))?;
        let mut out: Vec<String> = listing
            .common_prefixes
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        out.sort();
        Ok(out)
    }

    /// Delete every object under the folder `prefix`; returns how many were listed. On a local
    /// lake the folder itself goes too: it may hold the staging file of an upload that was
    /// killed mid-way, which listings never show, and empty folders would linger.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize, LakeError> {
        let objects = self.list(prefix).await?;
        for o in &objects {
            self.delete(&o.key).await?;
        }
        if let Some(root) = &self.local_root {
            let dir = root.join(prefix.trim_matches('/'));
            match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(LakeError::CreateDir {
                        path: dir,
                        source: e,
                    });
                }
            }
        }
        Ok(objects.len())
    }

    /// The key of a URL inside this lake (the inverse of [`Lake::url_of`]); `None` for a URL
    /// elsewhere. A trailing `/` (folder locations) is dropped.
    pub fn key_of_url(&self, url: &str) -> Option<String> {
        let rest = url.strip_prefix(self.url.trim_end_matches('/'))?;
        let key = rest.strip_prefix('/')?.trim_end_matches('/');
        Some(key.to_string())
    }
}

/// Replace the file at `path` with `bytes` so that a crash or power loss leaves the old or
/// the new content, never a part or an empty file: written beside it, fsynced, renamed over
/// it, and its folder fsynced. For local state outside a lake (the local catalog, a replay's
/// progress file).
pub fn replace_file_durably(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    sync_dir(parent_dir(path))
}

/// Remove `NAME#DIGITS` files under `dir` (object_store's local staging names); a missing
/// `dir` has none.
fn remove_staging_files(dir: &std::path::Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            removed += remove_staging_files(&path)?;
        } else if is_staging_name(&entry.file_name().to_string_lossy()) {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(stem, n)| {
        !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Create `dir` and its missing parents, each new one made durable in its parent.
pub fn create_dir_durably(dir: &std::path::Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    create_dir_durably(parent_dir(dir))?;
    match std::fs::create_dir(dir) {
        Ok(()) => sync_dir(parent_dir(dir)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The folder holding `path` (`.` for a bare name).
fn parent_dir(path: &std::path::Path) -> &std::path::Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    }
}

/// fsync a folder: its entries (a rename, a new file) survive a power loss.
pub fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// An S3 lake. Configuration comes from the standard AWS environment (credentials, region) and,
/// like the AWS SDK, `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` point it at another endpoint
/// (path-style requests, plain HTTP allowed for local emulators). Writes are conditional
/// (If-None-Match / If-Match), which S3 supports.
fn s3_lake(url: &str, rest: &str) -> Result<Lake, LakeError> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(LakeError::UnsupportedUrl(url.into()));
    }
    let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint =
        std::env::var("AWS_ENDPOINT_URL_S3").or_else(|_| std::env::var("AWS_ENDPOINT_URL"));
    if let Ok(endpoint) = endpoint {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    let store = builder.build().map_err(|source| LakeError::Store {
        key: url.to_string(),
        source,
    })?;
    let prefix = prefix.trim_matches('/');
    let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
    };
    Ok(Lake {
        inline_reads: false,
        store,
        url: format!(
            "s3://{bucket}{}{prefix}",
            if prefix.is_empty() { "" } else { "/" }
        ),
        local_root: None,
        local_fs: None,
    })
}

/// Retries of a write whose answer never came (timeout, dropped connection), after
/// object_store's own retries, which skip conditional writes in that case.
const UNANSWERED_RETRIES: u32 = 4;

fn unanswered_backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(200 << attempt.min(5))
}

/// A store error that may hide a write that landed: no HTTP status came back. Refusals
/// (403, 404, 412, ...) have their own variants or carry a status, and are not retried.
fn unanswered(e: &object_store::Error) -> bool {
    let object_store::Error::Generic { source, .. } = e else {
        return false;
    };
    let text = source.to_string();
    text.contains("HTTP error") || text.contains("timed out") || text.contains("error sending")
}

/// The version of an object a conditional update expects to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    e_tag: Option<String>,
    version: Option<String>,
}

/// What a conditional write found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionedPut {
    Written(ObjectVersion),
    /// Someone else wrote the object since the expected version (or created it first).
    Conflict,
}

impl Lake {
    /// The object at `key` with its version, for a later `put_versioned`.
    pub async fn get_versioned(
        &self,
        key: &str,
    ) -> Result<Option<(Bytes, ObjectVersion)>, LakeError> {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(r) => {
                let v = ObjectVersion {
                    e_tag: r.meta.e_tag.clone(),
                    version: r.meta.version.clone(),
                };
                let bytes = r.bytes().await.map_err(Self::err(key))?;
                Ok(Some((bytes, v)))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Self::err(key)(e)),
        }
    }

    /// Write `key` only if it is still at `expected` (or, with `None`, absent): two writers
    /// can never both advance the same object (checkpoints).
    pub async fn put_versioned(
        &self,
        key: &str,
        bytes: Bytes,
        expected: Option<&ObjectVersion>,
    ) -> Result<VersionedPut, LakeError> {
        let mode = match expected {
            None => PutMode::Create,
            Some(v) => PutMode::Update(object_store::UpdateVersion {
                e_tag: v.e_tag.clone(),
                version: v.version.clone(),
            }),
        };
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        let bytes_for_retry = bytes.clone();
        let mut attempt = 0;
        let first = loop {
            let r = self
                .store
                .put_opts(
                    &ObjectPath::from(key),
                    PutPayload::from(bytes.clone()),
                    opts.clone(),
                )
                .await;
            match r {
                Err(e) if unanswered(&e) && attempt < UNANSWERED_RETRIES => {
                    attempt += 1;
                    tracing::warn!(key, attempt, error = %e, "conditional write unanswered");
                    tokio::time::sleep(unanswered_backoff(attempt)).await;
                    // It may have landed: then the object holds our bytes (a retry would
                    // see a conflict with ourselves). If it is still at `expected`, retry.
                    match self.get_versioned(key).await? {
                        Some((now, v)) if now == bytes => break Ok(v),
                        Some((_, v)) if Some(&v) != expected => {
                            return Ok(VersionedPut::Conflict);
                        }
                        None if expected.is_some() => return Ok(VersionedPut::Conflict),
                        _ => continue,
                    }
                }
                Err(e) => break Err(e),
                Ok(r) => {
                    break Ok(ObjectVersion {
                        e_tag: r.e_tag,
                        version: r.version,
                    });
                }
            }
        };
        match first {
            Ok(v) => Ok(VersionedPut::Written(v)),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(VersionedPut::Conflict),
            // The local file store has no conditional update: compare, then replace. Local
            // lakes are for one machine, where this check is enough.
            Err(object_store::Error::NotImplemented { .. }) if expected.is_some() => {
                let current = self.get_versioned(key).await?.map(|(_, v)| v);
                if current.as_ref() != expected {
                    return Ok(VersionedPut::Conflict);
                }
                let r = self
                    .store
                    .put(&ObjectPath::from(key), PutPayload::from(bytes_for_retry))
                    .await
                    .map_err(Self::err(key))?;
                Ok(VersionedPut::Written(ObjectVersion {
                    e_tag: r.e_tag,
                    version: r.version,
                }))
            }
            Err(e) => Err(Self::err(key)(e)),
        }
    }
}

/// `s3:/bucket`, `s3:bucket`, `file:/x`: a mistyped URL, never a folder to create (a plain path
/// whose first segment must look like one is written `./s3:x`).
fn looks_like_a_scheme(url: &str) -> bool {
    let Some((head, _)) = url.split_once(':') else {
        return false;
    };
    let mut chars = head.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_if_absent_never_overwrites() {
        for url in ["memory://", "file-lake"] {
            let dir = tempfile::tempdir().unwrap();
            let url = if url == "file-lake" {
                format!("file://{}/lake", dir.path().display())
            } else {
                url.to_string()
            };
            let lake = Lake::from_url(&url).unwrap();
            let k = "t/p_date=2025-06-01/a.parquet";
            assert_eq!(
                lake.put_if_absent(k, Bytes::from_static(b"one"))
                    .await
                    .unwrap(),
                PutOutcome::Created
            );
            assert_eq!(
                lake.put_if_absent(k, Bytes::from_static(b"two"))
                    .await
                    .unwrap(),
                PutOutcome::AlreadyExisted
            );
            assert_eq!(
                lake.get(k).await.unwrap().unwrap(),
                Bytes::from_static(b"one")
            );
            assert!(lake.get("t/none").await.unwrap().is_none());
            let listed = lake.list("t").await.unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].key, k);
            assert_eq!(listed[0].size, 3);
        }
    }

    #[tokio::test]
    async fn staging_leftovers_are_swept_and_real_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::from_url(&format!("file://{}/lake", dir.path().display())).unwrap();
        lake.put("j/d=1/a.json", Bytes::from_static(b"{}"))
            .await
            .unwrap();
        let folder = lake.local_root().unwrap().join("j/d=1");
        std::fs::write(folder.join("b.json#1"), b"half").unwrap();
        std::fs::create_dir_all(folder.join("g")).unwrap();
        std::fs::write(folder.join("g/part-0.parquet#12"), b"half").unwrap();
        std::fs::write(folder.join("g/x#y"), b"kept").unwrap();
        assert_eq!(lake.sweep_local_staging("j").await.unwrap(), 2);
        assert!(folder.join("a.json").exists() && folder.join("g/x#y").exists());
        assert!(!folder.join("b.json#1").exists());
        assert_eq!(lake.sweep_local_staging("nothing/here").await.unwrap(), 0);
    }

    /// A read of a local lake's file leaves the runtime free: here the file is a FIFO whose
    /// writer is a task of the same one-thread runtime, so a read blocking the calling task
    /// would wait forever for bytes only that task can write.
    #[tokio::test(flavor = "current_thread")]
    async fn local_reads_leave_the_runtime_free() {
        use tokio::io::AsyncWriteExt;
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::from_url(&format!("file://{}/lake", dir.path().display())).unwrap();
        let fifo = lake.local_root().unwrap().join("t/pipe");
        std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success(), "mkfifo");
        let writer = tokio::spawn(async move {
            let mut w = tokio::fs::OpenOptions::new()
                .write(true)
                .open(&fifo)
                .await
                .unwrap();
            w.write_all(b"from the runtime").await.unwrap();
            w.flush().await.unwrap();
        });
        let got = lake.get("t/pipe").await.unwrap().unwrap();
        assert_eq!(got, Bytes::from_static(b"from the runtime"));
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn ranges_uploads_folders_and_prefix_deletes() {
        use tokio::io::AsyncWriteExt;
        let dir = tempfile::tempdir().unwrap();
        for url in [
            "memory://".to_string(),
            format!("file://{}/lake", dir.path().display()),
        ] {
            let lake = Lake::from_url(&url).unwrap();
            let mut w = lake.upload_in_parts("t/g/1/a.bin", 4);
            w.write_all(b"0123456789").await.unwrap();
            assert!(
                lake.get("t/g/1/a.bin").await.unwrap().is_none(),
                "visible only when done"
            );
            w.shutdown().await.unwrap();
            assert_eq!(
                lake.get_range("t/g/1/a.bin", 2..5).await.unwrap(),
                Bytes::from_static(b"234")
            );
            let parts = lake
                .get_ranges("t/g/1/a.bin", &[0..1, 8..10])
                .await
                .unwrap();
            if url.starts_with("file://") {
                // As object_store's local store: a short read is an error (the memory store
                // would return the bytes there are).
                assert!(lake.get_range("t/g/1/a.bin", 8..11).await.is_err());
            }
            assert!(lake.get_range("t/g/1/none.bin", 0..1).await.is_err());
            assert_eq!(
                parts,
                vec![Bytes::from_static(b"0"), Bytes::from_static(b"89")]
            );
            lake.put("t/g/2/b.bin", Bytes::from_static(b"x"))
                .await
                .unwrap();
            lake.put("t/h.bin", Bytes::from_static(b"x")).await.unwrap();
            assert_eq!(
                lake.list_folders("t/g").await.unwrap(),
                vec!["t/g/1", "t/g/2"]
            );
            assert_eq!(lake.delete_prefix("t/g/1").await.unwrap(), 1);
            assert_eq!(lake.list_folders("t/g").await.unwrap(), vec!["t/g/2"]);
            assert_eq!(lake.list("t").await.unwrap().len(), 2);
            let u = lake.url_of("t/g/2");
            assert_eq!(lake.key_of_url(&format!("{u}/")).as_deref(), Some("t/g/2"));
            assert_eq!(lake.key_of_url("file:///elsewhere/t"), None);
            if let Some(root) = lake.local_root() {
                assert!(!root.join("t/g/1").exists(), "the folder goes too");
            }
        }
    }

    #[tokio::test]
    async fn versioned_puts_let_one_writer_advance() {
        let dir = tempfile::tempdir().unwrap();
        for url in [
            "memory://".to_string(),
            format!("file://{}", dir.path().display()),
        ] {
            let lake = Lake::from_url(&url).unwrap();
            let k = "_checkpoints/c/s.json";
            let VersionedPut::Written(v1) = lake
                .put_versioned(k, Bytes::from_static(b"1"), None)
                .await
                .unwrap()
            else {
                panic!("first create must win")
            };
            assert_eq!(
                lake.put_versioned(k, Bytes::from_static(b"x"), None)
                    .await
                    .unwrap(),
                VersionedPut::Conflict
            );
            let VersionedPut::Written(_) = lake
                .put_versioned(k, Bytes::from_static(b"2"), Some(&v1))
                .await
                .unwrap()
            else {
                panic!("update from the current version must win")
            };
            // A second writer still holding v1 loses.
            assert_eq!(
                lake.put_versioned(k, Bytes::from_static(b"3"), Some(&v1))
                    .await
                    .unwrap(),
                VersionedPut::Conflict
            );
            let (b, _) = lake.get_versioned(k).await.unwrap().unwrap();
            assert_eq!(b, Bytes::from_static(b"2"));
        }
    }

    #[test]
    fn rejects_unknown_schemes() {
        assert!(matches!(
            Lake::from_url("ftp://x"),
            Err(LakeError::UnsupportedUrl(_))
        ));
    }

    #[test]
    fn a_mistyped_url_is_refused_never_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let cwd_relative = |u: &str| dir.path().join(u).display().to_string();
        for bad in [
            "s3:/bucket/x",
            "s3:bucket",
            "file:/tmp/x",
            "memory:",
            "kinesis:s",
        ] {
            assert!(
                matches!(Lake::from_url(bad), Err(LakeError::UnsupportedUrl(_))),
                "{bad}"
            );
        }
        // A path whose first segment holds a colon is still a path when written as one.
        assert!(Lake::from_url(&cwd_relative("a:b")).is_ok());
    }
}
