//! cPanel account data: who is a WHM user, what they hold, who is suspended,
//! and which login name a peer uid has.
//!
//! Read from `accounts_dir` (`resellers`, `suspended/<u>`). Any error
//! reading them other than "not found" is an error the caller refuses on
//! (fail closed); a `suspended/<u>` entry of any kind, even a dangling
//! symlink, means suspended.
//!
//! The files are read into an immutable [`view::View`] once per change:
//! an inotify watch ([`watch`]) says when they change, and a thread
//! started by [`Accounts::start_watching`] rebuilds and publishes the view
//! as soon as it does. [`Accounts::account`] (the verify path) reads the
//! published view without a system call or an allocation, and confirms it
//! against the watch itself (one non-blocking `read`) when the last
//! confirmation is older than [`CONFIRM_EVERY`], so a change is seen by
//! every verify starting [`CONFIRM_EVERY`] after it, however the watcher
//! thread is scheduled. [`Accounts::lookup`] (control socket, sessions)
//! confirms on every call: a change is seen by the very next request.
//! Without inotify, both fall back to [`stamps`].

mod stamps;
#[cfg(test)]
mod tests;
mod view;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::acl::Holdings;
use view::View;
use watch::{Drained, Fds, Watches};

/// A peer's uid, kept distinct from other integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Uid(pub u32);

impl Uid {
    pub const ROOT: Uid = Uid(0);
}

/// A WHM user (root or a reseller) as the account files describe it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub holdings: Holdings,
    pub suspended: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(Account),
    /// Not root and not a reseller.
    NotWhmUser,
}

/// A user name as cPanel allows it (and safe as a path component).
pub fn is_valid_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// How stale a view [`Accounts::account`] trusts without asking the watch.
pub(crate) const CONFIRM_EVERY: Duration = Duration::from_millis(100);

/// How lookups learn of changes.
#[derive(Debug)]
enum Source {
    Events(Watches),
    /// No inotify: by the files' stamps, on each lookup.
    Stamps(stamps::Cache),
}

/// What lookups read.
#[derive(Debug)]
enum Published {
    Watched(View),
    /// [`Source::Stamps`]: nothing to publish, each lookup reads.
    Unwatched,
}

