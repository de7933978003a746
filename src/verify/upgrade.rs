//! Replacing an imported token's interim verifier by Argon2id at first use.
//!
//! A token imported from cPanel is stored with a keyed interim verifier
//! (`tokens::Scheme::Interim`). The first request that proves the token
//! (its digest matches) is the first moment the daemon can compute
//! Argon2id(digest) again, since nothing stored lets it recover the digest.
//! The verify answers at once; the upgrade (one Argon2id hash, one write
//! transaction) is queued: a task waits for a turn under the daemon-wide
//! Argon2 limit (`State`, the one every Argon2 caller takes), so cached
//! verifies keep their core and Argon2's memory stays bounded,
//! then runs both on the blocking pool. Nothing of it runs on an event
//! loop, and the write transaction begins and commits inside one
//! synchronous call. A token proven again before its upgrade ran is queued
//! once (a bounded pending set); an upgrade lost to a stop or a full queue
//! is simply tried again at the next use.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::cache::VerifiedCache;
use crate::logging;
use crate::state::State;
use crate::store::Replaced;
use crate::tokens::{Digest, Index};

/// Upgrades queued and not yet done, at most.
const MAX_PENDING: usize = 4096;

/// What an upgrade did.
#[must_use]
#[derive(Debug)]
pub(crate) enum Upgraded {
    /// Stored; this is the new verifier.
    Done(String),
    /// The record changed meanwhile (revoked, renamed, already upgraded).
    Gone,
    /// Argon2 or the store failed (logged); the next use tries again.
    Failed,
}

/// Hashes `digest` with Argon2id and stores it in place of `interim` for
/// `owner`'s token `name`. Synchronous: blocking pool or control path.
pub(crate) fn upgrade_now(
    state: &State,
    owner: &str,
    name: &str,
    index: &Index,
    interim: &str,
    digest: &Digest,
) -> Upgraded {
    let phc = match state.hasher.hash(digest) {
        Ok(p) => p,
        Err(e) => {
            logging::error(&format!("cannot upgrade an imported token: {e}"));
            return Upgraded::Failed;
        }
    };
    match state
        .store
        .replace_verifier(owner, name, index, interim, &phc)
    {
        Ok(Replaced::Yes) => {
            logging::info(&format!(
                "the imported token “{name}” of “{owner}” now has its Argon2id verifier"
            ));
            Upgraded::Done(phc)
        }
        Ok(Replaced::No) => Upgraded::Gone,
        Err(e) => {
            logging::error(&format!("cannot upgrade an imported token: {e}"));
            Upgraded::Failed
        }
    }
}

/// One upgrade to run: the token as the verify found it.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) owner: String,
    pub(crate) name: String,
    pub(crate) index: Index,
    pub(crate) generation: u64,
    pub(crate) interim: String,
    pub(crate) digest: Digest,
}

/// The upgrades queued by verifies.
#[derive(Debug, Default)]
pub(crate) struct Upgrades {
    pending: Mutex<HashSet<Index>>,
}

impl Upgrades {
    /// Queues `job` unless the same token is already queued or the queue
    /// is full. Must be called inside a tokio runtime.
    pub(crate) fn queue(self: &Arc<Self>, state: Arc<State>, job: Job) {
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.len() >= MAX_PENDING || !pending.insert(job.index) {
                return;
            }
        }
        let upgrades = Arc::clone(self);
        tokio::spawn(async move {
            let index = job.index;
            if let Some(_turn) = state.argon2_turn().await {
                let generation = job.generation;
                let interim = job.interim.clone();
                let worker = Arc::clone(&state);
                let done = tokio::task::spawn_blocking(move || {
                    upgrade_now(
                        &worker,
                        &job.owner,
                        &job.name,
                        &job.index,
                        &job.interim,
                        &job.digest,
                    )
                })
                .await;
                if let Ok(Upgraded::Done(phc)) = done {
                    refresh(&state.verified, &index, generation, &interim, phc);
                }
            }
            upgrades
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&index);
        });
    }
}

/// The cached entry remembers the verifier it was checked against: give it
/// the new one, so a later change of the record (which makes the verify
/// re-read it) does not cost an Argon2 check of what was just hashed.
fn refresh(cache: &VerifiedCache, index: &Index, generation: u64, interim: &str, phc: String) {
    let Some(s) = cache.get(index) else {
        return;
    };
    if s.generation != generation || s.verifier != interim {
        return;
    }
    cache.insert(*index, Arc::new(s.with_verifier(phc)));
}
