//! Stream keys: random, shown once, stored as a SHA-256 hash.
//!
//! Keys carry 192 random bits, so a plain SHA-256 is enough (no password
//! stretching needed) and lets the database find a channel by the hash of the
//! key a publisher sends. The final equality check is constant-time.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new stream key: `live_` + 192 random bits in URL-safe base64.
pub fn generate() -> String {
    let mut raw = [0u8; 24];
    rand::rng().fill_bytes(&mut raw);
    format!(
        "live_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

/// Hex SHA-256 of a key, as stored in `channels.stream_key_hash`.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether `key` hashes to `stored`, compared in constant time.
pub fn verify(key: &str, stored: &str) -> bool {
    hash(key).as_bytes().ct_eq(stored.as_bytes()).into()
}

/// A short, non-secret fingerprint for logs (first 8 hex chars of the hash).
pub fn fingerprint(key: &str) -> String {
    hash(key)[..8].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_long() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with("live_"));
        // 24 bytes -> 32 base64 chars -> 192 bits.
        assert_eq!(a.len(), 5 + 32);
    }

    #[test]
    fn verify_accepts_only_the_right_key() {
        let k = generate();
        let h = hash(&k);
        assert!(verify(&k, &h));
        assert!(!verify(&generate(), &h));
        assert!(!verify("", &h));
    }
}
