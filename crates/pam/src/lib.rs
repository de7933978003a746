//! `pam_apitoken.so`: a PAM module that accepts a WHM user name plus one of
//! its apitokend API tokens as the password.
//!
//! Any PAM-aware local service (FTP, mail, a panel service) can then log a
//! user in with a token: the module asks the daemon's verify socket
//! `verify(user, token, ip, function)` with PAM_USER, PAM_AUTHTOK (prompted
//! through the conversation when unset), PAM_RHOST and the `function=`
//! module argument, and returns PAM_SUCCESS only when the daemon accepts.
//!
//! Layout: [`args`] parses module arguments, [`auth`] holds every decision in
//! safe code behind the [`auth::Handle`] and [`auth::Verifier`] traits, and
//! the private `ffi` module is the thin unsafe layer (entry points behind
//! `catch_unwind`, items, conversation, `pam_syslog`). It links the blocking
//! client of `apitokend-proto` and nothing heavy (no async runtime, no
//! storage). See README.md for installation and stacking.

pub mod args;
pub mod auth;
pub mod code;
mod ffi;
#[cfg(test)]
mod tests;

pub use ffi::{pam_sm_acct_mgmt, pam_sm_authenticate, pam_sm_setcred};
