//! Revoking API keys.

use chrono::{DateTime, Utc};
use mwctl::protocol::admin::{ApiKey, Scope};

use crate::store::KeyRecord;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    Revoke,
    /// Revoked before: revoking again changes nothing.
    AlreadyRevoked,
    /// Refused: it is the last admin key usable now and without expiry; revoking it would lock
    /// the admin API (at once, or when the keys left expire).
    LastAdmin,
}

/// A key that can be used at `now`: not revoked, not expired.
pub fn usable(key: &ApiKey, now: DateTime<Utc>) -> bool {
    key.revoked_at.is_none() && key.expires_at.is_none_or(|at| at > now)
}

/// A key with the admin scope that can be used at `now`.
pub fn usable_admin(key: &ApiKey, now: DateTime<Utc>) -> bool {
    usable(key, now) && key.scopes.contains(&Scope::Admin)
}

/// Whether the admin API can be reached, from every key (for the start-up log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAccess {
    /// An admin key is usable now and has no expiry.
    Lasting,
    /// Admin keys are usable now, but every one expires: the last at this time.
    Expiring(DateTime<Utc>),
    /// No admin key is usable: every one is revoked or expired.
    Locked,
}

pub fn admin_access(keys: &[ApiKey], now: DateTime<Utc>) -> AdminAccess {
    let usable: Vec<&ApiKey> = keys.iter().filter(|k| usable_admin(k, now)).collect();
    if usable.iter().any(|k| k.expires_at.is_none()) {
        return AdminAccess::Lasting;
    }
    match usable.iter().filter_map(|k| k.expires_at).max() {
        Some(last) => AdminAccess::Expiring(last),
        None => AdminAccess::Locked,
    }
}

/// An admin key that keeps the admin API open: usable now and with no expiry. Keys that expire
/// do not count, however far off: rotating to a key with `--expires 90d` would lock everyone
/// out 90 days later.
fn lasting_admin(key: &KeyRecord, now: DateTime<Utc>) -> bool {
    key.is_usable(now) && key.key.expires_at.is_none() && key.has_scope(Scope::Admin)
}

/// Whether `target` may be revoked at `now`, given every key: never the last lasting admin key
/// (see [`lasting_admin`]).
pub fn revocation(target: &KeyRecord, keys: &[KeyRecord], now: DateTime<Utc>) -> Revocation {
    if target.is_revoked() {
        return Revocation::AlreadyRevoked;
    }
    let others = keys
        .iter()
        .any(|k| k.key.id != target.key.id && lasting_admin(k, now));
    if lasting_admin(target, now) && !others {
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

        // Keys that expire do not count, soon or late.
        for lasts in [TimeDelta::seconds(4), TimeDelta::days(90)] {
            let mut expiring = key("expiring", vec![Scope::Admin]);
            expiring.key.expires_at = Some(now + lasts);
            let keys = [admin.clone(), expiring.clone()];
            assert_eq!(
                revocation(&admin, &keys, now),
                Revocation::LastAdmin,
                "an admin key expiring in {lasts} does not count"
            );
            assert_eq!(revocation(&expiring, &keys, now), Revocation::Revoke);
            assert!(usable_admin(&expiring.key, now));
            assert!(!usable_admin(&expiring.key, now + lasts));
        }

        let api = |keys: &[KeyRecord]| {
            let keys: Vec<ApiKey> = keys.iter().map(|k| k.key.clone()).collect();
            admin_access(&keys, now)
        };
        let mut soon = key("soon", vec![Scope::Admin]);
        soon.key.expires_at = Some(now + TimeDelta::seconds(4));
        let mut late = soon.clone();
        late.key.expires_at = Some(now + TimeDelta::days(90));
        let mut gone = admin.clone();
        gone.key.revoked_at = Some(now);
        assert_eq!(api(&[admin.clone(), soon.clone()]), AdminAccess::Lasting);
        assert_eq!(
            api(&[gone.clone(), soon.clone(), late.clone(), ci.clone()]),
            AdminAccess::Expiring(now + TimeDelta::days(90))
        );
        assert_eq!(
            api(&[gone.clone(), expired, ci.clone()]),
            AdminAccess::Locked
        );
        assert_eq!(
            api(std::slice::from_ref(&ci)),
            AdminAccess::Locked,
            "no admin scope"
        );

        let second = key("second", vec![Scope::Admin]);
        let keys = [admin.clone(), second];
        assert_eq!(revocation(&admin, &keys, now), Revocation::Revoke);
        let mut revoked = admin;
        revoked.key.revoked_at = Some(now);
        assert_eq!(revocation(&revoked, &keys, now), Revocation::AlreadyRevoked);
    }
}
