//! The daemon's shared state: what both request paths (control and verify)
//! work with, built by one constructor.
//!
//! Neither path owns it: `control` and `verify` each hold an
//! `Arc<State>`, so the verify path never depends on the control module.
//! What a SIGHUP may change (tables, settings) sits behind a lock that
//! readers hold only long enough to clone an `Arc` or copy a number.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::accounts::Accounts;
use crate::acl::{Catalog, FunctionTable};
use crate::clock::Clock;
use crate::config::Config;
use crate::logging;
use crate::store::{PepperCheck, Store, TokenRecord, Usage};
use crate::tokens::{Hasher, Pepper};
use crate::verify::cache::VerifiedCache;
use crate::verify::lockout::Lockout;
use crate::verify::usage::UsageTracker;

#[derive(Debug)]
pub struct State {
    pub(crate) store: Store,
    pub(crate) accounts: Arc<Accounts>,
    pub(crate) hasher: Hasher,
    pub(crate) pepper: Pepper,
    pub(crate) clock: Arc<dyn Clock>,
    /// Brute-force lockout of verify callers, per address.
    pub(crate) lockout: Lockout,
    pub(crate) usage: UsageTracker,
    /// Tokens this process has checked with Argon2 (the verify path's; here
    /// so `status` can report its size).
    pub(crate) verified: VerifiedCache,
    /// Verifies answered since the start, by path (for `status`).
    pub(crate) verifies: VerifyCounts,
    /// When this state was opened (the daemon's start), by the clock.
    pub(crate) started_at: i64,
    /// The control and verify socket paths being served, once bound.
    sockets: OnceLock<(PathBuf, PathBuf)>,
    last_reload: Mutex<Option<ReloadReport>>,
    /// Web page sessions, log-in tickets, the PAM limit.
    pub(crate) web: crate::sessions::Web,
    /// `limits.max_tokens_per_user` (restart to change).
    pub(crate) max_tokens_per_user: usize,
    /// Turns at Argon2, shared by every path that runs it (see
    /// [`argon2_concurrency`]).
    argon2: Arc<Semaphore>,
    catalog: RwLock<Arc<Catalog>>,
    functions: RwLock<Arc<FunctionTable>>,
    expiry_warning_secs: AtomicI64,
    /// cPanel accounting log to append change lines to, if any.
    accounting_log: RwLock<Option<PathBuf>>,
    /// The uid of `[web] user`, the only peer that may relay credentials.
    front_uid: RwLock<Option<crate::accounts::Uid>>,
}

/// Verify requests answered on the fast path (synchronously, on the
/// connection's thread) and on the general one (everything else).
#[derive(Debug, Default)]
pub(crate) struct VerifyCounts {
    pub(crate) fast: std::sync::atomic::AtomicU64,
    pub(crate) general: std::sync::atomic::AtomicU64,
}

/// `[web] user`'s uid, if that account exists (and is not root).
fn front_uid(config: &Config) -> Option<crate::accounts::Uid> {
    match nix::unistd::User::from_name(&config.web.user) {
        Ok(Some(u)) if !u.uid.is_root() => Some(crate::accounts::Uid(u.uid.as_raw())),
        _ => None,
    }
}

/// Entries kept in the verified cache.
const CACHE_CAPACITY: usize = 200_000;

/// What the last SIGHUP did: when, and what it could not apply (empty: all
/// of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReloadReport {
    pub(crate) at: i64,
    pub(crate) problems: Vec<String>,
}

/// Argon2 computations at once, daemon-wide: every one holds `m_cost`
/// KiB (19 MiB by default) and a core, so this bounds Argon2's memory
/// (with `Hasher`'s buffer pool, which keeps as many buffers) and leaves a
/// core for cached verifies. The control socket (create, get_details), the
/// verify socket (a token's first use) and any later front share it, in
/// arrival order.
pub(crate) fn argon2_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).clamp(1, crate::tokens::POOL_MAX)
}

fn warning_secs(config: &Config) -> i64 {
    i64::from(config.expiry_warning_days) * 86_400
}

