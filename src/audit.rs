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
    dropped: AtomicU64,
}

impl Audit {
    /// Open the configured destination (a file is created readable by its owner only and appended to).
    pub fn open(config: &AuditSection) -> std::io::Result<Audit> {
        let sink = match config.destination {
            AuditDestination::Off => Sink::Off,
            AuditDestination::Log => Sink::Log,
            AuditDestination::File => {
                use std::os::unix::fs::OpenOptionsExt;
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&config.file)?;
                let (tx, rx) = sync_channel(QUEUE);
                std::thread::Builder::new()
                    .name("lintel-audit".into())
                    .spawn(move || write_lines(file, rx))?;
                Sink::File(tx)
            }
        };
        Ok(Audit {
            sink,
            observer: format!("openstack:{}", uuid::Uuid::new_v4()),
            dropped: AtomicU64::new(0),
        })
    }

    /// No audit trail.
    pub fn off() -> Audit {
        Audit {
            sink: Sink::Off,
            observer: String::new(),
            dropped: AtomicU64::new(0),
        }
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

/// The file writer: lines in order, flushed whenever the queue runs empty.
fn write_lines(file: std::fs::File, rx: Receiver<String>) {
    let mut out = std::io::BufWriter::new(file);
    while let Ok(line) = rx.recv() {
        let mut ok = writeln!(out, "{line}").is_ok();
        while let Ok(more) = rx.try_recv() {
            ok &= writeln!(out, "{more}").is_ok();
        }
        ok &= out.flush().is_ok();
        if !ok {
            tracing::error!("writing the audit file failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_values_are_bounded_at_a_character_boundary() {
        let long = "é".repeat(200);
        let cut = bounded(&long);
        assert!(cut.len() <= FIELD_MAX && cut.chars().all(|c| c == 'é'));
        assert_eq!(bounded("short"), "short");
    }
}
