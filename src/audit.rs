//! The audit trail: one CADF event (the shape of Keystone's notifications) for each security-relevant event —
//! authentication, credential, access-rule, role, grant and password changes, token revocation — written to the
//! service log or to a file of its own. Events carry ids, names, methods and addresses, never a secret.

use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};

use chrono::NaiveDateTime;
use serde_json::{json, Map, Value};

use crate::config::{AuditDestination, AuditSection};

/// Events waiting for the file writer; beyond that they are dropped and counted (the service never waits on disk).
const QUEUE: usize = 65_536;
/// How long one source's throttled refusals are counted before they are written as one event.
const FLOOD_WINDOW_S: i64 = 10;
/// Sources counted at once; beyond that, throttled refusals from sources not yet counted share one entry.
const FLOOD_SOURCES: usize = 10_000;
/// The longest name or id an event repeats from a request (what a client presented may be anything).
const FIELD_MAX: usize = 255;

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was refused.
    Failure,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// A change to a resource.
#[derive(Debug, Clone, Copy)]
pub enum Operation {
    /// Created.
    Created,
    /// Updated.
    Updated,
    /// Deleted.
    Deleted,
}

/// Who acted, as far as the request tells.
#[derive(Debug, Default, Clone)]
pub struct Initiator {
    /// The user, when known.
    pub user_id: Option<String>,
    /// The name presented, when the user is not known by id.
    pub name: Option<String>,
    /// The source address.
    pub source: Option<IpAddr>,
    /// The authentication method (`password`, `application_credential`, `client_secret_basic`, ...).
    pub method: Option<String>,
    /// The application credential (OAuth 2.0 client) used or presented.
    pub credential_id: Option<String>,
}

/// Where events go.
enum Sink {
    Off,
    Log,
    File(SyncSender<String>),
}

/// The audit trail of this process.
pub struct Audit {
    sink: Sink,
    /// The observer's id: this service instance.
    observer: String,
    /// Events that never reached the file (queue full, or the file would not take them), shared with the writer.
    dropped: std::sync::Arc<AtomicU64>,
    /// Set by SIGHUP: the writer opens the file's path again before its next write.
    reopen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Throttled refusals being counted instead of written, per source (an IPv6 /64 counts as one).
    floods: std::sync::Mutex<std::collections::HashMap<Option<IpAddr>, Flood>>,
    /// The file writer's thread, joined by [`Audit::close`].
    writer: Option<std::thread::JoinHandle<()>>,
}

/// One source's throttled refusals in the current window.
struct Flood {
    started: NaiveDateTime,
    suppressed: u64,
}

impl Audit {
    /// Open the configured destination (a file is created readable by its owner only and appended to).
    pub fn open(config: &AuditSection) -> std::io::Result<Audit> {
        let dropped = std::sync::Arc::new(AtomicU64::new(0));
        let reopen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut thread = None;
        let sink = match config.destination {
            AuditDestination::Off => Sink::Off,
            AuditDestination::Log => Sink::Log,
            AuditDestination::File => {
                let writer =
                    FileWriter::open(config.file.clone(), dropped.clone(), reopen.clone())?;
                let (tx, rx) = sync_channel(QUEUE);
                thread = Some(
                    std::thread::Builder::new()
                        .name("lintel-audit".into())
                        .spawn(move || writer.run(rx))?,
                );
                Sink::File(tx)
            }
        };
        Ok(Audit {
            sink,
            observer: format!("openstack:{}", uuid::Uuid::new_v4()),
            dropped,
            reopen,
            floods: std::sync::Mutex::default(),
            writer: thread,
        })
    }

    /// Write what is queued and stop (a command that audits and exits: bootstrap, keystone-import).
    pub fn close(mut self) {
        self.sink = Sink::Off;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }

    /// No audit trail.
    pub fn off() -> Audit {
        Audit {
            sink: Sink::Off,
            observer: String::new(),
            dropped: std::sync::Arc::default(),
            reopen: std::sync::Arc::default(),
            floods: std::sync::Mutex::default(),
            writer: None,
        }
    }

    /// Open the audit file's path again before the next write (SIGHUP, after a log rotation that copies).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// Events that never reached the audit file.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Whether events are written anywhere (callers skip assembling them when not).
    pub fn is_on(&self) -> bool {
        !matches!(self.sink, Sink::Off)
    }

