//! Dropping every privilege once the sockets are open.
//!
//! Capabilities are per thread and inherited at thread creation, so this
//! runs while the process has a single thread (`daemon::run` calls it
//! before the logger thread and the runtime start): every thread created
//! later inherits nothing.

use caps::CapSet;

/// Drops every capability (bounding, ambient, inheritable, permitted,
/// effective), makes the process non-dumpable and sets no_new_privs.
/// Sets that are already empty are left alone, so this also works under a
/// seccomp filter that forbids `capset` once systemd has emptied them.
///
/// Not root (the `--dev-dir` playground): the process holds no capability,
/// and the bounding set cannot be cleared without CAP_SETPCAP; it needs
/// no clearing either, since with no_new_privs no exec can gain anything
/// it allows. So it is left alone, and the playground prints no warning.
pub(super) fn drop_all(root: bool) -> Result<(), String> {
    for set in [
        CapSet::Bounding,
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Permitted,
        CapSet::Effective,
    ] {
        if matches!(set, CapSet::Bounding) && !root {
            continue;
        }
        let current =
            caps::read(None, set).map_err(|e| format!("cannot read {set:?} capabilities: {e}"))?;
        if !current.is_empty() {
            caps::clear(None, set)
                .map_err(|e| format!("cannot clear {set:?} capabilities: {e}"))?;
        }
    }
    nix::sys::prctl::set_dumpable(false)
        .map_err(|e| format!("cannot clear the dumpable flag: {e}"))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| format!("cannot set no_new_privs: {e}"))?;
    Ok(())
}
