//! The daemon's Unix sockets: bound here (mode and group from `authz`) or
//! passed by systemd.
//!
//! A client may connect the moment a socket's path exists, so a socket is
//! bound under a staging name, given its mode and group there, and renamed
//! into place; only a stale socket (nobody listening) is ever replaced.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener as StdListener;
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, umask};

use super::startup::StartError;

/// Binds a Unix socket at `path` with `mode` (and group `gid`), replacing
/// only a stale socket.
///
/// A client may connect the moment the path exists, so the socket is bound
/// under a staging name, given its mode and group there, and renamed into
/// place: nobody sees it half-configured. Called before any thread starts
/// (umask is per process).
pub(crate) fn bind_socket(
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
pub(super) struct Listening {
    pub(super) listener: StdListener,
    pub(super) path: PathBuf,
    /// Bound by us (so removed at exit), not passed by systemd.
    pub(super) owned: bool,
}

pub(super) fn open_socket(
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
