//! A generated cPanel token store (`whostmgr/<user>.json` as cPanel & WHM
//! writes it) and the plaintexts of its tokens, for the import tests and
//! the import benchmark.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use sha2::Digest as _;

/// A fresh token as cPanel makes them: 32 characters of `0-9A-Z`.
pub fn cpanel_token() -> String {
    apitokend::tokens::Token::generate()
        .unwrap()
        .expose()
        .to_owned()
}

/// What cPanel stores for a token: the lowercase hex SHA-512.
pub fn sha512_hex(token: &str) -> String {
    sha2::Sha512::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The store being built: records per user, written by [`CpanelStore::write`].
pub struct CpanelStore {
    /// The directory `--from` takes (it holds `whostmgr/`).
    pub root: PathBuf,
    users: BTreeMap<String, Map<String, Value>>,
}

impl CpanelStore {
    pub fn new(root: &Path) -> CpanelStore {
        std::fs::create_dir_all(root.join("whostmgr")).unwrap();
        CpanelStore {
            root: root.to_owned(),
            users: BTreeMap::new(),
        }
    }

    /// Adds a token with `record` as its cPanel record; returns the token.
    pub fn add(&mut self, user: &str, record: Value) -> String {
        let token = cpanel_token();
        self.add_token(user, &token, record);
        token
    }

    /// Adds `token` (plaintext) with `record`.
    pub fn add_token(&mut self, user: &str, token: &str, record: Value) {
        self.users
            .entry(user.to_owned())
            .or_default()
            .insert(sha512_hex(token), record);
    }

    /// Adds a record under a key that is not a digest.
    pub fn add_raw(&mut self, user: &str, key: &str, record: Value) {
        self.users
            .entry(user.to_owned())
            .or_default()
            .insert(key.to_owned(), record);
    }

    /// A full-access record as cPanel writes one.
    pub fn record(name: &str, create_time: i64) -> Value {
        json!({"name": name, "create_time": create_time, "expires_at": null})
    }

    pub fn file(&self, user: &str) -> PathBuf {
        self.root.join("whostmgr").join(format!("{user}.json"))
    }

    /// Writes every user's file.
    pub fn write(&self) {
        for (user, tokens) in &self.users {
            let text = serde_json::to_string_pretty(&json!({ "tokens": tokens })).unwrap();
            std::fs::write(self.file(user), text).unwrap();
        }
    }
}
