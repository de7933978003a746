//! Start-up: the playground and `--check-config` configurations, and what
//! is opened before serving, in order: the state-dir lock (one daemon per
//! store), the shared state (store, pepper, tables), the sockets.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use nix::fcntl::{Flock, FlockArg};
use nix::sys::stat::{Mode, umask};

use super::sockets::{Listening, open_socket};
use super::systemd::Activated;
use crate::acl::{Catalog, FunctionTable};
use crate::authz;
use crate::clock;
use crate::config::{Config, LogTarget};
use crate::state::State;
use crate::tokens::Hasher;

/// A fatal start-up problem, reported on stderr with exit status 1.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for StartError {
    fn from(s: String) -> Self {
        StartError(s)
    }
}

/// A local playground: state, accounts and socket under `dir`, logs on
/// stderr; the invoking (non-root) user is made a reseller holding `all`
/// so the CLI works without root.
pub fn dev_config(dir: &Path) -> Result<Config, StartError> {
    std::fs::create_dir_all(dir.join("accounts/suspended"))
        .map_err(|e| StartError(format!("cannot create {}: {e}", dir.display())))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| StartError(format!("cannot resolve {}: {e}", dir.display())))?;
    let resellers = dir.join("accounts/resellers");
    if !resellers.exists() {
        let uid = crate::accounts::Uid(nix::unistd::getuid().as_raw());
        let line = match crate::accounts::login_name(uid) {
            Some(name) if name != "root" => format!("{name}:all\n"),
            _ => String::new(),
        };
        std::fs::write(&resellers, line)
            .map_err(|e| StartError(format!("cannot write {}: {e}", resellers.display())))?;
    }
    let (web_user, verify_socket_group) = crate::web::dev::account();
    Ok(Config {
        state_dir: dir.join("state"),
        accounts_dir: dir.join("accounts"),
        control_socket: dir.join("control.sock"),
        verify_socket: dir.join("verify.sock"),
        verify_socket_group,
        log: LogTarget::Stderr,
        web: crate::web::config::WebConfig {
            user: web_user,
            state_dir: dir.join("web"),
            listen: vec![crate::web::dev::listen()],
            auth_socket: Some(dir.join("auth.sock")),
            ..crate::web::config::WebConfig::default()
        },
        ..Config::default()
    })
}

/// Plain `apitokend` (no `--config`, no `--dev-dir`) as a non-root user
/// would only fail on the first root path; say what to do instead.
pub fn refuse_root_paths_as_non_root() -> Result<(), StartError> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let d = Config::default();
    Err(StartError(format!(
        "the default configuration uses root paths ({}, {}) and apitokend is not running as \
         root.\nTo try it without root, run a playground: apitokend --dev-dir ./dev\n\
         (or give a configuration of your own with --config FILE)",
        d.state_dir.display(),
        d.control_socket.display()
    )))
}

/// What `--dev-dir` prints on start: how to point the CLI at it.
pub fn dev_hint(config: &Config) -> String {
    format!(
        "apitokend: playground in {}; in another shell:\n  \
         export APITOKEND_SOCKET={} APITOKEND_VERIFY_SOCKET={}",
        config
            .state_dir
            .parent()
            .unwrap_or(&config.state_dir)
            .display(),
        config.control_socket.display(),
        config.verify_socket.display()
    )
}

/// Validates what `--check-config` must: the config and the data files it names.
pub fn check(config: &Config) -> Result<(), StartError> {
    Catalog::load(config.acls_file.as_deref())?;
    FunctionTable::load(config.functions_file.as_deref())?;
    Hasher::new(&config.argon2)?;
    if let Some(group) = &config.verify_socket_group {
        group_id(group)?;
    }
    Ok(())
}

fn group_id(name: &str) -> Result<nix::unistd::Gid, StartError> {
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid),
        Ok(None) => Err(StartError(format!(
            "verify_socket_group: no group named “{name}”"
        ))),
        Err(e) => Err(StartError(format!("cannot look up group “{name}”: {e}"))),
    }
}

fn lock_state_dir(state_dir: &Path) -> Result<Flock<std::fs::File>, StartError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
        .map_err(|e| StartError(format!("cannot create {}: {e}", state_dir.display())))?;
    let path = state_dir.join("apitokend.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StartError(format!("cannot open {}: {e}", path.display())))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        StartError(format!(
            "another apitokend is already using {} ({e})",
            state_dir.display()
        ))
    })
}

/// Everything opened before serving.
#[derive(Debug)]
pub(super) struct Prepared {
    pub(super) state: Arc<State>,
    pub(super) control: Listening,
    pub(super) verify: Listening,
    _lock: Flock<std::fs::File>,
}

/// Raises the open-file soft limit to the hard limit: each connection is a
/// descriptor, and the usual soft limit (1024) is below three times
/// `max_connections` (the verify socket, the control socket's shared
/// slots and root's own). Best effort (a seccomp filter or a low hard
/// limit may forbid it); says so when the limit stays too low.
fn raise_fd_limit(config: &Config) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let soft = if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        soft
    };
    let wanted = (config.limits.max_connections as u64).saturating_mul(3) + 64;
    if soft < wanted {
        eprintln!(
            "apitokend: warning: open-file limit {soft} is below {wanted} \
             (3 × max_connections + 64); raise LimitNOFILE"
        );
    }
}

/// Opens the store and the sockets (or takes systemd's), before any thread.
pub(super) fn prepare(config: &Config, activated: Activated) -> Result<Prepared, StartError> {
    raise_fd_limit(config);
    umask(Mode::from_bits_truncate(0o077));
    let lock = lock_state_dir(&config.state_dir)?;
    let state = State::open(config, clock::from_environment())?;
    let verify_gid = config
        .verify_socket_group
        .as_deref()
        .map(group_id)
        .transpose()?;
    let control = open_socket(
        activated.control,
        &config.control_socket,
        authz::CONTROL_SOCKET_MODE,
        None,
    )?;
    let verify = open_socket(
        activated.verify,
        &config.verify_socket,
        authz::VERIFY_SOCKET_MODE,
        verify_gid,
    )?;
    Ok(Prepared {
        state: Arc::new(state),
        control,
        verify,
        _lock: lock,
    })
}
