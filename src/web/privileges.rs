//! Becoming `[web] user`: the front never handles a request as uid 0.
//!
//! Started by root (`apitokend-web --config FILE`), it binds its sockets,
//! prepares its state directory for that account, then takes the account's
//! uid, gid and supplementary groups (the verify socket's group among them)
//! for real, effective and saved ids, and checks that uid 0 cannot be
//! regained, all before the runtime starts and before any request is read.
//! Started as any other account (the systemd unit), it runs as is.

use std::ffi::CString;
use std::path::Path;

use nix::unistd::{Gid, Uid, User};

/// The account the front will run as.
#[derive(Clone, Debug)]
pub struct Account {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
}

/// Whether this process must switch accounts.
pub fn started_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Looks up `name`; refuses uid 0.
pub fn lookup(name: &str) -> Result<Account, String> {
    let user = User::from_name(name)
        .map_err(|e| format!("cannot look up the account “{name}”: {e}"))?
        .ok_or_else(|| {
            format!("web.user: no account named “{name}” (the packages create apitokend-web)")
        })?;
    if user.uid.is_root() {
        return Err(format!(
            "web.user “{name}” has uid 0; the front never runs as root"
        ));
    }
    Ok(Account {
        name: name.to_owned(),
        uid: user.uid,
        gid: user.gid,
    })
}

/// Gives `dir` (created 0700 if missing) to the account.
pub fn prepare_dir(dir: &Path, account: &Account) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    nix::unistd::chown(dir, Some(account.uid), Some(account.gid))
        .map_err(|e| format!("cannot give {} to {}: {e}", dir.display(), account.name))?;
    // Files inside (a certificate made by an earlier run as root) follow.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let _ = nix::unistd::chown(&entry.path(), Some(account.uid), Some(account.gid));
        }
    }
    Ok(())
}

/// Switches to the account for good. Call before any thread starts.
pub fn become_account(account: &Account) -> Result<(), String> {
    let cname = CString::new(account.name.as_str())
        .map_err(|_| "web.user contains a NUL byte".to_owned())?;
    nix::unistd::initgroups(&cname, account.gid)
        .map_err(|e| format!("cannot take the groups of {}: {e}", account.name))?;
    nix::unistd::setresgid(account.gid, account.gid, account.gid)
        .map_err(|e| format!("cannot take the group id of {}: {e}", account.name))?;
    nix::unistd::setresuid(account.uid, account.uid, account.uid)
        .map_err(|e| format!("cannot take the user id of {}: {e}", account.name))?;
    let ids = nix::unistd::getresuid().map_err(|e| format!("getresuid: {e}"))?;
    if ids.real != account.uid || ids.effective != account.uid || ids.saved != account.uid {
        return Err("the user id did not change".to_owned());
    }
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err("uid 0 could be regained after the switch".to_owned());
    }
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("cannot set no_new_privs: {e}"))?;
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| format!("cannot clear the dumpable flag: {e}"))?;
    Ok(())
}
