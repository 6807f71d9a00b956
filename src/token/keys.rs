//! The Fernet key repository on disk, in Keystone's layout: `0` is staged, the highest number is primary.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use fernet::Fernet;

/// Problems with the key repository.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Filesystem error.
    #[error("key repository {path}: {reason}")]
    Io { path: String, reason: String },
    /// The repository has no keys.
    #[error("key repository {0} has no keys; run `lintel keys setup`")]
    Empty(String),
    /// A key file does not hold a Fernet key.
    #[error("key file {0} does not hold a valid Fernet key")]
    Invalid(String),
    /// The database key store failed.
    #[error("token keys in the database: {0}")]
    Database(String),
}

fn io(path: &Path, e: impl std::fmt::Display) -> KeyError {
    KeyError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The keys that seal and open tokens: the primary encrypts, every key decrypts.
pub struct KeyRing {
    /// Primary first, then the staged key and the secondaries.
    keys: Vec<Fernet>,
    /// The primary key's halves, for [`seal`](KeyRing::seal).
    primary: Sealer,
    /// How many keys are loaded.
    pub count: usize,
    /// Their numbers, primary first: what a reload compares to notice a rotation.
    pub ids: Vec<u64>,
    /// The JWT signing keys derived from them.
    pub jwt: super::jwt::JwtKeys,
    /// The TLS session ticket keys derived from them.
    pub tickets: Vec<crate::crypto::tickets::TicketKey>,
}

impl KeyRing {
    /// Encrypt with the primary key, now: a Fernet token without base64 padding (as Keystone writes them).
    pub fn seal(&self, data: &[u8]) -> String {
        #[allow(clippy::disallowed_methods)] // the Fernet timestamp, as the fernet crate takes it
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut iv = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut iv);
        self.primary.seal(data, now, iv)
    }

    /// Decrypt with whichever key sealed the token.
    pub fn open(&self, token: &str) -> Option<Vec<u8>> {
        self.keys.iter().find_map(|k| k.decrypt(token).ok())
    }

    /// Load every key from a repository, primary first.
    pub fn load(repo: &Path) -> Result<KeyRing, KeyError> {
        let mut keys = Vec::new();
        for (n, path) in list(repo)? {
            let text = fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            keys.push((n, text.trim().to_string(), path.display().to_string()));
        }
        if keys.is_empty() {
            return Err(KeyError::Empty(repo.display().to_string()));
        }
        Self::from_keys(keys)
    }

    /// A ring from numbered keys (number, Fernet key, where it came from for errors).
    pub fn from_keys(mut keys: Vec<(u64, String, String)>) -> Result<KeyRing, KeyError> {
        keys.sort_by_key(|k| std::cmp::Reverse(k.0));
        let mut fernets = Vec::with_capacity(keys.len());
        for (_, key, origin) in &keys {
            fernets.push(Fernet::new(key).ok_or_else(|| KeyError::Invalid(origin.clone()))?);
        }
        let raw: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
        let (Some(first), Some(origin)) = (raw.first(), keys.first()) else {
            return Err(KeyError::Empty("(no keys given)".into()));
        };
        let primary = Sealer::new(first).ok_or_else(|| KeyError::Invalid(origin.2.clone()))?;
        Ok(KeyRing {
            primary,
            count: fernets.len(),
            keys: fernets,
            ids: keys.iter().map(|k| k.0).collect(),
            jwt: super::jwt::JwtKeys::derive(&raw),
            tickets: crate::crypto::tickets::derive(&raw),
        })
    }
}

/// Fernet's sealing (the spec: <https://github.com/fernet/spec/blob/master/Spec.md>), from the same RustCrypto
/// primitives the `fernet` crate uses, which still opens every token. The crate's `encrypt` takes no IV: it asks
/// the kernel for one (a `getrandom` syscall per token, a tenth of a token's cost) and builds the token in four
/// allocations. Here the IV comes from `rand`'s thread-local CSPRNG (ChaCha, seeded and reseeded from the kernel)
/// and the token is built in two.
struct Sealer {
    signing: [u8; 16],
    encryption: [u8; 16],
}

impl Sealer {
    /// The halves of a Fernet key (32 bytes of URL-safe base64: signing, then encryption).
    fn new(key: &str) -> Option<Sealer> {
        use base64::Engine;
        // Padded or not, as the `fernet` crate reads keys.
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key.trim().trim_end_matches('='))
            .ok()?;
        let (signing, encryption) = bytes.split_at_checked(16)?;
        Some(Sealer {
            signing: signing.try_into().ok()?,
            encryption: encryption.try_into().ok()?,
        })
    }

    /// `0x80 ‖ time ‖ IV ‖ AES-128-CBC(data, PKCS#7) ‖ HMAC-SHA256(all before)`, URL-safe base64 unpadded.
    fn seal(&self, data: &[u8], time: u64, iv: [u8; 16]) -> String {
        use aes::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
        use base64::Engine;
        use hmac::Mac;
        const HEAD: usize = 1 + 8 + 16;
        let padded = (data.len() / 16 + 1) * 16;
        let mut token = Vec::with_capacity(HEAD + padded + 32);
        token.push(0x80);
        token.extend_from_slice(&time.to_be_bytes());
        token.extend_from_slice(&iv);
        token.extend_from_slice(data);
        token.resize(HEAD + padded, 0);
        // Never a token that carries the plaintext: the room for the padding was made above.
        cbc::Encryptor::<aes::Aes128>::new(&self.encryption.into(), &iv.into())
            .encrypt_padded_mut::<Pkcs7>(&mut token[HEAD..], data.len())
            .unwrap_or_else(|_| unreachable!("room for the padding was made"));
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.signing)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(&token);
        token.extend_from_slice(&mac.finalize().into_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&token)
    }
}

