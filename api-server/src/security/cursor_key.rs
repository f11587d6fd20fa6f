//! The key that signs list cursors (`routes::cursor`), derived from the access-token secret.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::store::ObjectId;

/// HMAC-SHA256.
pub type HmacSha256 = Hmac<Sha256>;

/// Key of the cursor MAC, derived from the token secret (so rotating `JWT_MERCHANT_SECRET`
/// also retires every outstanding cursor).
#[derive(Clone)]
pub struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey([REDACTED])")
    }
}

impl CursorKey {
    /// `HMAC-SHA256(secret, "merchant-api cursor v1")`: a key of its own, so a cursor MAC can
    /// never be replayed as a token signature or the other way round.
    pub fn derive(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"merchant-api cursor v1");
        Self(mac.finalize().into_bytes().into())
    }

    /// The MAC of a cursor `payload` issued to `merchant` for the list at `path`.
    pub fn mac(&self, merchant: ObjectId, path: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(&merchant.bytes());
        mac.update(path.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }
}
