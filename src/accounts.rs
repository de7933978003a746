//! cPanel account data: who is a WHM user, what they hold, who is suspended,
//! and which login name a peer uid has.
//!
//! Read from `accounts_dir` (`resellers`, `suspended/<u>`) on demand so a
//! change made by WHM takes effect on the next request. Any error reading
//! them other than "not found" is an error the caller refuses on (fail
//! closed); a `suspended/<u>` entry of any kind, even a dangling symlink,
//! means suspended.
//!
//! The parsed `resellers` file is cached. An inotify watch on the
//! directory says when it was written, renamed or removed (the kernel
//! queues the event before the writer's system call returns), so a lookup
//! costs one non-blocking read and one `stat`, and the file is parsed once
//! per change, whatever its timestamps say. Without inotify the cache falls
//! back to the file's stamp (inode, size, mtime) and git's "racy clean"
//! rule (a file modified within [`RACY_WINDOW`] of being read is not
//! trusted, nor one with a future mtime), re-reading such a file at most
//! once per [`REREAD_EVERY`].

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::acl::Holdings;

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

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
struct Stamp {
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

/// How recent a modification must be for the cache to re-read anyway
/// (without inotify).
const RACY_WINDOW: Duration = Duration::from_secs(2);
/// Without inotify, an unsettled file is re-read at most this often.
const REREAD_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct ResellerCache {
    stamp: Option<Stamp>,
    /// The file's mtime was older than [`RACY_WINDOW`] when it was read.
    settled: bool,
    read_at: Option<Instant>,
    resellers: HashMap<String, Holdings>,
}

/// How the cache learns that `resellers` changed.
#[derive(Debug)]
enum Watch {
    Events(Inotify),
    /// No inotify (instance limit, unsupported file system, lost watch).
    Stamps,
}

const WATCHED: AddWatchFlags = AddWatchFlags::IN_MODIFY
    .union(AddWatchFlags::IN_ATTRIB)
    .union(AddWatchFlags::IN_CLOSE_WRITE)
    .union(AddWatchFlags::IN_CREATE)
    .union(AddWatchFlags::IN_DELETE)
    .union(AddWatchFlags::IN_MOVED_FROM)
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_DELETE_SELF)
    .union(AddWatchFlags::IN_MOVE_SELF)
    .union(AddWatchFlags::IN_ONLYDIR);

/// The watch's end: the directory went away or events were lost.
const WATCH_LOST: AddWatchFlags = AddWatchFlags::IN_Q_OVERFLOW
    .union(AddWatchFlags::IN_IGNORED)
    .union(AddWatchFlags::IN_DELETE_SELF)
    .union(AddWatchFlags::IN_MOVE_SELF)
    .union(AddWatchFlags::IN_UNMOUNT);

impl Watch {
    fn on(dir: &Path) -> Watch {
        let watch = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .and_then(|i| i.add_watch(dir, WATCHED).map(|_| i));
        match watch {
            Ok(i) => Watch::Events(i),
            Err(e) => {
                crate::logging::warn(&format!(
                    "cannot watch {} ({e}); the resellers file is re-read by its timestamps",
                    dir.display()
                ));
                Watch::Stamps
            }
        }
    }

    /// Whether `resellers` may have changed since the last call; drains
    /// the queued events. Falls back to stamps for good if the watch ends.
    fn changed(&mut self) -> bool {
        let Watch::Events(inotify) = self else {
            return false;
        };
        let mut changed = false;
        loop {
            match inotify.read_events() {
                Ok(events) if !events.is_empty() => {
                    for e in events {
                        if e.mask.intersects(WATCH_LOST) {
                            crate::logging::warn(
                                "the accounts directory watch ended; the resellers file \
                                 is re-read by its timestamps",
                            );
                            *self = Watch::Stamps;
                            return true;
                        }
                        changed |= e.name.as_deref() == Some(std::ffi::OsStr::new("resellers"));
                    }
                }
                Ok(_) | Err(nix::errno::Errno::EAGAIN) => return changed,
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    crate::logging::warn(&format!("cannot read the accounts watch ({e})"));
                    *self = Watch::Stamps;
                    return true;
                }
            }
        }
    }
}

#[derive(Debug)]
pub struct Accounts {
    dir: PathBuf,
    cache: Mutex<(ResellerCache, Watch)>,
}

impl Accounts {
    pub fn new(dir: &Path) -> Accounts {
        Accounts {
            dir: dir.to_owned(),
            cache: Mutex::new((ResellerCache::default(), Watch::on(dir))),
        }
    }

