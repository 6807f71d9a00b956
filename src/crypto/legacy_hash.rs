//! Keystone's password and secret hashes, verified as Keystone verifies them, so that imported users and
//! application credentials keep working; a hash verified here is replaced by argon2id on its first use.
//!
//! The formats are the ones Keystone writes (`keystone/common/password_hashers`): bcrypt (`$2b$`, and the other
//! `$2?$` idents), passlib's bcrypt-sha256 (`$bcrypt-sha256$`), `$pbkdf2-sha512$`, `$scrypt$`, and sha512_crypt
//! (`$6$`), which Keystone releases before 2024 wrote through passlib.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// bcrypt reads at most this many bytes of a password; Keystone truncates to it before hashing and verifying.
const BCRYPT_MAX: usize = 72;
/// The costliest parameters accepted from a stored hash (a hostile or corrupt row must not stall a hashing thread
/// for minutes or take gigabytes): scrypt's log2 N and r, PBKDF2's rounds, bcrypt's cost.
const SCRYPT_MAX_LOG_N: u8 = 20;
const SCRYPT_MAX_R: u32 = 16;
const PBKDF2_MAX_ROUNDS: u32 = 2_000_000;
const BCRYPT_MAX_COST: u32 = 16;

/// Log that a Keystone hash verified but could not be replaced by argon2id yet (a busy hashing pool, a failed
/// write): the request goes on, since the secret was right, and its next successful use tries again.
pub fn upgrade_failed(kind: &str, id: &str, error: &crate::error::DomainError) {
    tracing::warn!(
        kind,
        id,
        error = %error,
        "Keystone hash verified but not yet replaced by argon2id; the next successful use tries again"
    );
}

/// Whether `hash` is one of Keystone's formats (and so verified by [`verify`]).
pub fn is_legacy(hash: &str) -> bool {
    [
        "$2",
        "$bcrypt-sha256$",
        "$pbkdf2-sha512$",
        "$scrypt$",
        "$6$",
    ]
    .iter()
    .any(|p| hash.starts_with(p))
}

/// Verify `password` against a Keystone hash: `false` for a mismatch, a malformed hash or one whose parameters
/// are beyond the bounds above. Costs what the hash's parameters say: run it on a hashing thread.
pub fn verify(password: &[u8], hash: &str) -> bool {
    let outcome = if let Some(rest) = hash.strip_prefix("$bcrypt-sha256$") {
        bcrypt_sha256(password, rest)
    } else if let Some(rest) = hash.strip_prefix("$pbkdf2-sha512$") {
        pbkdf2_sha512(password, rest)
    } else if let Some(rest) = hash.strip_prefix("$scrypt$") {
        scrypt(password, rest)
    } else if hash.starts_with("$6$") {
        std::str::from_utf8(password)
            .ok()
            .map(|p| sha_crypt::sha512_check(p, hash).is_ok())
    } else if hash.starts_with("$2") {
        bcrypt_cost_ok(hash)
            .then(|| bcrypt::verify(&password[..password.len().min(BCRYPT_MAX)], hash).ok())
            .flatten()
    } else {
        None
    };
    outcome.unwrap_or(false)
}

/// passlib's shortened base64 (no padding, `.` for `+`).
fn ab64(s: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD.decode(s.replace('.', "+")).ok()
}

fn bcrypt_cost_ok(hash: &str) -> bool {
    hash.split('$')
        .nth(2)
        .and_then(|c| c.parse::<u32>().ok())
        .is_some_and(|c| c <= BCRYPT_MAX_COST)
}

/// `v=2,t=2b,r=12$<salt>$<digest>`: bcrypt over base64(HMAC-SHA256(key = salt, password)).
fn bcrypt_sha256(password: &[u8], rest: &str) -> Option<bool> {
    let mut parts = rest.split('$');
    let (params, salt, digest) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (mut ident, mut rounds) = (None, None);
    for p in params.split(',') {
        if let Some(t) = p.strip_prefix("t=") {
            ident = Some(t);
        } else if let Some(r) = p.strip_prefix("r=") {
            rounds = r.parse::<u32>().ok();
        }
    }
    let (ident, rounds) = (ident?, rounds?);
    let mut mac = Hmac::<Sha256>::new_from_slice(salt.as_bytes()).ok()?;
    mac.update(password);
    let key = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let full = format!("${ident}${rounds:02}${salt}{digest}");
    (rounds <= BCRYPT_MAX_COST).then(|| bcrypt::verify(key, &full).ok())?
}

/// `<rounds>$<salt>$<digest>`: PBKDF2-HMAC-SHA512, 64-byte key.
fn pbkdf2_sha512(password: &[u8], rest: &str) -> Option<bool> {
    let mut parts = rest.split('$');
    let rounds: u32 = parts.next()?.parse().ok()?;
    let (salt, digest) = (ab64(parts.next()?)?, ab64(parts.next()?)?);
    if parts.next().is_some() || rounds == 0 || rounds > PBKDF2_MAX_ROUNDS || digest.is_empty() {
        return None;
    }
    let mut out = vec![0u8; digest.len()];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, &salt, rounds, &mut out);
    Some(bool::from(out.ct_eq(&digest)))
}

