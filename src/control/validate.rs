//! Validation of request arguments: token names, user names, ACL lists,
//! expiry times and IP lists.
//!
//! Pure functions from argument text to checked values or a [`Failure`]
//! with a stable code, so the rules are unit tested, property tested and
//! fuzzed without a daemon.

use apitokend_proto::ErrorCode;

use super::params::ArgError;
use crate::accounts;
use crate::acl::{self, Catalog, Holdings};
use crate::iplist::{self, IpListChange};
use crate::logging;
use crate::store;
use crate::text::shown;

/// Why a request failed: a stable code and a sentence for people.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: ErrorCode,
    pub why: String,
}

impl Failure {
    pub fn new(code: ErrorCode, why: impl Into<String>) -> Failure {
        Failure {
            code,
            why: why.into(),
        }
    }
}

impl From<ArgError> for Failure {
    fn from(e: ArgError) -> Self {
        Failure::new(ErrorCode::BadRequest, e.0)
    }
}

impl From<store::StoreError> for Failure {
    fn from(e: store::StoreError) -> Self {
        logging::error(&e.to_string());
        Failure::new(ErrorCode::Internal, "internal error in the token store")
    }
}

pub(crate) fn name_exists(name: &str) -> Failure {
    Failure::new(
        ErrorCode::NameExists,
        format!("an API token named “{name}” already exists"),
    )
}

pub(crate) fn not_found(name: &str) -> Failure {
    Failure::new(
        ErrorCode::NotFound,
        format!("no API token named “{}” exists", shown(name, 60)),
    )
}

