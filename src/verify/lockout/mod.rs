//! Brute-force lockout for the verify socket, per caller address: an IPv4
//! address, or the IPv6 prefix it lies in (`ipv6_prefix`, /64 by default:
//! one customer's network is one caller, however many addresses it uses).
//!
//! After `max_failures` credential failures (a wrong token, an unknown
//! user, an expired token) from one caller within `window_secs`, that
//! caller is refused with `locked_out` for `cooldown_secs`, even with a
//! valid token. Other callers are unaffected. Wrong IPs and missing
//! privileges do not count: they come from callers that hold a real token.
//! Time comes from the injected clock.
//!
//! The table holds at most `max_tracked` callers. When it is full, stale
//! entries go first, then the oldest that are counting but not locked. A
//! live lock is never evicted: if the table is full of them (a flood from
//! that many networks), failures from callers it does not hold are not
//! counted until the soonest lock ends, and [`Recorded::NotTracked`] says
//! so (the verify path audits it, at most once a minute).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// Default of `max_tracked`.
pub const MAX_TRACKED: usize = 100_000;

/// How often a full table is audited while it stays full.
const FULL_AUDIT_EVERY: i64 = 60;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutConfig {
    /// Failures that trigger a lockout; 0 disables lockout.
    pub max_failures: u32,
    pub window_secs: u64,
    pub cooldown_secs: u64,
    /// IPv6 callers are counted per prefix of this length (restart).
    pub ipv6_prefix: u8,
    /// Most callers tracked at once (restart).
    pub max_tracked: usize,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        LockoutConfig {
            max_failures: 10,
            window_secs: 300,
            cooldown_secs: 900,
            ipv6_prefix: 64,
            max_tracked: MAX_TRACKED,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    window_start: i64,
    failures: u32,
    locked_until: Option<i64>,
}

/// A locked caller (an IPv4 address or an IPv6 prefix), for listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Locked {
    pub net: IpNet,
    pub failures: u32,
    pub locked_until: i64,
}

/// What recording a failure did.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    Counted,
    /// This failure started a lockout (audit it).
    LockedNow {
        until: i64,
        failures: u32,
    },
    /// The table is full of live locks: this failure was not counted.
    /// `audit` is set at most once a minute.
    NotTracked {
        audit: bool,
        tracked: usize,
    },
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<IpNet, Entry>,
    /// While full of live locks: nothing can be freed before this time.
    full_until: Option<i64>,
    full_audited_at: Option<i64>,
}

#[derive(Debug)]
pub struct Lockout {
    config: Mutex<LockoutConfig>,
    /// From the configuration at start (a reload does not re-key).
    ipv6_prefix: u8,
    capacity: usize,
    table: Mutex<Table>,
    /// The latest end of any lock ever set: past it nothing is locked, and
    /// a verify need not take the table's lock to know it.
    locks_end: AtomicI64,
}

