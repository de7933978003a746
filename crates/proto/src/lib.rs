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

pub use wire::{Auth, ErrorCode, Metadata, Request, Response, TokenCredential};

/// Length of an API token: 32 characters of `0-9A-Z`.
pub const TOKEN_LEN: usize = 32;

/// Whether `s` has the shape of an API token. Anything else can never
/// verify, so clients (the PAM module) refuse it without sending it on:
/// a system password typed at a token prompt stays where it was typed.
#[must_use]
pub fn is_token_shaped(s: &str) -> bool {
    s.len() == TOKEN_LEN
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// Default cap on one request line, in bytes (newline excluded).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape() {
        assert!(is_token_shaped("0123456789ABCDEFGHIJKLMNOPQRSTUV"));
        for bad in [
            "",
            "0123456789ABCDEFGHIJKLMNOPQRSTU",
            "0123456789ABCDEFGHIJKLMNOPQRSTUVW",
            "0123456789abcdefghijklmnopqrstuv",
            "0123456789ABCDEFGHIJKLMNOPQRSTU ",
            "0123456789ABCDEFGHIJKLMNOPQRSTÜ",
        ] {
            assert!(!is_token_shaped(bad), "{bad:?}");
        }
    }
}
