//! Without inotify (instance or watch limit, unsupported file system, a
//! lost watch): every lookup `lstat`s `suspended/<u>` and `stat`s
//! `resellers`, and the parsed file is kept while its stamp (inode, size,
//! mtime) holds, by git's "racy clean" rule: a file modified within
//! [`RACY_WINDOW`] of being read is not trusted, nor one with a future
//! mtime, and such a file is re-read at most once per [`REREAD_EVERY`].

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use super::view::read_resellers;
use super::{Account, Lookup};
use crate::acl::Holdings;

/// How recent a modification must be for the cache to re-read anyway.
pub(super) const RACY_WINDOW: Duration = Duration::from_secs(2);
/// An unsettled file is re-read at most this often.
pub(super) const REREAD_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub(super) struct Stamp {
    pub(super) ino: u64,
    pub(super) size: u64,
    pub(super) mtime: i64,
    pub(super) mtime_nsec: i64,
}

#[derive(Debug, Default)]
pub(super) struct Cache {
    stamp: Option<Stamp>,
    /// The file's mtime was older than [`RACY_WINDOW`] when it was read.
    settled: bool,
    pub(super) read_at: Option<Instant>,
    resellers: HashMap<String, Holdings>,
}

impl Cache {
    /// A reseller looked up by the stamp rules (not root).
    pub(super) fn reseller(&mut self, dir: &Path, name: &str) -> Result<Lookup, String> {
        let Some(holdings) = self.refresh(dir)?.get(name).cloned() else {
            return Ok(Lookup::NotWhmUser);
        };
        Ok(Lookup::Found(Account {
            name: name.to_owned(),
            holdings,
            suspended: is_suspended(dir, name)?,
        }))
    }

    /// Every reseller's name, sorted.
    pub(super) fn names(&mut self, dir: &Path) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = self.refresh(dir)?.keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    fn refresh(&mut self, dir: &Path) -> Result<&HashMap<String, Holdings>, String> {
        let path = dir.join("resellers");
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
        let stale = !self.settled && self.read_at.is_none_or(|t| t.elapsed() >= REREAD_EVERY);
        if self.read_at.is_none() || self.stamp != stamp || (stale && stamp.is_some()) {
            let resellers = match stamp {
                None => HashMap::new(),
                Some(_) => read_resellers(&path)?,
            };
            *self = Cache {
                stamp,
                settled: stamp.is_some_and(|s| settled(s, SystemTime::now())),
                read_at: Some(Instant::now()),
                resellers,
            };
        }
        Ok(&self.resellers)
    }
}

/// `suspended/<name>` exists in any form (lstat: a dangling symlink
/// counts); an unreadable directory is an error, never "not suspended".
fn is_suspended(dir: &Path, name: &str) -> Result<bool, String> {
    let path = dir.join("suspended").join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Whether a file stamped `s` can no longer change without changing its stamp.
pub(super) fn settled(s: Stamp, now: SystemTime) -> bool {
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
