//! Password hashing: new hashes are Argon2id; existing bcrypt hashes (the contract's cost 10)
//! still verify and are flagged for rehashing. The work runs on a few dedicated threads that
//! each keep one Argon2 working buffer (19 MiB): allocating it per hash let glibc keep hundreds
//! of MiB resident after a login burst, and a fixed pool also bounds concurrent hashing.
//! Requests reach the pool through a [`Hasher`], which bounds how many jobs may wait for it:
//! past the bound a caller is refused at once ([`PasswordError::Busy`], a 503 with
//! `Retry-After`) instead of queueing behind a flood.

use std::sync::{Arc, Mutex, OnceLock, mpsc};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::phc::{Output, ParamsString, Salt},
};
use prometheus_client::metrics::counter::Counter;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// Hashing failed (a worker died or Argon2 rejected its input).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The hashing worker dropped the job (it panicked).
    #[error("password hashing worker failed")]
    Worker,
    /// Argon2 rejected its input.
    #[error("argon2 failed: {0}")]
    Argon2(argon2::password_hash::Error),
    /// The hashing queue is full (see [`Hasher`]).
    #[error("password hashing queue is full")]
    Busy,
}

/// One application's way into the hashing pool: at most `bound` jobs queued or running at a
/// time, refusing more at once, and counting the verifications that actually ran.
#[derive(Debug, Clone)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    verifications: Counter,
}

impl Hasher {
    /// A queue of `bound` slots (at least one), counting verifications into `verifications`.
    pub fn new(bound: usize, verifications: Counter) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(bound.max(1))),
            verifications,
        }
    }

    fn admit(&self) -> Result<OwnedSemaphorePermit, PasswordError> {
        Arc::clone(&self.slots)
            .try_acquire_owned()
            .map_err(|_| PasswordError::Busy)
    }

    /// [`hash`] through the queue.
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        let _slot = self.admit()?;
        hash(password).await
    }

    /// [`verify`] through the queue.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<Verified, PasswordError> {
        let _slot = self.admit()?;
        let verified = verify(password, stored).await;
        if verified.is_ok() {
            self.verifications.inc();
        }
        verified
    }

    /// [`verify_dummy`] through the queue.
    pub async fn verify_dummy(&self, password: SecretString) -> Result<Verified, PasswordError> {
        self.verify(password, None).await.map(|_| Verified::No)
    }
}

/// Outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password (or unusable stored hash).
    No,
    /// Right password; `rehash` when the stored hash is bcrypt or has outdated parameters.
    Yes {
        /// Store a fresh Argon2id hash.
        rehash: bool,
    },
}

/// A syntactically valid Argon2id hash of a random password, verified against when an account
/// does not exist so unknown e-mails take as long as known ones.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0wZ0A9DyxKJmfnB4X6Q6U5nNjvO5pWgPO3QpR7MrfCY";

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Sender side of the hashing pool: one thread per core (at least two), started on first use.
fn pool() -> &'static Mutex<mpsc::Sender<Job>> {
    static POOL: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism()
            .map_or(2, std::num::NonZero::get)
            .max(2);
        for n in 0..threads {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    let mut blocks = Vec::new();
                    loop {
                        let job = rx
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(&mut blocks),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "failed to start a password hashing thread");
            }
        }
        Mutex::new(tx)
    })
}

/// Run `work` on the hashing pool with that thread's reusable block buffer.
async fn on_pool<T: Send + 'static>(
    work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |blocks| {
        // The request was dropped while queued (client gone, timeout): skip ~50 ms of CPU that
        // would otherwise delay every later login after a burst.
        if tx.is_closed() {
            return;
        }
        let _ = tx.send(work(blocks));
    });
    let sent = pool()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send(job);
    sent.map_err(|_| PasswordError::Worker)?;
    rx.await.map_err(|_| PasswordError::Worker)
}

/// The first `n` blocks of the buffer, growing it when a stored hash needs more memory.
fn blocks(buffer: &mut Vec<Block>, n: usize) -> &mut [Block] {
    if buffer.len() < n {
        buffer.resize(n, Block::default());
    }
    &mut buffer[..n]
}

/// Hash a password with Argon2id (default parameters: 19 MiB, t=2, p=1).
pub async fn hash(password: SecretString) -> Result<String, PasswordError> {
    on_pool(move |buffer| {
        hash_blocking(buffer, password.expose_secret().as_bytes()).map_err(PasswordError::Argon2)
    })
    .await?
}

fn hash_blocking(
    buffer: &mut Vec<Block>,
    password: &[u8],
) -> argon2::password_hash::Result<String> {
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = Salt::generate();
    let n = params.block_count();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon.hash_password_into_with_memory(password, &salt, &mut out, blocks(buffer, n))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt),
        hash: Some(Output::new(&out)?),
    };
    Ok(phc.to_string())
}

/// Verify a password against a stored Argon2id or bcrypt hash.
pub async fn verify(
    password: SecretString,
    stored: Option<String>,
) -> Result<Verified, PasswordError> {
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
    on_pool(move |buffer| verify_blocking(buffer, password.expose_secret(), &stored)).await
}

