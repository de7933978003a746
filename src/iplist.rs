//! Token IP lists: parsing, normalisation and matching.
//!
//! Normal form (as cPanel shows it): de-duplicated, IPv4 before IPv6, each
//! ordered numerically; IPv6 written fully expanded; a single host without
//! `/32` or `/128`; a range keeps its prefix and is stored as its network
//! (host bits cleared: `10.0.0.5/24` is `10.0.0.0/24`, `1.2.3.4/0` is
//! `0.0.0.0/0`; [`host_bits_cleared`] words a warning for the reply). An
//! IPv4-mapped IPv6 entry (`::ffff:a.b.c.d`, or a range of prefix /96 or
//! longer within `::ffff:0:0/96`) or caller address is treated as IPv4.
//! IPv4 callers match only IPv4 entries: no other IPv6 range matches one,
//! not even `::/0` (which is every IPv6 address; every address is `any`).

use std::net::{IpAddr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Most entries one token may carry.
pub const MAX_ENTRIES: usize = 100;

/// What a `whitelist_ip` argument asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum IpListChange {
    /// `any` was given: no restriction.
    Clear,
    Set(Vec<IpNet>),
}

fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn parse_one(text: &str) -> Option<IpNet> {
    parse_as_written(text).map(|net| net.trunc())
}

/// An entry as written, host bits and all.
fn parse_as_written(text: &str) -> Option<IpNet> {
    let net = match text.split_once('/') {
        None => {
            let addr = unmap(text.parse::<IpAddr>().ok()?);
            IpNet::from(addr)
        }
        Some((addr, prefix)) => {
            if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let prefix: u8 = prefix.parse().ok()?;
            match addr.parse::<IpAddr>().ok()? {
                IpAddr::V4(a) => IpNet::V4(Ipv4Net::new(a, prefix).ok()?),
                IpAddr::V6(a) => match a.to_ipv4_mapped() {
                    Some(v4) if prefix >= 96 => IpNet::V4(Ipv4Net::new(v4, prefix - 96).ok()?),
                    _ => IpNet::V6(Ipv6Net::new(a, prefix).ok()?),
                },
            }
        }
    };
    Some(net)
}

/// For each valid range in `values` written with host bits set (as
/// `10.0.0.5/24` or `1.2.3.4/0`), a sentence saying what was stored
/// instead. Such an entry is kept as its network, like every range: the
/// sentence lets the caller see when that is wider than meant.
pub fn host_bits_cleared(values: &[String]) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| {
            let written = parse_as_written(v.trim())?;
            let stored = written.trunc();
            (stored != written).then(|| {
                let everything = match stored {
                    IpNet::V4(n) if n.prefix_len() == 0 => " (every IPv4 address)",
                    IpNet::V6(n) if n.prefix_len() == 0 => " (every IPv6 address)",
                    _ => "",
                };
                format!(
                    "whitelist_ip “{}” has host bits set; stored as {}{everything}",
                    crate::text::shown(v.trim(), 64),
                    format(&stored)
                )
            })
        })
        .collect()
}

/// Parses the values of `whitelist_ip`; every invalid one is named.
pub fn parse(values: &[String]) -> Result<IpListChange, String> {
    if values.len() > MAX_ENTRIES {
        return Err(format!(
            "at most {MAX_ENTRIES} IP addresses or ranges may be given ({} were)",
            values.len()
        ));
    }
    if values.iter().any(|v| v.trim().eq_ignore_ascii_case("any")) {
        return Ok(IpListChange::Clear);
    }
    let mut nets = Vec::with_capacity(values.len());
    let mut bad = Vec::new();
    for v in values {
        let t = v.trim();
        if t.is_empty() {
            bad.push("(empty value)".to_owned());
        } else if let Some(net) = parse_one(t) {
            nets.push(net);
        } else {
            bad.push(format!("“{}”", crate::text::shown(t, 64)));
        }
    }
    if !bad.is_empty() {
        return Err(format!("invalid IP address or range: {}", bad.join(", ")));
    }
    if nets.is_empty() {
        return Err("whitelist_ip needs at least one address (or “any”)".to_owned());
    }
    Ok(IpListChange::Set(normalise(nets)))
}

/// Sorts (IPv4 first, numerically) and de-duplicates.
pub fn normalise(mut nets: Vec<IpNet>) -> Vec<IpNet> {
    nets.sort_by_key(|n| match n {
        IpNet::V4(v4) => (0u8, u128::from(u32::from(v4.addr())), v4.prefix_len()),
        IpNet::V6(v6) => (1u8, u128::from(v6.addr()), v6.prefix_len()),
    });
    nets.dedup();
    nets
}

