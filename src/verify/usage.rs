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
