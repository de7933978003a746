//! Argon2id over token digests: the verifier a first use checks.

use std::sync::Mutex;

use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::Digest;
use crate::config::Argon2Config;

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