fn expanded_v6(a: Ipv6Addr) -> String {
    let s = a.segments();
    s.iter()
        .map(|seg| format!("{seg:04x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The normal text form of one entry.
pub fn format(net: &IpNet) -> String {
    match net {
        IpNet::V4(n) if n.prefix_len() == 32 => n.addr().to_string(),
        IpNet::V4(n) => format!("{}/{}", n.addr(), n.prefix_len()),
        IpNet::V6(n) if n.prefix_len() == 128 => expanded_v6(n.addr()),
        IpNet::V6(n) => format!("{}/{}", expanded_v6(n.addr()), n.prefix_len()),
    }
}

/// Parses a stored entry (already in normal form).
pub fn parse_stored(text: &str) -> Option<IpNet> {
    parse_one(text)
}

/// Parses a caller's address; `None` for empty or unparsable input.
pub fn parse_caller(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<IpAddr>().ok().map(unmap)
}

/// True when `addr` equals an entry or lies in a listed range.
pub fn allows(list: &[IpNet], addr: IpAddr) -> bool {
    let addr = unmap(addr);
    list.iter().any(|net| net.contains(&addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn norm(values: &[&str]) -> Vec<String> {
        let owned: Vec<String> = values.iter().map(|s| (*s).to_owned()).collect();
        match parse(&owned).unwrap() {
            IpListChange::Set(n) => n.iter().map(format).collect(),
            IpListChange::Clear => vec!["<any>".into()],
        }
    }

    #[test]
    fn contract_example_normal_form() {
        assert_eq!(
            norm(&[
                "fc00:abcd::f",
                "10.0.0.2",
                "10.0.0.1/32",
                "192.168.0.0/16",
                "10.0.0.2",
                "::1/128"
            ]),
            vec![
                "10.0.0.1",
                "10.0.0.2",
                "192.168.0.0/16",
                "0000:0000:0000:0000:0000:0000:0000:0001",
                "fc00:abcd:0000:0000:0000:0000:0000:000f",
            ]
        );
    }

    #[test]
    fn ranges_truncate_and_mapped_become_v4() {
        assert_eq!(norm(&["10.1.2.3/8"]), vec!["10.0.0.0/8"]);
        assert_eq!(norm(&["::ffff:1.2.3.4"]), vec!["1.2.3.4"]);
        assert_eq!(norm(&["::ffff:1.2.3.0/120"]), vec!["1.2.3.0/24"]);
        assert_eq!(
            norm(&["fc00::/7"]),
            vec!["fc00:0000:0000:0000:0000:0000:0000:0000/7"]
        );
    }

    #[test]
    fn any_clears_and_bad_values_are_named() {
        assert_eq!(norm(&["1.2.3.4", "ANY"]), vec!["<any>"]);
        let e = parse(&[
            "1.2.3.4".into(),
            "".into(),
            "300.1.1.1".into(),
            "1.2.3.4/33".into(),
            "1.2.3.4/".into(),
        ])
        .unwrap_err();
        assert!(
            e.contains("(empty value)")
                && e.contains("300.1.1.1")
                && e.contains("1.2.3.4/33")
                && e.contains("1.2.3.4/”"),
            "{e}"
        );
        let many: Vec<String> = (0..101).map(|i| format!("10.0.0.{}", i % 250)).collect();
        assert!(parse(&many).unwrap_err().contains("at most 100"));
        let hundred: Vec<String> = (0..100).map(|i| format!("10.0.1.{i}")).collect();
        assert!(parse(&hundred).is_ok());
    }

    #[test]
    fn matching() {
        let list = match parse(&[
            "10.0.0.0/8".into(),
            "2001:db8::/32".into(),
            "192.0.2.7".into(),
        ])
        .unwrap()
        {
            IpListChange::Set(l) => l,
            IpListChange::Clear => unreachable!(),
        };
        assert!(allows(&list, v4(10, 9, 8, 7)));
        assert!(allows(&list, parse_caller("::ffff:10.1.1.1").unwrap()));
        assert!(allows(&list, parse_caller("2001:db8:1::5").unwrap()));
        assert!(allows(&list, v4(192, 0, 2, 7)));
        assert!(!allows(&list, v4(192, 0, 2, 8)));
        assert!(!allows(&list, parse_caller("2001:db9::1").unwrap()));
        assert_eq!(parse_caller(""), None);
        assert_eq!(parse_caller("nope"), None);
    }

    #[test]
    fn host_bits_are_named_with_what_was_stored() {
        let given: Vec<String> = [
            "1.2.3.4/0",
            "10.0.0.5/24",
            "10.0.0.0/24",
            "::1/0",
            "1.2.3.4",
            "any",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let w = host_bits_cleared(&given);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].contains("1.2.3.4/0")
                && w[0].ends_with("stored as 0.0.0.0/0 (every IPv4 address)")
        );
        assert!(w[1].ends_with("stored as 10.0.0.0/24"));
        assert!(w[2].contains("(every IPv6 address)"));
    }

    #[test]
    fn ipv6_ranges_never_match_ipv4_callers() {
        let nets = |v: &[&str]| match parse(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .unwrap()
        {
            IpListChange::Set(l) => l,
            IpListChange::Clear => unreachable!(),
        };
        let v4 = parse_caller("192.0.2.1").unwrap();
        assert!(!allows(&nets(&["::/0"]), v4));
        assert!(!allows(
            &nets(&["::/0"]),
            parse_caller("::ffff:192.0.2.1").unwrap()
        ));
        assert!(allows(
            &nets(&["::/0"]),
            parse_caller("2001:db8::1").unwrap()
        ));
        assert!(
            allows(&nets(&["::ffff:0:0/96"]), v4),
            "the mapped range is IPv4"
        );
    }

    #[test]
    fn stored_form_round_trips() {
        for s in norm(&["fc00:abcd::f", "10.0.0.0/8", "2001:db8::/32", "1.2.3.4"]) {
            assert_eq!(format(&parse_stored(&s).unwrap()), s);
        }
    }
}
