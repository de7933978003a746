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
mod tests;