/// `ln=<log2 N>,r=<r>,p=<p>$<salt>$<digest>`: scrypt, 32-byte key.
fn scrypt(password: &[u8], rest: &str) -> Option<bool> {
    let mut parts = rest.split('$');
    let params = parts.next()?;
    let (salt, digest) = (ab64(parts.next()?)?, ab64(parts.next()?)?);
    if parts.next().is_some() || digest.is_empty() {
        return None;
    }
    let (mut ln, mut r, mut p) = (None, None, None);
    for kv in params.split(',') {
        match kv.split_once('=')? {
            ("ln", v) => ln = v.parse::<u8>().ok(),
            ("r", v) => r = v.parse::<u32>().ok(),
            ("p", v) => p = v.parse::<u32>().ok(),
            _ => return None,
        }
    }
    let (ln, r, p) = (ln?, r?, p?);
    if ln > SCRYPT_MAX_LOG_N || r > SCRYPT_MAX_R || p > 4 {
        return None;
    }
    let params = scrypt::Params::new(ln, r, p, digest.len()).ok()?;
    let mut out = vec![0u8; digest.len()];
    scrypt::scrypt(password, &salt, &params, &mut out).ok()?;
    Some(bool::from(out.ct_eq(&digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &[u8] = b"correct horse battery staple";

    /// Made by Keystone 30's own hashers (`keystone.common.password_hashers`, low cost parameters) and, for
    /// sha512_crypt, by Python's crypt as passlib wrote it for older Keystone releases.
    const KEYSTONE: &[(&str, &str)] = &[
        ("bcrypt", "$2b$04$KBtnQs1jXU3uygAE5LlueOI/xMSwzkB0QHfa/THSUjeuPuNIguwuS"),
        ("bcrypt_sha256", "$bcrypt-sha256$v=2,t=2b,r=4$MfiAyeOMzpjLK6SRUrom4e$sDWd3AlOXbFpAFAZ.Vj0VET1mor1heW"),
        ("pbkdf2_sha512", "$pbkdf2-sha512$1000$9eXIP9X1ynGi7U2Z0ATurA$AN4fcokB0QEyzrXxc6S0SMbDTx3bFa4nmGOeCIb3dhDI2DbxoOX1NZwUjDHfsAQZigtwouV2syv+KzHAeCCOZg"),
        ("scrypt", "$scrypt$ln=10,r=8,p=1$w13G1qLlVvygsLvOTTD91A$aOhj298TPRkwoqxx3tg/gkyrBsmq0isWPDdf8OKvwPA"),
        ("sha512_crypt", "$6$rounds=5000$icou.X3s7KZ9P3dZ$unfm3X.wInIL7FAhTbHPxfo86UysxG4Ql7LhZSmf2ImIEi6UrpIQxym8/6NGbLRAFoCFKT2Py2oom9ms.0Tz01"),
    ];

    #[test]
    fn keystone_hashes_verify_as_keystone_verifies_them() {
        for (kind, hash) in KEYSTONE {
            assert!(is_legacy(hash), "{kind}");
            assert!(verify(PASSWORD, hash), "{kind}: the right password");
            assert!(
                !verify(b"correct horse battery stapler", hash),
                "{kind}: a wrong one"
            );
            assert!(!verify(b"", hash), "{kind}: an empty one");
        }
        assert!(!is_legacy("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"));
    }

    #[test]
    fn bcrypt_reads_72_bytes_as_keystone_does() {
        // Keystone truncated this 84-byte password to its first 72 bytes before hashing it.
        let long = format!("{}tail", "é".repeat(40));
        let hash = "$2b$04$6EuTkBpgKpu7hOIOR6W6nuL3SGC4MQd4GTeIg00jUhVZj0kqx2L7q";
        assert!(verify(long.as_bytes(), hash));
        assert!(verify(&long.as_bytes()[..72], hash));
        assert!(!verify(&long.as_bytes()[..71], hash));
    }

    #[test]
    fn malformed_or_too_costly_hashes_verify_nothing() {
        for hash in [
            "$2b$31$KBtnQs1jXU3uygAE5LlueOI/xMSwzkB0QHfa/THSUjeuPuNIguwuS",
            "$2b$04$short",
            "$bcrypt-sha256$v=2,t=2b$salt$digest",
            "$pbkdf2-sha512$999999999$9eXIP9X1ynGi7U2Z0ATurA$AN4f",
            "$pbkdf2-sha512$x$y$z",
            "$scrypt$ln=30,r=8,p=1$w13G1qLlVvygsLvOTTD91A$aOhj",
            "$scrypt$ln=10,r=8$w13G1qLlVvygsLvOTTD91A$aOhj",
            "$6$",
            "$2",
        ] {
            assert!(!verify(PASSWORD, hash), "{hash}");
        }
    }
}
