//! apitokend: a WHM-compatible API token daemon for hosting servers.
//!
//! A map of the two request paths, naming each module they pass through:
//!
//! ```text
//! control request (control socket, mode 0666: anyone connects, authz decides)
//!   daemon::server      accept, shutdown drain; daemon::slots: root's own
//!                       slots, per-uid limit; a peer that may do nothing
//!                       gets one request
//!   daemon::connection  one NDJSON line ≤ max_request_bytes, whole-line
//!                       deadline
//!   control             decode ─► control::command::Command; an Argon2
//!                       command waits for a turn (state), then runs on
//!                       the blocking pool
//!     authz             SO_PEERCRED uid ─► root / reseller / other; one match
//!     control::{create, list, update, revoke, details, account_events,
//!               lockout_admin, import}   one file per command family, using
//!               control::params (WHM `-N` parameters), control::validate
//!     store             LMDB, one synchronous write transaction per change
//!     audit             audit line, cPanel accounting log
//!   ─► reply (a Response, or its data pre-rendered), one line back
//!
//! verify (verify socket, mode 0660 root:verify group: the kernel decides)
//!   daemon::threaded    acceptor, slots, a thread per busy connection;
//!                       daemon::parked serves quiet ones (one epoll loop);
//!                       daemon::verify_conn the framing both share
//!   verify::fast        the line read in place (common shape only), else
//!                       decode, verify::request on the daemon's runtime
//!     verify::lockout   refuse a locked-out caller first (an IPv4
//!                       address, or an IPv6 /64)
//!     accounts          the owner now: suspended? what it holds (a view
//!                       re-read once per change of the watched files)
//!     tokens            SHA-512 + HMAC index (pre-keyed)
//!     verify::cache     hit confirmed at the store's commit count, else
//!                       one store index lookup; a miss: store record +
//!                       Argon2 (blocking pool, under the daemon-wide
//!                       Argon2 limit in state); an imported token's
//!                       interim verifier instead, and verify::upgrade
//!                       queues its Argon2id
//!     acl, iplist       expiry, address list, function table
//!     verify::usage     last use in memory (written in batches)
//!   ─► reply bytes written by verify::fast (or a proto::Response)
//!
//! HTTPS request (apitokend-web, unprivileged; a separate process)
//!   web                 TLS, HTTP caps and timeouts, cpsrvd's `whm`
//!                       credentials, /json-api, the nginx gate, the page
//!   ─► control socket, request with `auth` (token or session + client ip)
//!   control             authz::may_relay: only the front's uid; the token
//!                       checked like a verify, or sessions::relay checks
//!                       the session and CSRF; then the command runs as
//!                       that user, exactly as on the control socket
//!   sessions            PAM log-in (crates/pam-login), tickets, the
//!                       session table, all in the daemon's memory
//! ```
//!
//! Shared by both: `state` (the state both paths hold: store, pepper,
//! hasher, the Argon2 limit, accounts, lockout, usage, clock, tables),
//! `decode` (one request decoder), `reply`, `config`, `clock`, `logging`,
//! `text`. Around them: `daemon` (start-up, sockets, privileges, systemd,
//! reload) and `cli` (the `apitoken` client, which only speaks the
//! sockets).

pub(crate) mod accounts;
pub mod acl;
pub(crate) mod audit;
pub mod authz;
pub mod cli;
pub mod clock;
pub mod config;
pub mod control;
pub mod daemon;
pub(crate) mod decode;
pub mod iplist;
pub mod logging;
pub(crate) mod reply;
pub(crate) mod sessions;
pub mod state;
pub mod store;
#[cfg(test)]
mod test_alloc;
pub(crate) mod text;
pub mod tokens;
pub(crate) mod verify;
pub mod web;
