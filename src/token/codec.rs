//! The token payload: Lintel's own compact binary layout (postcard), ids packed as bytes, sealed with Fernet.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Serialize};

use super::{CertBinding, Scope, TokenData};

/// Payload layout version; bump when the layout changes.
const VERSION: u8 = 1;

/// The layout of a certificate-bound token: version 1's, then the binding. A node that predates bindings rejects
/// it (unknown version) rather than reading it without its binding.
const VERSION_BOUND: u8 = 2;

/// Authentication methods, as bits in the payload.
/// Appended only: a bit means the same method on every node of every version.
const METHODS: &[&str] = &[
    "password",
    "token",
    "application_credential",
    "openid",
    "mapped",
];

/// An id: 16 bytes when it is a 32-character lowercase hex UUID (almost always), else its text.
#[derive(Serialize, Deserialize)]
enum PackedId {
    Uuid([u8; 16]),
    Text(String),
}

impl PackedId {
    fn pack(id: &str) -> PackedId {
        match uuid::Uuid::try_parse(id) {
            Ok(u) if id.len() == 32 && u.simple().to_string() == id => {
                PackedId::Uuid(*u.as_bytes())
            }
            _ => PackedId::Text(id.to_string()),
        }
    }

    fn unpack(self) -> String {
        match self {
            PackedId::Uuid(b) => uuid::Uuid::from_bytes(b).simple().to_string(),
            PackedId::Text(s) => s,
        }
    }
}

#[derive(Serialize, Deserialize)]
enum WireScope {
    Unscoped,
    Project(PackedId),
    Domain(PackedId),
    System,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    version: u8,
    methods: u8,
    user: PackedId,
    scope: WireScope,
    roles: Vec<PackedId>,
    issued_us: i64,
    expires_us: i64,
    audit: Vec<[u8; 16]>,
    app_cred: Option<PackedId>,
}

/// Serialize token data to bytes.
pub fn encode(t: &TokenData) -> Vec<u8> {
    let methods = METHODS
        .iter()
        .enumerate()
        .filter(|(_, m)| t.methods.iter().any(|x| x == *m))
        .fold(0u8, |acc, (i, _)| acc | (1 << i));
    let wire = Wire {
        version: if t.cert.is_some() {
            VERSION_BOUND
        } else {
            VERSION
        },
        methods,
        user: PackedId::pack(&t.user_id),
        scope: match &t.scope {
            Scope::Unscoped => WireScope::Unscoped,
            Scope::Project(p) => WireScope::Project(PackedId::pack(p)),
            Scope::Domain(d) => WireScope::Domain(PackedId::pack(d)),
            Scope::System => WireScope::System,
        },
        roles: t.role_ids.iter().map(|r| PackedId::pack(r)).collect(),
        issued_us: t.issued_at.and_utc().timestamp_micros(),
        expires_us: t.expires_at.and_utc().timestamp_micros(),
        audit: t.audit_ids.iter().filter_map(|a| audit_bytes(a)).collect(),
        app_cred: t.app_cred_id.as_deref().map(PackedId::pack),
    };
    // Serializing plain owned data into a Vec cannot fail.
    let out = postcard::to_allocvec(&wire).unwrap_or_default();
    match &t.cert {
        Some(b) => postcard::to_extend(b, out).unwrap_or_default(),
        None => out,
    }
}

/// Deserialize token data; `None` for anything that is not a payload of these versions.
pub fn decode(bytes: &[u8]) -> Option<TokenData> {
    let (wire, rest): (Wire, &[u8]) = postcard::take_from_bytes(bytes).ok()?;
    let cert = match (wire.version, rest) {
        (VERSION, []) => None,
        (VERSION_BOUND, rest) => match postcard::take_from_bytes::<CertBinding>(rest).ok()? {
            (b, []) => Some(b),
            _ => return None,
        },
        _ => return None,
    };
    let methods = METHODS
        .iter()
        .enumerate()
        .filter(|(i, _)| wire.methods & (1 << i) != 0)
        .map(|(_, m)| m.to_string())
        .collect();
    Some(TokenData {
        methods,
        user_id: wire.user.unpack(),
        scope: match wire.scope {
            WireScope::Unscoped => Scope::Unscoped,
            WireScope::Project(p) => Scope::Project(p.unpack()),
            WireScope::Domain(d) => Scope::Domain(d.unpack()),
            WireScope::System => Scope::System,
        },
        role_ids: wire.roles.into_iter().map(PackedId::unpack).collect(),
        issued_at: micros(wire.issued_us)?,
        expires_at: micros(wire.expires_us)?,
        audit_ids: wire
            .audit
            .iter()
            .map(|b| URL_SAFE_NO_PAD.encode(b))
            .collect(),
        app_cred_id: wire.app_cred.map(PackedId::unpack),
        cert,
        keystone_cert: None,
    })
}

fn micros(us: i64) -> Option<NaiveDateTime> {
    DateTime::from_timestamp_micros(us).map(|d| d.naive_utc())
}

fn audit_bytes(a: &str) -> Option<[u8; 16]> {
    URL_SAFE_NO_PAD.decode(a).ok()?.try_into().ok()
}

/// A fresh audit id: 16 random bytes, URL-safe base64 without padding (22 characters), as Keystone makes them.
pub fn new_audit_id() -> String {
    URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}
