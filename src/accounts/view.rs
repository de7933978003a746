//! One immutable reading of the account files, built once per change and
//! shared by every lookup until the next one.
//!
//! Fail closed: an error reading `resellers` (other than "not found")
//! makes every reseller lookup an error; so does an error reading
//! `suspended/` for users listed in `resellers`. Root never depends on
//! either file.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::{Account, is_valid_user_name};
use crate::acl::Holdings;

#[derive(Debug)]
pub(super) struct View {
    /// Every reseller with its suspension folded in, or why `resellers`
    /// could not be read.
    resellers: Result<HashMap<Box<str>, Arc<Account>>, String>,
    /// Why `suspended/` could not be read: no reseller may be looked up.
    suspended_error: Option<String>,
}

impl View {
    /// Reads `resellers` and the names in `suspended/` under `dir`.
    pub(super) fn read(dir: &Path) -> View {
        let suspended = read_suspended(&dir.join("suspended"));
        let resellers = read_resellers(&dir.join("resellers")).map(|holdings| {
            let is_suspended = |name: &str| suspended.as_ref().is_ok_and(|s| s.contains(name));
            holdings
                .into_iter()
                .map(|(name, holdings)| {
                    let account = Account {
                        suspended: is_suspended(&name),
                        name: name.clone(),
                        holdings,
                    };
                    (name.into_boxed_str(), Arc::new(account))
                })
                .collect()
        });
        View {
            resellers,
            suspended_error: suspended.err(),
        }
    }

    /// A reseller (not root: the caller answers for root). No allocation
    /// unless it fails.
    pub(super) fn reseller(&self, name: &str) -> Result<Option<Arc<Account>>, String> {
        let map = self.resellers.as_ref().map_err(String::clone)?;
        let Some(account) = map.get(name) else {
            return Ok(None);
        };
        if let Some(e) = &self.suspended_error {
            return Err(e.clone());
        }
        Ok(Some(Arc::clone(account)))
    }

    /// Every reseller's name, sorted.
    pub(super) fn names(&self) -> Result<Vec<String>, String> {
        let map = self.resellers.as_ref().map_err(String::clone)?;
        let mut names: Vec<String> = map.keys().map(|k| k.to_string()).collect();
        names.sort();
        Ok(names)
    }
}

/// The parsed `resellers` file; absent means no resellers.
pub(super) fn read_resellers(path: &Path) -> Result<HashMap<String, Holdings>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_resellers(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashMap::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The names in `suspended/`: an entry of any kind (file, directory,
/// dangling symlink) is a suspension. Absent means nobody is suspended; a
/// directory that cannot be listed or searched is an error.
pub(super) fn read_suspended(path: &Path) -> Result<HashSet<String>, String> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(cannot(e)),
    };
    let mut names = HashSet::new();
    for entry in entries {
        // Names that are not UTF-8 are no valid user's.
        if let Ok(name) = entry.map_err(cannot)?.file_name().into_string() {
            names.insert(name);
        }
    }
    // Listing needs read permission, `lstat(suspended/<u>)` (what a check
    // of one user needs) search permission: a directory without it fails
    // closed as it did when each user was checked by path.
    match std::fs::symlink_metadata(path.join(".")) {
        Ok(_) => Ok(names),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(names),
        Err(e) => Err(cannot(e)),
    }
}

/// `user:acl1,acl2` per line; blank items and `#` lines ignored.
pub(super) fn parse_resellers(text: &str) -> HashMap<String, Holdings> {
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
