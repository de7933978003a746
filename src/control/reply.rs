//! What a command hands back: reply data and the token names it changed
//! (for the audit line and the accounting log), and the record as the
//! WHM functions show it.

use serde_json::{Map, Value, json};

use super::validate::Failure;
use crate::store::TokenRecord;

/// A successful command.
#[derive(Debug, Default)]
pub(crate) struct Done {
    pub(crate) data: Option<Value>,
    /// The data already rendered as JSON text (instead of `data`).
    pub(crate) json: Option<Vec<u8>>,
    pub(crate) changed: Vec<String>,
    /// `metadata.warnings` of the reply.
    pub(crate) warnings: Vec<String>,
}

impl Done {
    pub(crate) fn data(data: Value) -> Done {
        Done {
            data: Some(data),
            changed: Vec::new(),
            warnings: Vec::new(),
            json: None,
        }
    }

    pub(super) fn rendered(json: Vec<u8>) -> Done {
        Done {
            json: Some(json),
            ..Done::default()
        }
    }

    pub(crate) fn changed(data: Value, changed: Vec<String>) -> Done {
        Done {
            data: Some(data),
            changed,
            warnings: Vec::new(),
            json: None,
        }
    }

    pub(crate) fn warning(mut self, warnings: Vec<String>) -> Done {
        self.warnings = warnings;
        self
    }
}

pub(crate) type Outcome = Result<Done, Failure>;

/// The record as create/update/details return it (without the token).
pub(super) fn record_data(rec: &TokenRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), json!(rec.name));
    m.insert("create_time".into(), json!(rec.create_time));
    m.insert("expires_at".into(), json!(rec.expires_at));
    if let Some(acls) = &rec.acls {
        m.insert("acls".into(), json!(acls));
    }
    if !rec.whitelist_ips.is_empty() {
        m.insert("whitelist_ips".into(), json!(rec.whitelist_ips));
    }
    m.insert(
        "has_full_access".into(),
        json!(u8::from(rec.acls.is_none())),
    );
    m
}
