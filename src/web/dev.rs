//! The playground's front: `apitokend --dev-dir DIR` also runs
//! apitokend-web (the binary next to apitokend) on https://127.0.0.1:2087
//! with a self-signed certificate in `DIR/web`, as a child process that
//! stops with the daemon. A non-root playground's front runs as the
//! invoking user; a root one switches to `nobody` (and the verify socket
//! gets nobody's group so the front can reach it).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::config::Config;

/// Where the playground's front listens: 127.0.0.1:2087, or
/// `APITOKEND_DEV_WEB_LISTEN` (tests use `127.0.0.1:0`, never 2087). Port 0
/// is resolved here to a free port, so the daemon's log-in links
/// (`apitoken web-login`) name the port the front really binds.
pub(crate) fn listen() -> SocketAddr {
    let addr = std::env::var("APITOKEND_DEV_WEB_LISTEN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 2087)));
    if addr.port() != 0 {
        return addr;
    }
    std::net::TcpListener::bind(addr)
        .and_then(|l| l.local_addr())
        .unwrap_or(addr)
}

/// The front's account and the verify socket's group for a playground.
pub(crate) fn account() -> (String, Option<String>) {
    let uid = nix::unistd::getuid();
    if !uid.is_root()
        && let Some(name) = crate::accounts::login_name(crate::accounts::Uid(uid.as_raw()))
    {
        return (name, None);
    }
    let group = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .and_then(|u| nix::unistd::Group::from_gid(u.gid).ok().flatten())
        .map(|g| g.name);
    ("nobody".to_owned(), group)
}

/// The running front. It stops when its standard input closes: on drop,
/// or when the daemon dies (a daemon without capabilities may not signal
/// a front that switched accounts).
#[derive(Debug)]
pub struct DevFront {
    child: Child,
}

impl Drop for DevFront {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        eprintln!("apitokend: the playground's front did not stop within 5 s");
    }
}

/// Writes the playground's configuration to `DIR/apitokend.toml` (the
/// front reads the same file) and starts the front; `None`, with a line on
/// stderr, when it cannot.
pub fn start(config: &Config, dir: &Path) -> Option<DevFront> {
    let exe = std::env::current_exe()
        .ok()?
        .with_file_name("apitokend-web");
    if !exe.exists() {
        eprintln!(
            "apitokend: {} not found: the playground runs without its HTTPS front \
             (`cargo build --release` builds both binaries)",
            exe.display()
        );
        return None;
    }
    let path = dir.join("apitokend.toml");
    if let Err(e) = std::fs::write(&path, config.to_toml()) {
        eprintln!("apitokend: cannot write {}: {e}", path.display());
        return None;
    }
    match Command::new(&exe)
        .arg("--config")
        .arg(&path)
        .arg("--exit-with-stdin")
        .stdin(Stdio::piped())
        .spawn()
    {
        Ok(child) => {
            eprintln!(
                "apitokend: playground front starting (certificate in {})",
                config.web.state_dir.display()
            );
            Some(DevFront { child })
        }
        Err(e) => {
            eprintln!("apitokend: cannot start {}: {e}", exe.display());
            None
        }
    }
}
