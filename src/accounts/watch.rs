//! The inotify watch on the account files: which events mean the view
//! must be rebuilt, and the thread that rebuilds it as soon as one
//! arrives.
//!
//! Watched: `accounts_dir` (for `resellers` and `suspended` being written,
//! created, renamed, removed or chmod-ed), `accounts_dir/suspended` (its
//! entries coming and going; re-added whenever `suspended` is replaced)
//! and, when `resellers` is a symlink, the file it points to. The kernel
//! queues an event before the writer's system call returns, so a drain
//! that finds the queue empty proves the view read after the previous
//! drain is current.

use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::inotify::{AddWatchFlags as F, InitFlags, Inotify, InotifyEvent, WatchDescriptor};

const DIR_MASK: F = F::IN_MODIFY
    .union(F::IN_ATTRIB)
    .union(F::IN_CLOSE_WRITE)
    .union(F::IN_CREATE)
    .union(F::IN_DELETE)
    .union(F::IN_MOVED_FROM)
    .union(F::IN_MOVED_TO)
    .union(F::IN_DELETE_SELF)
    .union(F::IN_MOVE_SELF)
    .union(F::IN_ONLYDIR);

/// Only entries appearing or going matter in `suspended/` (and the
/// directory's own mode, when it is reached through a symlink).
const SUSPENDED_MASK: F = F::IN_ATTRIB
    .union(F::IN_CREATE)
    .union(F::IN_DELETE)
    .union(F::IN_MOVED_FROM)
    .union(F::IN_MOVED_TO)
    .union(F::IN_DELETE_SELF)
    .union(F::IN_MOVE_SELF)
    .union(F::IN_ONLYDIR)
    .union(F::from_bits_retain(libc::IN_MASK_ADD));

/// The target of a symlinked `resellers`.
const TARGET_MASK: F = F::IN_MODIFY
    .union(F::IN_ATTRIB)
    .union(F::IN_CLOSE_WRITE)
    .union(F::IN_DELETE_SELF)
    .union(F::IN_MOVE_SELF)
    .union(F::from_bits_retain(libc::IN_MASK_ADD));

/// The end of the directory's watch: it went away or was unmounted.
const DIR_LOST: F = F::IN_IGNORED
    .union(F::IN_DELETE_SELF)
    .union(F::IN_MOVE_SELF)
    .union(F::IN_UNMOUNT);

/// The file descriptors the watcher thread polls; shared with it so they
/// outlive whichever of it and `Accounts` ends first.
#[derive(Debug)]
pub(super) struct Fds {
    pub(super) inotify: Inotify,
    /// Written once to stop the watcher thread.
    stop: EventFd,
}

impl Fds {
    /// Asks the watcher thread (if any) to end.
    pub(super) fn stop(&self) {
        let _ = self.stop.write(1);
    }
}

/// What a drain of the queue found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub(super) enum Drained {
    Quiet,
    Changed,
    /// The watch cannot say any more (logged by the caller).
    Lost(String),
}

/// The watch descriptors in use (the inotify fd is in [`Fds`]).
#[derive(Debug)]
pub(super) struct Watches {
    dir: WatchDescriptor,
    suspended: Option<WatchDescriptor>,
    resellers_target: Option<WatchDescriptor>,
}

