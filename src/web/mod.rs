//! apitokend-web: the HTTPS front. WHM API 1 over `Authorization: whm
//! user:token`, the nginx auth gate, an optional reverse proxy;
//! unprivileged, and holding no power of its own.
//!
//! ```text
//! client ─HTTPS─► conn (limits, TLS handshake timeout, hyper HTTP/1.1 caps)
//!               ─► router (URI cap, route per listener, access log)
//!               ─► json_api (/json-api/<fn>: params, credentials)
//!                    ├─ served: api_token_*, applist ─► control socket, relayed
//!                    │          with the caller's user, token and address
//!                    └─ other: verify socket, then forward to [web] upstream
//!               ─► auth (GET /auth for nginx auth_request) ─► verify socket
//! ```
//!
//! Start-up (`start`): bind every socket, become `[web] user` when started
//! as root, then load or make the certificate and serve. The daemon decides
//! every authentication and authorization; this process only parses HTTP
//! and TLS and relays (`daemon_link`).

pub(crate) mod access_log;
pub(crate) mod auth;
pub(crate) mod client_ip;
pub mod config;
pub(crate) mod conn;
pub(crate) mod credentials;
pub(crate) mod daemon_link;
pub mod dev;
pub(crate) mod identity;
pub(crate) mod json_api;
pub(crate) mod listen;
pub(crate) mod page;
pub(crate) mod params;
pub(crate) mod privileges;
#[cfg(test)]
mod properties;
pub(crate) mod reply;
pub(crate) mod route;
pub(crate) mod router;
pub(crate) mod state;
pub(crate) mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use tokio::sync::watch;

use crate::config::Config;
use conn::Listener;
use state::{DaemonSockets, Front};

/// EXAMPLES of apitokend-web(8): what it does, and the command line.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "Check the [web] section and print the effective settings:",
        "apitokend-web --config /etc/apitokend/apitokend.toml --check-config",
    ),
    (
        "Start the front (systemd runs it as apitokend-web):",
        "systemctl enable --now apitokend-web",
    ),
    (
        "Re-read the certificate and key after replacing them:",
        "systemctl reload apitokend-web",
    ),
    (
        "Call WHM API 1 with a token (-k for a self-signed certificate):",
        "curl -k -H 'Authorization: whm root:TOKEN' 'https://127.0.0.1:2087/json-api/applist?api.version=1'",
    ),
];

/// The HTTPS front of apitokend: WHM API 1 with `Authorization: whm
/// user:token`, and an auth gate for nginx.
#[derive(Debug, Parser)]
#[command(name = "apitokend-web", version, about)]
pub struct WebArgs {
    /// The apitokend configuration file; the front reads its `[web]`
    /// section and the daemon's socket paths.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Validate the configuration, print the effective `[web]` settings, and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Stop when standard input closes (the playground's daemon holds it).
    #[arg(long, hide = true)]
    pub exit_with_stdin: bool,
}

pub fn command() -> clap::Command {
    WebArgs::command()
}

/// Printable ASCII for a log line or a reply: anything else (quotes,
/// backslashes, control characters) becomes `?`; longer than `max`
/// characters is cut with `...`.
pub fn printable(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().count() > max {
        out.push_str("...");
    }
    out
}

/// Sockets bound before the account switch.
struct Bound {
    https: Vec<std::net::TcpListener>,
    http: Vec<std::net::TcpListener>,
    auth: Option<std::os::unix::net::UnixListener>,
}

fn bind(config: &Config, account: Option<&privileges::Account>) -> Result<Bound, String> {
    let web = &config.web;
    let default_listen = web.listen == config::WebConfig::default().listen;
    let mut https = Vec::new();
    for addr in &web.listen {
        https.extend(listen::tcp(*addr, default_listen)?);
    }
    if !web.listen.is_empty() && https.is_empty() {
        return Err("web.listen: no HTTPS listener could be bound".to_owned());
    }
    let mut http = Vec::new();
    for addr in &web.http_listen {
        http.extend(listen::tcp(*addr, false)?);
    }
    let auth = match &web.auth_socket {
        None => None,
        Some(path) => Some(listen::auth_socket(
            path,
            web.auth_socket_group.as_deref(),
            account.map(|a| a.gid),
        )?),
    };
    Ok(Bound { https, http, auth })
}

