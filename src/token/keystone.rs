//! Tokens Keystone issued before the move to Lintel: its Fernet payloads (msgpack), read with Keystone's own key
//! repository, so that tokens in flight at the switch keep validating until they expire.
//!
//! Keystone's tokens carry no roles; the caller works them out as Keystone does at validation time.

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use chrono::NaiveDateTime;
use rmpv::Value;

use super::{Scope, TokenData};

/// Keystone's `[auth] methods` default: the bit of a method in a token is its position in this list.
pub const DEFAULT_METHODS: &[&str] = &[
    "external",
    "password",
    "token",
    "oauth1",
    "mapped",
    "application_credential",
];

/// When the token was made: the Fernet timestamp (seconds, big-endian, after the version byte).
pub fn issued_at(token: &str) -> Option<NaiveDateTime> {
    let mut padded = token.to_string();
    while !padded.len().is_multiple_of(4) {
        padded.push('=');
    }
    let raw = URL_SAFE.decode(padded).ok()?;
    let secs = u64::from_be_bytes(raw.get(1..9)?.try_into().ok()?);
    chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, 0).map(|d| d.naive_utc())
}

/// Decode a Keystone payload: unscoped (0), domain (1), project (2), system (8), application credential (9) and
/// certificate-bound OAuth 2.0 (10) tokens. Trust, federated and OAuth 1.0a tokens (3–7) are not: Lintel carries
/// none of what they stand for.
pub fn decode(plain: &[u8], issued_at: NaiveDateTime, methods: &[String]) -> Option<TokenData> {
    let value = rmpv::decode::read_value(&mut &plain[..]).ok()?;
    let items = value.as_array()?;
    let (version, p) = (items.first()?.as_u64()?, &items[1..]);
    let user_id = id(p.first()?)?;
    let methods = method_names(p.get(1)?.as_u64()?, methods);
    let (scope, expires, audits, app_cred_id) = match version {
        0 => (Scope::Unscoped, p.get(2)?, p.get(3)?, None),
        1 => (
            Scope::Domain(domain(p.get(2)?)?),
            p.get(3)?,
            p.get(4)?,
            None,
        ),
        2 => (Scope::Project(id(p.get(2)?)?), p.get(3)?, p.get(4)?, None),
        8 => (Scope::System, p.get(3)?, p.get(4)?, None),
        9 => (
            Scope::Project(id(p.get(2)?)?),
            p.get(3)?,
            p.get(4)?,
            Some(id(p.get(5)?)?),
        ),
        // Keystone issues these for the user's default project; the domain slot is there but never filled.
        10 => (Scope::Project(id(p.get(2)?)?), p.get(4)?, p.get(5)?, None),
        _ => return None,
    };
    // The certificate binding of version 10: Keystone's thumbprint text, base64url (padded) of 32 bytes.
    let keystone_cert = match version {
        10 => Some(thumbprint(p.get(6)?)?),
        _ => None,
    };
    let expires = expires
        .as_f64()
        .or_else(|| expires.as_i64().map(|i| i as f64))?;
    let expires_at =
        chrono::DateTime::from_timestamp_micros((expires * 1e6).round() as i64)?.naive_utc();
    let audit_ids = audits
        .as_array()?
        .iter()
        .map(|a| {
            let raw = a.as_slice().or_else(|| a.as_str().map(str::as_bytes))?;
            Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(TokenData {
        methods,
        user_id,
        scope,
        role_ids: Vec::new(),
        issued_at,
        expires_at,
        audit_ids,
        app_cred_id,
        cert: None,
        keystone_cert,
    })
}

/// Keystone's `x5t#S256` of a certificate-bound token, kept as the 32 bytes it encodes.
fn thumbprint(v: &Value) -> Option<[u8; 32]> {
    let raw = URL_SAFE.decode(id(v)?).ok()?;
    raw.try_into().ok()
}

/// `[is_bytes, value]`: a UUID kept as its 16 bytes (written back as hex), else the text itself.
fn id(v: &Value) -> Option<String> {
    let pair = v.as_array()?;
    let (is_bytes, value) = (pair.first()?.as_bool()?, pair.get(1)?);
    if is_bytes {
        let raw: [u8; 16] = value.as_slice()?.try_into().ok()?;
        Some(uuid::Uuid::from_bytes(raw).simple().to_string())
    } else {
        text(value)
    }
}

/// A domain id: a UUID's 16 bytes, or the default domain's id as text.
fn domain(v: &Value) -> Option<String> {
    match v.as_slice() {
        Some(raw) if raw.len() == 16 => {
            let raw: [u8; 16] = raw.try_into().ok()?;
            Some(uuid::Uuid::from_bytes(raw).simple().to_string())
        }
        _ => text(v),
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::to_string)
        .or_else(|| String::from_utf8(v.as_slice()?.to_vec()).ok())
}

/// The methods whose bits are set, by their position in Keystone's `[auth] methods`.
fn method_names(bits: u64, methods: &[String]) -> Vec<String> {
    methods
        .iter()
        .enumerate()
        .filter(|(i, _)| *i < 64 && bits & (1 << i) != 0)
        .map(|(_, m)| m.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Payloads made by Keystone 30's own payload classes (`keystone.token.token_formatters`, default
    /// `[auth] methods`), methods password + token, expiring 2030-01-02T03:04:05.6789Z.
    const PAYLOADS: &[(u64, &str)] = &[
        (0, "950092c3c4103f0f7835269f40c99f59dd77407a373206cb41dc3755496b731991c410666f6f62617262617a71757871757578"),
        (1, "960192c3c4103f0f7835269f40c99f59dd77407a373206a764656661756c74cb41dc3755496b731991c410666f6f62617262617a71757871757578"),
        (2, "960292c3c4103f0f7835269f40c99f59dd77407a37320692c3c410605c8c05bcf64ba1933a7ca7de8c3fa5cb41dc3755496b731991c410666f6f62617262617a71757871757578"),
        (8, "960892c3c4103f0f7835269f40c99f59dd77407a373206a3616c6ccb41dc3755496b731991c410666f6f62617262617a71757871757578"),
        (9, "970992c3c4103f0f7835269f40c99f59dd77407a37320692c3c410605c8c05bcf64ba1933a7ca7de8c3fa5cb41dc3755496b731991c410666f6f62617262617a7175787175757892c3c410cc8e144dc48b42a2bc24ae4bd7e87962"),
        // Bound to a certificate whose PEM text hashes to 8010bfce…5821 (thumbprint gBC_zuGE…4WCE=).
        (10, "980a92c3c4103f0f7835269f40c99f59dd77407a37320692c3c410605c8c05bcf64ba1933a7ca7de8c3fa592c2c0cb41dc3755496b731991c410666f6f62617262617a7175787175757892c2d92c6742435f7a7547454b79704d36505a3850705256384269506568575f4f6578686f6d5f72646331345743453d"),
    ];

    fn bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn keystone_payloads_read_as_keystone_wrote_them() {
        let methods: Vec<String> = DEFAULT_METHODS.iter().map(ToString::to_string).collect();
        let issued = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        for (version, hex) in PAYLOADS {
            let t = decode(&bytes(hex), issued, &methods)
                .unwrap_or_else(|| panic!("version {version}"));
            assert_eq!(t.user_id, "3f0f7835269f40c99f59dd77407a3732", "{version}");
            assert_eq!(t.methods, ["password", "token"], "{version}");
            assert_eq!(t.audit_ids, ["Zm9vYmFyYmF6cXV4cXV1eA"], "{version}");
            assert_eq!(
                t.expires_at.to_string(),
                "2030-01-02 03:04:05.678900",
                "{version}"
            );
            let project = Scope::Project("605c8c05bcf64ba1933a7ca7de8c3fa5".into());
            let want = match version {
                0 => Scope::Unscoped,
                1 => Scope::Domain("default".into()),
                8 => Scope::System,
                _ => project,
            };
            assert_eq!(t.scope, want, "{version}");
            assert_eq!(
                t.app_cred_id.as_deref(),
                (*version == 9).then_some("cc8e144dc48b42a2bc24ae4bd7e87962")
            );
            assert_eq!(
                t.keystone_cert
                    .map(|b| crate::transport::mtls::keystone_thumbprint(&b)),
                (*version == 10)
                    .then(|| "gBC_zuGEKypM6PZ8PpRV8BiPehW_Oexhom_rdc14WCE=".to_string()),
                "{version}"
            );
        }
        // A version 10 payload whose thumbprint is not 32 bytes of base64url is no token.
        let short = PAYLOADS[5].1.replace("92c2d92c67", "92c2d92b67");
        assert!(decode(&bytes(&short), issued, &methods).is_none());
        // Trust tokens (3) and anything that is not a payload are not Keystone tokens Lintel takes.
        let trust = PAYLOADS[2].1.replacen("9602", "9603", 1);
        assert!(decode(&bytes(&trust), issued, &methods).is_none());
        assert!(decode(b"\x93\x01\x02", issued, &methods).is_none());
        assert!(decode(b"", issued, &methods).is_none());
    }
}
