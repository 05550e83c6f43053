//! When a batch of written files is committed (pure): enough files, enough bytes, or the
//! oldest file waited long enough. One snapshot per batch keeps a busy stream from making a
//! snapshot (and a manifest, and a metadata file) per small file.

use std::time::Duration;

/// Files per commit by default (`--iceberg-commit-files`).
pub const DEFAULT_FILES: usize = 100;
/// MiB per commit by default (`--iceberg-commit-mb`).
pub const DEFAULT_MB: u64 = 512;
/// Longest a written file waits for its commit by default (`--iceberg-commit-interval`).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitPolicy {
    pub max_files: usize,
    pub max_bytes: u64,
    pub max_wait: Duration,
}

impl Default for CommitPolicy {
    fn default() -> Self {
        CommitPolicy {
            max_files: DEFAULT_FILES,
            max_bytes: DEFAULT_MB << 20,
            max_wait: DEFAULT_INTERVAL,
        }
    }
}

impl CommitPolicy {
    /// Whether `files` pending files of `bytes` in all, the oldest waiting `oldest`, are due.
    pub fn due(&self, files: usize, bytes: u64, oldest: Duration) -> bool {
        files > 0 && (files >= self.max_files || bytes >= self.max_bytes || oldest >= self.max_wait)
    }

    /// Pending files split into commits of at most `max_files` files and `max_bytes` bytes
    /// (a file larger than `max_bytes` is a commit of its own), in order.
    pub fn batches(&self, sizes: &[u64]) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let (mut start, mut bytes) = (0, 0u64);
        for (i, &size) in sizes.iter().enumerate() {
            let full = i - start >= self.max_files.max(1) || bytes + size > self.max_bytes;
            if i > start && full {
                out.push(start..i);
                (start, bytes) = (i, 0);
            }
            bytes += size;
        }
        if start < sizes.len() {
            out.push(start..sizes.len());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_on_files_bytes_or_time() {
        let p = CommitPolicy {
            max_files: 3,
            max_bytes: 100,
            max_wait: Duration::from_secs(10),
        };
        assert!(!p.due(0, 0, Duration::from_secs(99)));
        assert!(!p.due(2, 99, Duration::from_secs(9)));
        assert!(p.due(3, 1, Duration::ZERO));
        assert!(p.due(1, 100, Duration::ZERO));
        assert!(p.due(1, 1, Duration::from_secs(10)));
    }

    #[test]
    fn batches_respect_both_limits() {
        let p = CommitPolicy {
            max_files: 2,
            max_bytes: 100,
            max_wait: Duration::ZERO,
        };
        assert_eq!(p.batches(&[10, 10, 10, 10, 10]), vec![0..2, 2..4, 4..5]);
        assert_eq!(p.batches(&[60, 60, 200, 10]), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(p.batches(&[]), Vec::<std::ops::Range<usize>>::new());
    }
}
