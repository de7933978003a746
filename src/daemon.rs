//! Start-up and shutdown of the daemon process.
//!
//! Order matters: validate the configuration, take the state-dir lock (one
//! daemon per store), open the store, load or create the pepper and check
//! it against the store, bind the control socket, then serve until SIGTERM
//! or SIGINT, drain, sync and remove the socket.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener as StdListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use nix::fcntl::{Flock, FlockArg};
use nix::sys::stat::{Mode, umask};

use crate::accounts::Accounts;
use crate::acl::{Catalog, FunctionTable};
use crate::clock;
use crate::config::{Config, LogTarget};
use crate::lockout::Lockout;
use crate::logging;
use crate::server;
use crate::service::Service;
use crate::store::Store;
use crate::systemd::{self, Activated};
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

/// Binds a Unix socket at `path` with `mode` (and group `gid`), replacing
/// only a stale socket.
///
/// A client may connect the moment the path exists, so the socket is bound
/// under a staging name, given its mode and group there, and renamed into
/// place: nobody sees it half-configured. Called before any thread starts
/// (umask is per process).
pub fn bind_socket(
    path: &Path,
    mode: u32,
    gid: Option<nix::unistd::Gid>,
) -> Result<StdListener, StartError> {
    let saved = umask(Mode::from_bits_truncate(0o022));
    let bound = bind_socket_configured(path, mode, gid);
    umask(saved);
    bound
}

fn bind_socket_configured(
    path: &Path,
    mode: u32,
    gid: Option<nix::unistd::Gid>,
) -> Result<StdListener, StartError> {
    if let Some(parent) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(|e| StartError(format!("cannot create {}: {e}", parent.display())))?;
    }
    remove_stale_socket(path)?;
    // A staging socket is left by a daemon that died between bind and rename.
    let staging = staging_path(path)?;
    remove_stale_socket(&staging)?;
    umask(Mode::from_bits_truncate(!mode & 0o777));
    let listener = StdListener::bind(&staging)
        .map_err(|e| StartError(format!("cannot bind {}: {e}", staging.display())))?;
    let configured = configure_staged(&staging, path, mode, gid);
    if configured.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    configured?;
    listener
        .set_nonblocking(true)
        .map_err(|e| StartError(format!("cannot configure {}: {e}", path.display())))?;
    Ok(listener)
}

/// Removes a socket nobody listens on; refuses a live one or any other file.
fn remove_stale_socket(path: &Path) -> Result<(), StartError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(StartError(format!(
                    "{} is in use by a running daemon",
                    path.display()
                )));
            }
            std::fs::remove_file(path)
                .map_err(|e| StartError(format!("cannot remove stale {}: {e}", path.display())))
        }
        Ok(_) => Err(StartError(format!(
            "{} exists and is not a socket; refusing to replace it",
            path.display()
        ))),
        Err(_) => Ok(()),
    }
}

/// `dir/.name.new`: the same directory, so the rename is atomic.
fn staging_path(path: &Path) -> Result<PathBuf, StartError> {
    let name = path
        .file_name()
        .ok_or_else(|| StartError(format!("{} is not a socket file name", path.display())))?;
    let mut staged = std::ffi::OsString::from(".");
    staged.push(name);
    staged.push(".new");
    Ok(path.with_file_name(staged))
}

fn configure_staged(
    staging: &Path,
    path: &Path,
    mode: u32,
    gid: Option<nix::unistd::Gid>,
) -> Result<(), StartError> {
    // Explicit: the mode must not depend on bind honouring the umask.
    std::fs::set_permissions(staging, std::fs::Permissions::from_mode(mode))
        .map_err(|e| StartError(format!("cannot set mode of {}: {e}", path.display())))?;
    if let Some(gid) = gid {
        nix::unistd::chown(staging, None, Some(gid))
            .map_err(|e| StartError(format!("cannot give {} to its group: {e}", path.display())))?;
    }
    std::fs::rename(staging, path)
        .map_err(|e| StartError(format!("cannot move the socket to {}: {e}", path.display())))
}

/// A socket the daemon serves, and whether it created the file itself.
#[derive(Debug)]
pub struct Listening {
    pub listener: StdListener,
    pub path: PathBuf,
    /// Bound by us (so removed at exit), not passed by systemd.
    pub owned: bool,
}

/// Everything opened before serving.
#[derive(Debug)]
pub struct Prepared {
    pub service: Arc<Service>,
    pub control: Listening,
    pub verify: Listening,
    _lock: Flock<std::fs::File>,
}

fn open_socket(
    passed: Option<StdListener>,
    path: &Path,
    mode: u32,
    gid: Option<nix::unistd::Gid>,
) -> Result<Listening, StartError> {
    if let Some(listener) = passed {
        listener
            .set_nonblocking(true)
            .map_err(|e| StartError(format!("cannot configure a passed socket: {e}")))?;
        return Ok(Listening {
            listener,
            path: path.to_owned(),
            owned: false,
        });
    }
    // Sockets are reachable by everyone their mode allows; the peer check decides.
    let listener = bind_socket(path, mode, gid)?;
    Ok(Listening {
        listener,
        path: path.to_owned(),
        owned: true,
    })
}

