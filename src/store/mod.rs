//! The token store: every LMDB detail lives in this module.
//!
//! One LMDB environment in `state_dir` with four databases:
//! `records` (`owner\0name` → JSON [`TokenRecord`]), `index` (HMAC index →
//! record generation (8 bytes, big-endian) + `owner\0name`, so a verify
//! learns whether its cached copy is current from one lookup), `usage`
//! (index → last use, written in batches) and `meta` (schema version,
//! pepper fingerprint, generation counter).
//!
//! Reads (here) use transactions without thread-local storage so any
//! thread can hold one; writes are in `write` (and, for imports from
//! cPanel, `import`); encodings in `record`.

mod import;
mod record;
mod write;

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions, RoTxn, WithoutTls};

pub use import::{ImportOutcome, Replaced};
pub(crate) use record::IndexEntry;
pub use record::{TokenRecord, Usage};
use record::{
    decode, decode_index, decode_usage, key_of_owner, owner_prefix, record_key, split_index,
};
pub use write::{BatchOutcome, InsertOutcome, PepperCheck, RenameOutcome, UpdateOutcome};

use crate::tokens::Index;

const SCHEMA_VERSION: &[u8] = b"1";
/// Address space reserved for the map; the file only grows as used.
const MAP_SIZE: usize = 16 << 30;

type Db = Database<'static, Bytes, Bytes>;

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

/// Paths opened in this process: LMDB forbids opening one twice.
static OPENED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

#[derive(Debug)]
pub struct Store {
    env: &'static Env<WithoutTls>,
    records: Db,
    index: Db,
    usage: Db,
    meta: Db,
    /// Write transactions this process committed (this process is the
    /// store's only writer: the state-dir lock). A verify that finds a
    /// cached token confirmed at the current count knows the store has not
    /// changed since, without a read transaction.
    commits: AtomicU64,
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
            commits: AtomicU64::new(0),
        })
    }

    fn read(&self) -> Result<RoTxn<'static, WithoutTls>> {
        Ok(self.env.read_txn()?)
    }

    /// True when no token record exists.
    pub fn is_empty(&self) -> Result<bool> {
        let rtxn = self.read()?;
        Ok(self.records.is_empty(&rtxn)?)
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
        let mut out = Vec::new();
        self.each(owner, |rec| {
            out.push(rec);
            Ok::<(), StoreError>(())
        })?;
        Ok(out)
    }

    /// How many tokens `owner` has (keys only: nothing is decoded).
    pub fn count(&self, owner: &str) -> Result<usize> {
        let rtxn = self.read()?;
        let mut n = 0;
        for item in self.records.prefix_iter(&rtxn, &owner_prefix(owner))? {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// Calls `f` with each of `owner`'s tokens in name order, from one read
    /// transaction, collecting nothing (a list at the per-owner cap is
    /// rendered as it is read). Stops at `f`'s first error.
    pub fn each<E: From<StoreError>>(
        &self,
        owner: &str,
        mut f: impl FnMut(TokenRecord) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let rtxn = self.read()?;
        let iter = self
            .records
            .prefix_iter(&rtxn, &owner_prefix(owner))
            .map_err(StoreError::from)?;
        for item in iter {
            let (_, v) = item.map_err(StoreError::from)?;
            f(decode(v)?)?;
        }
        Ok(())
    }

    /// How many tokens each owner has, by owner name (keys only: no
    /// record is decoded).
    pub fn owner_counts(&self) -> Result<BTreeMap<String, usize>> {
        let rtxn = self.read()?;
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for item in self.records.iter(&rtxn)? {
            let (key, _) = item?;
            let owner = key.split(|b| *b == 0).next().unwrap_or_default();
            let owner = String::from_utf8_lossy(owner);
            match counts.get_mut(owner.as_ref()) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(owner.into_owned(), 1);
                }
            }
        }
        Ok(counts)
    }

    pub fn find_by_index(&self, index: &Index) -> Result<Option<TokenRecord>> {
        let rtxn = self.read()?;
        let Some(entry) = self.index.get(&rtxn, &index.0)? else {
            return Ok(None);
        };
        let entry = decode_index(entry)?;
        self.records.get(&rtxn, &entry.key)?.map(decode).transpose()
    }

    /// Write transactions committed so far; read it before the store.
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    /// The record generation of the token at `index` if `owner` owns it:
    /// one B-tree lookup, nothing decoded or copied.
    pub(crate) fn owned_generation(&self, index: &Index, owner: &str) -> Result<Option<u64>> {
        let rtxn = self.read()?;
        let Some(bytes) = self.index.get(&rtxn, &index.0)? else {
            return Ok(None);
        };
        let (generation, key) = split_index(bytes)?;
        Ok(key_of_owner(key, owner).then_some(generation))
    }

    /// The index entry of a token: one B-tree lookup, no record decode.
    pub(crate) fn lookup_index(&self, index: &Index) -> Result<Option<IndexEntry>> {
        let rtxn = self.read()?;
        self.index
            .get(&rtxn, &index.0)?
            .map(decode_index)
            .transpose()
    }

    pub(crate) fn record_by_key(&self, key: &[u8]) -> Result<Option<TokenRecord>> {
        let rtxn = self.read()?;
        self.records.get(&rtxn, key)?.map(decode).transpose()
    }

    /// Stored last use of a token.
    pub fn usage(&self, index: &Index) -> Result<Option<Usage>> {
        let rtxn = self.read()?;
        Ok(self.usage.get(&rtxn, &index.0)?.and_then(decode_usage))
    }

    fn owner_keys(&self, txn: &RoTxn<'_>, owner: &str) -> Result<Vec<Vec<u8>>> {
        let mut keys = Vec::new();
        for item in self.records.prefix_iter(txn, &owner_prefix(owner))? {
            keys.push(item?.0.to_vec());
        }
        Ok(keys)
    }

    /// Flushes LMDB's buffers (commits already sync; used at shutdown).
    pub fn sync(&self) -> Result<()> {
        Ok(self.env.force_sync()?)
    }
}