/// Runs the front until SIGTERM or SIGINT (or, with `exit_with_stdin`,
/// until standard input closes).
pub fn start(config: Config, exit_with_stdin: bool) -> Result<(), String> {
    crate::logging::set_program("apitokend-web");
    let web = config.web.clone();
    let account = if privileges::started_as_root() {
        Some(privileges::lookup(&web.user)?)
    } else {
        None
    };
    let bound = bind(&config, account.as_ref())?;
    if let Some(account) = &account {
        if web.tls_cert.is_none() && !web.listen.is_empty() {
            privileges::prepare_dir(&web.state_dir, account)?;
        }
        privileges::become_account(account)?;
    }
    crate::logging::init(config.log, &config.syslog_socket);
    if account.is_none() {
        let me = crate::accounts::login_name(crate::accounts::Uid(nix::unistd::getuid().as_raw()));
        if me.as_deref() != Some(web.user.as_str()) {
            crate::logging::warn(&format!(
                "running as {} but web.user is “{}”: the daemon accepts relayed \
                 credentials only from web.user, so api_token_* and applist will be refused",
                me.unwrap_or_else(|| format!("uid {}", nix::unistd::getuid())),
                printable(&web.user, 64)
            ));
        }
    }
    let certs = if web.listen.is_empty() {
        None
    } else {
        Some(Arc::new(tls::Certificates::open(
            tls::Source::from_config(&web),
        )?))
    };
    let daemon = DaemonSockets {
        control: config.control_socket.clone(),
        verify: config.verify_socket.clone(),
        idle: Duration::from_secs(config.limits.idle_timeout_secs),
    };
    // One worker per two cores, and a single-threaded loop on a small
    // machine: the daemon and the clients need CPU too, and a
    // work-stealing runtime pays cross-thread wake-ups on every request
    // (measured on 2 cores, 8 gate clients: one loop 33-40k/s, two
    // workers 23-27k/s; see README, Performance).
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) / 2;
    let mut builder = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers.min(16));
        b
    };
    let runtime = builder
        .thread_name("apitokend-web")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let result = runtime.block_on(serve(bound, web, daemon, certs, exit_with_stdin));
    crate::logging::flush();
    result
}

async fn serve(
    bound: Bound,
    web: config::WebConfig,
    daemon: DaemonSockets,
    certs: Option<Arc<tls::Certificates>>,
    exit_with_stdin: bool,
) -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let front = Arc::new(Front::new(web, &daemon)?);
    let (stop_tx, stop) = watch::channel(false);
    let mut addresses = Vec::new();
    let mut tasks = Vec::new();
    let acceptor = match &certs {
        Some(c) => Some(tokio_rustls::TlsAcceptor::from(tls::server_config(
            c.clone(),
        )?)),
        None => None,
    };
    let tcp = |l: std::net::TcpListener| {
        tokio::net::TcpListener::from_std(l).map_err(|e| format!("cannot listen: {e}"))
    };
    for l in bound.https {
        let l = tcp(l)?;
        addresses.push(format!(
            "https://{}",
            l.local_addr().map_err(|e| e.to_string())?
        ));
        tasks.push(tokio::spawn(conn::accept_tcp(
            l,
            Listener::Https,
            acceptor.clone(),
            front.clone(),
            stop.clone(),
        )));
    }
    for l in bound.http {
        let l = tcp(l)?;
        addresses.push(format!(
            "http://{}",
            l.local_addr().map_err(|e| e.to_string())?
        ));
        tasks.push(tokio::spawn(conn::accept_tcp(
            l,
            Listener::Http,
            None,
            front.clone(),
            stop.clone(),
        )));
    }
    if let Some(l) = bound.auth {
        let l = tokio::net::UnixListener::from_std(l).map_err(|e| format!("cannot listen: {e}"))?;
        if let Some(p) = &front.web.auth_socket {
            addresses.push(format!("unix:{}", p.display()));
        }
        tasks.push(tokio::spawn(conn::accept_unix(
            l,
            front.clone(),
            stop.clone(),
        )));
    }
    let mut hup = signal(SignalKind::hangup()).map_err(|e| format!("signals: {e}"))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("signals: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("signals: {e}"))?;
    crate::logging::info(&format!(
        "apitokend-web listening on {} as uid {}",
        addresses.join(", "),
        nix::unistd::getuid()
    ));
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    // Without the flag the sender lives as long as this function: never closed.
    let mut _never_closed = None;
    if exit_with_stdin {
        // A plain thread: a blocking read of a pipe, once, for the life of the process.
        let _ = std::thread::Builder::new()
            .name("apitokend-web-stdin".into())
            .spawn(move || {
                use std::io::Read;
                let mut buf = [0u8; 64];
                let mut stdin = std::io::stdin();
                while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
                let _ = closed_tx.send(());
            });
    } else {
        _never_closed = Some(closed_tx);
    }
    let stdin_closed = async {
        let _ = closed_rx.await;
    };
    tokio::pin!(stdin_closed);
    loop {
        tokio::select! {
            () = &mut stdin_closed => break,
            _ = hup.recv() => {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
                match &certs {
                    Some(c) => match c.reload() {
                        Ok(()) => crate::logging::info("SIGHUP: certificate reloaded"),
                        Err(e) => crate::logging::error(&format!("SIGHUP: kept the previous certificate: {e}")),
                    },
                    None => crate::logging::info("SIGHUP: no certificate to reload"),
                }
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    crate::logging::info("apitokend-web stopping");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    // Connections finish within their graceful-shutdown bound.
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}
