//! Every change to the store. Each method begins and commits one write
//! transaction inside itself, on the calling thread, so none can be held
//! across an `.await`; callers run them on the blocking pool. LMDB's
//! default (synchronous) commit makes each change durable before the
//! method returns.

use std::sync::atomic::Ordering;

use heed::RwTxn;

use super::record::{decode, encode, encode_usage, index_value, record_key};
use super::{Result, Store, StoreError, TokenRecord, Usage};
use crate::tokens::Index;

/// What an update did, or why nothing was written.
#[derive(Debug)]
pub enum UpdateOutcome {
    Updated(TokenRecord),
    NotFound,
    NameExists,
}

#[derive(Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted(u64),
    NameExists,
    /// The owner already holds this many tokens (the cap).
    OwnerFull(usize),
}

/// A batch went in whole, or not at all because of this name.
#[derive(Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    Inserted {
        count: usize,
        last_generation: u64,
    },
    NameExists(String),
    /// The owner holds the cap already (only with a cap).
    OwnerFull(usize),
}

/// What checking the pepper against the store found.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum PepperCheck {
    Matches,
    /// First start: the fingerprint is now recorded.
    Recorded,
    /// The store held no tokens: this pepper's fingerprint replaced the
    /// one recorded.
    Replaced,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RenameOutcome {
    Moved(usize),
    /// The new owner already has tokens with these names; nothing moved.
    Conflict(Vec<String>),
}