/// Burn the time of one verification (unknown account), always failing.
pub async fn verify_dummy(password: SecretString) -> Result<Verified, PasswordError> {
    verify(password, None).await.map(|_| Verified::No)
}

fn verify_blocking(buffer: &mut Vec<Block>, password: &str, stored: &str) -> Verified {
    if stored.starts_with("$2") {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verified::Yes { rehash: true },
            _ => Verified::No,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified::No;
    };
    match argon2_matches(buffer, password.as_bytes(), &parsed) {
        Some(true) => Verified::Yes {
            rehash: outdated(&parsed),
        },
        _ => Verified::No,
    }
}

/// Recompute the stored Argon2 hash with its own parameters and compare in constant time.
fn argon2_matches(buffer: &mut Vec<Block>, password: &[u8], parsed: &PasswordHash) -> Option<bool> {
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .ok()?
        .unwrap_or_default();
    let params = Params::try_from(parsed).ok()?;
    let expected = parsed.hash?;
    let salt = parsed.salt?;
    let argon = Argon2::new(algorithm, version, params.clone());
    let n = params.block_count();
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = out.get_mut(..expected.len())?;
    argon
        .hash_password_into_with_memory(password, &salt, out, blocks(buffer, n))
        .ok()?;
    // `Output`'s equality is constant-time.
    Some(Output::new(out).ok()? == expected)
}

fn outdated(parsed: &PasswordHash) -> bool {
    let current = Params::default();
    parsed.algorithm != Algorithm::Argon2id.ident()
        || Params::try_from(parsed).map_or(true, |p| {
            p.m_cost() != current.m_cost()
                || p.t_cost() != current.t_cost()
                || p.p_cost() != current.p_cost()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_and_frees_its_slot_afterwards() {
        let counter = Counter::default();
        let hasher = Hasher::new(1, counter.clone());
        let held = hasher.admit().expect("first slot");
        assert!(matches!(
            hasher.verify("x".into(), None).await,
            Err(PasswordError::Busy)
        ));
        drop(held);
        assert_eq!(
            hasher.verify_dummy("x".into()).await.expect("v"),
            Verified::No
        );
        assert_eq!(
            counter.get(),
            1,
            "only the verification that ran is counted"
        );
    }

    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crate_and_old_parameters_ask_for_a_rehash() {
        use argon2::PasswordVerifier;
        let ours = hash(SecretString::from("secret1")).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(
            Argon2::default()
                .verify_password(b"secret1", &parsed)
                .is_ok()
        );
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).expect("params"),
        );
        let old =
            argon2::PasswordHasher::hash_password_with_salt(&weak, b"secret1", &Salt::generate())
                .expect("hash")
                .to_string();
        assert_eq!(
            verify("secret1".into(), Some(old.clone()))
                .await
                .expect("v"),
            Verified::Yes { rehash: true }
        );
        assert_eq!(
            verify("other".into(), Some(old)).await.expect("v"),
            Verified::No
        );
    }

    #[tokio::test]
    async fn a_hash_written_by_argon2_0_5_still_verifies() {
        // `Argon2::default().hash_password(b"secret1", salt)` with argon2 0.5.3, the version
        // that wrote the hashes stored before the move to 0.6.
        let stored = "$argon2id$v=19$m=19456,t=2,p=1$bWVyY2hhbnRzYWx0MDAx$4hbqa+Zet5ZLq9CujGF4T0c4oJud59zpaEAXaUoa+cs";
        assert_eq!(
            verify("secret1".into(), Some(stored.into()))
                .await
                .expect("v"),
            Verified::Yes { rehash: false }
        );
        assert_eq!(
            verify("secret2".into(), Some(stored.into()))
                .await
                .expect("v"),
            Verified::No
        );
    }

    #[tokio::test]
    async fn argon2_hashes_verify_and_need_no_rehash() {
        let h = hash(SecretString::from("secret1")).await.expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert_eq!(
            verify("secret1".into(), Some(h.clone())).await.expect("v"),
            Verified::Yes { rehash: false }
        );
        assert_eq!(
            verify("wrong".into(), Some(h)).await.expect("v"),
            Verified::No
        );
    }

    #[tokio::test]
    async fn bcrypt_hashes_verify_and_ask_for_a_rehash() {
        let h = bcrypt::hash("secret1", 4).expect("bcrypt");
        assert_eq!(
            verify("secret1".into(), Some(h.clone())).await.expect("v"),
            Verified::Yes { rehash: true }
        );
        assert_eq!(
            verify("nope".into(), Some(h)).await.expect("v"),
            Verified::No
        );
        assert_eq!(verify_dummy("x".into()).await.expect("v"), Verified::No);
        // A `$2a$` hash written elsewhere (OpenBSD's test vector for "U*U").
        let legacy = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        assert_eq!(
            verify("U*U".into(), Some(legacy.into())).await.expect("v"),
            Verified::Yes { rehash: true }
        );
    }
}