impl State {
    /// Opens the store in `config.state_dir`, loads (or, for an empty
    /// store, creates) the pepper and checks it belongs to the store, and
    /// loads the privilege and function tables.
    pub fn open(config: &Config, clock: Arc<dyn Clock>) -> Result<State, String> {
        let store = Store::open(&config.state_dir).map_err(|e| e.to_string())?;
        let empty = store.is_empty().map_err(|e| e.to_string())?;
        let pepper = Pepper::load_or_create(&config.pepper_path(), empty)?;
        match store
            .check_pepper(&pepper.fingerprint())
            .map_err(|e| e.to_string())?
        {
            PepperCheck::Matches | PepperCheck::Recorded => {}
            PepperCheck::Replaced => logging::warn(&format!(
                "{} is not the pepper this store last used; the store holds no tokens, \
                 so it now uses this one",
                config.pepper_path().display()
            )),
        }
        Ok(State {
            store,
            accounts: Arc::new(Accounts::new(&config.accounts_dir)),
            hasher: Hasher::new(&config.argon2)?,
            pepper,
            clock: Arc::clone(&clock),
            lockout: Lockout::new(config.lockout.clone()),
            usage: UsageTracker::default(),
            verified: VerifiedCache::new(CACHE_CAPACITY),
            verifies: VerifyCounts::default(),
            started_at: clock.now(),
            sockets: OnceLock::new(),
            last_reload: Mutex::new(None),
            web: crate::sessions::Web::new(crate::sessions::Settings::from_config(&config.web)),
            max_tokens_per_user: config.limits.max_tokens_per_user,
            argon2: Arc::new(Semaphore::new(argon2_concurrency())),
            catalog: RwLock::new(Arc::new(Catalog::load(config.acls_file.as_deref())?)),
            functions: RwLock::new(Arc::new(FunctionTable::load(
                config.functions_file.as_deref(),
            )?)),
            expiry_warning_secs: AtomicI64::new(warning_secs(config)),
            accounting_log: RwLock::new(config.accounting_log.clone()),
            front_uid: RwLock::new(front_uid(config)),
        })
    }

    /// Waits for a turn at Argon2 (`None` only if the limiter was closed,
    /// which nothing does). Hold it for the whole computation.
    pub(crate) async fn argon2_turn(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.argon2).acquire_owned().await.ok()
    }

    /// The token store, for seeding benchmarks and fuzz fixtures.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn pepper(&self) -> &Pepper {
        &self.pepper
    }

    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn functions(&self) -> Arc<FunctionTable> {
        Arc::clone(&self.functions.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// `f` with the function table, read in place (a verify's check: no
    /// reference count to bump on a line every core shares).
    pub(crate) fn with_functions<T>(&self, f: impl FnOnce(&FunctionTable) -> T) -> T {
        f(&self.functions.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn expiry_warning_secs(&self) -> i64 {
        self.expiry_warning_secs.load(Ordering::Relaxed)
    }

    pub(crate) fn front_uid(&self) -> Option<crate::accounts::Uid> {
        *self.front_uid.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn accounting_log(&self) -> Option<PathBuf> {
        self.accounting_log
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The sockets being served (the daemon sets them once bound).
    pub(crate) fn set_sockets(&self, control: PathBuf, verify: PathBuf) {
        let _ = self.sockets.set((control, verify));
    }

    pub(crate) fn sockets(&self) -> Option<&(PathBuf, PathBuf)> {
        self.sockets.get()
    }

    pub(crate) fn last_reload(&self) -> Option<ReloadReport> {
        self.last_reload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Remembers the outcome of a reload for `status`.
    pub(crate) fn record_reload(&self, problems: Vec<String>) {
        let report = ReloadReport {
            at: self.clock.now(),
            problems,
        };
        *self.last_reload.lock().unwrap_or_else(|p| p.into_inner()) = Some(report);
    }

    /// Applies what a reload may change live; a table that fails to load
    /// keeps the previous one (and says so). Returns what was not applied.
    pub(crate) fn reload(&self, fresh: &Config) -> Vec<String> {
        let mut problems = Vec::new();
        match Catalog::load(fresh.acls_file.as_deref()) {
            Ok(c) => *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(c),
            Err(e) => {
                logging::error(&format!("reload: {e}; keeping the previous privilege list"));
                problems.push(format!("{e}; kept the previous privilege list"));
            }
        }
        match FunctionTable::load(fresh.functions_file.as_deref()) {
            Ok(f) => *self.functions.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(f),
            Err(e) => {
                logging::error(&format!("reload: {e}; keeping the previous function table"));
                problems.push(format!("{e}; kept the previous function table"));
            }
        }
        self.expiry_warning_secs
            .store(warning_secs(fresh), Ordering::Relaxed);
        self.lockout.set_config(fresh.lockout.clone());
        self.web
            .set_settings(crate::sessions::Settings::from_config(&fresh.web));
        *self.front_uid.write().unwrap_or_else(|p| p.into_inner()) = front_uid(fresh);
        *self
            .accounting_log
            .write()
            .unwrap_or_else(|p| p.into_inner()) = fresh.accounting_log.clone();
        problems
    }

    /// Last use of a token: pending in memory, else as stored.
    pub(crate) fn last_use(&self, rec: &TokenRecord) -> crate::store::Result<Option<Usage>> {
        match self.usage.pending(&rec.index) {
            Some(u) => Ok(Some(u)),
            None => self.store.usage(&rec.index),
        }
    }

    /// Writes pending last-use data to the store (periodic and at shutdown).
    pub(crate) fn flush_usage(&self) {
        let batch = self.usage.take();
        if batch.is_empty() {
            return;
        }
        let rows: Vec<(crate::tokens::Index, Usage)> =
            batch.iter().map(|(i, last)| (*i, last.usage())).collect();
        if let Err(e) = self.store.write_usage(&rows) {
            logging::error(&format!("cannot write token usage: {e}"));
            self.usage.restore(batch);
        }
    }
}
