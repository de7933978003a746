//! What the store keeps and how it is encoded: records, index entries and
//! last-use values, as bytes for LMDB.
//!
//! Records are JSON (readable with `mdb_dump`, easy to extend); the HMAC
//! index is typed ([`Index`]) everywhere in memory and written as 64 hex
//! digits in the record, which is the on-disk form stores already hold.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Result, StoreError};
use crate::tokens::Index;

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
    /// HMAC index, kept so revoke can delete the index entry.
    #[serde(with = "index_hex")]
    pub index: Index,
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
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }
}

/// The index as 64 lowercase hex digits in a record.
mod index_hex {
    use super::{Deserialize, Deserializer, Index, Serializer};

    pub(super) fn serialize<S: Serializer>(index: &Index, s: S) -> Result<S::Ok, S::Error> {
        let hex: String = index.0.iter().map(|b| format!("{b:02x}")).collect();
        s.serialize_str(&hex)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Index, D::Error> {
        let hex = String::deserialize(d)?;
        parse(&hex)
            .map(Index)
            .ok_or_else(|| serde::de::Error::custom("index is not 64 hex digits"))
    }

    fn parse(hex: &str) -> Option<[u8; 32]> {
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    }
}

/// `owner\0name`: sorts an owner's records together for prefix scans.
pub(crate) fn record_key(owner: &str, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(owner.len() + name.len() + 1);
    k.extend_from_slice(owner.as_bytes());
    k.push(0);
    k.extend_from_slice(name.as_bytes());
    k
}

pub(super) fn owner_prefix(owner: &str) -> Vec<u8> {
    record_key(owner, "")
}

pub(super) fn index_value(generation: u64, key: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + key.len());
    v.extend_from_slice(&generation.to_be_bytes());
    v.extend_from_slice(key);
    v
}

/// What the index says about a token: its record's key and generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) generation: u64,
    pub(crate) key: Vec<u8>,
}

/// An index value read in place: the record's generation and its key.
pub(super) fn split_index(bytes: &[u8]) -> Result<(u64, &[u8])> {
    let (generation, key) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| StoreError("corrupt index entry".into()))?;
    Ok((u64::from_be_bytes(*generation), key))
}

pub(super) fn decode_index(bytes: &[u8]) -> Result<IndexEntry> {
    let (generation, key) = split_index(bytes)?;
    Ok(IndexEntry {
        generation,
        key: key.to_vec(),
    })
}

/// The record key `owner\0name` is one of `owner`'s.
pub(super) fn key_of_owner(key: &[u8], owner: &str) -> bool {
    key.strip_prefix(owner.as_bytes())
        .is_some_and(|rest| rest.first() == Some(&0))
}

/// The last successful use of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub at: i64,
    pub ip: String,
}

pub(super) fn encode_usage(u: &Usage) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + u.ip.len());
    v.extend_from_slice(&u.at.to_be_bytes());
    v.extend_from_slice(u.ip.as_bytes());
    v
}

pub(super) fn decode_usage(bytes: &[u8]) -> Option<Usage> {
    let (at, ip) = bytes.split_first_chunk::<8>()?;
    Some(Usage {
        at: i64::from_be_bytes(*at),
        ip: String::from_utf8(ip.to_vec()).ok()?,
    })
}

pub(super) fn decode(bytes: &[u8]) -> Result<TokenRecord> {
    serde_json::from_slice(bytes).map_err(|e| StoreError(format!("corrupt record: {e}")))
}

pub(super) fn encode(rec: &TokenRecord) -> Result<Vec<u8>> {
    serde_json::to_vec(rec).map_err(|e| StoreError(format!("cannot encode record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_keeps_its_on_disk_hex_form() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[31] = 0x01;
        let rec = TokenRecord {
            owner: "root".into(),
            name: "t".into(),
            create_time: 1,
            expires_at: None,
            acls: None,
            whitelist_ips: Vec::new(),
            index: Index(bytes),
            verifier: "v".into(),
            generation: 3,
        };
        let json = String::from_utf8(encode(&rec).unwrap()).unwrap();
        let hex = format!("\"index\":\"ab{}01\"", "00".repeat(30));
        assert!(json.contains(&hex), "{json}");
        assert_eq!(decode(json.as_bytes()).unwrap(), rec);
        let bad = json.replace(&hex, "\"index\":\"abc\"");
        assert!(decode(bad.as_bytes()).is_err());
    }

    #[test]
    fn key_ownership_is_exact() {
        assert!(key_of_owner(b"bob\0t", "bob"));
        assert!(key_of_owner(&record_key("bob", "t"), "bob"));
        assert!(!key_of_owner(b"bobby\0t", "bob"));
        assert!(!key_of_owner(b"bob", "bob"));
        assert!(!key_of_owner(b"bo\0t", "bob"));
    }
}