    /// An authentication attempt: Keystone's `identity.authenticate` event.
    pub fn authenticate(
        &self,
        now: NaiveDateTime,
        who: &Initiator,
        outcome: Outcome,
        reason: Option<&'static str>,
    ) {
        if matches!(self.sink, Sink::Off) {
            return;
        }
        if reason == Some("throttled") && !self.admit_throttled(now, who.source) {
            return; // counted, and written as one event when its window ends
        }
        let target = json!({
            "typeURI": "service/security/account/user",
            "id": who.user_id.as_deref().map(bounded).unwrap_or("unknown"),
        });
        let mut event = Map::new();
        event.insert("action".into(), json!("authenticate"));
        event.insert("outcome".into(), json!(outcome.word()));
        event.insert("target".into(), target);
        if let Some(code) = reason {
            event.insert(
                "reason".into(),
                json!({"reasonType": "authentication", "reasonCode": code}),
            );
        }
        self.emit(now, who, event);
    }

    /// Whether a throttled refusal gets an event of its own: the first of its source in a window does; the rest
    /// are counted (a flood of refusals would otherwise write hundreds of bytes each, gigabytes a minute). A
    /// window that ended is written out here if the sweep has not come by yet.
    fn admit_throttled(&self, now: NaiveDateTime, source: Option<IpAddr>) -> bool {
        let mut ended = None;
        let admitted = {
            let mut floods = self
                .floods
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut key = source.map(crate::transport::conn_limit::source_key);
            if !floods.contains_key(&key) && floods.len() >= FLOOD_SOURCES {
                key = None;
            }
            match floods.get_mut(&key) {
                Some(f) if (now - f.started).num_seconds() < FLOOD_WINDOW_S => {
                    f.suppressed += 1;
                    false
                }
                Some(f) => {
                    let suppressed = std::mem::replace(
                        f,
                        Flood {
                            started: now,
                            suppressed: 0,
                        },
                    )
                    .suppressed;
                    ended = (suppressed > 0).then_some((key, suppressed));
                    true
                }
                None => {
                    floods.insert(
                        key,
                        Flood {
                            started: now,
                            suppressed: 0,
                        },
                    );
                    true
                }
            }
        };
        if let Some((source, suppressed)) = ended {
            self.write_flood(now, source, suppressed);
        }
        admitted
    }

    /// Write the counts of the windows that ended (called every few seconds); windows that counted nothing end
    /// silently.
    pub fn sweep_throttled(&self, now: NaiveDateTime) {
        let mut due = Vec::new();
        self.floods
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|source, f| {
                if (now - f.started).num_seconds() < FLOOD_WINDOW_S {
                    return true;
                }
                if f.suppressed > 0 {
                    due.push((*source, f.suppressed));
                }
                false
            });
        for (source, suppressed) in due {
            self.write_flood(now, source, suppressed);
        }
    }

    /// One event for the throttled refusals of a source that were counted, not written.
    fn write_flood(&self, now: NaiveDateTime, source: Option<IpAddr>, suppressed: u64) {
        let who = Initiator {
            source,
            ..Initiator::default()
        };
        let mut event = Map::new();
        event.insert("action".into(), json!("authenticate"));
        event.insert("outcome".into(), json!(Outcome::Failure.word()));
        event.insert(
            "target".into(),
            json!({"typeURI": "service/security/account/user", "id": "unknown"}),
        );
        event.insert(
            "reason".into(),
            json!({"reasonType": "authentication", "reasonCode": "throttled"}),
        );
        event.insert("throttled_attempts".into(), json!(suppressed));
        event.insert("interval_s".into(), json!(FLOOD_WINDOW_S));
        self.emit(now, &who, event);
    }

    /// A change to a resource: Keystone's `identity.<resource>.<operation>` event, e.g. `created.application_credential`.
    pub fn changed(
        &self,
        now: NaiveDateTime,
        who: &Initiator,
        operation: Operation,
        resource_type: &'static str,
        resource_id: &str,
        details: &[(&'static str, &str)],
    ) {
        if matches!(self.sink, Sink::Off) {
            return;
        }
        let verb = match operation {
            Operation::Created => "created",
            Operation::Updated => "updated",
            Operation::Deleted => "deleted",
        };
        let target = json!({"typeURI": type_uri(resource_type), "id": bounded(resource_id)});
        let action = format!("{verb}.{resource_type}");
        let mut event: Map<String, Value> = details
            .iter()
            .map(|(k, v)| (k.to_string(), json!(bounded(v))))
            .collect();
        event.insert("action".into(), json!(action));
        event.insert("outcome".into(), json!(Outcome::Success.word()));
        event.insert("target".into(), target);
        self.emit(now, who, event);
    }

    /// Complete an event (`action`, `outcome`, `target` and any details) with what every event has, and write it.
    fn emit(&self, now: NaiveDateTime, who: &Initiator, mut event: Map<String, Value>) {
        event.insert(
            "typeURI".into(),
            json!("http://schemas.dmtf.org/cloud/audit/1.0/event"),
        );
        event.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
        event.insert(
            "eventTime".into(),
            json!(now.format("%Y-%m-%dT%H:%M:%S%.6f+0000").to_string()),
        );
        event.insert("eventType".into(), json!("activity"));
        event.insert("initiator".into(), initiator(who));
        event.insert(
            "observer".into(),
            json!({"typeURI": "service/security", "id": self.observer}),
        );
        let event = Value::Object(event);
        let line = event.to_string();
        match &self.sink {
            Sink::Off => {}
            Sink::Log => tracing::info!(target: "lintel::audit", "{line}"),
            Sink::File(tx) => match tx.try_send(line) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    if self
                        .dropped
                        .fetch_add(1, Ordering::Relaxed)
                        .is_multiple_of(10_000)
                    {
                        tracing::error!(
                            dropped = self.dropped.load(Ordering::Relaxed),
                            "audit events dropped: the audit file cannot keep up (or cannot be written)"
                        );
                    }
                }
            },
        }
    }
}

