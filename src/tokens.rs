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
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use std::sync::Mutex;

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use hmac::{KeyInit, Mac};
use sha2::Digest as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::config::Argon2Config;

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

/// Argon2id hashing of digests with the configured parameters.
///
/// Argon2's working memory (19 MiB at the defaults) is taken from a small
/// pool of reused buffers instead of being allocated per call: the system
/// allocator keeps such blocks in per-thread arenas, so fresh allocations
/// on many blocking-pool threads grew the daemon by tens of MiB each. A
/// buffer is zeroed before it goes back to the pool.
#[derive(Debug)]
pub struct Hasher {
    params: argon2::Params,
    pool: Mutex<Vec<Vec<argon2::Block>>>,
}

/// Buffers kept for reuse (one per concurrent Argon2 computation; the
/// daemon runs at most this many at once, see `state::argon2_concurrency`).
pub(crate) const POOL_MAX: usize = 4;
const SALT_LEN: usize = 16;

impl Hasher {
    pub fn new(cfg: &Argon2Config) -> Result<Hasher, String> {
        let params = argon2::Params::new(cfg.m_cost, cfg.t_cost, cfg.p_cost, None)
            .map_err(|e| format!("invalid argon2 parameters: {e}"))?;
        Ok(Hasher {
            params,
            pool: Mutex::new(Vec::new()),
        })
    }

    /// Runs `f` with `count` zeroed blocks from the pool.
    fn with_memory<R>(&self, count: usize, f: impl FnOnce(&mut [argon2::Block]) -> R) -> R {
        let mut buf = self
            .pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        if buf.len() < count {
            buf.resize(count, argon2::Block::new());
        }
        let out = f(&mut buf[..count]);
        buf.fill(argon2::Block::new());
        // Keep only buffers of the configured size; an imported verifier
        // with bigger parameters does not pin its memory.
        if buf.len() <= self.params.block_count() {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL_MAX {
                pool.push(buf);
            }
        }
        out
    }

