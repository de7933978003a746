//! The `list` table: one row per token, fitted to the terminal.
//!
//! Dates are the CLI's one format shortened (Created by day, Expires and
//! Last used by minute; `--wide` shows seconds). When the width is known
//! (a terminal, or `COLUMNS`) and the rows would not fit, the address and
//! privilege lists are summarised (`a, b +3 more`); the name and dates
//! never are. Expired rows are red, rows expiring soon yellow, when colour
//! is on (see `term`); the marks `(expired)` and `(soon)` are there either
//! way, for readers without colour.

use std::fmt::Display;

use chrono::TimeZone;
use serde_json::{Map, Value};

use super::table::{RECORD_TIME, expiry, flag, format_time, int, ip_list, list_acls, text};
use super::term::{Paint, paint};

/// The table's shortenings of the date format.
const TABLE_DAY: &str = "%Y-%m-%d";
const TABLE_MINUTE: &str = "%Y-%m-%d %H:%M";

/// How the `list` table is drawn.
#[derive(Debug, Clone, Copy)]
pub struct ListStyle<'a> {
    pub search: Option<&'a str>,
    /// Columns available (`None`: unlimited, every value in full).
    pub width: Option<usize>,
    pub color: bool,
    /// Seconds in dates, every value in full.
    pub wide: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    None,
    Expired,
    Soon,
}

/// One table row before it is fitted to the width.
#[derive(Debug)]
struct Row {
    /// Owner (with `--all-users`), Name, Created, Expires, Last used.
    fixed: Vec<String>,
    ips: Vec<String>,
    /// `None`: full access.
    acls: Option<Vec<String>>,
    mark: Mark,
}

/// The `list` table of one owner (`owner` is `None`) or of several, each
/// `(owner, data.tokens)`, with an Owner column.
pub fn list_table<Tz: TimeZone>(
    owners: &[(Option<&str>, &Map<String, Value>)],
    style: &ListStyle<'_>,
    tz: &Tz,
) -> String
where
    Tz::Offset: Display,
{
    let needle = style.search.map(str::to_lowercase);
    let with_owner = owners.iter().any(|(o, _)| o.is_some());
    let mut rows: Vec<(String, String, Row)> = Vec::new();
    for (owner, tokens) in owners {
        for (key, v) in tokens.iter() {
            let name = if text(v, "name").is_empty() {
                key.as_str()
            } else {
                text(v, "name")
            };
            if needle
                .as_ref()
                .is_some_and(|n| !name.to_lowercase().contains(n))
            {
                continue;
            }
            let owner = owner.unwrap_or_default().to_owned();
            let mut row = list_row(name, v, style.wide, tz);
            if with_owner {
                row.fixed.insert(0, owner.clone());
            }
            rows.push((owner, name.to_owned(), row));
        }
    }
    if rows.is_empty() {
        let any = owners.iter().any(|(_, t)| !t.is_empty());
        return match style.search {
            Some(s) if any => format!("No API tokens match \"{s}\".\n"),
            _ => "No API tokens.\n".to_owned(),
        };
    }
    // By owner, then case-insensitively by name, as a person scans a list;
    // exact order breaks ties.
    rows.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.to_lowercase().cmp(&b.1.to_lowercase()))
            .then_with(|| a.1.cmp(&b.1))
    });
    let mut header: Vec<&str> = vec!["Name", "Created", "Expires", "Last used", "IPs", "ACLs"];
    if with_owner {
        header.insert(0, "Owner");
    }
    let rows: Vec<Row> = rows.into_iter().map(|(_, _, r)| r).collect();
    render(&header, &rows, style)
}

fn list_row<Tz: TimeZone>(name: &str, v: &Value, wide: bool, tz: &Tz) -> Row
where
    Tz::Offset: Display,
{
    let (day, minute) = if wide {
        (RECORD_TIME, RECORD_TIME)
    } else {
        (TABLE_DAY, TABLE_MINUTE)
    };
    let created = int(v, "create_time").map_or_else(String::new, |t| format_time(tz, t, day));
    let mark = if flag(v, "expired") {
        Mark::Expired
    } else if flag(v, "expires_soon") {
        Mark::Soon
    } else {
        Mark::None
    };
    let expires = match expiry(v) {
        None => "never".to_owned(),
        Some(t) => {
            let s = format_time(tz, t, minute);
            match mark {
                Mark::Expired => format!("{s} (expired)"),
                Mark::Soon => format!("{s} (soon)"),
                Mark::None => s,
            }
        }
    };
    let last_used = int(v, "last_used_at")
        .filter(|t| *t > 0)
        .map_or_else(|| "never".to_owned(), |t| format_time(tz, t, minute));
    Row {
        fixed: vec![name.to_owned(), created, expires, last_used],
        ips: ip_list(v),
        acls: list_acls(v),
        mark,
    }
}

fn width_of(s: &str) -> usize {
    s.chars().count()
}

