//! The token store: every LMDB detail lives here.
//!
//! One LMDB environment in `state_dir` with four databases:
//! `records` (`owner\0name` → JSON [`TokenRecord`]), `index` (HMAC index →
//! record generation (8 bytes, big-endian) + `owner\0name`, so a verify
//! learns whether its cached copy is current from one lookup), `usage`
//! (index → last use, written in batches) and `meta` (schema version,
//! pepper fingerprint, generation counter).
//!
//! Every write transaction begins and commits inside one synchronous method
//! on the calling thread, so none can be held across an `.await`; callers
//! run these methods on the blocking pool. LMDB's default (synchronous)
//! commit makes each change durable before the method returns. Reads use
//! transactions without thread-local storage so any thread can hold one.

use std::collections::HashSet;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, RoTxn, RwTxn, WithoutTls};
use serde::{Deserialize, Serialize};

use crate::tokens::Index;

const SCHEMA_VERSION: &[u8] = b"1";
/// Address space reserved for the map; the file only grows as used.
const MAP_SIZE: usize = 16 << 30;

type Db = Database<'static, Bytes, Bytes>;

/// One stored token (never the token itself).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub owner: String,
    pub name: String,
    pub create_time: i64,
    pub expires_at: Option<i64>,
    /// `None` is full access (the owner's privileges, now and later).
    pub acls: Option<Vec<String>>,
    /// Normal-form entries (see `iplist`); empty means any address.
    pub whitelist_ips: Vec<String>,
    /// Hex HMAC index, kept so revoke can delete the index entry.
    pub index: String,
    /// Argon2id PHC string of SHA-512(token).
    pub verifier: String,
    /// Store-wide counter value of the last change to this record.
    pub generation: u64,
}

impl std::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("owner", &self.owner)
            .field("name", &self.name)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl TokenRecord {
    /// The token's HMAC index, from its stored hex form.
    pub fn index(&self) -> Option<Index> {
        parse_index_hex(&self.index).map(Index)
    }

    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// An LMDB or encoding failure; the daemon answers `internal` and logs it.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "token store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<heed::Error> for StoreError {
    fn from(e: heed::Error) -> Self {
        StoreError(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What an update closure decided, or why nothing was written.
#[derive(Debug)]
pub enum UpdateOutcome<E> {
    Updated(TokenRecord),
    NotFound,
    NameExists,
    Rejected(E),
}

#[derive(Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted(u64),
    NameExists,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RenameOutcome {
    Moved(usize),
    /// The new owner already has tokens with these names; nothing moved.
    Conflict(Vec<String>),
}

pub fn record_key(owner: &str, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(owner.len() + name.len() + 1);
    k.extend_from_slice(owner.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

fn owner_prefix(owner: &str) -> Vec<u8> {
    record_key(owner, "")
}

pub fn index_hex(index: &Index) -> String {
    index.0.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn parse_index_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn index_value(generation: u64, key: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + key.len());
    v.extend_from_slice(&generation.to_be_bytes());
    v.extend_from_slice(key);
    v
}

/// What the index says about a token: its record's key and generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub generation: u64,
    pub key: Vec<u8>,
}

fn decode_index(bytes: &[u8]) -> Result<IndexEntry> {
    let (generation, key) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| StoreError("corrupt index entry".into()))?;
    Ok(IndexEntry {
        generation: u64::from_be_bytes(*generation),
        key: key.to_vec(),
    })
}

/// The last successful use of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub at: i64,
    pub ip: String,
}

fn encode_usage(u: &Usage) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + u.ip.len());
    v.extend_from_slice(&u.at.to_be_bytes());
    v.extend_from_slice(u.ip.as_bytes());
    v
}

fn decode_usage(bytes: &[u8]) -> Option<Usage> {
    let (at, ip) = bytes.split_first_chunk::<8>()?;
    Some(Usage {
        at: i64::from_be_bytes(*at),
        ip: String::from_utf8(ip.to_vec()).ok()?,
    })
}

fn decode(bytes: &[u8]) -> Result<TokenRecord> {
    serde_json::from_slice(bytes).map_err(|e| StoreError(format!("corrupt record: {e}")))
}

fn encode(rec: &TokenRecord) -> Result<Vec<u8>> {
    serde_json::to_vec(rec).map_err(|e| StoreError(format!("cannot encode record: {e}")))
}

/// Paths opened in this process: LMDB forbids opening one twice.
static OPENED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

#[derive(Debug)]
pub struct Store {
    env: &'static Env<WithoutTls>,
    records: Db,
    index: Db,
    usage: Db,
    meta: Db,
}

