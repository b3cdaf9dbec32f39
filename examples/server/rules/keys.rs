//! Revoking API keys.

use chrono::{DateTime, Utc};
use mwctl::protocol::admin::Scope;

use crate::store::KeyRecord;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    Revoke,
    /// Revoked before: revoking again changes nothing.
    AlreadyRevoked,
    /// Refused: no other usable key has the admin scope, so the admin API would be locked.
    LastAdmin,
}

/// Whether `target` may be revoked at `now`, given every key.
pub fn revocation(target: &KeyRecord, keys: &[KeyRecord], now: DateTime<Utc>) -> Revocation {
    if target.is_revoked() {
        return Revocation::AlreadyRevoked;
    }
    let usable_admin = |k: &KeyRecord| k.is_usable(now) && k.has_scope(Scope::Admin);
    let others = keys
        .iter()
        .any(|k| k.key.id != target.key.id && usable_admin(k));
    if usable_admin(target) && !others {
        Revocation::LastAdmin
    } else {
        Revocation::Revoke
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn key(name: &str, scopes: Vec<Scope>) -> KeyRecord {
        let (key, _) =
            crate::ids::mint_key(name, scopes, None, crate::store::now()).expect("a key");
        KeyRecord {
            key,
            key_hash: String::new(),
        }
    }

    #[test]
    fn the_last_usable_admin_key_stays() {
        let now = crate::store::now();
        let admin = key("admin", vec![Scope::Admin]);
        let ci = key("ci", vec![Scope::Deployments]);
        let keys = [admin.clone(), ci.clone()];
        assert_eq!(revocation(&admin, &keys, now), Revocation::LastAdmin);
        assert_eq!(revocation(&ci, &keys, now), Revocation::Revoke);

        let mut expired = key("old", vec![Scope::Admin]);
        expired.key.expires_at = Some(now - TimeDelta::seconds(1));
        let keys = [admin.clone(), expired.clone()];
        assert_eq!(
            revocation(&admin, &keys, now),
            Revocation::LastAdmin,
            "an expired admin key does not count"
        );
        assert_eq!(revocation(&expired, &keys, now), Revocation::Revoke);

        let second = key("second", vec![Scope::Admin]);
        let keys = [admin.clone(), second];
        assert_eq!(revocation(&admin, &keys, now), Revocation::Revoke);
        let mut revoked = admin;
        revoked.key.revoked_at = Some(now);
        assert_eq!(revocation(&revoked, &keys, now), Revocation::AlreadyRevoked);
    }
}
