//! The verified cache: tokens this process has already checked with Argon2.
//!
//! Keyed by HMAC index; each entry remembers the record generation it was
//! built from, so any change to the record (update, rename) is noticed on
//! the next verify, and the verifier string it was checked against, so a
//! change that keeps the token (an update) does not cost Argon2 again.
//! Bounded with two generations (per shard): new entries go to `young`;
//! when `young` fills, it becomes `old` and the previous `old` is dropped. A hit in
//! `old` is promoted. Memory stays under `capacity` entries, every
//! operation is O(1), and hot tokens survive rotation.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use crate::acl::Holdings;
use crate::store::TokenRecord;
use crate::tokens::{Index, IndexMap};

/// What a verify needs of a token record, parsed once.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub generation: u64,
    /// The record's owner: an index found in the cache is that owner's.
    pub owner: String,
    pub name: String,
    pub expires_at: Option<i64>,
    /// `None`: full access.
    pub acls: Option<Vec<String>>,
    /// The token's privileges parsed as a reseller's list would be (what
    /// it holds under an owner holding `all`) and as a sorted set (what
    /// it holds under a reseller: the intersection), built once here so a
    /// verify neither joins nor re-parses them.
    pub acl_holdings: Option<Holdings>,
    pub acl_set: Option<BTreeSet<String>>,
    /// Empty: any address.
    pub nets: Vec<IpNet>,
    /// The Argon2 verifier the token was checked against.
    pub verifier: String,
    /// The store's commit count when the record was last seen unchanged
    /// (see `Store::commits`): equal to the current count, the store need
    /// not be read again.
    pub confirmed: AtomicU64,
    /// The last use this snapshot recorded (`usage::UseStamp`).
    pub last_use: AtomicU64,
}

impl Snapshot {
    pub fn of(rec: &TokenRecord, confirmed: u64) -> Snapshot {
        Snapshot {
            generation: rec.generation,
            owner: rec.owner.clone(),
            name: rec.name.clone(),
            expires_at: rec.expires_at,
            acls: rec.acls.clone(),
            acl_holdings: rec.acls.as_ref().map(|l| Holdings::from_list(&l.join(","))),
            acl_set: rec.acls.as_ref().map(|l| l.iter().cloned().collect()),
            nets: rec
                .whitelist_ips
                .iter()
                .filter_map(|s| crate::iplist::parse_stored(s))
                .collect(),
            verifier: rec.verifier.clone(),
            confirmed: AtomicU64::new(confirmed),
            last_use: AtomicU64::new(0),
        }
    }

    /// The same token checked against a new verifier (an upgrade).
    pub fn with_verifier(&self, verifier: String) -> Snapshot {
        Snapshot {
            generation: self.generation,
            owner: self.owner.clone(),
            name: self.name.clone(),
            expires_at: self.expires_at,
            acls: self.acls.clone(),
            acl_holdings: self.acl_holdings.clone(),
            acl_set: self.acl_set.clone(),
            nets: self.nets.clone(),
            verifier,
            confirmed: AtomicU64::new(self.confirmed.load(Ordering::SeqCst)),
            last_use: AtomicU64::new(0),
        }
    }

    pub fn allows_ip(&self, addr: IpAddr) -> bool {
        self.nets.is_empty() || crate::iplist::allows(&self.nets, addr)
    }
}

#[derive(Debug, Default)]
struct Generations {
    young: IndexMap<Arc<Snapshot>>,
    old: IndexMap<Arc<Snapshot>>,
}

/// Shards of the cache, each behind its own lock on its own cache line:
/// verifies of different tokens on different cores then rarely touch the
/// same lock.
const SHARDS: usize = 16;

#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(Mutex<Generations>);

#[derive(Debug)]
pub(crate) struct VerifiedCache {
    half: usize,
    shards: Box<[Shard]>,
}

impl VerifiedCache {
    pub fn new(capacity: usize) -> VerifiedCache {
        VerifiedCache {
            half: (capacity / 2 / SHARDS).max(1),
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }

    fn shard(&self, index: &Index) -> std::sync::MutexGuard<'_, Generations> {
        // Indexes are uniform; folding all of the first bytes keeps even
        // the tests' sequential ones spread.
        let n = index.0[..8].iter().fold(0usize, |a, &b| a ^ usize::from(b));
        self.shards[n % SHARDS]
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, index: &Index) -> Option<Arc<Snapshot>> {
        let mut g = self.shard(index);
        if let Some(s) = g.young.get(index) {
            return Some(Arc::clone(s));
        }
        let s = g.old.remove(index)?;
        Self::put(&mut g, self.half, *index, Arc::clone(&s));
        Some(s)
    }

    pub fn insert(&self, index: Index, snapshot: Arc<Snapshot>) {
        let mut g = self.shard(&index);
        Self::put(&mut g, self.half, index, snapshot);
    }

    fn put(g: &mut Generations, half: usize, index: Index, snapshot: Arc<Snapshot>) {
        if g.young.len() >= half && !g.young.contains_key(&index) {
            g.old = std::mem::take(&mut g.young);
        }
        g.old.remove(&index);
        g.young.insert(index, snapshot);
    }

    /// Entries held now (for `status`).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let g = s.0.lock().unwrap_or_else(|p| p.into_inner());
                g.young.len() + g.old.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(generation: u64) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            generation,
            owner: "root".into(),
            name: "t".into(),
            expires_at: None,
            acls: None,
            acl_holdings: None,
            acl_set: None,
            nets: Vec::new(),
            verifier: String::new(),
            confirmed: AtomicU64::new(0),
            last_use: AtomicU64::new(0),
        })
    }

    fn idx(n: u32) -> Index {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        Index(b)
    }

    #[test]
    fn bounded_and_hot_entries_survive() {
        let c = VerifiedCache::new(100);
        c.insert(idx(0), snap(1));
        for n in 1..1000 {
            c.insert(idx(n), snap(1));
            // Touch the hot entry now and then: it must never be evicted.
            if n % 10 == 0 {
                assert!(c.get(&idx(0)).is_some(), "hot entry evicted at {n}");
            }
            assert!(c.len() <= 100);
        }
        assert!(c.get(&idx(1)).is_none(), "cold entries are evicted");
        assert!(c.get(&idx(999)).is_some());
    }

    #[test]
    fn replace_keeps_latest() {
        let c = VerifiedCache::new(10);
        c.insert(idx(1), snap(1));
        c.insert(idx(1), snap(2));
        assert_eq!(c.get(&idx(1)).map(|s| s.generation), Some(2));
        assert_eq!(c.len(), 1);
    }
}