impl Watches {
    /// Watches `dir`; `Err` says why it cannot be watched.
    pub(super) fn on(dir: &Path) -> Result<(Fds, Watches), String> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(|e| e.to_string())?;
        let wd = inotify
            .add_watch(dir, DIR_MASK)
            .map_err(|e| e.to_string())?;
        let stop = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(|e| e.to_string())?;
        let watches = Watches {
            dir: wd,
            suspended: None,
            resellers_target: None,
        };
        Ok((Fds { inotify, stop }, watches))
    }

    /// Reads every queued event (non-blocking: one `read` when none).
    pub(super) fn drain(&self, inotify: &Inotify) -> Drained {
        let mut changed = false;
        loop {
            match inotify.read_events() {
                Ok(events) if !events.is_empty() => {
                    for e in &events {
                        match self.meaning(e) {
                            Drained::Quiet => {}
                            Drained::Changed => changed = true,
                            lost @ Drained::Lost(_) => return lost,
                        }
                    }
                }
                Ok(_) | Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                Err(e) => return Drained::Lost(format!("cannot read the accounts watch ({e})")),
            }
        }
        if changed {
            Drained::Changed
        } else {
            Drained::Quiet
        }
    }

    fn meaning(&self, e: &InotifyEvent) -> Drained {
        if e.mask.contains(F::IN_Q_OVERFLOW) {
            // Events were lost, the watches were not: read everything.
            return Drained::Changed;
        }
        let named = |n: &str| e.name.as_deref() == Some(OsStr::new(n));
        if e.wd == self.dir {
            if e.mask.intersects(DIR_LOST) {
                return Drained::Lost("the accounts directory watch ended".to_owned());
            }
            if named("resellers") || named("suspended") || self.suspended == Some(self.dir) {
                return Drained::Changed;
            }
            return Drained::Quiet;
        }
        // A removed watch's last word, or one left from before a rewatch.
        let ours = Some(e.wd) == self.suspended || Some(e.wd) == self.resellers_target;
        if !ours || e.mask == F::IN_IGNORED {
            return Drained::Quiet;
        }
        // A suspension file's mode or content is no change.
        if Some(e.wd) == self.suspended && e.name.is_some() && e.mask == F::IN_ATTRIB {
            return Drained::Quiet;
        }
        Drained::Changed
    }

    /// Points the watches at what `suspended` and `resellers` name now;
    /// called before each read of them so that a change after the read
    /// queues an event. `Err`: a watch cannot be added (the watch limit),
    /// so the watch as a whole can no longer be trusted.
    pub(super) fn rewatch(&mut self, inotify: &Inotify, dir: &Path) -> Result<(), String> {
        self.suspended = self.follow(
            inotify,
            &dir.join("suspended"),
            SUSPENDED_MASK,
            self.suspended,
        )?;
        let resellers = dir.join("resellers");
        let is_link =
            std::fs::symlink_metadata(&resellers).is_ok_and(|m| m.file_type().is_symlink());
        self.resellers_target = if is_link {
            self.follow(inotify, &resellers, TARGET_MASK, self.resellers_target)?
        } else {
            self.unwatch(inotify, self.resellers_target);
            None
        };
        Ok(())
    }

    fn follow(
        &self,
        inotify: &Inotify,
        path: &Path,
        mask: F,
        old: Option<WatchDescriptor>,
    ) -> Result<Option<WatchDescriptor>, String> {
        match inotify.add_watch(path, mask) {
            Ok(wd) => {
                if old != Some(wd) {
                    self.unwatch(inotify, old);
                }
                Ok(Some(wd))
            }
            // Nothing to watch: its appearance shows in the directory's watch.
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => {
                self.unwatch(inotify, old);
                Ok(None)
            }
            // Unreadable: so is the file (the view fails closed), and a
            // chmod back shows in the directory's watch or the old one.
            Err(Errno::EACCES) => Ok(old),
            Err(e) => Err(format!("cannot watch {} ({e})", path.display())),
        }
    }

    fn unwatch(&self, inotify: &Inotify, wd: Option<WatchDescriptor>) {
        if let Some(wd) = wd.filter(|wd| *wd != self.dir) {
            // Already gone if what it watched was removed.
            let _ = inotify.rm_watch(wd);
        }
    }
}

/// The watcher thread's loop: blocks until an event (then calls
/// `on_event`, which drains and rebuilds, until it returns false) or until
/// stopped.
pub(super) fn run(fds: &Fds, mut on_event: impl FnMut() -> bool) {
    loop {
        let mut polled = [
            PollFd::new(fds.inotify.as_fd(), PollFlags::POLLIN),
            PollFd::new(fds.stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut polled, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => {
                crate::logging::warn(&format!(
                    "the account watcher stopped ({e}); verifies re-check the account files \
                     every 100 ms"
                ));
                return;
            }
        }
        let broken = PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL;
        if polled[0].revents().is_some_and(|r| r.intersects(broken)) {
            crate::logging::warn(
                "the account watcher stopped; verifies re-check the account files every 100 ms",
            );
            return;
        }
        if polled[1].any() == Some(true) || !on_event() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_event_means() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("suspended")).unwrap();
        let (fds, mut w) = Watches::on(dir.path()).unwrap();
        w.rewatch(&fds.inotify, dir.path()).unwrap();
        let suspended = w.suspended.unwrap();
        let event = |wd, mask, name: Option<&str>| InotifyEvent {
            wd,
            mask,
            cookie: 0,
            name: name.map(Into::into),
        };
        let lost = Drained::Lost("the accounts directory watch ended".to_owned());
        for (what, e, want) in [
            (
                "events were lost",
                event(w.dir, F::IN_Q_OVERFLOW, None),
                Drained::Changed,
            ),
            (
                "resellers renamed in",
                event(w.dir, F::IN_MOVED_TO, Some("resellers")),
                Drained::Changed,
            ),
            (
                "suspended chmod-ed",
                event(w.dir, F::IN_ATTRIB, Some("suspended")),
                Drained::Changed,
            ),
            (
                "another file",
                event(w.dir, F::IN_CLOSE_WRITE, Some("resellers.tmp")),
                Drained::Quiet,
            ),
            (
                "the directory removed",
                event(w.dir, F::IN_DELETE_SELF, None),
                lost.clone(),
            ),
            (
                "the directory unmounted",
                event(w.dir, F::IN_UNMOUNT, None),
                lost.clone(),
            ),
            (
                "the directory's watch gone",
                event(w.dir, F::IN_IGNORED, None),
                lost,
            ),
            (
                "a suspension",
                event(suspended, F::IN_CREATE, Some("bob")),
                Drained::Changed,
            ),
            (
                "a suspension file's mode",
                event(suspended, F::IN_ATTRIB, Some("bob")),
                Drained::Quiet,
            ),
            (
                "suspended/ removed",
                event(suspended, F::IN_DELETE_SELF, None),
                Drained::Changed,
            ),
            (
                "a removed watch's last event",
                event(suspended, F::IN_IGNORED, None),
                Drained::Quiet,
            ),
        ] {
            assert_eq!(w.meaning(&e), want, "{what}");
        }
    }
}