    /// Looks a WHM user up; `root` always exists and holds `all`.
    pub fn lookup(&self, name: &str) -> Result<Lookup, String> {
        if !is_valid_user_name(name) {
            return Ok(Lookup::NotWhmUser);
        }
        let holdings = if name == "root" {
            Holdings::All
        } else {
            match self.reseller_holdings(name)? {
                Some(h) => h,
                None => return Ok(Lookup::NotWhmUser),
            }
        };
        let suspended = name != "root" && self.is_suspended(name)?;
        Ok(Lookup::Found(Account {
            name: name.to_owned(),
            holdings,
            suspended,
        }))
    }

    /// The account `name` for a verify (`None`: not a WHM user).
    pub(crate) fn account(&self, name: &str) -> Result<Option<std::sync::Arc<Account>>, String> {
        Ok(match self.lookup(name)? {
            Lookup::Found(a) => Some(std::sync::Arc::new(a)),
            Lookup::NotWhmUser => None,
        })
    }

    /// Every reseller's name, sorted (root's user selector on the page).
    pub(crate) fn reseller_names(&self) -> Result<Vec<String>, String> {
        // Refreshes the cache; the name looked up does not matter.
        self.reseller_holdings("root")?;
        let guard = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<String> = guard.0.resellers.keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    /// `suspended/<name>` exists in any form (lstat: a dangling symlink
    /// counts); an unreadable directory is an error, never "not suspended".
    fn is_suspended(&self, name: &str) -> Result<bool, String> {
        let path = self.dir.join("suspended").join(name);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    fn reseller_holdings(&self, name: &str) -> Result<Option<Holdings>, String> {
        let path = self.dir.join("resellers");
        let mut guard = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (cache, watch) = &mut *guard;
        // Drain events before reading: a write after this point queues a
        // new event, seen by the next lookup.
        let changed = watch.changed();
        let stamp = match std::fs::metadata(&path) {
            Ok(m) => Some(Stamp {
                ino: m.ino(),
                size: m.size(),
                mtime: m.mtime(),
                mtime_nsec: m.mtime_nsec(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let stale = match watch {
            Watch::Events(_) => changed || cache.read_at.is_none(),
            Watch::Stamps => {
                !cache.settled && cache.read_at.is_none_or(|t| t.elapsed() >= REREAD_EVERY)
            }
        };
        if cache.stamp != stamp || (stale && stamp.is_some()) {
            let resellers = match stamp {
                None => HashMap::new(),
                Some(_) => parse_resellers(
                    &std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
                ),
            };
            let settled = stamp.is_some_and(|s| settled(s, std::time::SystemTime::now()));
            *cache = ResellerCache {
                stamp,
                settled,
                read_at: Some(Instant::now()),
                resellers,
            };
        }
        Ok(cache.resellers.get(name).cloned())
    }
}

/// `user:acl1,acl2` per line; blank items and `#` lines ignored.
fn parse_resellers(text: &str) -> HashMap<String, Holdings> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (user, acls) = l.split_once(':').unwrap_or((l, ""));
            let user = user.trim();
            is_valid_user_name(user).then(|| (user.to_owned(), Holdings::from_list(acls)))
        })
        .collect()
}

/// The login name of `uid` from the system user database.
pub fn login_name(uid: Uid) -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid.0))
        .ok()
        .flatten()
        .map(|u| u.name)
}

