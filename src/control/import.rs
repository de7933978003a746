//! `import_cpanel_tokens` and `import_accesshash`: moving in from cPanel.
//!
//! cPanel keeps only the SHA-512 hex digest of each token, and everything
//! we store derives from that digest, so an import needs no plaintext. The
//! `apitoken` CLI reads cPanel's files as root (the daemon has no
//! capabilities and cannot read a user's home) and sends one user's records
//! per request, in batches that fit `max_request_bytes`; here every record
//! is validated and the batch goes into one write transaction.
//!
//! Imported tokens get an interim verifier (`tokens::Scheme::Interim`):
//! Argon2id at the default parameters costs ~25 ms per token, 40 minutes of
//! one core for 100,000 tokens, while the interim verifier costs a
//! microsecond and already protects the token better than cPanel's store
//! did. The verify path replaces it with Argon2id at the token's first use.
//! An access hash is a single token: it gets Argon2id at once.

use std::collections::HashSet;

use apitokend_proto::ErrorCode;
use serde_json::{Map, Value, json};
use zeroize::{Zeroize, Zeroizing};

use super::Ctx;
use super::owner::owner;
use super::params::Params;
use super::reply::{Done, Outcome};
use super::validate::{Failure, MAX_EXPIRY, parse_acls, parse_ips, valid_name, valid_user};
use crate::acl::{Catalog, Holdings};
use crate::decode::string_arg;
use crate::logging;
use crate::store::{ImportOutcome, InsertOutcome, TokenRecord};
use crate::text::shown;
use crate::tokens::{Digest, Pepper};

/// A cPanel record, checked: everything but the digest.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Fields {
    pub(crate) name: String,
    pub(crate) create_time: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) acls: Option<Vec<String>>,
    pub(crate) whitelist_ips: Vec<String>,
}

/// How a record is named in a report: its name if it has a string one.
fn shown_name(record: &Value) -> String {
    match record.get("name") {
        Some(Value::String(s)) if !s.is_empty() => shown(s, 60),
        _ => "(no name)".to_owned(),
    }
}

/// A Unix time given as an integer or a string of digits; `None` if not.
fn unix_time(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().filter(|t| *t >= 0),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>, String> {
    let Value::Array(items) = v else {
        return Err(format!("“{key}” is not a list"));
    };
    items
        .iter()
        .map(|i| match i {
            Value::String(s) => Ok(s.clone()),
            _ => Err(format!("“{key}” holds something that is not a string")),
        })
        .collect()
}

/// Checks one record of cPanel's `tokens` object (the digest is the key,
/// checked by the caller). Expired tokens are valid: cPanel keeps them.
/// The reason names the field and the problem, never the digest.
pub(crate) fn parse_record(record: &Value, catalog: &Catalog) -> Result<Fields, String> {
    let Value::Object(m) = record else {
        return Err("the record is not a JSON object".to_owned());
    };
    let name = match m.get("name") {
        Some(Value::String(s)) => valid_name(s, "name").map_err(|f| f.why)?,
        Some(_) => return Err("“name” is not a string".to_owned()),
        None => return Err("the record has no “name”".to_owned()),
    };
    let create_time = match m.get("create_time") {
        None | Some(Value::Null) => return Err("the record has no “create_time”".to_owned()),
        Some(v) => unix_time(v).ok_or("“create_time” is not a Unix time")?,
    };
    let expires_at = match m.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => match unix_time(v) {
            Some(0) => None,
            Some(t) if t <= MAX_EXPIRY => Some(t),
            _ => return Err("“expires_at” is not a Unix time, 0 or null".to_owned()),
        },
    };
    let acls = match m.get("acls") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let list = strings(v, "acls")?;
            if list.is_empty() {
                return Err("“acls” is an empty list (a token needs a privilege)".to_owned());
            }
            // Known names only; whether a reseller still holds them is
            // decided at each verify, as cPanel does (effective privileges).
            parse_acls(&list, &Holdings::All, catalog).map_err(|f| {
                format!(
                    "{}; add plugin privileges to acls_file and import again",
                    f.why
                )
            })?
        }
    };
    let whitelist_ips = match m.get("whitelist_ips") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => {
            let list = strings(v, "whitelist_ips")?;
            if list.is_empty() {
                Vec::new()
            } else {
                parse_ips(&list).map_err(|f| f.why)?
            }
        }
    };
    Ok(Fields {
        name,
        create_time,
        expires_at,
        acls,
        whitelist_ips,
    })
}

/// `dry_run`: absent, 0/1, "0"/"1" or a boolean.
fn dry_run(args: &Map<String, Value>) -> Result<bool, Failure> {
    match args.get("dry_run") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) if v == &json!(0) || v == &json!("0") => Ok(false),
        Some(v) if v == &json!(1) || v == &json!("1") => Ok(true),
        Some(_) => Err(Failure::new(
            ErrorCode::BadRequest,
            "argument “dry_run” must be 0 or 1",
        )),
    }
}

fn record_of(owner: &str, fields: Fields, digest: &Digest, pepper: &Pepper) -> TokenRecord {
    TokenRecord {
        owner: owner.to_owned(),
        name: fields.name,
        create_time: fields.create_time,
        expires_at: fields.expires_at,
        acls: fields.acls,
        whitelist_ips: fields.whitelist_ips,
        index: pepper.index(digest),
        verifier: pepper.interim_verifier(digest),
        generation: 0,
    }
}

fn invalid(name: String, reason: impl Into<String>) -> Value {
    json!({ "name": name, "reason": reason.into() })
}

