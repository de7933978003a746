//! SIGHUP: re-read the configuration and the data files. What can change
//! live does (tables, expiry warning, lockout, accounting log; see
//! `State::reload`); a bad file keeps the old value; keys that need a
//! restart are named in the log.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use super::{stopped, systemd};
use crate::config::Config;
use crate::logging;
use crate::state::State;

/// Re-reads the configuration and data files on SIGHUP. What can change
/// live does; a bad file keeps the old value; keys that need a restart are
/// named in the log.
pub(crate) fn reload(state: &State, running: &Config, source: &ConfigSource) {
    let mut problems = Vec::new();
    let fresh = match source {
        ConfigSource::File(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                logging::error(&format!("reload: {e}; keeping the running configuration"));
                problems.push(format!("{e}; kept the running configuration"));
                running.clone()
            }
        },
        ConfigSource::Fixed => running.clone(),
    };
    problems.extend(state.reload(&fresh));
    let restart_only = [
        ("state_dir", running.state_dir != fresh.state_dir),
        ("accounts_dir", running.accounts_dir != fresh.accounts_dir),
        (
            "control_socket",
            running.control_socket != fresh.control_socket,
        ),
        (
            "verify_socket",
            running.verify_socket != fresh.verify_socket,
        ),
        (
            "verify_socket_group",
            running.verify_socket_group != fresh.verify_socket_group,
        ),
        ("pepper_file", running.pepper_path() != fresh.pepper_path()),
        ("log", running.log != fresh.log),
        (
            "syslog_socket",
            running.syslog_socket != fresh.syslog_socket,
        ),
        ("argon2", running.argon2 != fresh.argon2),
        ("limits", running.limits != fresh.limits),
        (
            "lockout.ipv6_prefix",
            running.lockout.ipv6_prefix != fresh.lockout.ipv6_prefix,
        ),
        (
            "lockout.max_tracked",
            running.lockout.max_tracked != fresh.lockout.max_tracked,
        ),
    ];
    for (key, changed) in restart_only {
        if changed {
            logging::warn(&format!(
                "reload: {key} changed; restart apitokend to apply it"
            ));
            problems.push(format!("{key} changed; restart apitokend to apply it"));
        }
    }
    state.record_reload(problems);
    logging::info("configuration reloaded");
}

/// Where the running configuration came from (what SIGHUP re-reads).
#[derive(Debug, Clone)]
pub enum ConfigSource {
    File(PathBuf),
    /// Built-in defaults or `--dev-dir`: only the data files are re-read.
    Fixed,
}

pub(super) async fn reload_on_hup(
    state: Arc<State>,
    running: Config,
    source: ConfigSource,
    stop: watch::Receiver<bool>,
    status: String,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        logging::error("cannot install the SIGHUP handler; reload by restarting");
        return;
    };
    let stop = stopped(stop);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = hup.recv() => {
                systemd::reloading();
                let (s, r, src) = (Arc::clone(&state), running.clone(), source.clone());
                let _ = tokio::task::spawn_blocking(move || reload(&s, &r, &src)).await;
                systemd::ready(&status);
            }
            () = &mut stop => return,
        }
    }
}
