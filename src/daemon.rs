//! Start-up and shutdown of the daemon process.
//!
//! Order matters: validate the configuration, take the state-dir lock (one
//! daemon per store), open the store, load or create the pepper and check
//! it against the store, bind the control socket, then serve until SIGTERM
//! or SIGINT, drain, sync and remove the socket.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener as StdListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use nix::fcntl::{Flock, FlockArg};
use nix::sys::stat::{Mode, umask};

use crate::accounts::Accounts;
use crate::acl::{Catalog, FunctionTable};
use crate::clock;
use crate::config::{Config, LogTarget};
use crate::logging;
use crate::server;
use crate::service::Service;
use crate::store::Store;
use crate::tokens::{Hasher, Pepper};
use crate::usage::{FLUSH_INTERVAL, UsageTracker};
use crate::verify::Verifier;

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
    Ok(Config {
        state_dir: dir.join("state"),
        accounts_dir: dir.join("accounts"),
        control_socket: dir.join("control.sock"),
        verify_socket: dir.join("verify.sock"),
        log: LogTarget::Stderr,
        ..Config::default()
    })
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

/// Binds a Unix socket at `path` with `mode`, replacing only a stale socket.
pub fn bind_socket(path: &Path, mode: u32) -> Result<StdListener, StartError> {
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| StartError(format!("cannot create {}: {e}", parent.display())))?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(StartError(format!(
                    "{} is in use by a running daemon",
                    path.display()
                )));
            }
            std::fs::remove_file(path)
                .map_err(|e| StartError(format!("cannot remove stale {}: {e}", path.display())))?;
        }
        Ok(_) => {
            return Err(StartError(format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            )));
        }
        Err(_) => {}
    }
    let listener = StdListener::bind(path)
        .map_err(|e| StartError(format!("cannot bind {}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| StartError(format!("cannot set mode of {}: {e}", path.display())))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| StartError(format!("cannot configure {}: {e}", path.display())))?;
    Ok(listener)
}

/// Everything opened before serving.
#[derive(Debug)]
pub struct Prepared {
    pub service: Arc<Service>,
    pub control: StdListener,
    pub control_path: PathBuf,
    pub verify: StdListener,
    pub verify_path: PathBuf,
    _lock: Flock<std::fs::File>,
}

pub fn prepare(config: &Config) -> Result<Prepared, StartError> {
    umask(Mode::from_bits_truncate(0o077));
    let lock = lock_state_dir(&config.state_dir)?;
    let store = Store::open(&config.state_dir).map_err(|e| StartError(e.to_string()))?;
    let empty = store.is_empty().map_err(|e| StartError(e.to_string()))?;
    let pepper = Pepper::load_or_create(&config.pepper_path(), empty)?;
    store
        .check_pepper(&pepper.fingerprint())
        .map_err(|e| StartError(e.to_string()))?;
    let catalog = Catalog::load(config.acls_file.as_deref())?;
    let functions = FunctionTable::load(config.functions_file.as_deref())?;
    let verify_gid = config
        .verify_socket_group
        .as_deref()
        .map(group_id)
        .transpose()?;
    let service = Service {
        store,
        accounts: Accounts::new(&config.accounts_dir),
        catalog: Arc::new(catalog),
        functions: RwLock::new(Arc::new(functions)),
        usage: UsageTracker::default(),
        hasher: Hasher::new(&config.argon2)?,
        pepper,
        clock: clock::from_environment(),
        expiry_warning_secs: i64::from(config.expiry_warning_days) * 86_400,
    };
    // Sockets are reachable by everyone; the peer check decides.
    umask(Mode::from_bits_truncate(0o022));
    let control = bind_socket(&config.control_socket, 0o666)?;
    let verify = bind_socket(&config.verify_socket, 0o660)?;
    umask(Mode::from_bits_truncate(0o077));
    if let Some(gid) = verify_gid {
        nix::unistd::chown(&config.verify_socket, None, Some(gid)).map_err(|e| {
            StartError(format!(
                "cannot give {} to its group: {e}",
                config.verify_socket.display()
            ))
        })?;
    }
    Ok(Prepared {
        service: Arc::new(service),
        control,
        control_path: config.control_socket.clone(),
        verify,
        verify_path: config.verify_socket.clone(),
        _lock: lock,
    })
}

async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        logging::error("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => logging::info("SIGTERM received, shutting down"),
        _ = int.recv() => logging::info("SIGINT received, shutting down"),
    }
}

/// Resolves when `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Writes pending token usage every `FLUSH_INTERVAL` until stopped.
async fn flush_usage_periodically(service: Arc<Service>, stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(FLUSH_INTERVAL);
    tick.tick().await;
    let stop = stopped(stop);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let s = Arc::clone(&service);
                let _ = tokio::task::spawn_blocking(move || s.flush_usage()).await;
            }
            () = &mut stop => return,
        }
    }
}

/// Runs the daemon until a stop signal; returns once drained.
pub fn run(config: &Config) -> Result<(), StartError> {
    logging::init(config.log);
    let prepared = prepare(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("apitokend")
        .build()
        .map_err(|e| StartError(format!("cannot start the runtime: {e}")))?;
    let service = Arc::clone(&prepared.service);
    let verifier = Arc::new(Verifier::new(Arc::clone(&service)));
    let limits = config.limits.clone();
    runtime.block_on(async {
        let control = tokio::net::UnixListener::from_std(prepared.control)
            .map_err(|e| StartError(format!("cannot use the control socket: {e}")))?;
        let verify = tokio::net::UnixListener::from_std(prepared.verify)
            .map_err(|e| StartError(format!("cannot use the verify socket: {e}")))?;
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            terminated().await;
            let _ = stop_tx.send(true);
        });
        let flusher = tokio::spawn(flush_usage_periodically(
            Arc::clone(&service),
            stop_rx.clone(),
        ));
        logging::info(&format!(
            "listening on {} and {} (state in {})",
            prepared.control_path.display(),
            prepared.verify_path.display(),
            config.state_dir.display()
        ));
        tokio::join!(
            server::run(
                control,
                Arc::clone(&service),
                limits.clone(),
                stopped(stop_rx.clone())
            ),
            server::run(verify, verifier, limits, stopped(stop_rx)),
        );
        let _ = flusher.await;
        Ok::<(), StartError>(())
    })?;
    runtime.shutdown_timeout(server::DRAIN_DEADLINE);
    service.flush_usage();
    if let Err(e) = service.store.sync() {
        logging::error(&e.to_string());
    }
    let _ = std::fs::remove_file(&prepared.control_path);
    let _ = std::fs::remove_file(&prepared.verify_path);
    logging::info("stopped");
    logging::flush();
    Ok(())
}
