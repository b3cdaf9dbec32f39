//! Standard Webhooks v1 signatures (<https://www.standardwebhooks.com/>).
//!
//! The signing secret is the 32-byte SHA-256 of the API key, so the server, which stores only
//! that digest, can verify without ever holding the key. Any Standard Webhooks verifier given
//! `whsec_` + base64(SHA-256(key)) accepts mwctl's signatures.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Header names (lower case, as HTTP/2 sends them).
pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// The API key header, as upstream Middleware names it.
pub const HEADER_API_KEY: &str = "x-api-key";

/// Accepted distance between a signature's timestamp and the verifier's clock, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

/// SHA-256 of an API key: the signing secret, and what the server stores instead of the key.
pub fn key_digest(api_key: &str) -> [u8; 32] {
    Sha256::digest(api_key.as_bytes()).into()
}

/// Lower-case hex of [`key_digest`], the form the server stores and looks keys up by.
pub fn key_digest_hex(api_key: &str) -> String {
    hex::encode(key_digest(api_key))
}

/// The `whsec_…` form of the signing secret for `api_key`, for third-party verifiers.
pub fn whsec_for_key(api_key: &str) -> String {
    format!("whsec_{}", BASE64.encode(key_digest(api_key)))
}

/// Decodes a `whsec_…` secret into its bytes.
pub fn parse_whsec(secret: &str) -> Option<Vec<u8>> {
    BASE64.decode(secret.strip_prefix("whsec_")?).ok()
}

fn mac(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` header value: `v1,<base64 HMAC-SHA256(secret, "{id}.{ts}.{body}")>`.
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, id, timestamp, body).finalize().into_bytes();
    format!("v1,{}", BASE64.encode(tag))
}

/// Why a signature was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("webhook-timestamp {0:?} is not unix seconds")]
    BadTimestamp(String),
    #[error(
        "webhook-timestamp is {0} s away from the server's clock (at most {TOLERANCE_SECS} s allowed)"
    )]
    OutsideWindow(i64),
    #[error("webhook-signature has no v1 signature that matches the body")]
    Mismatch,
    #[error("webhook-id is missing or longer than 256 bytes")]
    BadId,
}

/// Verifies a Standard Webhooks signature header (which may list several space-separated
/// signatures, e.g. during secret rotation) in constant time, within ±300 s of `now`.
pub fn verify(
    secret: &[u8],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    if id.is_empty() || id.len() > 256 {
        return Err(SignatureError::BadId);
    }
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp(timestamp.chars().take(32).collect()))?;
    let skew = now.saturating_sub(ts);
    if skew.abs() > TOLERANCE_SECS {
        return Err(SignatureError::OutsideWindow(skew));
    }
    let expected = mac(secret, id, ts, body);
    let matched = signatures
        .split_whitespace()
        .filter_map(|sig| sig.strip_prefix("v1,"))
        .filter_map(|b64| BASE64.decode(b64).ok())
        .any(|tag| expected.clone().verify_slice(&tag).is_ok());
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The test vector published with the Standard Webhooks specification.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1649367553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn secret() -> Vec<u8> {
        parse_whsec(SECRET).expect("valid secret")
    }

    #[test]
    fn matches_the_spec_vector() {
        assert_eq!(sign(&secret(), ID, TS, BODY), SIGNATURE);
    }

    #[test]
    fn verifies_the_spec_vector() {
        assert_eq!(
            verify(&secret(), ID, "1649367553", SIGNATURE, BODY, TS),
            Ok(())
        );
        let several = format!("v1,bm90IGl0 {SIGNATURE}");
        assert_eq!(
            verify(&secret(), ID, "1649367553", &several, BODY, TS + 10),
            Ok(())
        );
    }

    #[test]
    fn refuses_tampering_and_stale_timestamps() {
        let s = secret();
        let ts = &TS.to_string();
        assert_eq!(
            verify(&s, ID, ts, SIGNATURE, b"{}", TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&s, "msg_other", ts, SIGNATURE, BODY, TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&s, ID, ts, "v1,???", BODY, TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&s, ID, ts, "v2,abc", BODY, TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&s, ID, ts, SIGNATURE, BODY, TS + 301),
            Err(SignatureError::OutsideWindow(301))
        );
        assert_eq!(
            verify(&s, ID, ts, SIGNATURE, BODY, TS - 301),
            Err(SignatureError::OutsideWindow(-301))
        );
        assert!(matches!(
            verify(&s, ID, "soon", SIGNATURE, BODY, TS),
            Err(SignatureError::BadTimestamp(_))
        ));
        assert_eq!(
            verify(&s, "", ts, SIGNATURE, BODY, TS),
            Err(SignatureError::BadId)
        );
    }

    #[test]
    fn key_secret_round_trips_through_whsec() {
        let key = "mwk_example";
        let whsec = whsec_for_key(key);
        assert_eq!(parse_whsec(&whsec).expect("valid"), key_digest(key));
        let sig = sign(&key_digest(key), "id", 5, b"body");
        assert_eq!(
            verify(&key_digest(key), "id", "5", &sig, b"body", 5),
            Ok(())
        );
        assert_eq!(key_digest_hex(key).len(), 64);
    }
}
