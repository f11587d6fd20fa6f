//! Password hashing: new hashes are Argon2id; existing bcrypt hashes (the contract's cost 10)
//! still verify and are flagged for rehashing. All work runs on the blocking pool.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use std::sync::OnceLock;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// Hashing failed (a worker panicked or the stored hash is corrupt).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The blocking task did not finish.
    #[error("password hashing task failed")]
    Join(#[from] tokio::task::JoinError),
    /// The hashing semaphore was closed (never happens while the process runs).
    #[error("password hashing is shut down")]
    Closed,
    /// Argon2 rejected its input.
    #[error("argon2 failed: {0}")]
    Argon2(argon2::password_hash::Error),
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

/// At most this many hashes run at once: each Argon2id hash holds 19 MiB, and a burst of logins
/// must not multiply that by the blocking pool's 512 threads. Waiters queue fairly.
fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Semaphore::new(cpus.max(2))
    })
}

/// Run CPU-heavy password work on the blocking pool, bounded by [`permits`].
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let _permit = permits()
        .acquire()
        .await
        .map_err(|_| PasswordError::Closed)?;
    Ok(tokio::task::spawn_blocking(work).await?)
}

/// Hash a password with Argon2id (default parameters: 19 MiB, t=2, p=1).
pub async fn hash(password: SecretString) -> Result<String, PasswordError> {
    blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(PasswordError::Argon2)
    })
    .await?
}

/// Verify a password against a stored Argon2id or bcrypt hash.
pub async fn verify(
    password: SecretString,
    stored: Option<String>,
) -> Result<Verified, PasswordError> {
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
    blocking(move || verify_blocking(password.expose_secret(), &stored)).await
}

/// Burn the time of one verification (unknown account), always failing.
pub async fn verify_dummy(password: SecretString) -> Result<Verified, PasswordError> {
    verify(password, None).await.map(|_| Verified::No)
}

fn verify_blocking(password: &str, stored: &str) -> Verified {
    if stored.starts_with("$2") {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verified::Yes { rehash: true },
            _ => Verified::No,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified::No;
    };
    if Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_err()
    {
        return Verified::No;
    }
    let current = argon2::Params::default();
    let outdated = parsed.algorithm.as_str() != "argon2id"
        || argon2::Params::try_from(&parsed).map_or(true, |p| {
            p.m_cost() != current.m_cost()
                || p.t_cost() != current.t_cost()
                || p.p_cost() != current.p_cost()
        });
    Verified::Yes { rehash: outdated }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
