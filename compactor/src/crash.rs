//! A test hook: with `FIRELAKE_COMPACT_PAUSE_AT=<step>` the process stops at that step (says
//! so on stderr, then sleeps), so a test can `kill -9` it exactly there and check that the next
//! run finishes or rolls back what it left. Only in builds with the test-only cargo feature
//! `crash-hook` (the root package's dev-dependency turns it on for `cargo test`): release and
//! Lambda builds have no such hook, and `point` is empty there.

/// The steps a run can be stopped at, in the order a run passes them.
pub const STEPS: &[&str] = &[
    // journal says planned, nothing written yet
    "planned",
    // after each output file (the first one: a generation half written)
    "output",
    // journal says written: outputs verified, catalog untouched
    "written",
    // catalog points at the new generation, journal still says written
    "catalog",
    // journal says committed, previous generation still there
    "committed",
    // previous generation deleted, its journal (and this journal's last state) not yet
    "cleanup",
];

pub const PAUSE_ENV: &str = "FIRELAKE_COMPACT_PAUSE_AT";

#[cfg(feature = "crash-hook")]
pub fn point(step: &str) {
    if std::env::var(PAUSE_ENV).is_ok_and(|s| s == step) {
        eprintln!("firelake-compactor: paused at {step} ({PAUSE_ENV})");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// Built without the hook: nothing to stop at.
#[cfg(not(feature = "crash-hook"))]
#[inline(always)]
pub fn point(_step: &str) {}
