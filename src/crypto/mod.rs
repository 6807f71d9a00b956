//! Crypto that is not a token: argon2id for every secret (with a bounded pool), Keystone's legacy password hashes
//! for imported users, and the sealing of TLS session tickets under keys derived from the token key ring.

pub mod hashing;
pub mod legacy_hash;
pub mod tickets;