/// Whether a file stamped `s` can no longer change without changing its stamp.
fn settled(s: Stamp, now: std::time::SystemTime) -> bool {
    let Ok(now) = now.duration_since(std::time::UNIX_EPOCH) else {
        return false;
    };
    let modified = Duration::new(
        u64::try_from(s.mtime).unwrap_or(0),
        u32::try_from(s.mtime_nsec).unwrap_or(0),
    );
    // A future mtime (the clock stepped back) is never settled.
    now.checked_sub(modified)
        .is_some_and(|age| age >= RACY_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_rewrite_in_one_tick_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resellers");
        let a = Accounts::new(dir.path());
        let tick = std::time::SystemTime::now();
        let write = |text: &str| {
            // In place (same inode), same size, same mtime: only the racy
            // rule can notice.
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .unwrap();
            std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
            f.set_modified(tick).unwrap();
        };
        let holds = |acl: &str| match a.lookup("bob").unwrap() {
            Lookup::Found(b) => b.holdings.holds(acl),
            Lookup::NotWhmUser => false,
        };
        write("bob:list-accts\n");
        assert!(holds("list-accts"));
        write("bob:list-zones\n");
        assert!(!holds("list-accts") && holds("list-zones"));
    }

    #[test]
    fn without_inotify_an_unsettled_file_is_reread_at_most_once_per_second() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resellers");
        let a = Accounts {
            dir: dir.path().to_owned(),
            cache: Mutex::new((ResellerCache::default(), Watch::Stamps)),
        };
        let future = std::time::SystemTime::now() + Duration::from_secs(86_400);
        let write = |text: &str| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .unwrap();
            std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
            f.set_modified(future).unwrap();
        };
        let holds = |acl: &str| match a.lookup("bob").unwrap() {
            Lookup::Found(b) => b.holdings.holds(acl),
            Lookup::NotWhmUser => false,
        };
        write("bob:list-accts\n");
        assert!(holds("list-accts"));
        // Same stamp, other text: not re-read within the second...
        write("bob:list-zones\n");
        assert!(holds("list-accts"));
        // ...and re-read once it has passed.
        let mut guard = a.cache.lock().unwrap();
        guard.0.read_at = guard.0.read_at.map(|t| t - REREAD_EVERY);
        drop(guard);
        assert!(holds("list-zones"));
    }

    #[test]
    fn suspension_is_any_entry_and_errors_fail_closed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("resellers"), "bob:all\nann:all\n").unwrap();
        let a = Accounts::new(dir.path());
        let suspended = |name: &str| match a.lookup(name) {
            Ok(Lookup::Found(acc)) => Ok(acc.suspended),
            Ok(Lookup::NotWhmUser) => unreachable!(),
            Err(e) => Err(e),
        };
        // No suspended/ directory at all: nobody is suspended.
        assert_eq!(suspended("bob"), Ok(false));
        std::fs::create_dir(dir.path().join("suspended")).unwrap();
        std::os::unix::fs::symlink("/nonexistent", dir.path().join("suspended/bob")).unwrap();
        assert_eq!(suspended("bob"), Ok(true), "a dangling symlink");
        assert_eq!(suspended("ann"), Ok(false));
        // suspended/ is a file: an error, not "not suspended".
        std::fs::remove_dir_all(dir.path().join("suspended")).unwrap();
        std::fs::write(dir.path().join("suspended"), "").unwrap();
        assert!(suspended("ann").unwrap_err().contains("suspended/ann"));
    }

    #[test]
    fn settled_means_older_than_the_window() {
        let at = |secs: i64| Stamp {
            ino: 1,
            size: 1,
            mtime: secs,
            mtime_nsec: 0,
        };
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        assert!(settled(at(998), now));
        assert!(!settled(at(999), now));
        assert!(!settled(at(1_001), now));
    }

    #[test]
    fn root_reseller_and_others() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("resellers"),
            "# comment\nbob:list-accts,,create-acct\nalice:all\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("suspended")).unwrap();
        std::fs::write(dir.path().join("suspended/alice"), "").unwrap();
        let a = Accounts::new(dir.path());
        let Lookup::Found(root) = a.lookup("root").unwrap() else {
            unreachable!()
        };
        assert_eq!(root.holdings, Holdings::All);
        let Lookup::Found(bob) = a.lookup("bob").unwrap() else {
            unreachable!()
        };
        assert!(bob.holdings.holds("create-acct") && !bob.suspended);
        let Lookup::Found(alice) = a.lookup("alice").unwrap() else {
            unreachable!()
        };
        assert!(alice.suspended && alice.holdings == Holdings::All);
        assert_eq!(a.lookup("carol").unwrap(), Lookup::NotWhmUser);
        assert_eq!(a.lookup("../etc").unwrap(), Lookup::NotWhmUser);
    }

    #[test]
    fn resellers_file_change_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let a = Accounts::new(dir.path());
        assert_eq!(a.lookup("bob").unwrap(), Lookup::NotWhmUser);
        std::fs::write(dir.path().join("resellers"), "bob:list-accts\n").unwrap();
        assert!(matches!(a.lookup("bob").unwrap(), Lookup::Found(_)));
        std::fs::write(dir.path().join("resellers"), "bob:list-accts,x\n").unwrap();
        let Lookup::Found(bob) = a.lookup("bob").unwrap() else {
            unreachable!()
        };
        assert!(bob.holdings.holds("x"));
    }

    #[test]
    fn login_name_of_root() {
        assert_eq!(login_name(Uid::ROOT).as_deref(), Some("root"));
    }
}
