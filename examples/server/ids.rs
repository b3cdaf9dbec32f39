//! Identifiers and secrets.

use std::sync::{Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use mwctl::protocol::admin::{ApiKey, Scope};
use rand::TryRng;
use rand::rngs::SysRng;

/// The last (unix ms, sequence) handed out, so ids from one process sort in creation order even
/// within a millisecond.
static LAST: Mutex<(u64, u16)> = Mutex::new((0, 0));

/// A time-sortable id: `prefix_` + 12 hex digits of unix ms + 4 of sequence + 6 random (the
/// random part keeps ids of several server instances apart). `ORDER BY id` = arrival order.
pub fn sortable(prefix: &str) -> String {
    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let (ms, seq) = {
        let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
        *last = if now > last.0 {
            (now, 0)
        } else if last.1 == u16::MAX {
            (last.0 + 1, 0)
        } else {
            (last.0, last.1 + 1)
        };
        *last
    };
    let random = rand::random::<u32>() & 0x00ff_ffff;
    format!("{prefix}_{ms:012x}{seq:04x}{random:06x}")
}

pub fn event_id() -> String {
    sortable("evt")
}

/// A request's id in the log and in the `x-request-id` answer header: random, no ordering
/// needed (and no shared counter to contend for).
pub fn request_id() -> String {
    format!("req_{:016x}", rand::random::<u64>())
}

/// A server process, as the owner of the claims it holds on a shared queue.
pub fn instance_id() -> String {
    format!("srv_{:016x}", rand::random::<u64>())
}

pub fn key_id() -> String {
    sortable("key")
}

/// A new API key: `mwk_` + 32 bytes from the operating system's CSPRNG, base64url.
pub fn api_key() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| format!("no randomness from the operating system: {e}"))?;
    Ok(format!("mwk_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// How many characters of a key are kept to recognise it (`mwk_` + 8).
pub const KEY_PREFIX_LEN: usize = 12;

/// A new key and its listing (scopes sorted, without repeats). The caller stores its digest.
pub fn mint_key(
    name: &str,
    mut scopes: Vec<Scope>,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(ApiKey, String), String> {
    let key = api_key()?;
    scopes.sort();
    scopes.dedup();
    let meta = ApiKey {
        id: key_id(),
        name: name.to_owned(),
        prefix: key.chars().take(KEY_PREFIX_LEN).collect(),
        scopes,
        created_at: now,
        expires_at,
        last_used_at: None,
        revoked_at: None,
    };
    Ok((meta, key))
}

/// Decodes lower-case hex (the stored key digest) into bytes.
pub fn hex_decode(digest: &str) -> Option<Vec<u8>> {
    hex::decode(digest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_creation_order() {
        let ids: Vec<String> = (0..1000).map(|_| event_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert!(
            ids[0].starts_with("evt_") && ids[0].len() == 26,
            "{}",
            ids[0]
        );
    }

    #[test]
    fn keys_are_long_and_distinct() {
        let a = api_key().expect("random");
        let b = api_key().expect("random");
        assert_ne!(a, b);
        assert!(a.starts_with("mwk_") && a.len() == 4 + 43, "{a}");
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex_decode("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("zz"), None);
    }
}