#[derive(Debug)]
pub struct Accounts {
    dir: PathBuf,
    root: Arc<Account>,
    view: RwLock<Published>,
    /// When `view` was last confirmed current (taken before the drain
    /// that confirmed it), in nanoseconds since `epoch`.
    confirmed: AtomicI64,
    epoch: Instant,
    /// Held while draining the watch and rebuilding, so a view is never
    /// published over a newer one.
    source: Mutex<Source>,
    /// `None` without inotify.
    fds: Option<Arc<Fds>>,
    watching: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Accounts {
    /// Reads the account files and sets up their watch; starts no thread
    /// (see [`Accounts::start_watching`]).
    pub fn new(dir: &Path) -> Accounts {
        Accounts::with_watch(dir, Watches::on(dir))
    }

    fn with_watch(dir: &Path, watch: Result<(Fds, Watches), String>) -> Accounts {
        let (source, fds) = match watch {
            Ok((fds, watches)) => (Source::Events(watches), Some(Arc::new(fds))),
            Err(e) => {
                crate::logging::warn(&format!(
                    "cannot watch {} ({e}); the account files are checked by their \
                     timestamps on every lookup",
                    dir.display()
                ));
                (Source::Stamps(stamps::Cache::default()), None)
            }
        };
        let accounts = Accounts {
            dir: dir.to_owned(),
            root: Arc::new(Account {
                name: "root".to_owned(),
                holdings: Holdings::All,
                suspended: false,
            }),
            view: RwLock::new(Published::Unwatched),
            confirmed: AtomicI64::new(i64::MIN),
            epoch: Instant::now(),
            source: Mutex::new(source),
            fds,
            watching: AtomicBool::new(false),
        };
        accounts.confirm(&mut lock(&accounts.source), true);
        accounts
    }

    /// Starts the thread that rebuilds the view as soon as the files
    /// change. Call it once privileges are dropped (capabilities are per
    /// thread); it ends when the last `Arc` goes.
    pub(crate) fn start_watching(self: &Arc<Self>) {
        let Some(fds) = self.fds.clone() else {
            return;
        };
        if self.watching.swap(true, Ordering::AcqRel) {
            return;
        }
        let accounts = Arc::downgrade(self);
        let started = std::thread::Builder::new()
            .name("apitokend-accts".to_owned())
            .spawn(move || {
                watch::run(&fds, || match accounts.upgrade() {
                    Some(a) => a.confirm(&mut lock(&a.source), false),
                    None => false,
                });
            });
        if let Err(e) = started {
            crate::logging::warn(&format!(
                "cannot start the account watcher ({e}); verifies re-check the account \
                 files every 100 ms"
            ));
        }
    }

    /// Looks a WHM user up for the verify path: `None` if not root nor a
    /// reseller. Reads the published view (no system call, no allocation)
    /// unless it was last confirmed more than [`CONFIRM_EVERY`] ago.
    pub(crate) fn account(&self, name: &str) -> Result<Option<Arc<Account>>, String> {
        if !is_valid_user_name(name) {
            return Ok(None);
        }
        if name == "root" {
            return Ok(Some(Arc::clone(&self.root)));
        }
        if self.since_confirmed() >= CONFIRM_EVERY {
            let mut source = lock(&self.source);
            // Another caller may have confirmed while this one waited.
            if self.since_confirmed() >= CONFIRM_EVERY {
                self.confirm(&mut source, false);
            }
        }
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        match &*view {
            Published::Watched(v) => v.reseller(name),
            Published::Unwatched => {
                drop(view);
                match self.by_stamps(name)? {
                    Lookup::Found(a) => Ok(Some(Arc::new(a))),
                    Lookup::NotWhmUser => Ok(None),
                }
            }
        }
    }

    /// Looks a WHM user up, confirming the view against the watch first:
    /// a change on disk is seen by the very next call. `root` always
    /// exists and holds `all`.
    pub fn lookup(&self, name: &str) -> Result<Lookup, String> {
        if !is_valid_user_name(name) {
            return Ok(Lookup::NotWhmUser);
        }
        if name == "root" {
            return Ok(Lookup::Found(Account::clone(&self.root)));
        }
        self.confirm(&mut lock(&self.source), false);
        let view = self.view.read().unwrap_or_else(PoisonError::into_inner);
        match &*view {
            Published::Watched(v) => Ok(match v.reseller(name)? {
                Some(a) => Lookup::Found(Account::clone(&a)),
                None => Lookup::NotWhmUser,
            }),
            Published::Unwatched => {
                drop(view);
                self.by_stamps(name)
            }
        }
    }

    /// Every reseller's name, sorted (root's user selector on the page).
    pub(crate) fn reseller_names(&self) -> Result<Vec<String>, String> {
        let mut source = lock(&self.source);
        self.confirm(&mut source, false);
        if let Source::Stamps(cache) = &mut *source {
            return cache.names(&self.dir);
        }
        drop(source);
        match &*self.view.read().unwrap_or_else(PoisonError::into_inner) {
            Published::Watched(v) => v.names(),
            // The watch was lost since: ask again, by stamps.
            Published::Unwatched => self.reseller_names(),
        }
    }

    fn by_stamps(&self, name: &str) -> Result<Lookup, String> {
        match &mut *lock(&self.source) {
            Source::Stamps(cache) => cache.reseller(&self.dir, name),
            // Watched again cannot happen: a lost watch is lost for good.
            Source::Events(_) => Ok(Lookup::NotWhmUser),
        }
    }

    fn now(&self) -> i64 {
        i64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }

    fn since_confirmed(&self) -> Duration {
        let age = self
            .now()
            .saturating_sub(self.confirmed.load(Ordering::Acquire));
        Duration::from_nanos(u64::try_from(age).unwrap_or(0))
    }

    /// Drains the watch and rebuilds the view if anything changed (or if
    /// `force`); falls back to stamps for good if the watch is lost.
    /// Returns whether the watch still works.
    fn confirm(&self, source: &mut Source, force: bool) -> bool {
        let (Source::Events(watches), Some(fds)) = (&mut *source, &self.fds) else {
            return false;
        };
        let now = self.now();
        let drained = match watches.drain(&fds.inotify) {
            Drained::Quiet if !force => Drained::Quiet,
            Drained::Quiet | Drained::Changed => match watches.rewatch(&fds.inotify, &self.dir) {
                Ok(()) => Drained::Changed,
                Err(e) => Drained::Lost(e),
            },
            lost @ Drained::Lost(_) => lost,
        };
        match drained {
            Drained::Quiet => {}
            Drained::Changed => self.publish(Published::Watched(View::read(&self.dir))),
            Drained::Lost(why) => {
                crate::logging::warn(&format!(
                    "{why}; the account files are checked by their timestamps on every lookup"
                ));
                *source = Source::Stamps(stamps::Cache::default());
                self.publish(Published::Unwatched);
                fds.stop();
                return false;
            }
        }
        self.confirmed.fetch_max(now, Ordering::AcqRel);
        true
    }

    fn publish(&self, view: Published) {
        let mut current = self.view.write().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(&mut *current, view);
        drop(current);
        // The old view (every reseller's `Arc`) is freed outside the lock.
        drop(old);
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        if let Some(fds) = &self.fds {
            fds.stop();
        }
    }
}

/// The login name of `uid` from the system user database.
pub fn login_name(uid: Uid) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid.0))
        .ok()
        .flatten()
        .map(|u| u.name)
}
