//! Where log lines go: standard error, with access lines gathered and written several at a time.
//!
//! One `write(2)` per access line was about 8 % of the server's CPU on its lightest requests. Access lines are
//! therefore held in memory and written together: when [`HOLD_BYTES`] have gathered, when [`HOLD_FOR`] has passed
//! (a flushing thread), when any other line is logged, and at exit. Every other line — warnings, errors, audit
//! events, start-up messages — is written at once, after the access lines held before it, so the order of lines
//! is kept. (nginx's `access_log ... buffer= flush=` makes the same trade.) A logging thread, as tracing-appender
//! has, was measured slower: the wake-up per line cost more than the write it saved (docs/BENCHMARKS.md).
//!
//! Each thread holds its own lines (a shelf): one buffer shared by the runtime's threads was a lock they
//! contended for on every request (futex wake-ups) and a cache line moved between cores with every line. So
//! access lines of concurrent requests on two threads can be written in the other order, as with nginx's
//! workers; a thread's own lines, and every line before a non-access line, keep theirs.
//!
//! What a hard kill (SIGKILL, a crash that cannot unwind) loses is at most the last [`HOLD_FOR`] of access lines.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::fmt::format::{Format, FormatEvent, FormatFields, Full, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// How much access log text is held before it is written.
pub const HOLD_BYTES: usize = 32 * 1024;
/// How long an access line is held at most.
pub const HOLD_FOR: Duration = Duration::from_millis(100);
/// The target of the access log lines (`http::layers`).
pub const ACCESS_TARGET: &str = "lintel::access";

/// One thread's access lines held for standard error.
type Shelf = Arc<Mutex<Vec<u8>>>;
/// Every thread's shelf, for the flushing thread and for the lines written at once (dead threads' are pruned).
static SHELVES: Mutex<Vec<Weak<Mutex<Vec<u8>>>>> = Mutex::new(Vec::new());
/// Set when lines cannot be held (no flushing thread).
static NO_HOLDING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A thread's own shelf; what it holds is written when the thread ends.
struct Own(Shelf);

impl Drop for Own {
    fn drop(&mut self) {
        let mut held = lock(&self.0);
        if !held.is_empty() {
            // Nowhere left to report a failed write to standard error.
            let _ = write_out(&mut held, b"");
        }
    }
}

thread_local! {
    static MINE: Own = {
        let shelf = Shelf::default();
        lock(&SHELVES).push(Arc::downgrade(&shelf));
        Own(shelf)
    };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A thread that panicked while holding the lock left whole lines behind (see `Line::write`): keep them.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every live thread's shelf (and the dead ones' entries dropped).
fn shelves() -> Vec<Shelf> {
    let mut all = lock(&SHELVES);
    all.retain(|w| w.strong_count() > 0);
    all.iter().filter_map(Weak::upgrade).collect()
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

/// Write what every thread holds now (called by the flushing thread, before any other line, and at exit).
pub fn flush() {
    for shelf in shelves() {
        let mut held = lock(&shelf);
        if !held.is_empty() {
            // Nowhere left to report a failed write to standard error.
            let _ = write_out(&mut held, b"");
        }
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
        // Never wait here: the panicking thread may be the one holding a lock.
        let all: Vec<Shelf> = match SHELVES.try_lock() {
            Ok(all) => all.iter().filter_map(Weak::upgrade).collect(),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                p.into_inner().iter().filter_map(Weak::upgrade).collect()
            }
            Err(std::sync::TryLockError::WouldBlock) => Vec::new(),
        };
        for shelf in all {
            let held = match shelf.try_lock() {
                Ok(held) => Some(held),
                Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            };
            if let Some(mut held) = held.filter(|h| !h.is_empty()) {
                let _ = write_out(&mut held, b"");
            }
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
    /// The formatter hands over one whole line per call: it is held or written whole. An access line goes on
    /// this thread's shelf (or out with it, when full); any other line goes out after every shelf's lines.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.hold {
            // None once this thread's shelf is gone (the thread is ending): written at once.
            let held = MINE.try_with(|own| {
                let mut held = lock(&own.0);
                if held.len() + buf.len() <= HOLD_BYTES {
                    held.extend_from_slice(buf);
                    Ok(())
                } else {
                    write_out(&mut held, buf)
                }
            });
            if let Ok(wrote) = held {
                return wrote.map(|()| buf.len());
            }
        } else {
            flush();
        }
        write_out(&mut Vec::new(), buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// tracing-subscriber's own timestamps (RFC 3339 in UTC to the microsecond, `2026-12-04T03:10:00.123456Z`), the
/// part up to the second formatted once a second per thread instead of once a line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timestamp;

impl FormatTime for Timestamp {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        now(w)
    }
}

/// Write the current time as [`Timestamp`] does.
fn now(w: &mut impl std::fmt::Write) -> std::fmt::Result {
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    #[allow(clippy::disallowed_methods)] // a log line's timestamp, not a decision
    let now = std::time::SystemTime::now();
    let Ok(since) = now.duration_since(std::time::UNIX_EPOCH) else {
        return w.write_str("1970-01-01T00:00:00.000000Z");
    };
    let mut fraction = *b".000000Z";
    let mut micros = since.subsec_micros();
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    let fraction = std::str::from_utf8(&fraction).unwrap_or(".000000Z");
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != since.as_secs() {
            let Some(at) = i64::try_from(since.as_secs())
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            else {
                return w.write_str("1970-01-01T00:00:00.000000Z");
            };
            text.clear();
            write!(text, "{}", at.format("%Y-%m-%dT%H:%M:%S"))?;
            *second = since.as_secs();
        }
        w.write_str(text)?;
        w.write_str(fraction)
    })
}

