//! Binding the front's sockets (before the account switch, so a port
//! below 1024 works when started as root): TCP listeners, IPv6 ones
//! IPv6-only so `0.0.0.0:2087` and `[::]:2087` can both be bound, and the
//! Unix auth socket (0660, its group).

use std::net::SocketAddr;
use std::path::Path;

use socket2::{Domain, Protocol, Socket, Type};

/// Binds `addr`. `optional`: an IPv6 wildcard on a host without IPv6 is
/// skipped (the default listens on both families).
pub fn tcp(addr: SocketAddr, optional: bool) -> Result<Option<std::net::TcpListener>, String> {
    let domain = Domain::for_address(addr);
    let socket = match Socket::new(domain, Type::STREAM, Some(Protocol::TCP)) {
        Ok(s) => s,
        Err(e) if optional && addr.is_ipv6() => {
            crate::logging::warn(&format!("not listening on {addr}: {e}"));
            return Ok(None);
        }
        Err(e) => return Err(format!("cannot listen on {addr}: {e}")),
    };
    let configure = || -> std::io::Result<()> {
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_reuse_address(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)
    };
    match configure() {
        Ok(()) => Ok(Some(socket.into())),
        Err(e) if optional && addr.is_ipv6() && e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
            crate::logging::warn(&format!("not listening on {addr}: {e}"));
            Ok(None)
        }
        Err(e) => Err(format!("cannot listen on {addr}: {e}")),
    }
}

/// Binds the auth socket at `path`, mode 0660, group `group` (by name),
/// else `fallback` (the front's account's group when started as root).
pub fn auth_socket(
    path: &Path,
    group: Option<&str>,
    fallback: Option<nix::unistd::Gid>,
) -> Result<std::os::unix::net::UnixListener, String> {
    let gid = match group {
        None => fallback,
        Some(name) => Some(
            nix::unistd::Group::from_name(name)
                .map_err(|e| format!("cannot look up group “{name}”: {e}"))?
                .ok_or_else(|| format!("web.auth_socket_group: no group named “{name}”"))?
                .gid,
        ),
    };
    crate::daemon::sockets::bind_socket(path, 0o660, gid).map_err(|e| e.0)
}
