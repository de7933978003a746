//! The daemon process: start-up and shutdown.
//!
//! Order matters: validate the configuration, take the state-dir lock (one
//! daemon per store), open the store, load or create the pepper and check
//! it against the store, bind the sockets, drop every privilege, then
//! serve until SIGTERM or SIGINT, drain, sync and remove the sockets.
//! Modules: `startup` (what is opened, in order), `sockets`, `privileges`,
//! `systemd` (activation, notifications), `server` and `connection` (the
//! control socket's accept loop and framing), `threaded` (the verify
//! socket's thread-per-connection server), `reload` (SIGHUP),
//! `cmdline` (the binary's flags).

pub mod cmdline;
pub(crate) mod connection;
mod parked;
mod privileges;
mod reload;
pub(crate) mod server;
mod slots;
pub(crate) mod sockets;
mod startup;
pub(crate) mod systemd;
mod threaded;
mod verify_conn;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::audit;
use crate::config::Config;
use crate::control::Control;
use crate::logging;
use crate::verify::Verifier;
use crate::verify::usage::FLUSH_INTERVAL;
pub use reload::ConfigSource;
use slots::Slots;
pub use startup::{StartError, check, dev_config, dev_hint, refuse_root_paths_as_non_root};
use threaded::VerifyServer;

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

/// Threads the runtime may block at once (LMDB commits, Argon2 under its
/// own limit, account files). LMDB runs one write transaction at a time
/// anyway; past this, requests queue instead of adding threads.
const CONTROL_BLOCKING_THREADS: usize = 8;

/// Resolves when `stop` turns true.
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
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

/// Runs the daemon until a stop signal; returns once drained.
pub fn run(config: &Config, source: ConfigSource) -> Result<(), StartError> {
    // Before any thread exists: take systemd's sockets (edits the
    // environment), open everything, then drop every privilege so all
    // threads created later inherit none.
    let activated = systemd::take_activated_sockets()?;
    let prepared = startup::prepare(config, activated)?;
    let root = nix::unistd::geteuid().is_root();
    if let Err(e) = privileges::drop_all(root) {
        if root {
            return Err(StartError(e));
        }
        eprintln!("apitokend: warning: {e} (not running as root)");
    }
    // After the drop, so the account watcher thread inherits no privilege.
    prepared.state.accounts.start_watching();
    logging::init(config.log, &config.syslog_socket);
    // The control socket and housekeeping share a single-threaded event
    // loop on the main thread; Argon2 and LMDB writes run on its blocking
    // pool. The verify socket has a thread per connection (`threaded`),
    // entering this runtime only for what its fast path does not take.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("apitokend")
        .max_blocking_threads(CONTROL_BLOCKING_THREADS)
        .build()
        .map_err(|e| StartError(format!("cannot start the runtime: {e}")))?;
    let state = Arc::clone(&prepared.state);
    let verifier = Arc::new(Verifier::new(Arc::clone(&state)));
    let control_handler =
        Arc::new(Control::new(Arc::clone(&state)).relaying(Arc::clone(&verifier)));
    let limits = config.limits.clone();
    let (control_path, verify_path) = (prepared.control.path.clone(), prepared.verify.path.clone());
    state.set_sockets(control_path.clone(), verify_path.clone());
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
    let verify_server = VerifyServer::start(
        prepared.verify.listener,
        verifier,
        runtime.handle().clone(),
        limits.clone(),
    )
    .map_err(|e| StartError(format!("cannot serve the verify socket: {e}")))?;
    runtime.block_on(async {
        let control = tokio::net::UnixListener::from_std(prepared.control.listener)
            .map_err(|e| StartError(format!("cannot use the control socket: {e}")))?;
        tokio::spawn(async move {
            terminated().await;
            systemd::stopping("draining connections");
            let _ = stop_tx.send(true);
        });
        let flush_state = Arc::clone(&state);
        let mut helpers = vec![
            tokio::spawn(every(FLUSH_INTERVAL, stop_rx.clone(), move || {
                flush_state.flush_usage();
                audit::flush_suppressed();
            })),
            tokio::spawn(reload::reload_on_hup(
                Arc::clone(&state),
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
        let control_slots = Slots::control(limits.max_connections, limits.max_connections_per_uid);
        server::run(
            control,
            control_handler,
            limits,
            control_slots,
            stopped(stop_rx),
        )
        .await;
        let _ = tokio::task::spawn_blocking(move || verify_server.stop()).await;
        for h in helpers {
            let _ = h.await;
        }
        Ok::<(), StartError>(())
    })?;
    runtime.shutdown_timeout(server::DRAIN_DEADLINE);
    state.flush_usage();
    if let Err(e) = state.store.sync() {
        logging::error(&e.to_string());
    }
    for path in owned_paths {
        let _ = std::fs::remove_file(path);
    }
    audit::flush_suppressed();
    systemd::status("stopped");
    logging::info("stopped");
    logging::flush();
    Ok(())
}
