//! Graceful drain on SIGINT and SIGTERM (docs/operations.md): the first signal asks the command
//! to stop reading; it then writes what it read, checkpoints (commits, saves its progress),
//! prints its summary and exits 0. A second signal, or a drain longer than
//! `--shutdown-timeout`, exits at once with code 130: what was not yet durable is read again
//! by the next run, as after a crash.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use crate::exit::Exit;

/// ECS stops a task with SIGTERM and kills it 30 s later by default: the drain ends before.
pub const DEFAULT_SHUTDOWN_TIMEOUT: &str = "25s";

static TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// `--shutdown-timeout`, chosen once before any command runs.
pub fn set_timeout(timeout: Duration) {
    let _ = TIMEOUT.set(timeout);
}

/// Install the handlers on `rt`; the flag is set by the first signal. Call before the
/// command starts reading (a signal before this ends the process the default way).
pub fn on_stop(rt: &tokio::runtime::Runtime) -> std::io::Result<Arc<AtomicBool>> {
    let _entered = rt.enter();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let timeout = TIMEOUT.get().copied().unwrap_or(Duration::from_secs(25));
    rt.spawn(async move {
        let name = |t: bool| if t { "SIGTERM" } else { "SIGINT" };
        let first = tokio::select! {
            _ = term.recv() => true,
            _ = int.recv() => false,
        };
        tracing::warn!(
            "{}: stopping: writing what was read and checkpointing (up to {timeout:?}); a second signal stops at once",
            name(first)
        );
        flag.store(true, Ordering::Release);
        std::thread::spawn(move || {
            std::thread::sleep(timeout);
            exit_now(&format!("the drain did not finish within --shutdown-timeout {timeout:?}"));
        });
        let second = tokio::select! {
            _ = term.recv() => true,
            _ = int.recv() => false,
        };
        exit_now(&format!("{}: stopping at once", name(second)));
    });
    Ok(stop)
}

/// Exit with code 130 without draining: what is not durable is read again by the next run.
fn exit_now(why: &str) -> ! {
    eprintln!(
        "{}",
        crate::logs::error_line(
            &format!(
                "{why}; what was not yet written or checkpointed is read again by the next run"
            ),
            Exit::Interrupted as u8
        )
    );
    std::process::exit(Exit::Interrupted as i32)
}