impl Store {
    /// Creates (0700) or opens the environment in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| StoreError(format!("cannot set mode of {}: {e}", dir.display())))?;
        let canonical = dir
            .canonicalize()
            .map_err(|e| StoreError(format!("cannot resolve {}: {e}", dir.display())))?;
        {
            let mut opened = OPENED.lock().unwrap_or_else(|p| p.into_inner());
            if !opened
                .get_or_insert_with(HashSet::new)
                .insert(canonical.clone())
            {
                return Err(StoreError(format!(
                    "{} is already open in this process",
                    canonical.display()
                )));
            }
        }
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(MAP_SIZE).max_dbs(8).max_readers(1024);
        // SAFETY: heed marks opening unsafe because LMDB breaks if the same
        // environment is opened twice in one process; the OPENED registry
        // above guarantees this path is opened at most once here, and the
        // daemon's lock file keeps other daemons off the same store.
        // `flags` is unsafe because some flags trade durability or memory
        // safety; NO_READ_AHEAD trades neither: it only makes LMDB madvise
        // the map MADV_RANDOM. Verifies read the store at random, so on a
        // cold page cache (after a reboot, a store larger than memory) a
        // fault reads the page it needs, not 128 KiB around it.
        #[allow(unsafe_code)]
        let env = unsafe {
            options.flags(EnvFlags::NO_READ_AHEAD);
            options.open(&canonical)
        }?;
        // The environment lives as long as the process: its databases borrow it.
        let env: &'static Env<WithoutTls> = Box::leak(Box::new(env));
        let wtxn = env.write_txn()?;
        let (records, index, usage, meta) = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_> {
                let records: Db = opener.create_database(wtxn, Some("records"))?;
                let index: Db = opener.create_database(wtxn, Some("index"))?;
                let usage: Db = opener.create_database(wtxn, Some("usage"))?;
                let meta: Db = opener.create_database(wtxn, Some("meta"))?;
                match meta.get(wtxn, b"schema_version")? {
                    None => meta.put(wtxn, b"schema_version", SCHEMA_VERSION)?,
                    Some(v) if v == SCHEMA_VERSION => {}
                    Some(v) => {
                        return Err(StoreError(format!(
                            "unsupported schema version {:?}",
                            String::from_utf8_lossy(v)
                        )));
                    }
                }
                Ok(CommitOrAbort::<_, ()>::Commit((
                    records, index, usage, meta,
                )))
            })?
            .unwrap_commit();
        for file in ["data.mdb", "lock.mdb"] {
            let p = canonical.join(file);
            if p.exists() {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| StoreError(format!("cannot set mode of {}: {e}", p.display())))?;
            }
        }
        Ok(Store {
            env,
            records,
            index,
            usage,
            meta,
        })
    }

    fn read(&self) -> Result<RoTxn<'static, WithoutTls>> {
        Ok(self.env.read_txn()?)
    }

    /// Runs `f` in one write transaction and commits only if it returns
    /// `Ok(Some(_))`-like success; the whole body is synchronous.
    fn write<T>(&self, f: impl FnOnce(&mut RwTxn<'static>) -> Result<(T, bool)>) -> Result<T> {
        let mut wtxn = self.env.write_txn()?;
        let (out, commit) = f(&mut wtxn)?;
        if commit {
            wtxn.commit()?;
        } else {
            wtxn.abort();
        }
        Ok(out)
    }

    fn next_generation(&self, wtxn: &mut RwTxn<'static>) -> Result<u64> {
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

    /// True when no token record exists.
    pub fn is_empty(&self) -> Result<bool> {
        let rtxn = self.read()?;
        Ok(self.records.is_empty(&rtxn)?)
    }

    /// Records the pepper's fingerprint on first use; refuses a different one.
    pub fn check_pepper(&self, fingerprint: &[u8; 32]) -> Result<()> {
        self.write(|wtxn| match self.meta.get(wtxn, b"pepper_fingerprint")? {
            None => {
                self.meta.put(wtxn, b"pepper_fingerprint", fingerprint)?;
                Ok(((), true))
            }
            Some(stored) if subtle::ConstantTimeEq::ct_eq(stored, &fingerprint[..]).into() => {
                Ok(((), false))
            }
            Some(_) => Err(StoreError(
                "the pepper file does not belong to this token store (fingerprint mismatch)".into(),
            )),
        })
    }

    pub fn get(&self, owner: &str, name: &str) -> Result<Option<TokenRecord>> {
        let rtxn = self.read()?;
        self.records
            .get(&rtxn, &record_key(owner, name))?
            .map(decode)
            .transpose()
    }

    /// All of `owner`'s tokens, ordered by name.
    pub fn list(&self, owner: &str) -> Result<Vec<TokenRecord>> {
        let rtxn = self.read()?;
        let mut out = Vec::new();
        for item in self.records.prefix_iter(&rtxn, &owner_prefix(owner))? {
            let (_, v) = item?;
            out.push(decode(v)?);
        }
        Ok(out)
    }

    pub fn find_by_index(&self, index: &Index) -> Result<Option<TokenRecord>> {
        let rtxn = self.read()?;
        let Some(entry) = self.index.get(&rtxn, &index.0)? else {
            return Ok(None);
        };
        let entry = decode_index(entry)?;
        self.records.get(&rtxn, &entry.key)?.map(decode).transpose()
    }

    /// The index entry of a token: one B-tree lookup, no record decode.
    pub fn lookup_index(&self, index: &Index) -> Result<Option<IndexEntry>> {
        let rtxn = self.read()?;
        self.index
            .get(&rtxn, &index.0)?
            .map(decode_index)
            .transpose()
    }

    pub fn record_by_key(&self, key: &[u8]) -> Result<Option<TokenRecord>> {
        let rtxn = self.read()?;
        self.records.get(&rtxn, key)?.map(decode).transpose()
    }

    /// Stored last use of a token.
    pub fn usage(&self, index: &Index) -> Result<Option<Usage>> {
        let rtxn = self.read()?;
        Ok(self.usage.get(&rtxn, &index.0)?.and_then(decode_usage))
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

    /// Stores a new record unless the owner already has that name.
    pub fn insert(&self, mut rec: TokenRecord) -> Result<InsertOutcome> {
        let key = record_key(&rec.owner, &rec.name);
        let idx = parse_index_hex(&rec.index).ok_or_else(|| StoreError("bad index".into()))?;
        self.write(|wtxn| {
            if self.records.get(wtxn, &key)?.is_some() {
                return Ok((InsertOutcome::NameExists, false));
            }
            if self.index.get(wtxn, &idx)?.is_some() {
                return Err(StoreError("index collision".into()));
            }
            rec.generation = self.next_generation(wtxn)?;
            self.records.put(wtxn, &key, &encode(&rec)?)?;
            self.index
                .put(wtxn, &idx, &index_value(rec.generation, &key))?;
            Ok((InsertOutcome::Inserted(rec.generation), true))
        })
    }

    /// Stores many new records in one transaction (bulk import, benchmarks).
    /// Fails without writing anything if any name or index already exists.
    pub fn insert_batch(&self, records: Vec<TokenRecord>) -> Result<usize> {
        self.write(|wtxn| {
            let n = records.len();
            for mut rec in records {
                let key = record_key(&rec.owner, &rec.name);
                let idx =
                    parse_index_hex(&rec.index).ok_or_else(|| StoreError("bad index".into()))?;
                if self.records.get(wtxn, &key)?.is_some() || self.index.get(wtxn, &idx)?.is_some()
                {
                    return Err(StoreError(format!(
                        "{}:{} already exists",
                        rec.owner, rec.name
                    )));
                }
                rec.generation = self.next_generation(wtxn)?;
                self.records.put(wtxn, &key, &encode(&rec)?)?;
                self.index
                    .put(wtxn, &idx, &index_value(rec.generation, &key))?;
            }
            Ok((n, true))
        })
    }

    /// Applies `change` to one record (it may rename it) atomically.
    pub fn update<E>(
        &self,
        owner: &str,
        name: &str,
        change: impl FnOnce(&mut TokenRecord) -> std::result::Result<(), E>,
    ) -> Result<UpdateOutcome<E>> {
        let old_key = record_key(owner, name);
        self.write(|wtxn| {
            let Some(bytes) = self.records.get(wtxn, &old_key)? else {
                return Ok((UpdateOutcome::NotFound, false));
            };
            let mut rec = decode(bytes)?;
            if let Err(e) = change(&mut rec) {
                return Ok((UpdateOutcome::Rejected(e), false));
            }
            rec.owner = owner.to_owned();
            let new_key = record_key(owner, &rec.name);
            if new_key != old_key {
                if self.records.get(wtxn, &new_key)?.is_some() {
                    return Ok((UpdateOutcome::NameExists, false));
                }
                self.records.delete(wtxn, &old_key)?;
            }
            rec.generation = self.next_generation(wtxn)?;
            let idx = parse_index_hex(&rec.index)
                .ok_or_else(|| StoreError("corrupt index in record".into()))?;
            self.index
                .put(wtxn, &idx, &index_value(rec.generation, &new_key))?;
            self.records.put(wtxn, &new_key, &encode(&rec)?)?;
            Ok((UpdateOutcome::Updated(rec), true))
        })
    }

    fn delete_record(&self, wtxn: &mut RwTxn<'static>, key: &[u8]) -> Result<bool> {
        let Some(bytes) = self.records.get(wtxn, key)? else {
            return Ok(false);
        };
        let rec = decode(bytes)?;
        if let Some(idx) = parse_index_hex(&rec.index) {
            self.index.delete(wtxn, &idx)?;
            self.usage.delete(wtxn, &idx)?;
        }
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

    fn owner_keys(&self, txn: &RoTxn<'_>, owner: &str) -> Result<Vec<Vec<u8>>> {
        let mut keys = Vec::new();
        for item in self.records.prefix_iter(txn, &owner_prefix(owner))? {
            keys.push(item?.0.to_vec());
        }
        Ok(keys)
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
                let idx = parse_index_hex(&rec.index)
                    .ok_or_else(|| StoreError("corrupt index in record".into()))?;
                self.index
                    .put(wtxn, &idx, &index_value(generation, &new_key))?;
            }
            Ok((RenameOutcome::Moved(moved.len()), true))
        })
    }

    /// Flushes LMDB's buffers (commits already sync; used at shutdown).
    pub fn sync(&self) -> Result<()> {
        Ok(self.env.force_sync()?)
    }
}
