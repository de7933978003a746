//! Writes for moving in from cPanel: a batch of imported records with an
//! outcome per record, and the replacement of an imported token's interim
//! verifier by its Argon2id one.
//!
//! Both run one synchronous write transaction, like everything in `write`.

use super::record::{decode, encode, index_value, record_key};
use super::{Result, Store, StoreError, TokenRecord};
use crate::tokens::Index;

/// What became of one record of an import batch.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Stored (or, in a dry run, would be).
    Inserted,
    /// The owner already has this token (an earlier import): nothing to do.
    Present {
        /// The name it has in the store (it may have been renamed since).
        name: String,
    },
    /// The owner has another token by this name.
    NameExists,
    /// Another owner holds this very token.
    OtherOwner,
}

/// Whether an interim verifier was replaced.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    Yes,
    /// Revoked, renamed or already upgraded meanwhile: nothing written.
    No,
}

impl Store {
    /// Stores each record that is new, in one transaction, and says per
    /// record (in order) what happened. With `commit == false` (a dry run)
    /// the same checks run and the transaction is aborted: nothing is
    /// written, and later records still see earlier ones of the batch.
    pub fn import_batch(
        &self,
        records: Vec<TokenRecord>,
        commit: bool,
    ) -> Result<Vec<ImportOutcome>> {
        self.write(|wtxn| {
            let mut outcomes = Vec::with_capacity(records.len());
            let mut inserted = 0usize;
            for mut rec in records {
                let key = record_key(&rec.owner, &rec.name);
                if let Some(entry) = self.index.get(wtxn, &rec.index.0)? {
                    let entry = super::record::decode_index(entry)?;
                    let owner_len = rec.owner.len();
                    let same_owner = entry.key.len() > owner_len
                        && entry.key.starts_with(rec.owner.as_bytes())
                        && entry.key[owner_len] == 0;
                    outcomes.push(if same_owner {
                        let name = String::from_utf8_lossy(&entry.key[owner_len + 1..]);
                        ImportOutcome::Present {
                            name: name.into_owned(),
                        }
                    } else {
                        ImportOutcome::OtherOwner
                    });
                    continue;
                }
                if self.records.get(wtxn, &key)?.is_some() {
                    outcomes.push(ImportOutcome::NameExists);
                    continue;
                }
                rec.generation = self.next_generation(wtxn)?;
                self.records.put(wtxn, &key, &encode(&rec)?)?;
                self.index
                    .put(wtxn, &rec.index.0, &index_value(rec.generation, &key))?;
                outcomes.push(ImportOutcome::Inserted);
                inserted += 1;
            }
            Ok((outcomes, commit && inserted > 0))
        })
    }

    /// Replaces the verifier of `owner`'s token `name` by `new`, only if it
    /// is still the token `index` with the verifier `old`.
    ///
    /// The generation is left alone on purpose: both verifiers check the
    /// same digest, so what a verify cached about the record stays true and
    /// no verify has to run Argon2 again because of this write.
    pub fn replace_verifier(
        &self,
        owner: &str,
        name: &str,
        index: &Index,
        old: &str,
        new: &str,
    ) -> Result<Replaced> {
        let key = record_key(owner, name);
        self.write(|wtxn| {
            let Some(bytes) = self.records.get(wtxn, &key)? else {
                return Ok((Replaced::No, false));
            };
            let mut rec = decode(bytes)?;
            if rec.index != *index || rec.verifier != old {
                return Ok((Replaced::No, false));
            }
            if rec.owner != owner || rec.name != name {
                return Err(StoreError("record stored under a foreign key".into()));
            }
            rec.verifier = new.to_owned();
            self.records.put(wtxn, &key, &encode(&rec)?)?;
            Ok((Replaced::Yes, true))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(owner: &str, name: &str, index: u8) -> TokenRecord {
        TokenRecord {
            owner: owner.into(),
            name: name.into(),
            create_time: 1,
            expires_at: None,
            acls: None,
            whitelist_ips: Vec::new(),
            index: Index([index; 32]),
            verifier: "interim".into(),
            generation: 0,
        }
    }

    #[test]
    fn outcomes_per_record_and_dry_runs_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let batch = || {
            vec![
                rec("bob", "a", 1),
                rec("bob", "b", 2),
                rec("bob", "a", 3),
                rec("ann", "x", 2),
            ]
        };
        let expect = vec![
            ImportOutcome::Inserted,
            ImportOutcome::Inserted,
            ImportOutcome::NameExists,
            ImportOutcome::OtherOwner,
        ];
        assert_eq!(store.import_batch(batch(), false).unwrap(), expect);
        assert!(store.is_empty().unwrap());
        assert_eq!(store.import_batch(batch(), true).unwrap(), expect);
        assert_eq!(store.list("bob").unwrap().len(), 2);
        let again = store.import_batch(batch(), true).unwrap();
        assert_eq!(
            again[..2],
            [
                ImportOutcome::Present { name: "a".into() },
                ImportOutcome::Present { name: "b".into() }
            ]
        );
        assert_eq!(store.list("bob").unwrap().len(), 2);
    }

    #[test]
    fn verifier_replaced_only_while_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let _ = store.import_batch(vec![rec("bob", "a", 1)], true).unwrap();
        let generation = store.get("bob", "a").unwrap().unwrap().generation;
        let idx = Index([1; 32]);
        let replace = |name: &str, index: &Index, old: &str, new: &str| {
            store
                .replace_verifier("bob", name, index, old, new)
                .unwrap()
        };
        assert_eq!(replace("a", &Index([9; 32]), "interim", "x"), Replaced::No);
        assert_eq!(replace("a", &idx, "other", "x"), Replaced::No);
        assert_eq!(replace("a", &idx, "interim", "$argon2id$x"), Replaced::Yes);
        let after = store.get("bob", "a").unwrap().unwrap();
        assert_eq!(after.verifier, "$argon2id$x");
        assert_eq!(after.generation, generation);
        assert_eq!(replace("a", &idx, "interim", "y"), Replaced::No);
        assert_eq!(replace("gone", &idx, "interim", "y"), Replaced::No);
    }
}
