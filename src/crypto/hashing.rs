//! argon2id hashing of passwords and secrets on a bounded pool of dedicated threads.

use std::collections::HashMap;
use std::time::Duration;

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::Argon2;
use zeroize::Zeroizing;

use crate::error::DomainError;

/// A secret or password: never printed by `Debug` or `Display`, wiped from memory on drop.
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(Zeroizing<String>);

/// A secret is a string on the wire.
impl utoipa::PartialSchema for Secret {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <String as utoipa::PartialSchema>::schema()
    }
}

impl utoipa::ToSchema for Secret {}

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

/// How long a request may wait for its hash (queue and computation) before it is turned away with 503.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// Requests allowed to wait, per hashing thread.
const QUEUE_PER_PERMIT: usize = 32;

type Job = Box<dyn FnOnce() + Send>;

/// The bounded hashing pool: a fixed set of threads, each reusing its own argon2 memory, fed by a bounded queue.
///
/// Dedicated threads rather than tokio's blocking pool: that pool's threads come and go, and each one that ever
/// hashed would keep its own m_cost-sized buffer, so RSS would grow with the blocking pool instead of the permits.
#[derive(Clone)]
pub struct Hasher {
    queue: crossbeam_channel::Sender<Job>,
    flights: std::sync::Arc<Flights>,
    runs: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Verifications in progress, by what they verify: concurrent requests presenting the same secret against the same
/// hash (a client's connections all starting at once, every node restarting) share one argon2 run.
///
/// Keyed by an HMAC of whose secret it is, the hash and the secret under a key of this process, so the secret
/// itself is never held here. The owner is in the key so that rows sharing a hash (copies, seeded test data) do
/// not make one client wait for another's verification. Only
/// verifications in progress are kept: a finished one is removed by its first reader, so the map is bounded by
/// the requests in flight.
struct Flights {
    key: [u8; 32],
    running: std::sync::Mutex<HashMap<[u8; 32], Flight>>,
}

/// One verification's outcome, shared by its waiters; `None` when the pool turned it away (busy).
type Flight = std::sync::Arc<tokio::sync::OnceCell<Option<bool>>>;

impl Flights {
    fn new() -> Self {
        use argon2::password_hash::rand_core::RngCore;
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Flights {
            key,
            running: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn key_of(&self, whose: &str, secret: &str, phc: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(&(whose.len() as u64).to_be_bytes());
        mac.update(whose.as_bytes());
        mac.update(&(phc.len() as u64).to_be_bytes());
        mac.update(phc.as_bytes());
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The flight for `key`: the one in progress, or a new one.
    fn join(&self, key: [u8; 32]) -> Flight {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        running.entry(key).or_default().clone()
    }

    /// Forget a finished flight (unless a newer one has taken its place).
    fn land(&self, key: &[u8; 32], flight: &Flight) {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if running
            .get(key)
            .is_some_and(|f| std::sync::Arc::ptr_eq(f, flight))
        {
            running.remove(key);
        }
    }
}

impl Hasher {
    /// A pool of `permits` hashing threads.
    pub fn new(permits: usize) -> Self {
        let permits = permits.max(1);
        let (queue, jobs) = crossbeam_channel::bounded::<Job>(permits * QUEUE_PER_PERMIT);
        for n in 0..permits {
            let jobs = jobs.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("lintel-argon2-{n}"))
                .spawn(move || {
                    lower_priority();
                    // Ends when every Hasher clone (every sender) is gone.
                    for job in &jobs {
                        // A panic fails that one request (its reply is dropped: 503), not the thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a hashing thread");
            }
        }
        Hasher {
            queue,
            flights: std::sync::Arc::new(Flights::new()),
            runs: std::sync::Arc::default(),
        }
    }

    /// Hashing jobs this pool has run (argon2 or a legacy hash, each one hash or verification).
    pub fn runs(&self) -> u64 {
        self.runs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests waiting for a hashing thread.
    pub fn queue_depth(&self) -> usize {
        self.queue.len()
    }

    /// Hash a secret into an argon2id PHC string.
    pub async fn hash(&self, secret: &Secret) -> Result<String, DomainError> {
        let secret = secret.clone();
        self.run(move || hash_blocking(secret.expose())).await?
    }

    /// Verify `whose` secret (a user's or credential's id) against a PHC string in constant time; a malformed
    /// hash verifies nothing. Concurrent verifications of the same secret against the same hash share one run.
    pub async fn verify(
        &self,
        whose: &str,
        secret: &Secret,
        phc: &str,
    ) -> Result<bool, DomainError> {
        let key = self.flights.key_of(whose, secret.expose(), phc);
        let flight = self.flights.join(key);
        // One waiter runs it; if that waiter goes away (its client hung up), the next one takes over.
        let outcome = *flight
            .get_or_init(|| async {
                let (secret, phc) = (secret.clone(), phc.to_string());
                self.run(move || verify_blocking(secret.expose(), &phc))
                    .await
                    .ok()
            })
            .await;
        self.flights.land(&key, &flight);
        outcome.ok_or(DomainError::Busy)
    }

    /// Spend what verifying a secret costs, against a hash nothing matches: a request for someone who does not
    /// exist takes as long as a wrong secret (no timing tells the two apart).
    pub async fn verify_nothing(&self, secret: &Secret) -> Result<(), DomainError> {
        static DUMMY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let secret = secret.clone();
        self.run(move || {
            // Made once, on a hashing thread, with the parameters every real hash has.
            let dummy = DUMMY.get_or_init(|| {
                use argon2::password_hash::rand_core::RngCore;
                use base64::Engine;
                let mut random = [0u8; 32];
                OsRng.fill_bytes(&mut random);
                hash_blocking(&base64::engine::general_purpose::STANDARD.encode(random)).ok()
            });
            if let Some(phc) = dummy {
                verify_blocking(secret.expose(), phc);
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, DomainError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let runs = self.runs.clone();
        let job: Job = Box::new(move || {
            // A caller that gave up (time-out, closed connection) is not worth an argon2 run.
            if !reply.is_closed() {
                runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                crate::metrics::metrics().hash_runs.inc();
                let _ = reply.send(f());
            }
        });
        // A full queue answers at once rather than letting latency grow without bound.
        self.queue.try_send(job).map_err(|_| DomainError::Busy)?;
        tokio::time::timeout(QUEUE_WAIT, answer)
            .await
            .map_err(|_| DomainError::Busy)?
            .map_err(|_| DomainError::Busy)
    }
}

/// Run this thread below normal priority: when cores are short, argon2 for new or wrong secrets waits and requests
/// answered from memory (cached clients, validation) keep their latency.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its integer arguments; on Linux the nice value is per thread, so this
        // changes the calling thread alone.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
        if rc != 0 {
            tracing::debug!("could not lower the hashing thread's priority");
        }
    }
}

/// Hash synchronously (for the CLI and the pool's threads), in the thread's reusable memory.
pub fn hash_blocking(secret: &str) -> Result<String, DomainError> {
    use argon2::password_hash::{Output, PasswordHash as Phc};
    let salt = SaltString::generate(&mut OsRng);
    let params = argon2::Params::default();
    let hasher = Argon2::default();
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    let mut raw_salt = [0u8; 64];
    let raw_salt = salt
        .decode_b64(&mut raw_salt)
        .map_err(|e| DomainError::internal(format!("argon2 salt: {e}")))?;
    with_blocks(params.block_count(), |blocks| {
        hasher.hash_password_into_with_memory(secret.as_bytes(), raw_salt, &mut out, blocks)
    })
    .map_err(|e| DomainError::internal(format!("argon2: {e}")))?;
    let output = Output::new(&out).map_err(|e| DomainError::internal(format!("argon2: {e}")))?;
    let phc = Phc {
        algorithm: argon2::Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e| DomainError::internal(format!("argon2: {e}")))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Run `f` over this thread's argon2 working memory, grown to at least `count` blocks.
fn with_blocks<T>(count: usize, f: impl FnOnce(&mut [argon2::Block]) -> T) -> T {
    BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < count {
            blocks.resize(count, argon2::Block::default());
        }
        f(&mut blocks[..count])
    })
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
    if crate::crypto::legacy_hash::is_legacy(phc) {
        return crate::crypto::legacy_hash::verify(secret.as_bytes(), phc);
    }
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
    let ok = with_blocks(params.block_count(), |blocks| {
        hasher
            .hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, blocks)
            .is_ok()
    });
    ok && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = Hasher::new(1);
        let phc = h.hash(&Secret::new("s3cret")).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(h.verify("u", &Secret::new("s3cret"), &phc).await.unwrap());
        assert!(!h.verify("u", &Secret::new("s3cret!"), &phc).await.unwrap());
        assert!(!h
            .verify("u", &Secret::new("x"), "not-a-hash")
            .await
            .unwrap());
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
        // Distinct secrets: the same one would share a single verification.
        for i in 0..(QUEUE_PER_PERMIT + 8) {
            let (h, phc) = (h.clone(), phc.clone());
            tasks.push(tokio::spawn(async move {
                let ok = h.verify("u", &Secret::new(format!("pw{i}")), &phc).await;
                (i, ok)
            }));
        }
        let mut busy = 0;
        for t in tasks {
            let (i, outcome) = t.await.unwrap();
            match outcome {
                Ok(ok) => assert!(!ok, "{i}"),
                Err(DomainError::Busy) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(
            busy > 0,
            "beyond the queue bound, callers get 503 instead of waiting"
        );
        // A caller that waited past QUEUE_WAIT (a loaded machine) left its job queued; the thread skips such jobs
        // without hashing, so the queue empties soon after.
        for _ in 0..(QUEUE_WAIT * 3).as_millis() / 20 {
            if h.queue_depth() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(h.queue_depth(), 0, "every slot was given back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_verifications_of_one_secret_share_one_run() {
        let h = Hasher::new(1);
        let phc = hash_blocking("pw").unwrap();
        let verify_all = |secret: &'static str| {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let (h, phc) = (h.clone(), phc.clone());
                    tokio::spawn(async move { h.verify("u", &Secret::new(secret), &phc).await })
                })
                .collect();
            async move {
                let mut answers = Vec::new();
                for t in tasks {
                    answers.push(t.await.unwrap().unwrap());
                }
                answers
            }
        };
        // The pool's one thread is held, so all 16 are waiting together when it frees up.
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let pool = h.clone();
        let blocker = tokio::spawn(async move { pool.run(move || held.recv().ok()).await });
        while h.runs() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let right = tokio::spawn(verify_all("pw"));
        let wrong = tokio::spawn(verify_all("pW"));
        // Until all 32 wait on their two flights (each waiter and the map hold one reference).
        let all_waiting = || {
            let running = h.flights.running.lock().unwrap();
            running.len() == 2
                && running
                    .values()
                    .all(|f| std::sync::Arc::strong_count(f) == 17)
        };
        for _ in 0..1000 {
            if all_waiting() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(all_waiting());
        hold.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        assert_eq!(right.await.unwrap(), vec![true; 16]);
        assert_eq!(wrong.await.unwrap(), vec![false; 16]);
        assert_eq!(h.runs(), 3, "the blocker, then one run per distinct secret");
        assert!(
            h.flights.running.lock().unwrap().is_empty(),
            "finished flights are forgotten"
        );
        // A later request runs again: nothing is cached here.
        assert!(h.verify("u", &Secret::new("pw"), &phc).await.unwrap());
        assert_eq!(h.runs(), 4);
        // Another owner's row with the same hash is verified on its own.
        let pw = Secret::new("pw");
        let (a, b) = tokio::join!(h.verify("u", &pw, &phc), h.verify("v", &pw, &phc));
        assert!(a.unwrap() && b.unwrap());
        assert_eq!(h.runs(), 6);
    }

    #[test]
    fn secrets_do_not_debug_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "***");
    }
}
