//! Being a good systemd service: socket activation, readiness and status
//! notifications, watchdog pings.
//!
//! `listenfd` edits the environment, so [`take_activated_sockets`] must run
//! while the process has a single thread: `daemon::run` calls it before the
//! logger thread and the runtime start. Outside systemd every call here is
//! a harmless no-op.

use std::os::unix::net::UnixListener;
use std::time::Duration;

use sd_notify::NotifyState;

/// Listeners passed by the service manager, by role.
#[derive(Debug, Default)]
pub struct Activated {
    pub control: Option<UnixListener>,
    pub verify: Option<UnixListener>,
}

/// Takes the sockets systemd passed (LISTEN_FDS). They are told apart by
/// `FileDescriptorName=` (`control`, `verify`); without names, the first is
/// control and the second verify.
pub fn take_activated_sockets() -> Result<Activated, String> {
    let names: Vec<String> = std::env::var("LISTEN_FDNAMES")
        .map(|n| n.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    let mut fds = listenfd::ListenFd::from_env();
    let mut out = Activated::default();
    for i in 0..fds.len() {
        let listener = fds
            .take_unix_listener(i)
            .map_err(|e| format!("passed socket #{i} is not a Unix stream listener: {e}"))?
            .ok_or_else(|| format!("passed socket #{i} is missing"))?;
        let role = match names.get(i).map(String::as_str) {
            Some("control") => "control",
            Some("verify") => "verify",
            Some(other) if !other.is_empty() && other != "unknown" => {
                return Err(format!(
                    "passed socket #{i} is named “{other}”; expected “control” or “verify”"
                ));
            }
            _ if i == 0 => "control",
            _ if i == 1 => "verify",
            _ => return Err(format!("unexpected extra passed socket #{i}")),
        };
        let slot = if role == "control" {
            &mut out.control
        } else {
            &mut out.verify
        };
        if slot.replace(listener).is_some() {
            return Err(format!("two passed sockets are named “{role}”"));
        }
    }
    Ok(out)
}

/// Sends notifications to systemd when NOTIFY_SOCKET is set.
pub fn notify(states: &[NotifyState<'_>]) {
    // Not running under systemd is fine; any other failure is not worth
    // stopping the daemon for.
    let _ = sd_notify::notify(states);
}

pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

pub fn stopping(status: &str) {
    notify(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

pub fn reloading() {
    let mut states = vec![NotifyState::Reloading, NotifyState::Status("reloading")];
    // systemd 253+ wants the reload's start time with RELOADING=1.
    if let Ok(now) = NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    notify(&states);
}

/// How often to ping the watchdog: half the period systemd set, if any.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

pub fn watchdog_ping() {
    notify(&[NotifyState::Watchdog]);
}
