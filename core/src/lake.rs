//! The lake's storage: one object-store interface over `file://`, `memory://` (and, with the
//! AWS path, `s3://`) locations. Writes of data files are create-if-absent, so a replayed
//! write of the same key is a no-op and two writers can never clobber each other.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("unsupported lake URL {0:?}: use file://PATH, a plain path, or memory://")]
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
}

impl Lake {
    /// `file://./lake`, `file:///abs/path`, `./lake` (a plain path) or `memory://`.
    pub fn from_url(url: &str) -> Result<Lake, LakeError> {
        if url == "memory://" || url.starts_with("memory://") {
            return Ok(Lake {
                store: Arc::new(InMemory::new()),
                url: "memory://".into(),
                local_root: None,
            });
        }
        let path = match url.strip_prefix("file://") {
            Some(p) => p,
            None if url.contains("://") => return Err(LakeError::UnsupportedUrl(url.into())),
            None => url,
        };
        if path.is_empty() {
            return Err(LakeError::UnsupportedUrl(url.into()));
        }
        std::fs::create_dir_all(path).map_err(|source| LakeError::CreateDir {
            path: path.into(),
            source,
        })?;
        let root = std::fs::canonicalize(path).map_err(|source| LakeError::CreateDir {
            path: path.into(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(&root).map_err(|source| LakeError::Store {
            key: root.display().to_string(),
            source,
        })?;
        Ok(Lake {
            store: Arc::new(store),
            url: format!("file://{}", root.display()),
            local_root: Some(root),
        })
    }

    /// A lake over any object store (tests, S3).
    pub fn from_store(store: Arc<dyn ObjectStore>, url: impl Into<String>) -> Lake {
        Lake {
            store,
            url: url.into(),
            local_root: None,
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
    pub async fn put_if_absent(&self, key: &str, bytes: Bytes) -> Result<PutOutcome, LakeError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&ObjectPath::from(key), PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(PutOutcome::Created),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(PutOutcome::AlreadyExisted),
            Err(e) => Err(Self::err(key)(e)),
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

    /// The object at `key`, or `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, LakeError> {
        match self.store.get(&ObjectPath::from(key)).await {
            Ok(r) => r.bytes().await.map(Some).map_err(Self::err(key)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(Self::err(key)(e)),
        }
    }

    /// Every object under `prefix` (recursively), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<LakeObject>, LakeError> {
        let p = ObjectPath::from(prefix);
        let mut out: Vec<LakeObject> = self
            .store
            .list(Some(&p))
            .map_ok(|m| LakeObject {
                key: m.location.to_string(),
                size: m.size,
            })
            .try_collect()
            .await
            .map_err(Self::err(prefix))?;
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub async fn delete(&self, key: &str) -> Result<(), LakeError> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Self::err(key)(e)),
        }
    }
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

    #[test]
    fn rejects_unknown_schemes() {
        assert!(matches!(
            Lake::from_url("ftp://x"),
            Err(LakeError::UnsupportedUrl(_))
        ));
    }
}