/// `import_cpanel_tokens {user, tokens: {<sha512 hex>: record}, dry_run}`.
pub(super) fn cpanel(ctx: &Ctx<'_>, args: &mut Map<String, Value>) -> Outcome {
    let state = ctx.state;
    let user = valid_user(&Params(args).required("user")?)?;
    let dry_run = dry_run(args)?;
    let tokens = match args.remove("tokens") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(Failure::new(
                ErrorCode::BadRequest,
                "argument “tokens” must be an object keyed by SHA-512 hex digests",
            ));
        }
    };
    // A suspended owner's tokens are imported too: they verify again once
    // WHM lifts the suspension, as in cPanel.
    let owner = owner(state, &user)?;
    let catalog = state.catalog();
    let mut refused = Vec::new();
    let mut candidates = Vec::with_capacity(tokens.len());
    for (mut key, record) in tokens {
        let digest = Digest::from_hex(&key);
        key.zeroize();
        let Some(digest) = digest else {
            refused.push(invalid(
                shown_name(&record),
                "the record's key is not a SHA-512 hex digest (128 hex digits)",
            ));
            continue;
        };
        match parse_record(&record, &catalog) {
            Ok(fields) => candidates.push(record_of(&owner.name, fields, &digest, &state.pepper)),
            Err(why) => refused.push(invalid(shown_name(&record), why)),
        }
    }
    // The file order is meaningless (keys are digests): of several records
    // with one name, the one created first keeps it, whatever the batch.
    candidates.sort_by_key(|r| (r.create_time, r.index.0));
    let mut names = HashSet::new();
    let mut unique = Vec::with_capacity(candidates.len());
    for rec in candidates {
        if names.insert(rec.name.clone()) {
            unique.push(rec);
        } else {
            refused.push(invalid(
                rec.name,
                "another token of this user in the cPanel file has the same name \
                 (the one created first is imported)",
            ));
        }
    }
    let outcomes = state.store.import_batch(unique.clone(), !dry_run)?;
    let (mut imported, mut skipped) = (Vec::new(), Vec::new());
    for (rec, outcome) in unique.into_iter().zip(outcomes) {
        match outcome {
            ImportOutcome::Inserted => imported.push(rec.name),
            ImportOutcome::Present { .. } => skipped.push(rec.name),
            ImportOutcome::NameExists => refused.push(invalid(
                rec.name.clone(),
                format!(
                    "“{}” already has a different API token named “{}”; rename one \
                     of them and import again",
                    owner.name, rec.name
                ),
            )),
            ImportOutcome::OtherOwner => refused.push(invalid(
                rec.name,
                "this very token is already stored for another user",
            )),
        }
    }
    imported.sort();
    skipped.sort();
    refused.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let data = json!({
        "user": owner.name,
        "dry_run": u8::from(dry_run),
        "imported": imported,
        "skipped": skipped,
        "invalid": refused,
    });
    let changed = if dry_run { Vec::new() } else { imported };
    Ok(Done::changed(data, changed))
}

/// Four characters of `a-z0-9` for a name that is taken.
fn suffix() -> Result<String, Failure> {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| {
        logging::error(&format!("the system random generator failed: {e}"));
        Failure::new(ErrorCode::Internal, "cannot pick a name")
    })?;
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 36)]))
        .collect())
}

/// `import_accesshash {user, digest}`: the SHA-512 hex of a WHM access hash
/// (whitespace removed, as cPanel's `convert_accesshash_to_token` does),
/// stored as a full-access token `accesshash-<epoch>`.
pub(super) fn accesshash(ctx: &Ctx<'_>, args: &mut Map<String, Value>) -> Outcome {
    let state = ctx.state;
    let user = valid_user(&Params(args).required("user")?)?;
    let hex = string_arg(args.remove("digest"), "digest")
        .map(Zeroizing::new)
        .map_err(|why| Failure::new(ErrorCode::BadRequest, why))?;
    let digest = Digest::from_hex(&hex).ok_or_else(|| {
        Failure::new(
            ErrorCode::BadRequest,
            "argument “digest” must be the SHA-512 of the access hash (128 hex digits)",
        )
    })?;
    let owner = owner(state, &user)?;
    let index = state.pepper.index(&digest);
    if let Some(rec) = state.store.find_by_index(&index)? {
        if rec.owner != owner.name {
            return Err(Failure::new(
                ErrorCode::NameExists,
                "this access hash is already stored as a token of another user",
            ));
        }
        return Ok(Done::data(json!({
            "user": owner.name, "name": rec.name, "imported": 0,
        })));
    }
    let verifier = state.hasher.hash(&digest).map_err(|e| {
        logging::error(&e);
        Failure::new(ErrorCode::Internal, "cannot hash the token")
    })?;
    let now = state.clock.now();
    let base = format!("accesshash-{now}");
    for attempt in 0..8 {
        let name = if attempt == 0 {
            base.clone()
        } else {
            format!("{base}-{}", suffix()?)
        };
        let record = TokenRecord {
            owner: owner.name.clone(),
            name: name.clone(),
            create_time: now,
            expires_at: None,
            acls: None,
            whitelist_ips: Vec::new(),
            index,
            verifier: verifier.clone(),
            generation: 0,
        };
        match state.store.insert(record, state.max_tokens_per_user)? {
            InsertOutcome::Inserted(_) => {
                return Ok(Done::changed(
                    json!({
                        "user": owner.name, "name": name, "imported": 1, "create_time": now,
                    }),
                    vec![name],
                ));
            }
            InsertOutcome::OwnerFull(cap) => {
                return Err(super::create::owner_full(&owner.name, cap));
            }
            InsertOutcome::NameExists => {}
        }
    }
    Err(Failure::new(
        ErrorCode::NameExists,
        format!("no free name of the form “{base}-xxxx” was found"),
    ))
}

#[cfg(test)]
mod tests;
