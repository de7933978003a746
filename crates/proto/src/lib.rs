//! Wire protocol shared by the apitokend daemon, the `apitoken` CLI and the
//! PAM module.
//!
//! Both daemon sockets speak newline-delimited JSON: one request object per
//! line, one response object per line, many requests per connection. This
//! crate owns the types of those lines ([`Request`], [`Response`],
//! [`ErrorCode`]), the line framing with its size cap ([`framing`]), and a
//! small blocking client with timeouts ([`client`]). It has no async runtime
//! and no storage dependency so the PAM module can link it cheaply.

pub mod client;
pub mod framing;
mod wire;

pub use wire::{ErrorCode, Metadata, Request, Response};

/// Default cap on one request line, in bytes (newline excluded).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;
