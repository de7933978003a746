//! Last use of each token, kept in memory and written in batches.
//!
//! A verify must never open a write transaction, so it only records the
//! time and address here; a periodic task (and shutdown) writes the batch
//! to the store's `usage` database in one transaction. `api_token_list`
//! reads the pending value first, so it is current without a flush.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::store::Usage;
use crate::tokens::Index;

/// How often pending usage is written to the store.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct UsageTracker {
    pending: Mutex<HashMap<Index, Usage>>,
}

impl UsageTracker {
    pub fn record(&self, index: Index, at: i64, ip: String) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match p.get_mut(&index) {
            Some(u) if u.at > at => {}
            Some(u) => {
                u.at = at;
                if u.ip != ip {
                    u.ip = ip;
                }
            }
            None => {
                p.insert(index, Usage { at, ip });
            }
        }
    }

    pub fn pending(&self, index: &Index) -> Option<Usage> {
        let p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.get(index).cloned()
    }

    /// Takes everything pending (to be written by the caller).
    pub fn take(&self) -> Vec<(Index, Usage)> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.drain().collect()
    }

    /// Puts back a batch whose write failed, unless newer data arrived.
    pub fn restore(&self, batch: Vec<(Index, Usage)>) {
        for (index, usage) in batch {
            self.record(index, usage.at, usage.ip);
        }
    }
}
