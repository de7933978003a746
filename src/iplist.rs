//! Token IP lists: parsing, normalisation and matching.
//!
//! Normal form (as cPanel shows it): de-duplicated, IPv4 before IPv6, each
//! ordered numerically; IPv6 written fully expanded; a single host without
//! `/32` or `/128`; a range keeps its prefix (host bits are cleared). An
//! IPv4-mapped IPv6 entry or caller address is treated as IPv4.

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
    Some(net.trunc())
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
    fn stored_form_round_trips() {
        for s in norm(&["fc00:abcd::f", "10.0.0.0/8", "2001:db8::/32", "1.2.3.4"]) {
            assert_eq!(format(&parse_stored(&s).unwrap()), s);
        }
    }
}