/// Token names: `^[A-Za-z0-9_-]{1,50}$`.
pub fn is_valid_token_name(name: &str) -> bool {
    (1..=50).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Latest Unix time accepted for `expires_at` (9999-12-31T23:59:59Z).
pub const MAX_EXPIRY: i64 = 253_402_300_799;

pub fn valid_name(name: &str, key: &str) -> Result<String, Failure> {
    if is_valid_token_name(name) {
        Ok(name.to_owned())
    } else {
        Err(Failure::new(
            ErrorCode::InvalidName,
            format!(
                "invalid {key} “{}”: use 1 to 50 letters, digits, underscores or hyphens",
                shown(name, 60)
            ),
        ))
    }
}

pub fn valid_user(name: &str) -> Result<String, Failure> {
    if accounts::is_valid_user_name(name) {
        Ok(name.to_owned())
    } else {
        Err(Failure::new(ErrorCode::InvalidUser, "invalid user name"))
    }
}

/// Validates an `acl` list: every name known and held, all bad ones named.
/// `Ok(None)` is full access (`all`).
pub fn parse_acls(
    values: &[String],
    holdings: &Holdings,
    catalog: &Catalog,
) -> Result<Option<Vec<String>>, Failure> {
    let mut acls: Vec<String> = values.iter().map(|v| v.trim().to_owned()).collect();
    if acls.is_empty() {
        return Err(Failure::new(
            ErrorCode::InvalidAcl,
            "a token needs at least one ACL (omit “acl” for full access)",
        ));
    }
    acls.sort();
    acls.dedup();
    let quoted = |a: &String| format!("“{}”", shown(a, 64));
    let unknown: Vec<String> = acls
        .iter()
        .filter(|a| !catalog.is_known(a))
        .map(quoted)
        .collect();
    let not_held: Vec<String> = acls
        .iter()
        .filter(|a| catalog.is_known(a) && !holdings.holds(a))
        .map(quoted)
        .collect();
    if !unknown.is_empty() || !not_held.is_empty() {
        let mut parts = Vec::new();
        if !unknown.is_empty() {
            // A typo is the usual cause: name the closest known ones (for
            // the first few, so a long list cannot buy much CPU).
            let mut near: Vec<&str> = acls
                .iter()
                .filter(|a| !catalog.is_known(a))
                .take(3)
                .flat_map(|a| crate::text::closest(a, catalog.iter()))
                .collect();
            near.dedup();
            parts.push(format!(
                "unknown privileges: {}{}",
                unknown.join(", "),
                crate::text::did_you_mean(&near)
            ));
        }
        if !not_held.is_empty() {
            parts.push(format!(
                "privileges the owner does not hold: {}",
                not_held.join(", ")
            ));
        }
        return Err(Failure::new(ErrorCode::InvalidAcl, parts.join("; ")));
    }
    if acls.iter().any(|a| a == acl::ALL) {
        return Ok(None);
    }
    Ok(Some(acls))
}

/// `None`: not given. `Some(None)`: never expires. `Some(Some(t))`: expiry.
pub fn parse_expiry(value: Option<String>, now: i64) -> Result<Option<Option<i64>>, Failure> {
    let Some(v) = value else {
        return Ok(None);
    };
    let v = v.trim();
    if v.is_empty() || v == "0" {
        return Ok(Some(None));
    }
    let bad = || {
        Failure::new(
            ErrorCode::InvalidExpiry,
            format!(
                "expires_at must be a Unix time (seconds), 0 or empty for never; got “{}”",
                shown(v, 40)
            ),
        )
    };
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let t: i64 = v.parse().map_err(|_| bad())?;
    if t > MAX_EXPIRY {
        return Err(bad());
    }
    if t <= now {
        return Err(Failure::new(
            ErrorCode::InvalidExpiry,
            format!(
                "expires_at {} is not in the future",
                crate::text::local_time(t)
            ),
        ));
    }
    Ok(Some(Some(t)))
}

pub fn parse_ips(values: &[String]) -> Result<Vec<String>, Failure> {
    match iplist::parse(values) {
        Ok(IpListChange::Clear) => Ok(Vec::new()),
        Ok(IpListChange::Set(nets)) => Ok(nets.iter().map(iplist::format).collect()),
        Err(why) => Err(Failure::new(ErrorCode::InvalidIp, why)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names() {
        assert!(is_valid_token_name("a"));
        assert!(is_valid_token_name(&"x".repeat(50)));
        assert!(is_valid_token_name("My_token-2"));
        assert!(!is_valid_token_name(""));
        assert!(!is_valid_token_name(&"x".repeat(51)));
        assert!(!is_valid_token_name("with space"));
        assert!(!is_valid_token_name("dot.ted"));
        assert!(!is_valid_token_name("é"));
    }

    #[test]
    fn expiry_rules() {
        assert_eq!(parse_expiry(None, 100).unwrap(), None);
        assert_eq!(parse_expiry(Some("0".into()), 100).unwrap(), Some(None));
        assert_eq!(parse_expiry(Some("".into()), 100).unwrap(), Some(None));
        assert_eq!(
            parse_expiry(Some("101".into()), 100).unwrap(),
            Some(Some(101))
        );
        for bad in ["100", "99", "-5", "1.5", "tomorrow", "99999999999999999999"] {
            let f = parse_expiry(Some(bad.into()), 100).unwrap_err();
            assert_eq!(f.code, ErrorCode::InvalidExpiry, "{bad}");
        }
    }

    #[test]
    fn acl_rules_name_every_bad_one() {
        let c = Catalog::builtin();
        let h = Holdings::from_list("list-accts,create-acct");
        let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            parse_acls(&v(&["list-accts", "create-acct", "list-accts"]), &h, &c).unwrap(),
            Some(v(&["create-acct", "list-accts"]))
        );
        let f = parse_acls(&v(&["bogus", "passwd", "list-accts", "nope"]), &h, &c).unwrap_err();
        assert_eq!(f.code, ErrorCode::InvalidAcl);
        for part in ["“bogus”", "“nope”", "“passwd”"] {
            assert!(f.why.contains(part), "{}", f.why);
        }
        let f = parse_acls(&v(&["list-acct"]), &h, &c).unwrap_err();
        assert!(f.why.contains("(did you mean “list-accts”?)"), "{}", f.why);
        assert!(parse_acls(&v(&["all"]), &h, &c).is_err());
        assert_eq!(
            parse_acls(&v(&["all", "passwd"]), &Holdings::All, &c).unwrap(),
            None
        );
        assert!(parse_acls(&[], &h, &c).is_err());
    }
}
