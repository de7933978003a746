//! The pepper: the server-wide HMAC key that makes an index, an interim
//! verifier and the store's fingerprint; a copy of the store is useless
//! without it.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use hmac::{KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Digest, INTERIM_PREFIX, Index};

/// The server-wide HMAC key: a token's index cannot be computed without it.
/// Only the HMAC state keyed with it is kept (zeroized on drop): every
/// verify computes an index, and keying costs two of its four compression
/// rounds.
pub struct Pepper {
    keyed: hmac::Hmac<sha2::Sha256>,
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(<redacted>)")
    }
}

impl Pepper {
    fn new(key: Zeroizing<[u8; 32]>) -> Pepper {
        let keyed = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key[..])
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        Pepper { keyed }
    }

    /// Reads the pepper file, or creates it (0600) when absent and
    /// `may_create` is true (a store with tokens must never get a new one).
    pub fn load_or_create(path: &Path, may_create: bool) -> Result<Pepper, String> {
        match std::fs::File::open(path) {
            Ok(mut f) => {
                let mode = f
                    .metadata()
                    .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(format!(
                        "{} is accessible by group or others (mode {:o}); it must be 0600",
                        path.display(),
                        mode & 0o777
                    ));
                }
                let mut buf = Zeroizing::new(Vec::new());
                f.read_to_end(&mut buf)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let bytes: [u8; 32] = buf
                    .as_slice()
                    .try_into()
                    .map_err(|_| format!("{} must hold exactly 32 bytes", path.display()))?;
                Ok(Pepper::new(Zeroizing::new(bytes)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && may_create => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                getrandom::fill(&mut bytes[..])
                    .map_err(|e| format!("the system random generator failed: {e}"))?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                f.write_all(&bytes[..])
                    .and_then(|()| f.sync_all())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                if let Some(dir) = path.parent() {
                    std::fs::File::open(dir)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
                }
                Ok(Pepper::new(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "{} is missing but the token store holds tokens, so no new one is made \
                 (it would invalidate every token): restore it from the backup taken with \
                 the store. Without that backup the tokens cannot be recovered: move the \
                 state directory aside and start apitokend again to begin with an empty \
                 store, then create the tokens anew",
                path.display()
            )),
            Err(e) => Err(format!("cannot open {}: {e}", path.display())),
        }
    }

    #[cfg(test)]
    pub fn from_bytes(bytes: [u8; 32]) -> Pepper {
        Pepper::new(Zeroizing::new(bytes))
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        mac.update(data);
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    pub fn index(&self, digest: &Digest) -> Index {
        Index(self.mac(digest.as_bytes()))
    }

    /// The interim verifier of an imported token. Its key is derived from
    /// the pepper but differs from the index key, so the two values stored
    /// for a token are unrelated; without the pepper neither says anything
    /// about the digest, which is more than cPanel's store (the bare digest)
    /// gives an attacker who copies it.
    pub fn interim_verifier(&self, digest: &Digest) -> String {
        let key = Zeroizing::new(self.mac(b"apitokend interim verifier key v1"));
        let mut out = String::with_capacity(INTERIM_PREFIX.len() + 64);
        out.push_str(INTERIM_PREFIX);
        for b in hmac_sha256(&key[..], digest.as_bytes()) {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Checks `digest` against an interim verifier, in constant time.
    #[must_use]
    pub fn check_interim(&self, digest: &Digest, verifier: &str) -> bool {
        let expected = self.interim_verifier(digest);
        expected.len() == verifier.len()
            && bool::from(expected.as_bytes().ct_eq(verifier.as_bytes()))
    }

    /// A value stored beside the tokens so a wrong pepper file is detected
    /// at start instead of silently failing every verify.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.mac(b"apitokend pepper fingerprint v1")
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}