/// Whether access lines are written here directly rather than through tracing's formatter (`main` decides: the
/// text format without colours).
static DIRECT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Write access lines directly (see [`access`]).
pub fn write_access_directly(on: bool) {
    DIRECT.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Log an access line, exactly as [`TextFormat`] would write it, without tracing's event machinery (the filter's
/// and the registry's work per event, the visit of the message, the formatter's own buffer): with it, the access
/// line was about a sixth of the lightest request's cost. The filter still decides (`LINTEL_LOG=warn` turns access
/// lines off). False when the caller is to log through tracing instead (JSON, colours, or not set up).
pub fn access(line: impl FnOnce(&mut String)) -> bool {
    if !DIRECT.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    if !tracing::enabled!(target: ACCESS_TARGET, Level::INFO) {
        return true;
    }
    thread_local! {
        static TEXT: RefCell<String> = const { RefCell::new(String::new()) };
    }
    TEXT.with_borrow_mut(|text| {
        text.clear();
        if now(text).is_err() {
            return;
        }
        text.push_str("  INFO ");
        text.push_str(ACCESS_TARGET);
        text.push_str(": ");
        line(text);
        text.push('\n');
        let hold = !NO_HOLDING.load(std::sync::atomic::Ordering::Relaxed);
        // Nowhere to report a failed write to standard error, as for tracing's own lines.
        let _ = Line { hold }.write(text.as_bytes());
    });
    true
}

/// tracing-subscriber's `Full` text format, but access lines are written as they come: the formatter escapes a
/// field character by character (a third of an access line's cost), and an access line's text (ids, an address,
/// a method, a route template and a Debug-quoted subject, made in `http::layers`) has nothing to escape. With
/// colours on (a terminal), every line goes through the formatter as it is.
pub struct TextFormat {
    full: Format<Full, Timestamp>,
}

impl TextFormat {
    /// The format `main` installs for `log_format = text`.
    pub fn new() -> TextFormat {
        TextFormat {
            full: tracing_subscriber::fmt::format().with_timer(Timestamp),
        }
    }
}

impl Default for TextFormat {
    fn default() -> TextFormat {
        TextFormat::new()
    }
}

impl<S, N> FormatEvent<S, N> for TextFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        if meta.target() != ACCESS_TARGET || w.has_ansi_escapes() || ctx.lookup_current().is_some()
        {
            return self.full.format_event(ctx, w, event);
        }
        Timestamp.format_time(&mut w)?;
        write!(w, " {:>5} {}: ", meta.level().as_str(), meta.target())?;
        let mut message = Message {
            w: &mut w,
            wrote: Ok(()),
        };
        event.record(&mut message);
        message.wrote?;
        writeln!(w)
    }
}

/// Writes an event's message as it is (the only field an access line has in text form).
struct Message<'a, 'w> {
    w: &'a mut Writer<'w>,
    wrote: std::fmt::Result,
}

impl Visit for Message<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.wrote = write!(self.w, "{value:?}");
        }
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
        let mine = MINE.with(|own| own.0.clone());
        assert!(lock(&mine).ends_with(b"GET /healthz 200\n"));

        let mut line = Stderr.make_writer_for(&event("lintel::server", Level::WARN));
        assert!(!line.hold, "a warning is written at once");
        line.write_all(b"a warning\n").unwrap();
        assert!(
            lock(&mine).is_empty(),
            "writing it wrote the held access line before it"
        );
    }

    #[test]
    fn timestamps_read_as_tracing_subscribers_own() {
        let stamp = |timer: &dyn FormatTime| {
            let mut text = String::new();
            timer.format_time(&mut Writer::new(&mut text)).unwrap();
            text
        };
        let (ours, theirs) = (
            stamp(&Timestamp),
            stamp(&tracing_subscriber::fmt::time::SystemTime),
        );
        assert_eq!(ours.len(), theirs.len(), "{ours} / {theirs}");
        assert_eq!(ours[..16], theirs[..16], "the same minute");
        let parsed = chrono::DateTime::parse_from_rfc3339(&ours).unwrap();
        assert_eq!(
            parsed.timestamp_subsec_nanos() % 1000,
            0,
            "to the microsecond"
        );
        assert!(ours.ends_with('Z') && ours.as_bytes()[19] == b'.', "{ours}");
        // The second's text is kept; the fraction is the current one.
        assert_eq!(stamp(&Timestamp)[..16], ours[..16]);
    }

    /// Lines that one subscriber writes, each without its timestamp (the first 27 bytes).
    fn lines_of(text_format: bool) -> Vec<String> {
        let out = std::sync::Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let writer = move || Captured(sink.clone());
        let emit = || {
            tracing::info!(target: ACCESS_TARGET, "request_id=req-1 method=GET route=/healthz status=200");
            tracing::warn!(target: "lintel::server", reason = "x\u{1b}[31m", "a warning");
        };
        let builder = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(writer);
        if text_format {
            tracing::subscriber::with_default(
                builder.event_format(TextFormat::new()).finish(),
                emit,
            );
        } else {
            tracing::subscriber::with_default(builder.finish(), emit);
        }
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| l[27..].to_string()).collect()
    }

    struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);
    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn text_lines_are_the_full_formats_own() {
        let ours = lines_of(true);
        assert_eq!(ours, lines_of(false));
        assert_eq!(
            ours[0],
            "  INFO lintel::access: request_id=req-1 method=GET route=/healthz status=200"
        );
        assert!(
            !ours[1].contains('\u{1b}'),
            "other lines are still escaped: {}",
            ours[1]
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
