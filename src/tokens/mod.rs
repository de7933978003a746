//! Tokens and everything derived from them.
//!
//! A token is 32 characters of `0-9A-Z` from the OS CSPRNG. We never store
//! it: `digest = SHA-512(token)` (what cPanel stores, so its tokens import),
//! `index = HMAC-SHA256(pepper, digest)` (the O(1) lookup key: a wrong token
//! costs one hash and one B-tree miss, never Argon2), and
//! `verifier = Argon2id(digest)` (the real check; a token imported from
//! cPanel starts with a keyed interim verifier, see [`Scheme`]). Secrets live in
//! zeroizing buffers and have redacted `Debug` output.

use std::fmt;

use sha2::Digest as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub use apitokend_proto::TOKEN_LEN;

const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A plaintext token.
pub struct Token(Zeroizing<String>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A fresh token; rejection sampling keeps every character equally likely.
    pub fn generate() -> Result<Token, String> {
        let mut out = Zeroizing::new(String::with_capacity(TOKEN_LEN));
        let mut pool = Zeroizing::new([0u8; 64]);
        while out.len() < TOKEN_LEN {
            getrandom::fill(&mut pool[..])
                .map_err(|e| format!("the system random generator failed: {e}"))?;
            // 252 = 7 * 36: bytes at or above it would bias the low digits.
            for &b in pool.iter().filter(|&&b| b < 252) {
                if out.len() == TOKEN_LEN {
                    break;
                }
                out.push(char::from(ALPHABET[usize::from(b % 36)]));
            }
        }
        Ok(Token(out))
    }

    /// Wraps a token received from a client.
    pub fn from_secret(secret: Zeroizing<String>) -> Token {
        Token(secret)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> Digest {
        Digest::of(&self.0)
    }
}

impl Digest {
    /// SHA-512 of `secret`, a token borrowed from where it arrived.
    pub fn of(secret: &str) -> Digest {
        let mut d = [0u8; 64];
        d.copy_from_slice(&sha2::Sha512::digest(secret.as_bytes()));
        Digest(Zeroizing::new(d))
    }
}

/// SHA-512 of a token.
pub struct Digest(Zeroizing<[u8; 64]>);

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Digest(<redacted>)")
    }
}

impl Digest {
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// A digest as cPanel's store writes it: 128 hex digits (either case).
    pub fn from_hex(hex: &str) -> Option<Digest> {
        let hex = hex.as_bytes();
        if hex.len() != 128 {
            return None;
        }
        let nibble = |c: u8| {
            char::from(c)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        };
        let mut d = Zeroizing::new([0u8; 64]);
        for (byte, pair) in d.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Digest(d))
    }

    /// The lowercase hex form (what `from_hex` reads), in a zeroizing buffer.
    pub fn to_hex(&self) -> Zeroizing<String> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = Zeroizing::new(String::with_capacity(128));
        for b in self.0.iter() {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        out
    }
}

/// Marks a verifier written by an import: HMAC-SHA256 of the digest under a
/// key derived from the pepper, to be replaced by Argon2id at first use.
pub const INTERIM_PREFIX: &str = "$apitokend-import-hmac-sha256$v=1$";

/// Which check a stored verifier calls for.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// An Argon2 PHC string: the real check (tens of milliseconds).
    Argon2,
    /// An imported token's keyed hash: microseconds; upgrade at first use.
    Interim,
}

pub fn scheme(verifier: &str) -> Scheme {
    if verifier.starts_with(INTERIM_PREFIX) {
        Scheme::Interim
    } else {
        Scheme::Argon2
    }
}

/// The LMDB key of a token record.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Index(pub [u8; 32]);

/// An index is an HMAC output under the secret pepper: uniform, and no
/// caller can choose it, so its first eight bytes are its hash; a keyed
/// hash (SipHash, against flooding) would only cost the verify path time.
impl std::hash::Hash for Index {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(head));
    }
}

/// Hasher of [`Index`] keys: the value [`Index`] feeds it, as is.
#[derive(Debug, Default, Clone, Copy)]
pub struct IndexHasher(u64);

impl std::hash::Hasher for IndexHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for other key types; stay correct for them.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

/// A map keyed by token index.
pub type IndexMap<V> =
    std::collections::HashMap<Index, V, std::hash::BuildHasherDefault<IndexHasher>>;

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Index(..)")
    }
}

impl ConstantTimeEq for Index {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

mod hasher;
mod pepper;
#[cfg(test)]
mod tests;

pub use hasher::Hasher;
pub(crate) use hasher::POOL_MAX;
pub use pepper::Pepper;