/// Raises the open-file soft limit to the hard limit: each connection is a
/// descriptor, and the usual soft limit (1024) is below two full sockets'
/// worth of `max_connections`. Best effort (a seccomp filter or a low hard
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
    let wanted = (config.limits.max_connections as u64).saturating_mul(2) + 64;
    if soft < wanted {
        eprintln!(
            "apitokend: warning: open-file limit {soft} is below {wanted} \
             (2 × max_connections + 64); raise LimitNOFILE"
        );
    }
}

/// Opens the store and the sockets (or takes systemd's), before any thread.
pub fn prepare(config: &Config, activated: Activated) -> Result<Prepared, StartError> {
    raise_fd_limit(config);
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
        catalog: RwLock::new(Arc::new(catalog)),
        functions: RwLock::new(Arc::new(functions)),
        usage: UsageTracker::default(),
        lockout: Lockout::new(config.lockout.clone()),
        hasher: Hasher::new(&config.argon2)?,
        pepper,
        clock: clock::from_environment(),
        expiry_warning_secs: AtomicI64::new(warning_secs(config)),
        accounting_log: RwLock::new(config.accounting_log.clone()),
    };
    let control = open_socket(activated.control, &config.control_socket, 0o666, None)?;
    let verify = open_socket(activated.verify, &config.verify_socket, 0o660, verify_gid)?;
    Ok(Prepared {
        service: Arc::new(service),
        control,
        verify,
        _lock: lock,
    })
}

fn warning_secs(config: &Config) -> i64 {
    i64::from(config.expiry_warning_days) * 86_400
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

/// Runs `tick` every `period` (blocking pool) until stopped.
async fn every(
    period: Duration,
    stop: watch::Receiver<bool>,
    tick: impl Fn() + Send + Sync + 'static,
) {
    let tick = Arc::new(tick);
    let mut timer = tokio::time::interval(period);
    timer.tick().await;
    let stop = stopped(stop);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = timer.tick() => {
                let t = Arc::clone(&tick);
                let _ = tokio::task::spawn_blocking(move || t()).await;
            }
            () = &mut stop => return,
        }
    }
}

/// Re-reads the configuration and data files on SIGHUP. What can change
/// live does; a bad file keeps the old value; keys that need a restart are
/// named in the log.
pub fn reload(service: &Service, running: &Config, source: &ConfigSource) {
    let fresh = match source {
        ConfigSource::File(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                logging::error(&format!("reload: {e}; keeping the running configuration"));
                running.clone()
            }
        },
        ConfigSource::Fixed => running.clone(),
    };
    match Catalog::load(fresh.acls_file.as_deref()) {
        Ok(c) => *service.catalog.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(c),
        Err(e) => logging::error(&format!("reload: {e}; keeping the previous privilege list")),
    }
    match FunctionTable::load(fresh.functions_file.as_deref()) {
        Ok(f) => *service.functions.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(f),
        Err(e) => logging::error(&format!("reload: {e}; keeping the previous function table")),
    }
    service
        .expiry_warning_secs
        .store(warning_secs(&fresh), Ordering::Relaxed);
    service.lockout.set_config(fresh.lockout.clone());
    *service
        .accounting_log
        .write()
        .unwrap_or_else(|p| p.into_inner()) = fresh.accounting_log.clone();
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
    ];
    for (key, changed) in restart_only {
        if changed {
            logging::warn(&format!(
                "reload: {key} changed; restart apitokend to apply it"
            ));
        }
    }
    logging::info("configuration reloaded");
}

/// Where the running configuration came from (what SIGHUP re-reads).
#[derive(Debug, Clone)]
pub enum ConfigSource {
    File(PathBuf),
    /// Built-in defaults or `--dev-dir`: only the data files are re-read.
    Fixed,
}

async fn reload_on_hup(
    service: Arc<Service>,
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
                let (s, r, src) = (Arc::clone(&service), running.clone(), source.clone());
                let _ = tokio::task::spawn_blocking(move || reload(&s, &r, &src)).await;
                systemd::ready(&status);
            }
            () = &mut stop => return,
        }
    }
}