    /// A PHC string for `digest` with a fresh random salt.
    pub fn hash(&self, digest: &Digest) -> Result<String, String> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt)
            .map_err(|e| format!("the system random generator failed: {e}"))?;
        let mut out = Zeroizing::new([0u8; argon2::Params::DEFAULT_OUTPUT_LEN]);
        let argon = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            self.params.clone(),
        );
        self.with_memory(self.params.block_count(), |blocks| {
            argon.hash_password_into_with_memory(digest.as_bytes(), &salt, &mut out[..], blocks)
        })
        .map_err(|e| format!("argon2 failed: {e}"))?;
        let phc = PasswordHash {
            algorithm: argon2::Algorithm::Argon2id.ident(),
            version: Some(argon2::Version::V0x13.into()),
            params: (&self.params)
                .try_into()
                .map_err(|e| format!("argon2 parameters: {e}"))?,
            salt: Some(Salt::new(&salt).map_err(|e| format!("salt: {e}"))?),
            hash: Some(Output::new(&out[..]).map_err(|e| format!("output: {e}"))?),
        };
        Ok(phc.to_string())
    }

    /// Checks `digest` against a stored PHC string, with the parameters it
    /// carries; the output comparison is constant-time.
    #[must_use]
    pub fn verify(&self, digest: &Digest, phc: &str) -> bool {
        self.try_verify(digest, phc).unwrap_or(false)
    }

    fn try_verify(&self, digest: &Digest, phc: &str) -> Option<bool> {
        let parsed = PasswordHash::new(phc).ok()?;
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm.as_str()).ok()?;
        let version = match parsed.version {
            Some(v) => argon2::Version::try_from(v).ok()?,
            None => argon2::Version::V0x10,
        };
        let params = argon2::Params::try_from(&parsed).ok()?;
        let salt = parsed.salt.as_ref()?;
        let expected = parsed.hash.as_ref()?.as_bytes();
        let mut out = Zeroizing::new(vec![0u8; expected.len()]);
        let count = params.block_count();
        let argon = argon2::Argon2::new(algorithm, version, params);
        self.with_memory(count, |blocks| {
            argon.hash_password_into_with_memory(
                digest.as_bytes(),
                salt.as_ref(),
                &mut out[..],
                blocks,
            )
        })
        .ok()?;
        Some(out.ct_eq(expected).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_use_the_alphabet_and_differ() {
        let a = Token::generate().unwrap();
        let b = Token::generate().unwrap();
        assert_eq!(a.expose().len(), TOKEN_LEN);
        assert!(a.expose().bytes().all(|c| ALPHABET.contains(&c)));
        // The PAM module refuses anything else without asking the daemon.
        assert!(apitokend_proto::is_token_shaped(a.expose()));
        assert_ne!(a.expose(), b.expose());
        assert_eq!(format!("{a:?}"), "Token(<redacted>)");
    }

    #[test]
    fn character_distribution_is_roughly_flat() {
        let mut counts = [0u32; 36];
        for _ in 0..2000 {
            for c in Token::generate().unwrap().expose().bytes() {
                let i = ALPHABET.iter().position(|&a| a == c).unwrap();
                counts[i] += 1;
            }
        }
        // 64000 draws, 1777.8 expected per symbol; a biased "b % 36" over
        // 0..256 would give the first four symbols ~14% more.
        for n in counts {
            assert!((1550..=2010).contains(&n), "{counts:?}");
        }
    }

    #[test]
    fn digest_is_cpanel_sha512() {
        let t = Token::from_secret(Zeroizing::new("UWU28DCA23NKY76CN17MDPKM3O7EFQY8".into()));
        let hex: String = t
            .digest()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let expect: String = sha2::Sha512::digest(b"UWU28DCA23NKY76CN17MDPKM3O7EFQY8")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, expect);
    }

    #[test]
    fn index_depends_on_pepper_and_argon2_round_trips() {
        let t = Token::generate().unwrap();
        let p1 = Pepper::from_bytes([1; 32]);
        let p2 = Pepper::from_bytes([2; 32]);
        assert!(p1.index(&t.digest()) != p2.index(&t.digest()));
        assert!(p1.index(&t.digest()) == p1.index(&t.digest()));
        let h = Hasher::new(&Argon2Config {
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
        })
        .unwrap();
        let phc = h.hash(&t.digest()).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(h.verify(&t.digest(), &phc));
        assert!(!h.verify(&Token::generate().unwrap().digest(), &phc));
        assert!(!h.verify(&t.digest(), "not a phc string"));
        // The crate's own verifier agrees (standard PHC output).
        use argon2::password_hash::PasswordVerifier;
        assert!(
            argon2::Argon2::default()
                .verify_password(t.digest().as_bytes(), phc.as_str())
                .is_ok()
        );
        // A verifier made by the crate with other parameters verifies here.
        use argon2::password_hash::PasswordHasher;
        let other = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(128, 2, 1, None).unwrap(),
        )
        .hash_password(t.digest().as_bytes())
        .unwrap()
        .to_string();
        assert!(h.verify(&t.digest(), &other));
        assert!(!h.verify(&Token::generate().unwrap().digest(), &other));
    }

    #[test]
    fn digest_hex_round_trips_and_rejects_bad_text() {
        let t = Token::generate().unwrap();
        let hex = t.digest().to_hex();
        assert_eq!(hex.len(), 128);
        let back = Digest::from_hex(&hex).unwrap();
        assert_eq!(back.as_bytes(), t.digest().as_bytes());
        let upper = Digest::from_hex(&hex.to_uppercase()).unwrap();
        assert_eq!(upper.as_bytes(), t.digest().as_bytes());
        for bad in [
            &hex[..126],
            &format!("{}zz", &hex[..126]),
            "",
            &format!("{}0", &*hex),
        ] {
            assert!(Digest::from_hex(bad).is_none(), "{bad:?}");
        }
        assert!(Digest::from_hex(&format!("é{}", &hex[2..])).is_none());
    }

    #[test]
    fn interim_verifier_is_keyed_and_checked() {
        let t = Token::generate().unwrap();
        let p1 = Pepper::from_bytes([1; 32]);
        let p2 = Pepper::from_bytes([2; 32]);
        let v = p1.interim_verifier(&t.digest());
        assert_eq!(scheme(&v), Scheme::Interim);
        assert!(p1.check_interim(&t.digest(), &v));
        assert!(!p2.check_interim(&t.digest(), &v));
        assert!(!p1.check_interim(&Token::generate().unwrap().digest(), &v));
        assert!(!p1.check_interim(&t.digest(), &v[..v.len() - 1]));
        // Neither the index nor the digest appears in it.
        let index_hex: String = p1
            .index(&t.digest())
            .0
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!v.contains(&index_hex));
        assert!(!v.contains(&t.digest().to_hex()[..64]));
        // An interim verifier never passes the Argon2 check, nor the reverse.
        let h = Hasher::new(&Argon2Config {
            m_cost: 64,
            t_cost: 1,
            p_cost: 1,
        })
        .unwrap();
        assert!(!h.verify(&t.digest(), &v));
        let phc = h.hash(&t.digest()).unwrap();
        assert_eq!(scheme(&phc), Scheme::Argon2);
        assert!(!p1.check_interim(&t.digest(), &phc));
    }

    #[test]
    fn pepper_file_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pepper");
        assert!(Pepper::load_or_create(&p, false).is_err());
        let a = Pepper::load_or_create(&p, true).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let b = Pepper::load_or_create(&p, false).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            Pepper::load_or_create(&p, false)
                .unwrap_err()
                .contains("0600")
        );
    }
}