/// Numbers of the keys in the repository, primary first (cheap: no key is read).
pub fn ids(repo: &Path) -> Result<Vec<u64>, KeyError> {
    let mut ids: Vec<u64> = list(repo)?.into_iter().map(|(n, _)| n).collect();
    ids.sort_by_key(|n| std::cmp::Reverse(*n));
    Ok(ids)
}

/// Numbered key files in the repository.
fn list(repo: &Path) -> Result<Vec<(u64, PathBuf)>, KeyError> {
    let entries = match fs::read_dir(repo) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(repo, e)),
    };
    let mut keys = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io(repo, e))?;
        if let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u64>().ok())
        {
            keys.push((n, entry.path()));
        }
    }
    Ok(keys)
}

fn write_key(path: &Path) -> Result<(), KeyError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io(&tmp, e))?;
    f.write_all(Fernet::generate_key().as_bytes())
        .map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io(path, e))
}

/// Create the repository with a staged key `0` and a primary key `1`, unless it already has keys.
pub fn setup(repo: &Path) -> Result<bool, KeyError> {
    if !list(repo)?.is_empty() {
        return Ok(false);
    }
    fs::create_dir_all(repo).map_err(|e| io(repo, e))?;
    fs::set_permissions(repo, fs::Permissions::from_mode(0o700)).map_err(|e| io(repo, e))?;
    write_key(&repo.join("0"))?;
    write_key(&repo.join("1"))?;
    Ok(true)
}

/// Rotate as Keystone does: the staged key becomes primary, a new staged key appears, and the oldest
/// secondaries beyond `max_active` keys are removed. Returns the new primary's number.
pub fn rotate(repo: &Path, max_active: usize) -> Result<u64, KeyError> {
    let mut keys = list(repo)?;
    if keys.is_empty() {
        return Err(KeyError::Empty(repo.display().to_string()));
    }
    let next = keys.iter().map(|(n, _)| *n).max().unwrap_or(0) + 1;
    let staged = repo.join("0");
    if staged.exists() {
        fs::rename(&staged, repo.join(next.to_string())).map_err(|e| io(&staged, e))?;
    } else {
        write_key(&repo.join(next.to_string()))?;
    }
    write_key(&staged)?;
    keys = list(repo)?;
    keys.sort_by_key(|(n, _)| *n);
    // Keep the staged key (0) and the newest max_active - 1 numbered keys.
    let numbered: Vec<_> = keys.into_iter().filter(|(n, _)| *n != 0).collect();
    let keep = max_active.saturating_sub(1).max(1);
    if numbered.len() > keep {
        for (_, path) in &numbered[..numbered.len() - keep] {
            fs::remove_file(path).map_err(|e| io(path, e))?;
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Fernet spec's own example (`generate.json`): key, time, IV and message give exactly its token.
    #[test]
    fn sealing_gives_the_specs_token() {
        let sealer = Sealer::new("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=").unwrap();
        let iv: [u8; 16] = std::array::from_fn(|i| i as u8);
        assert_eq!(
            sealer.seal(b"hello", 499_162_800, iv),
            "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA"
        );
    }

    /// Every length across the padding's edges opens with the `fernet` crate, and two seals differ (fresh IVs).
    #[test]
    fn sealed_tokens_open_with_the_fernet_crate() {
        let key = Fernet::generate_key();
        let ring = KeyRing::from_keys(vec![(1, key.clone(), "test".into())]).unwrap();
        let fernet = Fernet::new(&key).unwrap();
        for len in 0..=49 {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let token = ring.seal(&data);
            assert!(!token.ends_with('='), "unpadded, as Keystone writes tokens");
            let padded = format!("{token}{}", "=".repeat((4 - token.len() % 4) % 4));
            assert_eq!(fernet.decrypt(&padded).unwrap(), data, "length {len}");
            assert_eq!(ring.open(&padded).unwrap(), data);
        }
        assert_ne!(ring.seal(b"same"), ring.seal(b"same"));
        let unpadded = key.trim_end_matches('=').to_string();
        let ring = KeyRing::from_keys(vec![(1, unpadded, "test".into())]).unwrap();
        let token = ring.seal(b"key without padding");
        assert_eq!(fernet.decrypt(&token).unwrap(), b"key without padding");
    }

    #[test]
    fn rotation_keeps_old_tokens_readable_within_max_active() {
        let dir = tempfile::tempdir().unwrap();
        assert!(setup(dir.path()).unwrap());
        assert!(!setup(dir.path()).unwrap(), "setup is idempotent");
        let token = KeyRing::load(dir.path()).unwrap().seal(b"hello");
        assert_eq!(rotate(dir.path(), 3).unwrap(), 2);
        let ring = KeyRing::load(dir.path()).unwrap();
        assert_eq!(ring.count, 3);
        assert_eq!(ring.open(&token).unwrap(), b"hello");
        rotate(dir.path(), 3).unwrap();
        rotate(dir.path(), 3).unwrap();
        let ring = KeyRing::load(dir.path()).unwrap();
        assert_eq!(ring.count, 3);
        assert!(ring.open(&token).is_none(), "key 1 was retired");
        let mut names: Vec<_> = list(dir.path())
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        names.sort();
        assert_eq!(names, vec![0, 3, 4]);
    }
}
