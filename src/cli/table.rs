//! Human rendering of token records: the `list` table and the `Label: value`
//! lines of create, details and update.
//!
//! Takes the reply JSON as it comes (lenient about numbers sent as strings
//! or booleans) and a time zone, so tests are independent of the machine's.

use std::fmt::Display;

use chrono::TimeZone;
use serde_json::{Map, Value};

/// Date format of the `list` table (WHM's).
pub const LIST_TIME: &str = "%m %d %Y %H:%M:%S";
/// Date format of the record lines.
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

fn expiry(v: &Value) -> Option<i64> {
    int(v, "expires_at").filter(|t| *t != 0)
}

fn ips(v: &Value) -> String {
    let list = strings(v, "whitelist_ips");
    if list.is_empty() {
        "Any".to_owned()
    } else {
        list.join(", ")
    }
}

/// Record form: `acls` an array, absent (or `all`) for full access.
fn record_acls(v: &Value) -> String {
    let list = strings(v, "acls");
    let absent = matches!(v.get("acls"), None | Some(Value::Null));
    if flag(v, "has_full_access") || absent || list.iter().any(|a| a == "all") {
        "All (full access)".to_owned()
    } else if list.is_empty() {
        "None".to_owned()
    } else {
        list.join(", ")
    }
}

/// List form: `acls` an object privilege → 0/1.
fn list_acls(v: &Value) -> String {
    if flag(v, "has_full_access") {
        return "All".to_owned();
    }
    let mut held: Vec<&str> = match v.get("acls") {
        Some(Value::Object(m)) => m
            .iter()
            .filter(|(_, on)| {
                matches!(on, Value::Bool(true))
                    || on.as_i64() == Some(1)
                    || on.as_str() == Some("1")
            })
            .map(|(k, _)| k.as_str())
            .collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    held.sort_unstable();
    if held.is_empty() {
        "None".to_owned()
    } else {
        held.join(", ")
    }
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

/// The `list` table; `tokens` is `data.tokens`.
pub fn list_table<Tz: TimeZone>(
    tokens: &Map<String, Value>,
    search: Option<&str>,
    tz: &Tz,
) -> String
where
    Tz::Offset: Display,
{
    let needle = search.map(str::to_lowercase);
    let mut rows: Vec<[String; 5]> = tokens
        .iter()
        .map(|(key, v)| {
            (
                if text(v, "name").is_empty() {
                    key.as_str()
                } else {
                    text(v, "name")
                },
                v,
            )
        })
        .filter(|(name, _)| {
            needle
                .as_ref()
                .is_none_or(|n| name.to_lowercase().contains(n))
        })
        .map(|(name, v)| list_row(name, v, tz))
        .collect();
    if rows.is_empty() {
        return match search {
            Some(s) if !tokens.is_empty() => format!("No API tokens match \"{s}\".\n"),
            _ => "No API tokens.\n".to_owned(),
        };
    }
    // Case-insensitive, as a person scans a list; exact order breaks ties.
    rows.sort_by(|a, b| {
        a[0].to_lowercase()
            .cmp(&b[0].to_lowercase())
            .then_with(|| a[0].cmp(&b[0]))
    });
    let header = ["Name", "Created", "Expires", "IPs", "ACLs"].map(str::to_owned);
    align(&header, &rows)
}

fn list_row<Tz: TimeZone>(name: &str, v: &Value, tz: &Tz) -> [String; 5]
where
    Tz::Offset: Display,
{
    let created = int(v, "create_time").map_or_else(String::new, |t| format_time(tz, t, LIST_TIME));
    let expires = match expiry(v) {
        None => "Never".to_owned(),
        Some(t) => {
            let mut s = format_time(tz, t, LIST_TIME);
            if flag(v, "expired") {
                s.push_str(" (expired)");
            } else if flag(v, "expires_soon") {
                s.push_str(" (expires soon)");
            }
            s
        }
    };
    [name.to_owned(), created, expires, ips(v), list_acls(v)]
}

fn align(header: &[String; 5], rows: &[[String; 5]]) -> String {
    let mut widths = [0usize; 5];
    for row in std::iter::once(header).chain(rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
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

    fn tokens() -> Map<String, Value> {
        json!({
            "zeta": {"name": "zeta", "create_time": 1_700_000_000, "expires_at": null,
                     "whitelist_ips": null, "has_full_access": 1, "expired": 0,
                     "expires_soon": 0, "acls": {"list-accts": 1, "passwd": 1}},
            "alpha": {"name": "alpha", "create_time": 1_600_000_000, "expires_at": 1_600_086_400,
                      "whitelist_ips": ["10.0.0.1", "10.1.0.0/16"], "has_full_access": 0,
                      "expired": 1, "expires_soon": 0,
                      "acls": {"ssl": 1, "list-accts": 1, "passwd": 0}},
            "Beta": {"name": "Beta", "create_time": 1_700_000_000, "expires_at": 1_900_000_000,
                     "whitelist_ips": [], "has_full_access": 0, "expired": 0,
                     "expires_soon": 1, "acls": {"ssl": 1}}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn list_table_exact() {
        let expected = "\
Name   Created              Expires                             IPs                    ACLs
alpha  09 13 2020 13:26:40  09 14 2020 13:26:40 (expired)       10.0.0.1, 10.1.0.0/16  list-accts, ssl
Beta   11 14 2023 23:13:20  03 17 2030 18:46:40 (expires soon)  Any                    ssl
zeta   11 14 2023 23:13:20  Never                               Any                    All
";
        assert_eq!(list_table(&tokens(), None, &tz()), expected);
    }

    #[test]
    fn list_search_and_empty() {
        let out = list_table(&tokens(), Some("ET"), &tz());
        assert_eq!(out.lines().count(), 3, "{out}");
        assert!(out.contains("Beta") && out.contains("zeta") && !out.contains("alpha"));
        assert_eq!(list_table(&Map::new(), None, &tz()), "No API tokens.\n");
        assert_eq!(
            list_table(&Map::new(), Some("x"), &tz()),
            "No API tokens.\n"
        );
        assert_eq!(
            list_table(&tokens(), Some("nope"), &tz()),
            "No API tokens match \"nope\".\n"
        );
    }

    #[test]
    fn record_lines_exact() {
        let restricted = json!({"name": "ci", "create_time": 1_700_000_000,
            "expires_at": 1_900_000_000, "acls": ["list-accts", "ssl"],
            "whitelist_ips": ["10.0.0.1"], "has_full_access": 0});
        assert_eq!(
            lines(&record_fields(&restricted, &tz())),
            "\
Name:    ci
Created: 2023-11-14 23:13:20
Expires: 2030-03-17 18:46:40
IPs:     10.0.0.1
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
IPs:     Any
ACLs:    All (full access)
"
        );
    }
}
