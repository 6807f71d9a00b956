//! TLS session tickets that any node can open (stateless resumption, RFC 8446 §4.6.1): sealed under a key derived
//! from the token key repository, which every node shares and rotates, so a client that reconnects resumes its
//! session on whichever node it reaches, and across a rotation for as long as the key that sealed its ticket is
//! still in the ring.
//!
//! The ticket keys are derived with HKDF under their own label, so a ticket is never a token nor a token a ticket.

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use sha2::Sha256;

/// How long a client may keep a ticket (seconds). Keystone's default token lifetime; a rotation retires keys on
/// a longer schedule than this in any sane deployment, and a ticket whose key is gone just means a full handshake.
pub const LIFETIME: u32 = 3600;

/// A ticket key: its name, which prefixes every ticket it seals, and the AEAD key.
pub struct TicketKey {
    name: [u8; 8],
    key: LessSafeKey,
}

/// The ticket keys of a ring's Fernet keys, primary first.
pub fn derive(fernet_keys: &[&str]) -> Vec<TicketKey> {
    fernet_keys
        .iter()
        .filter_map(|k| URL_SAFE.decode(k.trim()).ok())
        .filter_map(|ikm| {
            let hk = hkdf::Hkdf::<Sha256>::new(Some(b"lintel tls session tickets"), &ikm);
            let (mut name, mut key) = ([0u8; 8], [0u8; 32]);
            hk.expand(b"name", &mut name).ok()?;
            hk.expand(b"chacha20-poly1305", &mut key).ok()?;
            let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).ok()?);
            Some(TicketKey { name, key })
        })
        .collect()
}

/// Seal session state under the first key: name, nonce, then the sealed state and its tag.
pub fn seal(keys: &[TicketKey], plain: &[u8]) -> Option<Vec<u8>> {
    let k = keys.first()?;
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut body = plain.to_vec();
    k.key
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(k.name),
            &mut body,
        )
        .ok()?;
    let mut out = Vec::with_capacity(k.name.len() + NONCE_LEN + body.len());
    out.extend_from_slice(&k.name);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    Some(out)
}

/// Open a ticket sealed by any key of the ring; `None` for anything else (the client then does a full handshake).
pub fn open(keys: &[TicketKey], ticket: &[u8]) -> Option<Vec<u8>> {
    let (name, rest) = ticket.split_at_checked(8)?;
    let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
    let k = keys.iter().find(|k| k.name == name)?;
    let mut body = sealed.to_vec();
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let plain = k
        .key
        .open_in_place(nonce, Aad::from(k.name), &mut body)
        .ok()?;
    Some(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "cw2-DnyA4VOtPq0XK5g8zSDWnh2IO2Bfy7Q5FE4rj6c=";
    const B: &str = "f8_QbG0DVK3r9H8Lcv0NBb1mnS8ncyDnD3IvW4Fo5lA=";

    #[test]
    fn tickets_open_across_nodes_and_rotations_only_with_a_key_of_the_ring() {
        let node_a = derive(&[A]);
        let node_b = derive(&[A]);
        let t = seal(&node_a, b"session state").unwrap();
        assert_eq!(open(&node_b, &t).unwrap(), b"session state", "another node");
        let rotated = derive(&[B, A]);
        assert_eq!(
            open(&rotated, &t).unwrap(),
            b"session state",
            "after a rotation"
        );
        assert_eq!(
            &seal(&rotated, b"x").unwrap()[..8],
            &rotated[0].name,
            "new tickets under the new primary"
        );
        assert!(open(&derive(&[B]), &t).is_none(), "its key retired");
        let mut tampered = t.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(open(&node_b, &tampered).is_none());
        assert!(open(&node_b, &t[..10]).is_none());
        assert!(open(&node_b, b"").is_none());
        assert_ne!(
            seal(&node_a, b"same").unwrap(),
            seal(&node_a, b"same").unwrap(),
            "fresh nonces"
        );
    }
}