/// The initiator as CADF writes it.
fn initiator(who: &Initiator) -> Value {
    let mut i = Map::new();
    i.insert("typeURI".into(), json!("service/security/account/user"));
    i.insert(
        "id".into(),
        json!(who.user_id.as_deref().map(bounded).unwrap_or("unknown")),
    );
    if let Some(name) = &who.name {
        i.insert("name".into(), json!(bounded(name)));
    }
    if let Some(source) = who.source {
        i.insert("host".into(), json!({"address": source.to_string()}));
    }
    if let Some(method) = &who.method {
        i.insert("credential".into(), {
            let mut c = json!({"type": bounded(method)});
            if let Some(id) = &who.credential_id {
                c["id"] = json!(bounded(id));
            }
            c
        });
    }
    Value::Object(i)
}

/// At most [`FIELD_MAX`] bytes of a presented value, cut at a character boundary.
fn bounded(s: &str) -> &str {
    if s.len() <= FIELD_MAX {
        return s;
    }
    let mut end = FIELD_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Keystone's CADF type for a resource.
fn type_uri(resource_type: &str) -> &'static str {
    match resource_type {
        "user" => "data/security/account/user",
        "role" => "data/security/role",
        "role_assignment" => "data/security/account/user/role",
        "application_credential" | "access_rule" => "data/security/credential",
        "token" => "service/security/account/user/token",
        _ => "unknown",
    }
}

/// The file writer: whole lines in order, a batch (what the queue holds) in one write.
///
/// A write the file does not take whole (a full disk) is cut back to the last whole line, so that the file never
/// holds part of an event; the batch's events are counted as dropped and the error is said once per run of
/// failures. The path is opened again when it no longer names the open file (logrotate moved or deleted it) and
/// on SIGHUP.
struct FileWriter {
    path: std::path::PathBuf,
    file: std::fs::File,
    dropped: std::sync::Arc<AtomicU64>,
    reopen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    failing: bool,
}

impl FileWriter {
    fn open(
        path: std::path::PathBuf,
        dropped: std::sync::Arc<AtomicU64>,
        reopen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> std::io::Result<FileWriter> {
        let file = open_append(&path)?;
        Ok(FileWriter {
            path,
            file,
            dropped,
            reopen,
            failing: false,
        })
    }

    fn run(mut self, rx: Receiver<String>) {
        while let Ok(line) = rx.recv() {
            let mut batch = Vec::with_capacity(line.len() + 1);
            let mut events = 1;
            let _ = writeln!(batch, "{line}");
            while let Ok(more) = rx.try_recv() {
                let _ = writeln!(batch, "{more}");
                events += 1;
            }
            self.follow_path();
            self.write_batch(&batch, events);
        }
    }

    /// Open the path again if asked to, or if it is gone or names another file than the open one.
    fn follow_path(&mut self) {
        use std::os::unix::fs::MetadataExt;
        let asked = self.reopen.swap(false, Ordering::Relaxed);
        let moved = match (std::fs::metadata(&self.path), self.file.metadata()) {
            (Ok(at_path), Ok(open)) => at_path.ino() != open.ino() || at_path.dev() != open.dev(),
            _ => true,
        };
        if asked || moved {
            match open_append(&self.path) {
                Ok(f) => self.file = f,
                Err(e) => {
                    tracing::error!(error = %e, path = %self.path.display(), "reopening the audit file failed");
                }
            }
        }
    }

    fn write_batch(&mut self, batch: &[u8], events: u64) {
        match write_whole(&mut self.file, batch) {
            Ok(()) => {
                if self.failing {
                    tracing::warn!("the audit file takes events again");
                    self.failing = false;
                }
            }
            Err(e) => {
                let total = self.dropped.fetch_add(events, Ordering::Relaxed) + events;
                if !self.failing {
                    tracing::error!(error = %e, dropped = total, "audit events dropped: the audit file does not take them");
                    self.failing = true;
                }
            }
        }
    }
}

fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Append `batch` whole, or leave the file as it was: a write cut short is cut back to where it began.
fn write_whole<F: Write + SetLen>(file: &mut F, batch: &[u8]) -> std::io::Result<()> {
    let before = file.len()?;
    match file.write_all(batch).and_then(|()| file.flush()) {
        Ok(()) => Ok(()),
        Err(e) => {
            // This thread is the file's only writer, so nothing else was appended meanwhile.
            let _ = file.set_len(before);
            Err(e)
        }
    }
}

/// What [`write_whole`] needs of a file beyond writing: its length, and cutting it back.
trait SetLen {
    fn len(&self) -> std::io::Result<u64>;
    fn set_len(&mut self, len: u64) -> std::io::Result<()>;
}

impl SetLen for std::fs::File {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        std::fs::File::set_len(self, len)
    }
}

