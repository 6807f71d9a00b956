//! argon2id hashing of passwords and secrets on a bounded pool of blocking threads.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::error::ApiError;

/// A secret or password: never printed by `Debug` or `Display`, wiped from memory on drop.
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wrap a string.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(Zeroizing::new(s.into()))
    }

    /// The secret's text, for hashing or comparison only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How long a request may wait for a hashing permit before it is turned away with 503.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// The bounded hashing pool: at most `permits` argon2 computations at once, each on a blocking thread.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
}

/// Requests allowed to wait for a permit, per permit.
const QUEUE_PER_PERMIT: usize = 32;

/// Leaves the wait queue when dropped (whether the wait ended in a permit, a time-out or a cancellation).
struct QueueSlot<'a>(&'a AtomicUsize);

impl Drop for QueueSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Hasher {
    /// A pool allowing `permits` concurrent computations.
    pub fn new(permits: usize) -> Self {
        let permits = permits.max(1);
        Hasher {
            permits: Arc::new(Semaphore::new(permits)),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: permits * QUEUE_PER_PERMIT,
        }
    }

    /// Hash a secret into an argon2id PHC string.
    pub async fn hash(&self, secret: &Secret) -> Result<String, ApiError> {
        let secret = secret.clone();
        self.run(move || hash_blocking(secret.expose())).await?
    }

    /// Verify a secret against a PHC string in constant time; a malformed hash verifies nothing.
    pub async fn verify(&self, secret: &Secret, phc: &str) -> Result<bool, ApiError> {
        let (secret, phc) = (secret.clone(), phc.to_string());
        self.run(move || verify_blocking(secret.expose(), &phc))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        // A full queue answers at once rather than letting latency grow without bound.
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = QueueSlot(&self.waiting);
        if queued >= self.max_waiting {
            return Err(ApiError::Unavailable);
        }
        let permit = tokio::time::timeout(QUEUE_WAIT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::Unavailable)?
            .map_err(|_| ApiError::Unavailable)?;
        drop(_leave);
        let out = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(out)
    }
}

/// Hash synchronously (for the CLI and the pool's threads).
pub fn hash_blocking(secret: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("argon2: {e}")))
}

thread_local! {
    /// Each hashing thread's argon2 working memory, reused across verifications so that RSS stays flat at
    /// (pool size × m_cost) instead of growing with every allocation glibc keeps in per-thread arenas.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Largest m_cost (KiB) a stored hash may ask for; a hostile or corrupt PHC string cannot make us allocate more.
const MAX_M_COST: u32 = 256 * 1024;

/// Verify synchronously, in the thread's reusable memory, comparing in constant time.
pub fn verify_blocking(secret: &str, phc: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    if params.m_cost() > MAX_M_COST {
        return false;
    }
    let version = parsed
        .version
        .and_then(|v| argon2::Version::try_from(v).ok())
        .unwrap_or_default();
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let hasher = Argon2::new(algorithm, version, params.clone());
    let ok = BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < params.block_count() {
            blocks.resize(params.block_count(), argon2::Block::default());
        }
        hasher
            .hash_password_into_with_memory(
                secret.as_bytes(),
                salt,
                &mut out,
                &mut blocks[..params.block_count()],
            )
            .is_ok()
    });
    ok && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = Hasher::new(1);
        let phc = h.hash(&Secret::new("s3cret")).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify(&Secret::new("s3cret"), &phc).await.unwrap());
        assert!(!h.verify(&Secret::new("s3cret!"), &phc).await.unwrap());
        assert!(!h.verify(&Secret::new("x"), "not-a-hash").await.unwrap());
        // Hashes made elsewhere (other parameters, argon2i) verify too.
        let argon2i = argon2::Argon2::new(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            argon2::Params::new(8192, 3, 1, None).unwrap(),
        );
        let other = argon2i
            .hash_password(b"pw", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify_blocking("pw", &other));
        assert!(!verify_blocking("pW", &other));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_at_once() {
        let h = Hasher::new(1);
        let phc = hash_blocking("pw").unwrap();
        let mut tasks = Vec::new();
        for _ in 0..(QUEUE_PER_PERMIT + 8) {
            let (h, phc) = (h.clone(), phc.clone());
            tasks.push(tokio::spawn(async move {
                h.verify(&Secret::new("pw"), &phc).await
            }));
        }
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(ok) => assert!(ok),
                Err(ApiError::Unavailable) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(
            busy > 0,
            "beyond the queue bound, callers get 503 instead of waiting"
        );
        assert_eq!(
            h.waiting.load(Ordering::SeqCst),
            0,
            "every slot was given back"
        );
    }

    #[test]
    fn secrets_do_not_debug_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "***");
    }
}