/// Serves the verify socket with single-threaded event loops, each on its
/// own thread accepting on a duplicate of the listening socket (the kernel
/// hands each new connection to one of them); the connection limit is
/// shared. One scheduler per thread avoids the cross-thread wake-ups a
/// work-stealing runtime pays on every request. One loop per two cores:
/// the callers run on the same host and need CPU too (measured on 2 cores,
/// 8 clients: one loop 82k verifies/s, two loops 59k/s, a multi-threaded
/// runtime 69k/s).
fn spawn_verify_loops(
    listener: StdListener,
    verifier: Arc<Verifier>,
    limits: crate::config::Limits,
    stop: watch::Receiver<bool>,
) -> Result<Vec<std::thread::JoinHandle<Result<(), StartError>>>, StartError> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let loops = (cores / 2).clamp(1, 8);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut threads = Vec::with_capacity(loops);
    for i in 0..loops {
        let listener = listener
            .try_clone()
            .map_err(|e| StartError(format!("cannot share the verify socket: {e}")))?;
        let (verifier, limits, slots, stop) = (
            Arc::clone(&verifier),
            limits.clone(),
            Arc::clone(&slots),
            stop.clone(),
        );
        let thread = std::thread::Builder::new()
            .name(format!("apitokend-verify-{i}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .thread_name("apitokend-verify")
                    .build()
                    .map_err(|e| StartError(format!("cannot start a verify runtime: {e}")))?;
                rt.block_on(async {
                    let listener = tokio::net::UnixListener::from_std(listener)
                        .map_err(|e| StartError(format!("cannot use the verify socket: {e}")))?;
                    server::run_shared(listener, verifier, limits, slots, stopped(stop)).await;
                    Ok::<(), StartError>(())
                })?;
                rt.shutdown_timeout(server::DRAIN_DEADLINE);
                Ok(())
            })
            .map_err(|e| StartError(format!("cannot start a verify thread: {e}")))?;
        threads.push(thread);
    }
    drop(listener);
    Ok(threads)
}

/// Runs the daemon until a stop signal; returns once drained.
pub fn run(config: &Config, source: ConfigSource) -> Result<(), StartError> {
    // Before any thread exists: take systemd's sockets (edits the
    // environment), open everything, then drop every privilege so all
    // threads created later inherit none.
    let activated = systemd::take_activated_sockets()?;
    let prepared = prepare(config, activated)?;
    if let Err(e) = systemd::drop_privileges() {
        if nix::unistd::geteuid().is_root() {
            return Err(StartError(e));
        }
        eprintln!("apitokend: warning: {e} (not running as root)");
    }
    logging::init(config.log, &config.syslog_socket);
    // Single-threaded event loops: the verify socket gets one per core on
    // threads of its own (see `spawn_verify_loops`); the control socket and
    // housekeeping share the main thread; Argon2 and LMDB writes run on the
    // blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("apitokend")
        .build()
        .map_err(|e| StartError(format!("cannot start the runtime: {e}")))?;
    let service = Arc::clone(&prepared.service);
    let verifier = Arc::new(Verifier::new(Arc::clone(&service)));
    let limits = config.limits.clone();
    let (control_path, verify_path) = (prepared.control.path.clone(), prepared.verify.path.clone());
    let owned_paths: Vec<PathBuf> = [&prepared.control, &prepared.verify]
        .into_iter()
        .filter(|s| s.owned)
        .map(|s| s.path.clone())
        .collect();
    let status = format!(
        "serving on {} and {}",
        control_path.display(),
        verify_path.display()
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let verify_threads = spawn_verify_loops(
        prepared.verify.listener,
        verifier,
        limits.clone(),
        stop_rx.clone(),
    )?;
    runtime.block_on(async {
        let control = tokio::net::UnixListener::from_std(prepared.control.listener)
            .map_err(|e| StartError(format!("cannot use the control socket: {e}")))?;
        tokio::spawn(async move {
            terminated().await;
            systemd::stopping("draining connections");
            let _ = stop_tx.send(true);
        });
        let flush_service = Arc::clone(&service);
        let mut helpers = vec![
            tokio::spawn(every(FLUSH_INTERVAL, stop_rx.clone(), move || {
                flush_service.flush_usage();
            })),
            tokio::spawn(reload_on_hup(
                Arc::clone(&service),
                config.clone(),
                source,
                stop_rx.clone(),
                status.clone(),
            )),
        ];
        if let Some(period) = systemd::watchdog_interval() {
            helpers.push(tokio::spawn(every(
                period,
                stop_rx.clone(),
                systemd::watchdog_ping,
            )));
        }
        logging::info(&format!(
            "{status} (state in {})",
            config.state_dir.display()
        ));
        // The listeners already accept (the kernel queues connections), so
        // this is the moment to say so.
        systemd::ready(&status);
        server::run(control, Arc::clone(&service), limits, stopped(stop_rx)).await;
        for h in helpers {
            let _ = h.await;
        }
        Ok::<(), StartError>(())
    })?;
    runtime.shutdown_timeout(server::DRAIN_DEADLINE);
    for thread in verify_threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => logging::error(&e.to_string()),
            Err(_) => logging::error("a verify loop panicked"),
        }
    }
    service.flush_usage();
    if let Err(e) = service.store.sync() {
        logging::error(&e.to_string());
    }
    for path in owned_paths {
        let _ = std::fs::remove_file(path);
    }
    systemd::status("stopped");
    logging::info("stopped");
    logging::flush();
    Ok(())
}