fn secs(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Lockout {
    pub fn new(config: LockoutConfig) -> Lockout {
        Lockout {
            ipv6_prefix: config.ipv6_prefix.min(128),
            capacity: config.max_tracked.max(1),
            config: Mutex::new(config),
            table: Mutex::new(Table::default()),
            locks_end: AtomicI64::new(i64::MIN),
        }
    }

    /// A reload: the counting rules change at once; `ipv6_prefix` and
    /// `max_tracked` keep their values from the start.
    pub fn set_config(&self, config: LockoutConfig) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }

    fn config(&self) -> LockoutConfig {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The caller `ip` is counted as: itself (IPv4) or its IPv6 prefix.
    pub fn caller(&self, ip: IpAddr) -> IpNet {
        match ip {
            IpAddr::V4(a) => IpNet::V4(Ipv4Net::from(a)),
            IpAddr::V6(a) => Ipv6Net::new(a, self.ipv6_prefix)
                .map_or(IpNet::V6(Ipv6Net::from(a)), |n| IpNet::V6(n.trunc())),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Some(until)` while `ip`'s caller is locked out.
    pub fn locked_until(&self, ip: IpAddr, now: i64) -> Option<i64> {
        if now >= self.locks_end.load(Ordering::SeqCst) {
            return None;
        }
        self.table()
            .entries
            .get(&self.caller(ip))
            .and_then(|e| e.locked_until)
            .filter(|&until| until > now)
    }

    /// Counts one credential failure from `ip`.
    pub fn record_failure(&self, ip: IpAddr, now: i64) -> Recorded {
        let cfg = self.config();
        if cfg.max_failures == 0 {
            return Recorded::Counted;
        }
        let key = self.caller(ip);
        let mut table = self.table();
        if table.entries.len() >= self.capacity
            && !table.entries.contains_key(&key)
            && !self.make_room(&mut table, now, &cfg)
        {
            let audit = table
                .full_audited_at
                .is_none_or(|t| now - t >= FULL_AUDIT_EVERY);
            if audit {
                table.full_audited_at = Some(now);
            }
            return Recorded::NotTracked {
                audit,
                tracked: table.entries.len(),
            };
        }
        let e = table.entries.entry(key).or_default();
        if e.locked_until.is_some_and(|u| u > now) {
            return Recorded::Counted;
        }
        if e.failures == 0
            || now - e.window_start >= secs(cfg.window_secs)
            || e.locked_until.is_some()
        {
            *e = Entry {
                window_start: now,
                failures: 0,
                locked_until: None,
            };
        }
        e.failures += 1;
        if e.failures >= cfg.max_failures {
            let until = now.saturating_add(secs(cfg.cooldown_secs));
            e.locked_until = Some(until);
            self.locks_end.fetch_max(until, Ordering::SeqCst);
            return Recorded::LockedNow {
                until,
                failures: e.failures,
            };
        }
        Recorded::Counted
    }

    /// Frees room for one more caller without touching a live lock: drops
    /// entries whose window and lockout are over, then the oldest unlocked
    /// ones, down to nine tenths of the capacity (so a flood does not
    /// prune on every failure). False when the table holds nothing but
    /// live locks; then it is not scanned again before the first ends.
    fn make_room(&self, table: &mut Table, now: i64, cfg: &LockoutConfig) -> bool {
        if table.full_until.is_some_and(|t| now < t) {
            return false;
        }
        let window = secs(cfg.window_secs);
        let live = |e: &Entry| e.locked_until.is_some_and(|u| u > now);
        table
            .entries
            .retain(|_, e| live(e) || now - e.window_start < window);
        let target = self.capacity - self.capacity / 10;
        if table.entries.len() > target {
            let mut unlocked: Vec<(i64, IpNet)> = table
                .entries
                .iter()
                .filter(|(_, e)| !live(e))
                .map(|(k, e)| (e.window_start, *k))
                .collect();
            unlocked.sort_unstable();
            let excess = table.entries.len() - target;
            for (_, k) in unlocked.into_iter().take(excess) {
                table.entries.remove(&k);
            }
        }
        if table.entries.len() < self.capacity {
            table.full_until = None;
            return true;
        }
        table.full_until = table.entries.values().filter_map(|e| e.locked_until).min();
        false
    }

    /// Locked callers now, ordered by network.
    pub fn list(&self, now: i64) -> Vec<Locked> {
        let mut out: Vec<Locked> = self
            .table()
            .entries
            .iter()
            .filter_map(|(net, e)| {
                e.locked_until.filter(|&u| u > now).map(|until| Locked {
                    net: *net,
                    failures: e.failures,
                    locked_until: until,
                })
            })
            .collect();
        out.sort_by_key(|l| l.net);
        out
    }

    /// Forgets the callers of `ips` (or everything); returns those that
    /// were locked.
    pub fn clear(&self, ips: Option<&[IpAddr]>, now: i64) -> Vec<IpNet> {
        let mut table = self.table();
        table.full_until = None;
        let locked = |e: &Entry| e.locked_until.is_some_and(|u| u > now);
        let mut cleared: Vec<IpNet> = match ips {
            None => {
                let c = table
                    .entries
                    .iter()
                    .filter(|(_, e)| locked(e))
                    .map(|(net, _)| *net)
                    .collect();
                table.entries.clear();
                c
            }
            Some(ips) => ips
                .iter()
                .filter_map(|ip| {
                    let key = self.caller(*ip);
                    table.entries.remove(&key).filter(locked).map(|_| key)
                })
                .collect(),
        };
        cleared.sort();
        cleared.dedup();
        cleared
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table().entries.len()
    }
}

#[cfg(test)]
mod tests;
