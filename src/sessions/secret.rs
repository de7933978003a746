//! Random bearer secrets (session ids, CSRF tokens, log-in tickets): 256
//! bits from the OS, as 64 lowercase hex digits, and the key a table holds
//! them under.
//!
//! Tables key entries by SHA-256 of the secret, never the secret itself:
//! a map lookup compares keys in variable time, and a hash of a 256-bit
//! random value teaches a timing attacker nothing about another one.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Length of every secret in hex digits.
pub(crate) const HEX_LEN: usize = 64;

/// What a table holds a secret under.
pub(crate) type Key = [u8; 32];

/// A fresh 256-bit secret as hex.
pub(crate) fn fresh() -> Result<Zeroizing<String>, String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut bytes[..]).map_err(|e| format!("no randomness from the OS: {e}"))?;
    let mut hex = Zeroizing::new(String::with_capacity(HEX_LEN));
    for b in bytes.iter() {
        hex.push(char::from(HEX[usize::from(b >> 4)]));
        hex.push(char::from(HEX[usize::from(b & 15)]));
    }
    Ok(hex)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether `s` has the shape of a secret (anything else is never looked up).
pub(crate) fn is_shaped(s: &str) -> bool {
    s.len() == HEX_LEN && s.bytes().all(|b| HEX.contains(&b))
}

pub(crate) fn key(secret: &str) -> Key {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time equality of two secrets.
pub(crate) fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::panic, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fresh_secrets_are_shaped_and_distinct() {
        let a = fresh().unwrap();
        let b = fresh().unwrap();
        assert!(is_shaped(&a) && is_shaped(&b));
        assert_ne!(*a, *b);
        assert_ne!(key(&a), key(&b));
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        for bad in ["", "abc", &a.to_uppercase(), &format!("{}x", &a[1..])] {
            assert!(!is_shaped(bad), "{bad}");
        }
    }
}