/// Record an import in the audit trail: one event per kind it wrote rows of, with how many.
pub fn keystone_import(audit: &Audit, report: &lintel_import::Report, now: chrono::NaiveDateTime) {
    let who = Initiator {
        method: Some("keystone-import".into()),
        ..Default::default()
    };
    for (kind, counts) in report.kinds.iter().filter(|(_, c)| c.imported > 0) {
        audit.changed(
            now,
            &who,
            Operation::Created,
            "keystone_import",
            kind,
            &[("imported", &counts.imported.to_string())],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that takes `room` more bytes, then fails as a full disk does, part of a write already done.
    struct FullDisk {
        data: Vec<u8>,
        room: usize,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::other("No space left on device"));
            }
            let n = buf.len().min(self.room);
            self.data.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl SetLen for FullDisk {
        fn len(&self) -> std::io::Result<u64> {
            Ok(self.data.len() as u64)
        }

        fn set_len(&mut self, len: u64) -> std::io::Result<()> {
            self.data.truncate(len as usize);
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_never_leaves_part_of_an_event() {
        let mut disk = FullDisk {
            data: Vec::new(),
            room: 40,
        };
        write_whole(&mut disk, b"{\"event\":1}\n").unwrap();
        let err = write_whole(
            &mut disk,
            b"{\"event\":2,\"padding\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}\n",
        );
        assert!(err.is_err());
        assert_eq!(
            disk.data, b"{\"event\":1}\n",
            "the half-written event was cut back"
        );
    }

    #[test]
    fn the_writer_follows_its_path_after_a_rotation_or_a_sighup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let dropped = std::sync::Arc::new(AtomicU64::new(0));
        let reopen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut w = FileWriter::open(path.clone(), dropped.clone(), reopen.clone()).unwrap();
        w.write_batch(b"one\n", 1);
        // logrotate's default: the file is renamed and nobody tells the writer.
        std::fs::rename(&path, dir.path().join("audit.log.1")).unwrap();
        w.follow_path();
        w.write_batch(b"two\n", 1);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("audit.log.1")).unwrap(),
            "one\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        // Deleted, then SIGHUP: a new file again.
        std::fs::remove_file(&path).unwrap();
        reopen.store(true, Ordering::Relaxed);
        w.follow_path();
        w.write_batch(b"three\n", 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_flood_of_throttled_refusals_is_one_event_and_one_count_per_window() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audit.log");
        let audit = Audit::open(&AuditSection {
            destination: AuditDestination::File,
            file: file.clone(),
        })
        .unwrap();
        let t0 = crate::clock::Clock::system().now();
        let guesser = Initiator {
            source: Some("192.0.2.7".parse().unwrap()),
            ..Initiator::default()
        };
        for i in 0..500 {
            let at = t0 + chrono::Duration::milliseconds(i);
            audit.authenticate(at, &guesser, Outcome::Failure, Some("throttled"));
        }
        audit.sweep_throttled(t0 + chrono::Duration::seconds(5)); // the window is still open
        audit.sweep_throttled(t0 + chrono::Duration::seconds(11));
        audit.sweep_throttled(t0 + chrono::Duration::seconds(30)); // nothing more to say
        let mut lines = Vec::new();
        for _ in 0..200 {
            lines = std::fs::read_to_string(&file)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect();
            if lines.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["reason"]["reasonCode"], "throttled");
        assert!(
            lines[0].get("throttled_attempts").is_none(),
            "the first is an event of its own"
        );
        assert_eq!(lines[1]["throttled_attempts"], 499);
        assert_eq!(lines[1]["initiator"]["host"]["address"], "192.0.2.7");
    }

    #[test]
    fn presented_values_are_bounded_at_a_character_boundary() {
        let long = "é".repeat(200);
        let cut = bounded(&long);
        assert!(cut.len() <= FIELD_MAX && cut.chars().all(|c| c == 'é'));
        assert_eq!(bounded("short"), "short");
    }
}
