//! Human rendering of token records: the `Label: value` lines of create,
//! details and update, and the cell values `list_table` shares.
//!
//! Takes the reply JSON as it comes (lenient about numbers sent as strings
//! or booleans) and a time zone, so tests are independent of the machine's.
//! One date format everywhere, `YYYY-MM-DD hh:mm:ss` local time; the table
//! shortens it to fit (Created by day, Expires and Last used by minute;
//! `--wide` shows seconds). Words for "no limit" are lowercase everywhere:
//! `never`, `any`, `all`. Addresses are shown compressed (`fc00::f`), as
//! people write them; `--json` keeps the API's expanded form.

use std::fmt::Display;

use chrono::TimeZone;
use ipnet::IpNet;
use serde_json::Value;

use crate::iplist;

/// The date format of every human output.
pub const RECORD_TIME: &str = "%Y-%m-%d %H:%M:%S";

/// Formats a Unix time in `tz`; an out-of-range value is shown as is.
pub fn format_time<Tz: TimeZone>(tz: &Tz, t: i64, fmt: &str) -> String
where
    Tz::Offset: Display,
{
    match tz.timestamp_opt(t, 0).earliest() {
        Some(d) => d.format(fmt).to_string(),
        None => t.to_string(),
    }
}

/// An integer field, also accepted as a numeric string.
pub fn int(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A 0/1 flag field.
pub fn flag(v: &Value, key: &str) -> bool {
    match v.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(_) => int(v, key) == Some(1),
        None => false,
    }
}

pub fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The strings of an array field (absent or null: empty).
pub fn strings(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub(super) fn expiry(v: &Value) -> Option<i64> {
    int(v, "expires_at").filter(|t| *t != 0)
}

/// An address or range as people write it: IPv6 compressed, a single host
/// without its prefix length. Unparsable text is shown as it came.
pub fn screen_ip(stored: &str) -> String {
    match iplist::parse_stored(stored) {
        Some(IpNet::V4(n)) if n.prefix_len() == 32 => n.addr().to_string(),
        Some(IpNet::V6(n)) if n.prefix_len() == 128 => n.addr().to_string(),
        Some(net) => net.to_string(),
        None => stored.to_owned(),
    }
}

pub(super) fn ip_list(v: &Value) -> Vec<String> {
    strings(v, "whitelist_ips")
        .iter()
        .map(|s| screen_ip(s))
        .collect()
}

fn ips(v: &Value) -> String {
    let list = ip_list(v);
    if list.is_empty() {
        "any".to_owned()
    } else {
        list.join(", ")
    }
}

/// Record form: `acls` an array, absent (or `all`) for full access.
fn record_acls(v: &Value) -> String {
    let list = strings(v, "acls");
    let absent = matches!(v.get("acls"), None | Some(Value::Null));
    if flag(v, "has_full_access") || absent || list.iter().any(|a| a == "all") {
        "all (full access)".to_owned()
    } else if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

/// List form: `acls` an object privilege → 0/1. `None`: full access.
pub(super) fn list_acls(v: &Value) -> Option<Vec<String>> {
    if flag(v, "has_full_access") {
        return None;
    }
    let mut held: Vec<String> = match v.get("acls") {
        Some(Value::Object(m)) => m
            .iter()
            .filter(|(_, on)| {
                matches!(on, Value::Bool(true))
                    || on.as_i64() == Some(1)
                    || on.as_str() == Some("1")
            })
            .map(|(k, _)| k.clone())
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    held.sort_unstable();
    Some(held)
}

/// Expiry and IP/ACL lines shared by create, details and update.
pub fn limit_lines<Tz: TimeZone>(v: &Value, tz: &Tz) -> Vec<(&'static str, String)>
where
    Tz::Offset: Display,
{
    let expires = match expiry(v) {
        None => "never".to_owned(),
        Some(t) => {
            let mut s = format_time(tz, t, RECORD_TIME);
            if flag(v, "expired") {
                s.push_str(" (expired)");
            }
            s
        }
    };
    vec![
        ("Expires", expires),
        ("IPs", ips(v)),
        ("ACLs", record_acls(v)),
    ]
}

/// Name, Created, Expires, IPs and ACLs of one record.
pub fn record_fields<Tz: TimeZone>(v: &Value, tz: &Tz) -> Vec<(&'static str, String)>
where
    Tz::Offset: Display,
{
    let created =
        int(v, "create_time").map_or_else(String::new, |t| format_time(tz, t, RECORD_TIME));
    let mut fields = vec![("Name", text(v, "name").to_owned()), ("Created", created)];
    fields.extend(limit_lines(v, tz));
    fields
}

/// `Label:  value` lines, values aligned.
pub fn lines(fields: &[(&str, String)]) -> String {
    let width = fields.iter().map(|(l, _)| l.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in fields {
        out.push_str(&format!("{:<width$} {value}\n", format!("{label}:")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;
    use serde_json::json;

    fn tz() -> FixedOffset {
        FixedOffset::east_opt(3600).unwrap()
    }

    #[test]
    fn record_lines_exact() {
        let restricted = json!({"name": "ci", "create_time": 1_700_000_000,
            "expires_at": 1_900_000_000, "acls": ["list-accts", "ssl"],
            "whitelist_ips": ["10.0.0.1", "fc00:0000:0000:0000:0000:0000:0000:0001"],
            "has_full_access": 0});
        assert_eq!(
            lines(&record_fields(&restricted, &tz())),
            "\
Name:    ci
Created: 2023-11-14 23:13:20
Expires: 2030-03-17 18:46:40
IPs:     10.0.0.1, fc00::1
ACLs:    list-accts, ssl
"
        );
        let full = json!({"name": "root-all", "create_time": "1700000000", "expires_at": null});
        assert_eq!(
            lines(&record_fields(&full, &tz())),
            "\
Name:    root-all
Created: 2023-11-14 23:13:20
Expires: never
IPs:     any
ACLs:    all (full access)
"
        );
    }
}
