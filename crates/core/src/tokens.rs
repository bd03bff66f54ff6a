//! Signed, expiring tokens that daemons verify without a database: login
//! tokens (billingd issues them, chatd checks them) and playback tokens for
//! members-only streams (billingd issues them, packagerd checks them).
//!
//! Format: `base64url(claims JSON) "." base64url(HMAC-SHA256(key, first part))`.
//! A JWT library would add algorithm negotiation we do not want (`alg: none`,
//! key confusion); this is the one shape we need, with `ring` doing the MAC and
//! its constant-time verification.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use ring::hmac;
use serde::{Deserialize, Serialize};
use std::path::Path;

const KEY_FILE: &str = "auth.key";

/// Why a token was refused (the client gets the code, never more).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("wrong kind of token")]
    WrongKind,
}

/// What a login token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// `login` (or `play` for playback tokens).
    pub kind: String,
    /// User id.
    pub sub: i64,
    /// Username at issue time.
    pub name: String,
    /// Platform role at issue time (`owner` or `viewer`); per-channel roles are
    /// looked up where they matter.
    pub role: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Channel a playback token is bound to (empty for login tokens).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub channel: String,
}

/// Signs and verifies tokens with one HMAC key.
#[derive(Clone)]
pub struct Signer {
    key: hmac::Key,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(<key>)")
    }
}

impl Signer {
    /// A signer over `secret` (at least 32 bytes of entropy expected).
    pub fn new(secret: &[u8]) -> Signer {
        Signer {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The signer for this config: `auth.token_key` when set, else a key
    /// generated into the data dir on first use (shared by the daemons on one
    /// box; set `auth.token_key` on every node of a multi-box install).
    pub fn from_config(cfg: &crate::Config) -> std::io::Result<Signer> {
        if !cfg.auth.token_key.is_empty() {
            return Ok(Signer::new(cfg.auth.token_key.as_bytes()));
        }
        let key = load_or_create_key(&cfg.data_dir)?;
        Ok(Signer::new(key.as_bytes()))
    }

    /// The token for `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        // Serializing a struct of strings and integers cannot fail.
        let body = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let tag = hmac::sign(&self.key, body.as_bytes());
        format!("{body}.{}", B64.encode(tag.as_ref()))
    }

    /// The claims of `token` if its signature holds, it is of `kind`, and it
    /// has not expired at `now_s` (Unix seconds).
    pub fn verify(&self, token: &str, kind: &str, now_s: i64) -> Result<Claims, TokenError> {
        let (body, sig) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, body.as_bytes(), &sig).map_err(|_| TokenError::BadSignature)?;
        let raw = B64.decode(body).map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed)?;
        if claims.kind != kind {
            return Err(TokenError::WrongKind);
        }
        if claims.exp <= now_s {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Unix seconds, now.
pub fn now_s() -> i64 {
    crate::time::now_ms() / 1000
}

fn load_or_create_key(data_dir: &Path) -> std::io::Result<String> {
    // Same creation rules as the admin token (mode 0600, first writer wins).
    crate::admin::load_or_create_secret(data_dir, KEY_FILE, || {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        hex::encode(raw)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            kind: "login".into(),
            sub: 7,
            name: "ana".into(),
            role: "viewer".into(),
            exp,
            channel: String::new(),
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let s = Signer::new(b"0123456789abcdef0123456789abcdef");
        let t = s.sign(&claims(1000));
        assert_eq!(s.verify(&t, "login", 999).unwrap(), claims(1000));
        assert_eq!(s.verify(&t, "login", 1000), Err(TokenError::Expired));
        assert_eq!(s.verify(&t, "play", 10), Err(TokenError::WrongKind));
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let s = Signer::new(b"0123456789abcdef0123456789abcdef");
        let t = s.sign(&claims(1000));
        // Another key's token.
        let other = Signer::new(b"another key of thirty-two bytes!");
        assert_eq!(other.verify(&t, "login", 1), Err(TokenError::BadSignature));
        // Claims changed (role raised), signature kept.
        let (_, sig) = t.split_once('.').unwrap();
        let mut c = claims(1000);
        c.role = "owner".into();
        let forged = format!("{}.{sig}", B64.encode(serde_json::to_vec(&c).unwrap()));
        assert_eq!(s.verify(&forged, "login", 1), Err(TokenError::BadSignature));
        for junk in ["", ".", "abc", "a.b", "!!.??"] {
            assert!(s.verify(junk, "login", 1).is_err(), "{junk}");
        }
    }
}
