//! Where log lines go: standard error, with access lines gathered and written several at a time.
//!
//! One `write(2)` per access line was about 8 % of the server's CPU on its lightest requests. Access lines are
//! therefore held in memory and written together: when [`HOLD_BYTES`] have gathered, when [`HOLD_FOR`] has passed
//! (a flushing thread), when any other line is logged, and at exit. Every other line — warnings, errors, audit
//! events, start-up messages — is written at once, after the access lines held before it, so the order of lines
//! is kept. (nginx's `access_log ... buffer= flush=` makes the same trade.) A logging thread, as tracing-appender
//! has, was measured slower: the wake-up per line cost more than the write it saved (docs/BENCHMARKS.md).
//!
//! What a hard kill (SIGKILL, a crash that cannot unwind) loses is at most the last [`HOLD_FOR`] of access lines.

use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How much access log text is held before it is written.
pub const HOLD_BYTES: usize = 32 * 1024;
/// How long an access line is held at most.
pub const HOLD_FOR: Duration = Duration::from_millis(100);
/// The target of the access log lines (`http::layers`).
pub const ACCESS_TARGET: &str = "lintel::access";

/// Text held for standard error.
static HELD: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Set when lines cannot be held (no flushing thread).
static NO_HOLDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn held() -> MutexGuard<'static, Vec<u8>> {
    // A thread that panicked while holding the lock left whole lines behind (see `Line::write`): keep them.
    HELD.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write what is held, and `line` after it, to standard error.
fn write_out(held: &mut Vec<u8>, line: &[u8]) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    let wrote = if held.is_empty() {
        err.write_all(line)
    } else {
        held.extend_from_slice(line);
        err.write_all(held)
    };
    held.clear();
    wrote
}

/// Write what is held now (called by the flushing thread and at exit).
pub fn flush() {
    let mut held = held();
    if !held.is_empty() {
        // Nowhere left to report a failed write to standard error.
        let _ = write_out(&mut held, b"");
    }
}

/// Start the thread that writes held lines every [`HOLD_FOR`], and flush them before a panic is reported.
pub fn start() {
    let spawned = std::thread::Builder::new()
        .name("lintel-log-flush".into())
        .spawn(|| loop {
            std::thread::sleep(HOLD_FOR);
            flush();
        });
    if let Err(e) = spawned {
        // Without the thread, nothing may be held: lines would wait for the next non-access line.
        eprintln!("lintel: cannot start the log flushing thread ({e}); access lines are written one by one");
        NO_HOLDING.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Never wait here: the panicking thread may be the one holding the lock.
        let held = match HELD.try_lock() {
            Ok(held) => Some(held),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        if let Some(mut held) = held.filter(|h| !h.is_empty()) {
            let _ = write_out(&mut held, b"");
        }
        previous(info);
    }));
}

/// The writer `tracing_subscriber::fmt` is given: standard error, holding access lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stderr;

/// One log line on its way to standard error.
pub struct Line {
    hold: bool,
}

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line { hold: false }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Line {
        let hold = meta.target() == ACCESS_TARGET
            && *meta.level() == Level::INFO
            && !NO_HOLDING.load(std::sync::atomic::Ordering::Relaxed);
        Line { hold }
    }
}

impl Write for Line {
    /// The formatter hands over one whole line per call: it is held or written whole.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut held = held();
        if self.hold && held.len() + buf.len() <= HOLD_BYTES {
            held.extend_from_slice(buf);
        } else {
            write_out(&mut held, buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event's metadata: what the formatter passes to `make_writer_for`.
    fn event(target: &'static str, level: Level) -> Metadata<'static> {
        let fields = tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&CALLSITE));
        Metadata::new(
            "event",
            target,
            level,
            None,
            None,
            None,
            fields,
            tracing::metadata::Kind::EVENT,
        )
    }

    #[test]
    fn access_lines_are_held_and_others_written_after_them() {
        let mut line = Stderr.make_writer_for(&event(ACCESS_TARGET, Level::INFO));
        assert!(line.hold, "an access line at info is held");
        line.write_all(b"GET /healthz 200\n").unwrap();
        assert!(held().ends_with(b"GET /healthz 200\n"));

        let mut line = Stderr.make_writer_for(&event("lintel::server", Level::WARN));
        assert!(!line.hold, "a warning is written at once");
        line.write_all(b"a warning\n").unwrap();
        assert!(
            held().is_empty(),
            "writing it wrote the held access line before it"
        );
    }

    struct Callsite;
    static CALLSITE: Callsite = Callsite;
    impl tracing::callsite::Callsite for Callsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!("not registered")
        }
    }
}
