//! Human output of the commands that describe the daemon rather than
//! tokens: `status`, `acls` and `functions` (all from the `status` reply).

use std::fmt::Display;

use chrono::TimeZone;
use serde_json::Value;

use super::args::{AclsArgs, FunctionsArgs};
use super::table::{RECORD_TIME, format_time, int, lines, strings, text};
use crate::text::{closest, did_you_mean};

/// `3 d 4 h`, `2 h 5 min`, `12 min`, `40 s`.
fn duration(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn status<Tz: TimeZone>(data: &Value, tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    let started =
        int(data, "started_at").map_or_else(String::new, |t| format_time(tz, t, RECORD_TIME));
    let mut fields = vec![
        ("Version", format!("apitokend {}", text(data, "version"))),
        (
            "Up",
            format!(
                "{} (since {started})",
                duration(int(data, "uptime_secs").unwrap_or(0))
            ),
        ),
    ];
    let server = data.get("owners").is_some();
    if server {
        for (label, key) in [
            ("Control socket", "control_socket"),
            ("Verify socket", "verify_socket"),
        ] {
            let v = text(data, key);
            fields.push((
                label,
                if v.is_empty() {
                    "-".to_owned()
                } else {
                    v.to_owned()
                },
            ));
        }
        fields.push((
            "Tokens",
            format!(
                "{} of {}",
                int(data, "tokens").unwrap_or(0),
                plural(int(data, "owners").unwrap_or(0), "owner", "owners")
            ),
        ));
        fields.push((
            "Verified cache",
            plural(
                int(data, "verified_cache_entries").unwrap_or(0),
                "token",
                "tokens",
            ),
        ));
        let fast = int(data, "verifies_fast").unwrap_or(0);
        let general = int(data, "verifies_general").unwrap_or(0);
        fields.push((
            "Verifies",
            format!("{} since start ({fast} on the fast path)", fast + general),
        ));
        fields.push((
            "Lockouts",
            plural(int(data, "lockouts").unwrap_or(0), "address", "addresses"),
        ));
        let reload = match data.get("last_reload") {
            Some(r @ Value::Object(_)) => {
                let at = int(r, "at").map_or_else(String::new, |t| format_time(tz, t, RECORD_TIME));
                let problems = strings(r, "problems");
                if problems.is_empty() {
                    format!("{at}, applied")
                } else {
                    format!("{at}, with problems: {}", problems.join("; "))
                }
            }
            _ => "none since start".to_owned(),
        };
        fields.push(("Last reload", reload));
    } else {
        fields.push(("Your tokens", int(data, "tokens").unwrap_or(0).to_string()));
    }
    fields.push((
        "Expiry warning",
        plural(int(data, "expiry_warning_days").unwrap_or(0), "day", "days"),
    ));
    lines(&fields)
}

/// Columns separated by two spaces, the last one unpadded.
fn columns(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for r in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                line.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn acls(data: &Value, a: &AclsArgs) -> String {
    let mut rows: Vec<(String, String, bool)> = data["privileges"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            (
                text(p, "category").to_owned(),
                text(p, "name").to_owned(),
                int(p, "bypasses_limits") == Some(1),
            )
        })
        .filter(|(_, _, bypass)| *bypass || !a.bypassing)
        .collect();
    if rows.is_empty() {
        return "No privileges.\n".to_owned();
    }
    // `all` (category "everything") last, as the WHM page lists it.
    rows.sort_by(|x, y| (x.0 == "everything", &x.0, &x.1).cmp(&(y.0 == "everything", &y.0, &y.1)));
    let table: Vec<Vec<String>> = rows
        .into_iter()
        .map(|(c, n, b)| {
            vec![
                n,
                c,
                if b {
                    "bypasses token limits".to_owned()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    let mut out = columns(&["Privilege", "Category", "Note"], &table);
    out.push_str(
        "\nA token holding a privilege marked \"bypasses token limits\" can change passwords, \
         open sessions or manage tokens, and so escape its own limits: grant it only to \
         tokens you would trust with full access.\n",
    );
    out
}

pub fn functions(data: &Value, a: &FunctionsArgs) -> String {
    let empty = serde_json::Map::new();
    let table = data["functions"].as_object().unwrap_or(&empty);
    let needs = |v: &Value| {
        let alternatives: Vec<String> = v
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        alternatives.join(" or ")
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    if a.names.is_empty() {
        for (f, v) in table {
            rows.push(vec![f.clone(), needs(v)]);
        }
    } else {
        for name in &a.names {
            match table.get(name) {
                Some(v) => rows.push(vec![name.clone(), needs(v)]),
                None => {
                    let near = closest(name, table.keys().map(String::as_str));
                    let hint = did_you_mean(&near);
                    let hint = hint.trim().trim_start_matches('(').trim_end_matches(')');
                    let why = if hint.is_empty() {
                        "all (not in the table)".to_owned()
                    } else {
                        format!("all (not in the table; {hint})")
                    };
                    rows.push(vec![crate::text::shown(name, 64), why]);
                }
            }
        }
    }
    let mut out = columns(&["Function", "Needs (any one)"], &rows);
    out.push_str("\nA function not in the table needs \"all\".\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(duration(40), "40 s");
        assert_eq!(duration(125), "2 min");
        assert_eq!(duration(7_500), "2 h 5 min");
        assert_eq!(duration(3 * 86_400 + 4 * 3_600 + 60), "3 d 4 h");
    }

    #[test]
    fn status_root_and_reseller() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let root = json!({"version": "0.1.0", "started_at": 0, "uptime_secs": 3_660,
            "control_socket": "/c", "verify_socket": "/v", "tokens": 5, "owners": 1,
            "verified_cache_entries": 1, "lockouts": 2, "expiry_warning_days": 7,
            "verifies_fast": 7, "verifies_general": 3,
            "last_reload": {"at": 60, "result": "problems", "problems": ["x"]}});
        let out = status(&root, &utc);
        for want in [
            "Version:        apitokend 0.1.0",
            "Up:             1 h 1 min (since 1970-01-01 00:00:00)",
            "Tokens:         5 of 1 owner",
            "Verified cache: 1 token",
            "Verifies:       10 since start (7 on the fast path)",
            "Lockouts:       2 addresses",
            "Last reload:    1970-01-01 00:01:00, with problems: x",
        ] {
            assert!(out.contains(want), "{want:?} in\n{out}");
        }
        let res = json!({"version": "0.1.0", "started_at": 0, "uptime_secs": 5,
            "tokens": 2, "expiry_warning_days": 1});
        let out = status(&res, &utc);
        assert!(
            out.contains("Your tokens:    2") && !out.contains("socket"),
            "{out}"
        );
    }

    #[test]
    fn functions_named_and_unknown() {
        let data = json!({"functions": {"listaccts": ["list-accts"], "version": ["basic-whm-functions", "clustering"]}});
        let out = functions(
            &data,
            &FunctionsArgs {
                names: vec!["version".into(), "listacct".into()],
            },
        );
        assert!(
            out.contains("version   basic-whm-functions or clustering"),
            "{out}"
        );
        assert!(
            out.contains("listacct  all (not in the table; did you mean “listaccts”?)"),
            "{out}"
        );
    }
}