impl Store {
    /// Runs `f` in one write transaction: `f` returns its result and
    /// whether to commit (`false` aborts, e.g. when nothing changed); an
    /// error aborts too. The whole body is synchronous.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&mut RwTxn<'static>) -> Result<(T, bool)>,
    ) -> Result<T> {
        let mut wtxn = self.env.write_txn()?;
        let (out, commit) = f(&mut wtxn)?;
        if commit {
            let committed = wtxn.commit();
            // Counted even if the commit failed: a spurious count costs a
            // verify one read transaction, a missed one a stale answer.
            self.commits.fetch_add(1, Ordering::SeqCst);
            committed?;
        } else {
            wtxn.abort();
        }
        Ok(out)
    }

    pub(super) fn next_generation(&self, wtxn: &mut RwTxn<'static>) -> Result<u64> {
        let current = match self.meta.get(wtxn, b"generation")? {
            Some(b) => u64::from_be_bytes(
                b.try_into()
                    .map_err(|_| StoreError("corrupt generation counter".into()))?,
            ),
            None => 0,
        };
        let next = current + 1;
        self.meta.put(wtxn, b"generation", &next.to_be_bytes())?;
        Ok(next)
    }

    /// Records the pepper's fingerprint on first use; refuses a different
    /// one while the store holds tokens. A store without tokens takes the
    /// new fingerprint (nothing a pepper protects would be lost), so a
    /// pepper lost after every token was revoked does not brick the store.
    pub fn check_pepper(&self, fingerprint: &[u8; 32]) -> Result<PepperCheck> {
        self.write(|wtxn| match self.meta.get(wtxn, b"pepper_fingerprint")? {
            Some(stored) if subtle::ConstantTimeEq::ct_eq(stored, &fingerprint[..]).into() => {
                Ok((PepperCheck::Matches, false))
            }
            stored => {
                let replaced = stored.is_some();
                if replaced && !self.records.is_empty(wtxn)? {
                    return Err(StoreError(
                        "the pepper file does not belong to this token store (fingerprint \
                         mismatch); restore the pepper file backed up with this store. Without \
                         it the tokens cannot be recovered: move the state directory aside to \
                         start with an empty store"
                            .into(),
                    ));
                }
                self.meta.put(wtxn, b"pepper_fingerprint", fingerprint)?;
                let check = if replaced {
                    PepperCheck::Replaced
                } else {
                    PepperCheck::Recorded
                };
                Ok((check, true))
            }
        })
    }

    /// Writes a batch of last-use data in one transaction, skipping tokens
    /// revoked since (their index entry is gone).
    pub fn write_usage(&self, batch: &[(Index, Usage)]) -> Result<usize> {
        if batch.is_empty() {
            return Ok(0);
        }
        self.write(|wtxn| {
            let mut written = 0;
            for (index, usage) in batch {
                if self.index.get(wtxn, &index.0)?.is_some() {
                    self.usage.put(wtxn, &index.0, &encode_usage(usage))?;
                    written += 1;
                }
            }
            Ok((written, written > 0))
        })
    }

    /// Stores a new record unless the owner already has that name or
    /// `cap` tokens (counted in the same transaction, so concurrent
    /// creates cannot pass the cap together).
    pub fn insert(&self, rec: TokenRecord, cap: usize) -> Result<InsertOutcome> {
        match self.insert_records(vec![rec], Some(cap))? {
            BatchOutcome::Inserted {
                last_generation, ..
            } => Ok(InsertOutcome::Inserted(last_generation)),
            BatchOutcome::NameExists(_) => Ok(InsertOutcome::NameExists),
            BatchOutcome::OwnerFull(n) => Ok(InsertOutcome::OwnerFull(n)),
        }
    }

    /// Stores many new records in one transaction (bulk import, benchmarks),
    /// or none: a name the owner already has (or that repeats in the batch)
    /// writes nothing and is named in the outcome.
    pub fn insert_batch(&self, records: Vec<TokenRecord>) -> Result<BatchOutcome> {
        self.insert_records(records, None)
    }

    fn insert_records(
        &self,
        records: Vec<TokenRecord>,
        cap: Option<usize>,
    ) -> Result<BatchOutcome> {
        self.write(|wtxn| {
            let count = records.len();
            let mut last_generation = 0;
            for mut rec in records {
                let key = record_key(&rec.owner, &rec.name);
                if self.records.get(wtxn, &key)?.is_some() {
                    return Ok((BatchOutcome::NameExists(rec.name), false));
                }
                if let Some(cap) = cap
                    && self.owned(wtxn, &rec.owner, cap)? >= cap
                {
                    return Ok((BatchOutcome::OwnerFull(cap), false));
                }
                if self.index.get(wtxn, &rec.index.0)?.is_some() {
                    return Err(StoreError("index collision".into()));
                }
                rec.generation = self.next_generation(wtxn)?;
                last_generation = rec.generation;
                self.records.put(wtxn, &key, &encode(&rec)?)?;
                self.index
                    .put(wtxn, &rec.index.0, &index_value(rec.generation, &key))?;
            }
            let outcome = BatchOutcome::Inserted {
                count,
                last_generation,
            };
            Ok((outcome, count > 0))
        })
    }

    /// How many tokens `owner` has, counting no further than `up_to`.
    fn owned(&self, wtxn: &RwTxn<'static>, owner: &str, up_to: usize) -> Result<usize> {
        let mut n = 0;
        for item in self.records.prefix_iter(wtxn, &record_key(owner, ""))? {
            item?;
            n += 1;
            if n >= up_to {
                break;
            }
        }
        Ok(n)
    }

    /// Applies `change` to one record (it may rename it) atomically.
    pub fn update(
        &self,
        owner: &str,
        name: &str,
        change: impl FnOnce(&mut TokenRecord),
    ) -> Result<UpdateOutcome> {
        let old_key = record_key(owner, name);
        self.write(|wtxn| {
            let Some(bytes) = self.records.get(wtxn, &old_key)? else {
                return Ok((UpdateOutcome::NotFound, false));
            };
            let mut rec = decode(bytes)?;
            change(&mut rec);
            rec.owner = owner.to_owned();
            let new_key = record_key(owner, &rec.name);
            if new_key != old_key {
                if self.records.get(wtxn, &new_key)?.is_some() {
                    return Ok((UpdateOutcome::NameExists, false));
                }
                self.records.delete(wtxn, &old_key)?;
            }
            rec.generation = self.next_generation(wtxn)?;
            self.index
                .put(wtxn, &rec.index.0, &index_value(rec.generation, &new_key))?;
            self.records.put(wtxn, &new_key, &encode(&rec)?)?;
            Ok((UpdateOutcome::Updated(rec), true))
        })
    }

    fn delete_record(&self, wtxn: &mut RwTxn<'static>, key: &[u8]) -> Result<bool> {
        let Some(bytes) = self.records.get(wtxn, key)? else {
            return Ok(false);
        };
        let rec = decode(bytes)?;
        self.index.delete(wtxn, &rec.index.0)?;
        self.usage.delete(wtxn, &rec.index.0)?;
        self.records.delete(wtxn, key)?;
        Ok(true)
    }

    /// Deletes the named tokens; returns (revoked, not found).
    pub fn revoke(&self, owner: &str, names: &[String]) -> Result<(Vec<String>, Vec<String>)> {
        self.write(|wtxn| {
            let (mut revoked, mut missing) = (Vec::new(), Vec::new());
            for name in names {
                if self.delete_record(wtxn, &record_key(owner, name))? {
                    revoked.push(name.clone());
                } else if !missing.contains(name) && !revoked.contains(name) {
                    missing.push(name.clone());
                }
            }
            if !revoked.is_empty() {
                self.next_generation(wtxn)?;
            }
            let commit = !revoked.is_empty();
            Ok(((revoked, missing), commit))
        })
    }

    /// Deletes every token of `owner`; returns their names.
    pub fn revoke_all(&self, owner: &str) -> Result<Vec<String>> {
        self.write(|wtxn| {
            let keys = self.owner_keys(wtxn, owner)?;
            let mut names = Vec::with_capacity(keys.len());
            for key in &keys {
                self.delete_record(wtxn, key)?;
                let name = key.get(owner.len() + 1..).unwrap_or_default();
                names.push(String::from_utf8_lossy(name).into_owned());
            }
            if !keys.is_empty() {
                self.next_generation(wtxn)?;
            }
            let commit = !keys.is_empty();
            Ok((names, commit))
        })
    }

    /// Moves every token of `old` to `new` (account rename).
    pub fn rename_owner(&self, old: &str, new: &str) -> Result<RenameOutcome> {
        self.write(|wtxn| {
            let keys = self.owner_keys(wtxn, old)?;
            let mut moved = Vec::with_capacity(keys.len());
            let mut conflicts = Vec::new();
            for key in &keys {
                let bytes = self
                    .records
                    .get(wtxn, key)?
                    .ok_or_else(|| StoreError("record vanished".into()))?;
                let rec = decode(bytes)?;
                if self
                    .records
                    .get(wtxn, &record_key(new, &rec.name))?
                    .is_some()
                {
                    conflicts.push(rec.name.clone());
                }
                moved.push(rec);
            }
            if !conflicts.is_empty() {
                return Ok((RenameOutcome::Conflict(conflicts), false));
            }
            if moved.is_empty() {
                return Ok((RenameOutcome::Moved(0), false));
            }
            let generation = self.next_generation(wtxn)?;
            for (key, mut rec) in keys.iter().zip(moved.iter().cloned()) {
                self.records.delete(wtxn, key)?;
                rec.owner = new.to_owned();
                rec.generation = generation;
                let new_key = record_key(new, &rec.name);
                self.records.put(wtxn, &new_key, &encode(&rec)?)?;
                self.index
                    .put(wtxn, &rec.index.0, &index_value(generation, &new_key))?;
            }
            Ok((RenameOutcome::Moved(moved.len()), true))
        })
    }
}
