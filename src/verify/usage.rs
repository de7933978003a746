//! Last use of each token, kept in memory and written in batches.
//!
//! A verify must never open a write transaction, so it only records the
//! time and address here; a periodic task (and shutdown) writes the batch
//! to the store's `usage` database in one transaction. `api_token_list`
//! reads the pending value first, so it is current without a flush.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use ipnet::IpNet;

use crate::iplist;
use crate::store::Usage;
use crate::tokens::{Index, IndexMap};

/// How often pending usage is written to the store.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(60);

/// A use as a snapshot remembers it (time and address mixed into one
/// word): a verify records a use in the shared tracker only when it
/// differs from the last one its snapshot saw. Two uses that mix alike
/// (one chance in 2^64) would leave the address of the earlier for that
/// second; the next second records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UseStamp(pub(crate) u64);

impl UseStamp {
    pub(crate) fn of(at: i64, ip: IpAddr) -> UseStamp {
        let addr: u128 = match ip {
            IpAddr::V4(a) => u128::from(u32::from(a)) | (1 << 127),
            IpAddr::V6(a) => u128::from(a),
        };
        // splitmix64 steps: any change of time or address changes it all.
        let mix = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let high = u64::try_from(addr >> 64).unwrap_or(0);
        let low = u64::try_from(addr & u128::from(u64::MAX)).unwrap_or(0);
        UseStamp(mix(
            mix(mix(u64::from_ne_bytes(at.to_ne_bytes())) ^ high) ^ low
        ))
    }
}

/// A pending last use: the caller's address is kept as parsed and shown
/// as text only when read or written, so a verify formats nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastUse {
    pub at: i64,
    pub ip: IpAddr,
}

impl LastUse {
    pub fn usage(&self) -> Usage {
        Usage {
            at: self.at,
            ip: iplist::format(&IpNet::from(self.ip)),
        }
    }
}

#[derive(Debug, Default)]
pub struct UsageTracker {
    pending: Mutex<IndexMap<LastUse>>,
}

impl UsageTracker {
    /// Notes a use; no allocation unless the token is new to the batch.
    pub fn record(&self, index: Index, at: i64, ip: IpAddr) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match p.get_mut(&index) {
            Some(u) if u.at > at => {}
            Some(u) => *u = LastUse { at, ip },
            None => {
                p.insert(index, LastUse { at, ip });
            }
        }
    }

    pub fn pending(&self, index: &Index) -> Option<Usage> {
        let p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.get(index).map(LastUse::usage)
    }

    /// Takes everything pending (to be written by the caller).
    pub fn take(&self) -> Vec<(Index, LastUse)> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.drain().collect()
    }

    /// Puts back a batch whose write failed, unless newer data arrived.
    pub fn restore(&self, batch: Vec<(Index, LastUse)>) {
        for (index, last) in batch {
            self.record(index, last.at, last.ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_use_stamp_changes_with_time_and_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let base = UseStamp::of(1_700_000_000, ip("10.0.0.1"));
        assert_eq!(base, UseStamp::of(1_700_000_000, ip("10.0.0.1")));
        for other in [
            UseStamp::of(1_700_000_001, ip("10.0.0.1")),
            UseStamp::of(1_700_000_000, ip("10.0.0.2")),
            UseStamp::of(1_700_000_000, ip("::ffff:10.0.0.1")),
            UseStamp::of(1_700_000_000, ip("::a00:1")),
        ] {
            assert_ne!(base, other);
        }
        // The initial value of a fresh snapshot is no real use.
        assert_ne!(base.0, 0);
    }
}
