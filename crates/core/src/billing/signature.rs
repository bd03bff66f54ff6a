//! Stripe's webhook signature scheme (`Stripe-Signature` header), per
//! Stripe's docs: `t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`, each
//! `v1` being HMAC-SHA256 keyed by the endpoint secret over
//! `"{t}.{raw body}"`. Any `v1` matching any configured secret passes (Stripe
//! signs with both the old and the new secret while one is rolled); the
//! timestamp must be within the tolerance of now, so a captured delivery
//! cannot be replayed later.
//!
//! Written here rather than taken from async-stripe-webhook: that checks one
//! secret with a fixed tolerance and reads the clock itself; we need several
//! secrets, a configured tolerance and a clock the tests set. `ring` does the
//! MAC and its constant-time comparison.

use ring::hmac;

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header")]
    Missing,
    #[error("malformed Stripe-Signature header")]
    Malformed,
    #[error("timestamp outside the tolerance window")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Checks `header` for `payload` against `secrets` at `now_s`, allowing
/// `tolerance_s` of clock difference either way.
pub fn verify(
    payload: &[u8],
    header: Option<&str>,
    secrets: &[String],
    tolerance_s: i64,
    now_s: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t: Option<i64> = None;
    let mut sigs: Vec<Vec<u8>> = Vec::new();
    for item in header.split(',') {
        let (k, v) = item
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k {
            "t" => t = Some(v.parse().map_err(|_| SignatureError::Malformed)?),
            "v1" => sigs.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {} // v0 (test mode's old scheme) and future schemes
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now_s - t).abs() > tolerance_s {
        return Err(SignatureError::Stale);
    }
    let mut msg = Vec::with_capacity(payload.len() + 12);
    msg.extend_from_slice(t.to_string().as_bytes());
    msg.push(b'.');
    msg.extend_from_slice(payload);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        if sigs.iter().any(|s| hmac::verify(&key, &msg, s).is_ok()) {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The header Stripe would send for `payload` signed with each of `secrets`
/// at `t` (the dev provider and tests send through the same check).
pub fn sign(payload: &[u8], secrets: &[&str], t: i64) -> String {
    let mut out = format!("t={t}");
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(payload);
    for s in secrets {
        let key = hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes());
        out.push_str(",v1=");
        out.push_str(&hex::encode(hmac::sign(&key, &msg).as_ref()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn secrets(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_signature_made_with_the_secret_passes() {
        let h = sign(b"{}", &["whsec_a"], NOW);
        assert_eq!(
            verify(b"{}", Some(&h), &secrets(&["whsec_a"]), 300, NOW),
            Ok(())
        );
        // Clock skew within the tolerance, either way.
        assert!(verify(b"{}", Some(&h), &secrets(&["whsec_a"]), 300, NOW + 300).is_ok());
        assert!(verify(b"{}", Some(&h), &secrets(&["whsec_a"]), 300, NOW - 300).is_ok());
    }

    #[test]
    fn rotation_several_v1_and_several_secrets() {
        // Stripe signs with old and new secret during a roll.
        let h = sign(b"x", &["whsec_old", "whsec_new"], NOW);
        assert!(verify(b"x", Some(&h), &secrets(&["whsec_new"]), 300, NOW).is_ok());
        assert!(verify(b"x", Some(&h), &secrets(&["whsec_old"]), 300, NOW).is_ok());
        // We accept either configured secret.
        let h = sign(b"x", &["whsec_new"], NOW);
        let both = secrets(&["whsec_old", "whsec_new"]);
        assert!(verify(b"x", Some(&h), &both, 300, NOW).is_ok());
        // v0 and unknown schemes beside v1 are ignored.
        let h = format!("{h},v0=abcd,v9=zz");
        assert!(verify(b"x", Some(&h), &both, 300, NOW).is_ok());
    }

    #[test]
    fn forged_stale_tampered_and_malformed_are_refused() {
        let s = secrets(&["whsec_a"]);
        let h = sign(b"{\"a\":1}", &["whsec_a"], NOW);
        assert_eq!(
            verify(b"{\"a\":2}", Some(&h), &s, 300, NOW),
            Err(SignatureError::Mismatch)
        );
        let forged = sign(b"{\"a\":1}", &["whsec_guess"], NOW);
        assert_eq!(
            verify(b"{\"a\":1}", Some(&forged), &s, 300, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"{\"a\":1}", Some(&h), &s, 300, NOW + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(b"{\"a\":1}", Some(&h), &s, 300, NOW - 301),
            Err(SignatureError::Stale)
        );
        // The timestamp is signed: moving it breaks the signature.
        let moved = h.replace(&format!("t={NOW}"), &format!("t={}", NOW + 10));
        assert_eq!(
            verify(b"{\"a\":1}", Some(&moved), &s, 300, NOW),
            Err(SignatureError::Mismatch)
        );
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "garbage"] {
            assert_eq!(
                verify(b"{}", Some(bad), &s, 300, NOW),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify(b"{}", None, &s, 300, NOW),
            Err(SignatureError::Missing)
        );
        // No secret configured: nothing passes.
        assert_eq!(
            verify(b"{\"a\":1}", Some(&h), &secrets(&[""]), 300, NOW),
            Err(SignatureError::Mismatch)
        );
    }
}