/// `items` joined; or as many as fit in `budget` followed by `+N more`;
/// or, when not even one fits with that tail, their count (`4 addresses`).
fn summarise(items: &[String], budget: Option<usize>, noun: (&str, &str)) -> String {
    let full = items.join(", ");
    let Some(budget) = budget else {
        return full;
    };
    if width_of(&full) <= budget || items.len() <= 1 {
        return full;
    }
    let mut shown: Option<String> = None;
    for k in 1..items.len() {
        let candidate = format!("{} +{} more", items[..k].join(", "), items.len() - k);
        if width_of(&candidate) > budget {
            break;
        }
        shown = Some(candidate);
    }
    shown.unwrap_or_else(|| {
        let n = items.len();
        format!("{n} {}", if n == 1 { noun.0 } else { noun.1 })
    })
}

/// The two list cells of every row, fitted to what the width leaves.
fn fit_lists(rows: &[Row], header: &[&str], style: &ListStyle<'_>) -> Vec<[String; 2]> {
    let acl_cells = |r: &Row| match &r.acls {
        None => vec!["all".to_owned()],
        Some(l) if l.is_empty() => vec!["none".to_owned()],
        Some(l) => l.clone(),
    };
    let ip_cells = |r: &Row| {
        if r.ips.is_empty() {
            vec!["any".to_owned()]
        } else {
            r.ips.clone()
        }
    };
    let natural = |f: &dyn Fn(&Row) -> Vec<String>| {
        rows.iter()
            .map(|r| width_of(&f(r).join(", ")))
            .max()
            .unwrap_or(0)
    };
    let (ip_need, acl_need) = (natural(&ip_cells).max(3), natural(&acl_cells).max(4));
    let budgets = match style.width {
        Some(width) if !style.wide => {
            let fixed_cols = header.len() - 2;
            let fixed: usize = (0..fixed_cols)
                .map(|i| {
                    rows.iter()
                        .map(|r| width_of(&r.fixed[i]))
                        .chain([width_of(header[i])])
                        .max()
                        .unwrap_or(0)
                })
                .sum::<usize>()
                + 2 * (header.len() - 1);
            let avail = width.saturating_sub(fixed);
            if ip_need + acl_need <= avail {
                None
            } else {
                // The addresses get up to half, the privileges the rest;
                // a very narrow terminal may still get longer lines.
                let ip = ip_need.min(avail / 2);
                Some((ip, avail - ip))
            }
        }
        _ => None,
    };
    rows.iter()
        .map(|r| {
            [
                summarise(&ip_cells(r), budgets.map(|b| b.0), ("address", "addresses")),
                summarise(
                    &acl_cells(r),
                    budgets.map(|b| b.1),
                    ("privilege", "privileges"),
                ),
            ]
        })
        .collect()
}

