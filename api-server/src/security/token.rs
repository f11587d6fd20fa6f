//! One-time tokens for e-mail verification and password reset: 32 random bytes as hex are
//! sent to the user; only their SHA-256 hex is stored.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly generated token: the plain value to e-mail and the digest to store.
#[derive(Debug)]
pub struct OneTimeToken {
    /// Sent to the user, never stored or logged.
    pub plain: String,
    /// SHA-256 hex of `plain`, stored.
    pub digest: String,
}

/// Generate a 32-byte token.
pub fn generate() -> OneTimeToken {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let plain = hex::encode(bytes);
    let digest = digest(&plain);
    OneTimeToken { plain, digest }
}

/// SHA-256 hex of a presented token.
pub fn digest(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_chars_and_stored_as_their_digest() {
        let t = generate();
        assert_eq!(t.plain.len(), 64);
        assert_eq!(digest(&t.plain), t.digest);
        assert_ne!(t.plain, t.digest);
    }
}
