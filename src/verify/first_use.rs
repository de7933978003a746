//! A token this process has not checked yet: its record read, then its
//! Argon2id verifier checked on the blocking pool under the daemon-wide
//! Argon2 limit, or an imported token's interim verifier checked at once
//! and its Argon2id verifier queued (`upgrade`). The result is cached, so
//! the next verify of the token takes the fast path.

use std::sync::Arc;

use super::cache::Snapshot;
use super::upgrade::Job;
use super::{Grant, Pending, Refusal, Verifier, internal, no_such_token};
use crate::logging;
use crate::store::TokenRecord;
use crate::tokens::{self, Digest, Index, Scheme};

impl Verifier {
    /// Reads the record and, unless this process already checked this
    /// token against the same verifier, runs Argon2 on the blocking pool.
    pub(super) async fn load(&self, pending: Pending) -> Result<Grant, Refusal> {
        let svc = &self.state;
        let Pending {
            account,
            index,
            stale,
            digest,
            commits,
        } = pending;
        let entry = svc
            .store
            .lookup_index(&index)
            .map_err(|e| internal(&e.to_string()))?
            .ok_or_else(no_such_token)?;
        let record = svc
            .store
            .record_by_key(&entry.key)
            .map_err(|e| internal(&e.to_string()))?
            .filter(|r| r.owner == account.name)
            .ok_or_else(no_such_token)?;
        let fresh = Arc::new(Snapshot::of(&record, commits));
        if stale.is_some_and(|s| s.verifier == record.verifier) {
            svc.verified.insert(index, Arc::clone(&fresh));
            return Ok(Grant::new(account, fresh, index));
        }
        if tokens::scheme(&record.verifier) == Scheme::Interim {
            let snapshot = self.load_imported(index, record, fresh, digest)?;
            return Ok(Grant::new(account, snapshot, index));
        }
        // A turn under the daemon-wide limit (control requests share it).
        let _turn = svc
            .argon2_turn()
            .await
            .ok_or_else(|| internal("the Argon2 limiter is closed"))?;
        // Another request may have verified this token while we waited.
        if let Some(s) = svc.verified.get(&index)
            && s.verifier == record.verifier
            && s.generation == record.generation
        {
            return Ok(Grant::new(account, s, index));
        }
        let state = Arc::clone(svc);
        let verifier = record.verifier.clone();
        let ok = tokio::task::spawn_blocking(move || state.hasher.verify(&digest, &verifier))
            .await
            .map_err(|e| internal(&format!("argon2 task failed: {e}")))?;
        if !ok {
            logging::warn(&format!(
                "token index matched but Argon2 verification failed for {}:{}",
                record.owner, record.name
            ));
            return Err(no_such_token());
        }
        svc.verified.insert(index, Arc::clone(&fresh));
        Ok(Grant::new(account, fresh, index))
    }

    /// An imported token still on its interim verifier: a keyed hash,
    /// checked here in microseconds; once proven, its Argon2id verifier is
    /// queued (see `upgrade`) and the verify goes on without waiting.
    fn load_imported(
        &self,
        index: Index,
        record: TokenRecord,
        fresh: Arc<Snapshot>,
        digest: Digest,
    ) -> Result<Arc<Snapshot>, Refusal> {
        if !self.state.pepper.check_interim(&digest, &record.verifier) {
            logging::warn(&format!(
                "token index matched but the interim verifier did not for {}:{}",
                record.owner, record.name
            ));
            return Err(no_such_token());
        }
        self.state.verified.insert(index, Arc::clone(&fresh));
        self.upgrades.queue(
            Arc::clone(&self.state),
            Job {
                owner: record.owner,
                name: record.name,
                index,
                generation: record.generation,
                interim: record.verifier,
                digest,
            },
        );
        Ok(fresh)
    }
}
