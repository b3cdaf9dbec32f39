//! Connections per client address (`--max-connections-per-client`), so that one client cannot
//! take every slot of `--max-connections`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

/// Open connections per client; a connection counts from its [`ClientSlot`] until that drops.
#[derive(Clone, Debug)]
pub struct ClientSlots {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection of a client; frees its place when dropped.
#[derive(Debug)]
pub struct ClientSlot {
    client: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ClientSlots {
    pub fn new(max: usize) -> ClientSlots {
        ClientSlots {
            max: max.max(1),
            open: Arc::default(),
        }
    }

    /// A place for one more connection from `peer`, or `None` when it has `max` open.
    pub fn try_take(&self, peer: IpAddr) -> Option<ClientSlot> {
        let client = client_of(peer);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(client).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            client,
            open: Arc::clone(&self.open),
        })
    }

    /// Connections `peer`'s client has open.
    #[cfg(test)]
    pub fn open(&self, peer: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&client_of(peer)).copied().unwrap_or(0)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Who counts as one client: an IPv4 address (also when it arrives IPv4-mapped on an IPv6
/// socket), or an IPv6 /64 (one host or network usually holds a whole /64, and could otherwise
/// open each connection from another address).
fn client_of(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn each_client_gets_at_most_max() {
        let slots = ClientSlots::new(2);
        let a1 = slots.try_take(ip("127.0.0.2")).expect("first");
        let _a2 = slots.try_take(ip("127.0.0.2")).expect("second");
        assert!(slots.try_take(ip("127.0.0.2")).is_none(), "third refused");
        // Another client is not affected.
        let _b = slots.try_take(ip("127.0.0.3")).expect("another client");
        drop(a1);
        assert_eq!(slots.open(ip("127.0.0.2")), 1);
        let _a3 = slots
            .try_take(ip("127.0.0.2"))
            .expect("a freed place is taken again");
        assert!(slots.try_take(ip("127.0.0.2")).is_none());
    }

    #[test]
    fn the_map_forgets_clients_without_connections() {
        let slots = ClientSlots::new(1);
        drop(slots.try_take(ip("10.0.0.1")).expect("taken"));
        assert!(slots.open.lock().expect("lock").is_empty());
    }

    #[test]
    fn mapped_v4_and_one_v6_slash_64_are_one_client() {
        let slots = ClientSlots::new(1);
        let _v4 = slots.try_take(ip("192.0.2.7")).expect("v4");
        assert!(slots.try_take(ip("::ffff:192.0.2.7")).is_none());
        let _v6 = slots.try_take(ip("2001:db8:1:2::1")).expect("v6");
        assert!(slots.try_take(ip("2001:db8:1:2:ffff::9")).is_none());
        assert!(
            slots.try_take(ip("2001:db8:1:3::1")).is_some(),
            "another /64"
        );
    }
}
