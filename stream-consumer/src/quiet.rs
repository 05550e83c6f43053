//! What `--exit-when-idle` measures on a Kinesis stream: time spent waiting on the source
//! with nothing to read, never time spent cleaning or writing. A shard is quiet from its first
//! read that came back empty at the tip while nothing of it was queued, cleaned or being
//! flushed; anything read, queued or flushed makes it busy again, and only the next empty read
//! after that (one more poll once the flush is done) makes it quiet again.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use firelake_core::stream::now_ms;

#[derive(Default)]
struct State {
    /// Batches read and not yet handled (cleaned, and flushed when due), plus flushes under way.
    busy: usize,
    /// Since when (ms) the shard is quiet; `None`: not confirmed quiet since it was last busy.
    since: Option<i64>,
}

/// One shard's reader.
#[derive(Default)]
pub struct ShardQuiet(Mutex<State>);

impl ShardQuiet {
    /// Records were read (and queued), or a flush starts: not quiet until `done` and the next
    /// empty read.
    pub fn busy(&self) {
        let mut st = self.0.lock().unwrap();
        st.busy += 1;
        st.since = None;
    }

    /// What one `busy` stood for is handled.
    pub fn done(&self) {
        let mut st = self.0.lock().unwrap();
        st.busy = st.busy.saturating_sub(1);
    }

    /// A read came back: `at_tip` when it was empty with nothing behind it. Quiet from the
    /// first such read with nothing in hand; any other read leaves it unconfirmed.
    pub fn polled(&self, at_tip: bool) {
        let mut st = self.0.lock().unwrap();
        if !at_tip || st.busy > 0 {
            st.since = None;
        } else if st.since.is_none() {
            st.since = Some(now_ms());
        }
    }

    fn since(&self) -> Option<i64> {
        self.0.lock().unwrap().since
    }
}

/// The running readers' quiet states.
pub struct Quiet {
    shards: Mutex<HashMap<String, Arc<ShardQuiet>>>,
    /// When a reader last started or ended (ms): idleness counts from then at the earliest.
    changed_ms: AtomicI64,
}

impl Default for Quiet {
    fn default() -> Self {
        Quiet {
            shards: Mutex::new(HashMap::new()),
            changed_ms: AtomicI64::new(now_ms()),
        }
    }
}

impl Quiet {
    /// A reader starts (busy until its first empty read).
    pub fn register(&self, shard: &str) -> Arc<ShardQuiet> {
        let q = Arc::new(ShardQuiet::default());
        self.shards
            .lock()
            .unwrap()
            .insert(shard.to_string(), q.clone());
        self.changed_ms.store(now_ms(), Ordering::Release);
        q
    }

    /// A reader ended.
    pub fn unregister(&self, shard: &str) {
        self.shards.lock().unwrap().remove(shard);
        self.changed_ms.store(now_ms(), Ordering::Release);
    }

    /// How long (ms) every running reader has been quiet; `None` while one is not.
    pub fn quiet_ms(&self) -> Option<i64> {
        let mut since = self.changed_ms.load(Ordering::Acquire);
        for q in self.shards.lock().unwrap().values() {
            since = since.max(q.since()?);
        }
        Some((now_ms() - since).max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_quiet_only_after_an_empty_read_with_nothing_in_hand() {
        let quiet = Quiet::default();
        let a = quiet.register("a");
        assert_eq!(quiet.quiet_ms(), None, "not read yet");
        a.polled(true);
        assert!(quiet.quiet_ms().is_some());
        // Records read and queued; the flush they lead to takes long: never quiet meanwhile.
        a.busy();
        assert_eq!(quiet.quiet_ms(), None);
        a.polled(true);
        assert_eq!(
            quiet.quiet_ms(),
            None,
            "an empty read while a batch is in hand"
        );
        a.done();
        assert_eq!(quiet.quiet_ms(), None, "no read since the flush ended");
        a.polled(false);
        assert_eq!(quiet.quiet_ms(), None, "behind the tip");
        a.polled(true);
        assert!(quiet.quiet_ms().is_some());
        // Every running shard must be quiet.
        let b = quiet.register("b");
        assert_eq!(quiet.quiet_ms(), None);
        b.polled(true);
        assert!(quiet.quiet_ms().is_some());
        quiet.unregister("b");
        assert!(quiet.quiet_ms().is_some());
    }
}
