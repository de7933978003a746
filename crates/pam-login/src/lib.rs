//! PAM as a client: does this user name and password pass the PAM service
//! `service` (its `auth` and `account` stacks)?
//!
//! apitokend's web log-in checks a WHM user's system password here, inside
//! the root daemon, through the service `apitokend-web` (which includes the
//! system's common auth stack). Linux-PAM has no maintained Rust client
//! crate that builds without libclang, so this crate is a minimal FFI seam
//! of its own: `ffi` holds every `unsafe` line; this module is the safe
//! surface. One call is one PAM transaction (`pam_start` … `pam_end`) on
//! the calling thread; it blocks (modules sleep on failure, read files,
//! may ask a network service), so callers run it off their event loop and
//! bound how many run at once.

mod ffi;

use zeroize::Zeroizing;

/// What PAM said about a user name and password.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Both stacks succeeded for exactly this user name.
    Accepted,
    /// A module refused: a wrong password, an unknown user, an expired
    /// or locked account. The text is `pam_strerror`'s, for the log.
    Refused(String),
    /// PAM could not decide (a missing module, a broken service file, an
    /// unreachable back end). The text is for the log.
    Unavailable(String),
}

/// Longest user name or password passed on (PAM's own response limit).
pub const MAX_LEN: usize = 512;

/// Runs `pam_authenticate` and then `pam_acct_mgmt` for `user` with
/// `password` under `service`, with `rhost` (the client's address) as
/// `PAM_RHOST`. Values PAM cannot carry (a NUL byte, longer than
/// [`MAX_LEN`]) are refused without starting PAM.
pub fn authenticate(service: &str, user: &str, password: &[u8], rhost: Option<&str>) -> Outcome {
    if password.len() > MAX_LEN || password.contains(&0) {
        return Outcome::Refused("the password cannot be passed to PAM".to_owned());
    }
    if user.is_empty() || user.len() > MAX_LEN || user.contains('\0') {
        return Outcome::Refused("the user name cannot be passed to PAM".to_owned());
    }
    if service.is_empty() || service.contains(['\0', '/']) {
        return Outcome::Unavailable("the PAM service name is not valid".to_owned());
    }
    if rhost.is_some_and(|h| h.contains('\0')) {
        return Outcome::Unavailable("the client address cannot be passed to PAM".to_owned());
    }
    let mut secret = Zeroizing::new(Vec::with_capacity(password.len() + 1));
    secret.extend_from_slice(password);
    secret.push(0);
    ffi::transaction(service, user, &secret, rhost)
}
