//! Unit tests of `list_table`.

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
