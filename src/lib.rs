//! apitokend: a WHM-compatible API token daemon for hosting servers.
//!
//! Data flow of one control request:
//!
//! ```text
//! socket ─► server (accept, connection limit, shutdown)
//!        ─► connection (one NDJSON line ≤ max_request_bytes, idle timeout)
//!        ─► service::handle_line: decode proto::Request ─► command::Command
//!        ─► authz::identify (SO_PEERCRED uid ─► root / reseller / other)
//!        ─► authz::authorize (one match, no catch-all) ─► service::dispatch
//!        ─► store (LMDB, one synchronous write txn per change) ─► proto::Response
//! ```
//!
//! Supporting modules: `config` (TOML), `accounts` (cPanel account files),
//! `acl` (privilege names and holdings), `args` (WHM `-N` parameters),
//! `iplist` (IP list normal form and matching), `tokens` (generation,
//! SHA-512 digest, HMAC index, Argon2id verifier), `clock` (injected time),
//! `logging`, `daemon` (start-up order), and `cli` (the `apitoken` client).

pub mod accounts;
pub mod acl;
pub mod args;
pub mod audit;
pub mod authz;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod command;
pub mod config;
pub mod connection;
pub mod daemon;
pub mod daemon_args;
pub mod iplist;
pub mod lockout;
pub mod logging;
pub mod server;
pub mod service;
pub mod store;
pub mod systemd;
pub mod tokens;
pub mod usage;
pub mod validate;
pub mod verify;
