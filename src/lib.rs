//! apitokend: a WHM-compatible API token daemon for hosting servers.
//!
//! A map of the two request paths, naming each module they pass through:
//!
//! ```text
//! control request (control socket, mode 0666: anyone connects, authz decides)
//!   daemon::server      accept, connection limit, shutdown drain
//!   daemon::connection  one NDJSON line ≤ max_request_bytes, idle timeout
//!   control             (blocking pool) decode ─► control::command::Command
//!     authz             SO_PEERCRED uid ─► root / reseller / other; one match
//!     control::{create, list, update, revoke, details, account_events,
//!               lockout_admin, import}   one file per command family, using
//!               control::params (WHM `-N` parameters), control::validate
//!     store             LMDB, one synchronous write transaction per change
//!     audit             audit line, cPanel accounting log
//!   ─► proto::Response, one line back
//!
//! verify (verify socket, mode 0660 root:verify group: the kernel decides)
//!   daemon::server, daemon::connection   as above, on the verify loops
//!   verify              decode, verify::request (arguments)
//!     verify::lockout   refuse a locked-out address first
//!     accounts          the owner now: suspended? what it holds
//!     tokens            SHA-512 + HMAC index ─► store index lookup
//!     verify::cache     hit when the record generation matches, else
//!                       store record + Argon2 (blocking pool, bounded);
//!                       an imported token's interim verifier instead,
//!                       and verify::upgrade queues its Argon2id
//!     acl, iplist       expiry, address list, function table
//!     verify::usage     last use in memory (written in batches)
//!   ─► proto::Response
//! ```
//!
//! Shared by both: `state` (the state both paths hold: store, pepper,
//! hasher, accounts, lockout, usage, clock, tables), `decode` (one request
//! decoder), `config`, `clock`, `logging`, `text`. Around them: `daemon`
//! (start-up, sockets, privileges, systemd, reload) and `cli` (the
//! `apitoken` client, which only speaks the sockets).

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
pub(crate) mod text;
pub mod tokens;
pub(crate) mod verify;
pub mod web;