fn render(header: &[&str], rows: &[Row], style: &ListStyle<'_>) -> String {
    let lists = fit_lists(rows, header, style);
    let cells: Vec<Vec<&str>> = rows
        .iter()
        .zip(&lists)
        .map(|(r, l)| {
            r.fixed
                .iter()
                .map(String::as_str)
                .chain(l.iter().map(String::as_str))
                .collect()
        })
        .collect();
    let mut widths = vec![0usize; header.len()];
    for row in std::iter::once(header).chain(cells.iter().map(Vec::as_slice)) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width_of(cell));
        }
    }
    let line = |row: &[&str]| {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - width_of(cell) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        line.trim_end().to_owned()
    };
    let mut out = paint(&line(header), Paint::Bold, style.color);
    out.push('\n');
    for (row, r) in cells.iter().zip(rows) {
        let colour = match r.mark {
            Mark::Expired => Paint::Red,
            Mark::Soon => Paint::Yellow,
            Mark::None => Paint::Plain,
        };
        out.push_str(&paint(&line(row), colour, style.color));
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
                     "expires_soon": 0, "acls": {"list-accts": 1, "passwd": 1},
                     "last_used_at": 1_700_003_600, "last_used_ip": "10.0.0.1"},
            "alpha": {"name": "alpha", "create_time": 1_600_000_000, "expires_at": 1_600_086_400,
                      "whitelist_ips": ["10.0.0.1", "10.1.0.0/16"], "has_full_access": 0,
                      "expired": 1, "expires_soon": 0,
                      "acls": {"ssl": 1, "list-accts": 1, "passwd": 0}},
            "Beta": {"name": "Beta", "create_time": 1_700_000_000, "expires_at": 1_900_000_000,
                     "whitelist_ips": ["fc00:abcd:0000:0000:0000:0000:0000:000f",
                                       "2001:0db8:0000:0000:0000:0000:0000:0000/32"],
                     "has_full_access": 0, "expired": 0,
                     "expires_soon": 1, "acls": {"ssl": 1}}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn style(width: Option<usize>) -> ListStyle<'static> {
        ListStyle {
            search: None,
            width,
            color: false,
            wide: false,
        }
    }

    #[test]
    fn list_table_exact() {
        let expected = "\
Name   Created     Expires                   Last used         IPs                      ACLs
alpha  2020-09-13  2020-09-14 13:26 (expired)  never             10.0.0.1, 10.1.0.0/16    list-accts, ssl
Beta   2023-11-14  2030-03-17 18:46 (soon)     never             fc00:abcd::f, 2001:db8::/32  ssl
zeta   2023-11-14  never                     2023-11-15 00:13  any                      all
";
        let got = list_table(&[(None, &tokens())], &style(None), &tz());
        let norm = |s: &str| -> Vec<Vec<String>> {
            s.lines()
                .map(|l| {
                    l.split("  ")
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .collect()
        };
        assert_eq!(norm(&got), norm(expected), "{got}");
        // Columns line up.
        let starts: Vec<usize> = got
            .lines()
            .map(|l| {
                l.find("IPs")
                    .or_else(|| {
                        l.find("10.0")
                            .or_else(|| l.find("fc00"))
                            .or_else(|| l.find("any"))
                    })
                    .unwrap()
            })
            .collect();
        assert!(starts.windows(2).all(|w| w[0] == w[1]), "{got}");
    }

    #[test]
    fn narrow_width_summarises_lists_and_wide_does_not() {
        let mut many = Map::new();
        let ips: Vec<String> = (1..=4).map(|i| format!("192.0.2.{i}")).collect();
        let acls: Map<String, Value> = [
            "acct-summary",
            "create-acct",
            "edit-dns",
            "kill-acct",
            "list-accts",
            "list-pkgs",
            "passwd",
            "ssl",
            "suspend-acct",
            "upgrade-account",
        ]
        .iter()
        .map(|a| ((*a).to_owned(), json!(1)))
        .collect();
        many.insert(
            "deploy".into(),
            json!({"name": "deploy", "create_time": 1_700_000_000, "expires_at": null,
                   "whitelist_ips": ips, "has_full_access": 0, "acls": acls}),
        );
        let full = list_table(&[(None, &many)], &style(None), &tz());
        assert!(
            full.contains("192.0.2.4") && full.contains("upgrade-account"),
            "{full}"
        );
        let narrow = list_table(&[(None, &many)], &style(Some(100)), &tz());
        for l in narrow.lines() {
            assert!(
                l.chars().count() <= 100,
                "{} > 100: {narrow}",
                l.chars().count()
            );
        }
        assert!(narrow.contains(" more"), "{narrow}");
        assert!(
            narrow.contains("192.0.2.1") && narrow.contains("acct-summary"),
            "{narrow}"
        );
        let wide = list_table(
            &[(None, &many)],
            &ListStyle {
                wide: true,
                ..style(Some(100))
            },
            &tz(),
        );
        assert!(
            wide.contains("upgrade-account") && wide.contains("2023-11-14 23:13:20"),
            "{wide}"
        );
    }

    #[test]
    fn colour_marks_rows() {
        let got = list_table(
            &[(None, &tokens())],
            &ListStyle {
                color: true,
                ..style(None)
            },
            &tz(),
        );
        let lines: Vec<&str> = got.lines().collect();
        assert!(lines[0].starts_with("\x1b[1m"), "{got:?}");
        assert!(
            lines[1].starts_with("\x1b[31malpha") && lines[1].ends_with("\x1b[0m"),
            "{got:?}"
        );
        assert!(lines[2].starts_with("\x1b[33mBeta"), "{got:?}");
        assert!(lines[3].starts_with("zeta"), "{got:?}");
        let plain = list_table(&[(None, &tokens())], &style(None), &tz());
        assert!(!plain.contains('\x1b'));
    }

    #[test]
    fn owners_column() {
        let t = tokens();
        let other = json!({"x": {"name": "x", "create_time": 0}})
            .as_object()
            .unwrap()
            .clone();
        let got = list_table(
            &[(Some("root"), &t), (Some("bob"), &other)],
            &style(None),
            &tz(),
        );
        let first: Vec<&str> = got
            .lines()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(first, ["Owner", "bob", "root", "root", "root"], "{got}");
    }

    #[test]
    fn list_search_and_empty() {
        let t = tokens();
        let out = list_table(
            &[(None, &t)],
            &ListStyle {
                search: Some("ET"),
                ..style(None)
            },
            &tz(),
        );
        assert_eq!(out.lines().count(), 3, "{out}");
        assert!(out.contains("Beta") && out.contains("zeta") && !out.contains("alpha"));
        let empty = Map::new();
        assert_eq!(
            list_table(&[(None, &empty)], &style(None), &tz()),
            "No API tokens.\n"
        );
        assert_eq!(
            list_table(
                &[(None, &t)],
                &ListStyle {
                    search: Some("nope"),
                    ..style(None)
                },
                &tz()
            ),
            "No API tokens match \"nope\".\n"
        );
    }
}
