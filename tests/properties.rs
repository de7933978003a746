//! Property tests of argument validation: IP list normal form and matching,
//! token names and expiry times, over generated inputs in many spellings.
//! (The cargo-fuzz targets in fuzz/ search the same rules with arbitrary
//! bytes; these properties state them over well-formed inputs.)
// expected() and nets() unwrap and panic outside #[test] fns, which
// clippy.toml's allow-*-in-tests does not cover.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use apitokend::control::validate::{self, MAX_EXPIRY};
use apitokend::iplist::{self, IpListChange};
use apitokend_proto::ErrorCode;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use proptest::sample::select;

/// One generated `whitelist_ip` value: its text and what it must mean.
#[derive(Clone, Debug)]
struct Entry {
    text: String,
    /// The entry in normal form (v4-mapped as IPv4, host bits cleared).
    net: IpNet,
    /// The address as written, for a host entry (no prefix given).
    host: Option<IpAddr>,
}

/// How an IPv6 address is written.
#[derive(Clone, Copy, Debug)]
enum V6Style {
    /// Rust's `Display`: `::` compression, `::ffff:a.b.c.d` for mapped.
    Compressed,
    /// Eight groups of four hex digits.
    Expanded,
    /// Eight groups without leading zeros.
    Groups,
    /// Six groups and a dotted IPv4 tail.
    DottedTail,
}

fn v6_text(a: Ipv6Addr, style: V6Style, upper: bool) -> String {
    let s = a.segments();
    let text = match style {
        V6Style::Compressed => a.to_string(),
        V6Style::Expanded => s
            .iter()
            .map(|g| format!("{g:04x}"))
            .collect::<Vec<_>>()
            .join(":"),
        V6Style::Groups => s
            .iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join(":"),
        V6Style::DottedTail => {
            let head: Vec<String> = s[..6].iter().map(|g| format!("{g:x}")).collect();
            let o = a.octets();
            format!("{}:{}.{}.{}.{}", head.join(":"), o[12], o[13], o[14], o[15])
        }
    };
    if upper { text.to_uppercase() } else { text }
}

fn v6_style() -> impl Strategy<Value = V6Style> {
    select(vec![
        V6Style::Compressed,
        V6Style::Expanded,
        V6Style::Groups,
        V6Style::DottedTail,
    ])
}

/// IPv4 addresses, with the edges and a few small networks over-weighted
/// so that duplicates and overlapping ranges occur.
fn v4_addr() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        any::<u32>().prop_map(Ipv4Addr::from),
        (0u8..4, 0u8..4).prop_map(|(c, d)| Ipv4Addr::new(10, 0, c, d)),
        select(vec![
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::BROADCAST,
            Ipv4Addr::LOCALHOST
        ]),
    ]
}

/// IPv6 addresses: arbitrary, v4-mapped, and a small cluster.
fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        any::<u128>().prop_map(Ipv6Addr::from),
        v4_addr().prop_map(|a| a.to_ipv6_mapped()),
        (0u16..4).prop_map(|x| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, x)),
        select(vec![Ipv6Addr::UNSPECIFIED, Ipv6Addr::LOCALHOST]),
    ]
}

/// Optional blanks around a value (the parser trims them).
fn padded(text: String) -> impl Strategy<Value = String> {
    select(vec!["", " ", "\t", "  "]).prop_flat_map(move |pad| Just(format!("{pad}{text}{pad}")))
}

/// The meaning of an address or range, computed from the values (not from
/// the text), as the normal form defines it.
fn expected(addr: IpAddr, prefix: Option<u8>) -> IpNet {
    let net = match (addr, prefix) {
        (IpAddr::V4(a), None) => IpNet::V4(Ipv4Net::new(a, 32).unwrap()),
        (IpAddr::V4(a), Some(p)) => IpNet::V4(Ipv4Net::new(a, p).unwrap()),
        (IpAddr::V6(a), p) => match (a.to_ipv4_mapped(), p) {
            (Some(v4), None) => IpNet::V4(Ipv4Net::new(v4, 32).unwrap()),
            (Some(v4), Some(p)) if p >= 96 => IpNet::V4(Ipv4Net::new(v4, p - 96).unwrap()),
            (_, p) => IpNet::V6(Ipv6Net::new(a, p.unwrap_or(128)).unwrap()),
        },
    };
    net.trunc()
}

fn v4_entry() -> impl Strategy<Value = Entry> {
    (v4_addr(), prop::option::of(0u8..=32)).prop_flat_map(|(a, prefix)| {
        let text = match prefix {
            None => a.to_string(),
            Some(p) => format!("{a}/{p}"),
        };
        let net = expected(IpAddr::V4(a), prefix);
        let host = prefix.is_none().then_some(IpAddr::V4(a));
        padded(text).prop_map(move |text| Entry { text, net, host })
    })
}

fn v6_entry() -> impl Strategy<Value = Entry> {
    (
        v6_addr(),
        prop::option::of(prop_oneof![0u8..=128, Just(96), Just(128)]),
        v6_style(),
        any::<bool>(),
    )
        .prop_flat_map(|(a, prefix, style, upper)| {
            let addr = v6_text(a, style, upper);
            let text = match prefix {
                None => addr,
                Some(p) => format!("{addr}/{p}"),
            };
            let net = expected(IpAddr::V6(a), prefix);
            let host = prefix.is_none().then_some(IpAddr::V6(a));
            padded(text).prop_map(move |text| Entry { text, net, host })
        })
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![v4_entry(), v6_entry()]
}

/// Lists of entries that fit the 100-entry limit even when doubled.
fn entries() -> impl Strategy<Value = Vec<Entry>> {
    prop::collection::vec(entry(), 1..=50)
}

fn texts(entries: &[Entry]) -> Vec<String> {
    entries.iter().map(|e| e.text.clone()).collect()
}

fn nets(values: &[String]) -> Vec<IpNet> {
    match iplist::parse(values) {
        Ok(IpListChange::Set(nets)) => nets,
        other => panic!("{values:?} gave {other:?}"),
    }
}

fn order_key(net: &IpNet) -> (u8, u128, u8) {
    match net {
        IpNet::V4(n) => (0, u128::from(u32::from(n.addr())), n.prefix_len()),
        IpNet::V6(n) => (1, u128::from(n.addr()), n.prefix_len()),
    }
}

/// True when the list allows `addr`, checked the way a caller presents it:
/// an address in `::ffff:0:0/96` is an IPv4 caller, so it must match exactly
/// when its IPv4 form lies in an IPv4 entry (an IPv6 range spanning the
/// mapped block, such as `::/0`, does not make it match).
fn matches_as_caller(list: &[IpNet], addr: IpAddr) -> bool {
    let allowed = iplist::allows(list, addr);
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => allowed == list.iter().any(|n| n.contains(&IpAddr::V4(v4))),
            None => allowed,
        },
        IpAddr::V4(_) => allowed,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Every spelling of an address or range parses, to its normal meaning.
    #[test]
    fn each_spelling_parses_to_its_meaning(e in entry()) {
        prop_assert_eq!(nets(std::slice::from_ref(&e.text)), vec![e.net]);
        let shown = iplist::format(&e.net);
        prop_assert_eq!(iplist::parse_stored(&shown), Some(e.net));
    }

    /// A v4-mapped caller matches its IPv4 entry, and the other way round.
    #[test]
    fn mapped_callers_match_their_ipv4_entry(
        a in v4_addr(),
        style in v6_style(),
        upper in any::<bool>(),
    ) {
        let mapped = v6_text(a.to_ipv6_mapped(), style, upper);
        let list = nets(&[a.to_string()]);
        let caller = iplist::parse_caller(&mapped).unwrap();
        prop_assert_eq!(caller, IpAddr::V4(a));
        prop_assert!(iplist::allows(&list, caller));
        prop_assert!(iplist::allows(&list, IpAddr::V6(a.to_ipv6_mapped())));
        let mapped_list = nets(&[mapped]);
        prop_assert_eq!(&mapped_list, &list);
        prop_assert!(iplist::allows(&mapped_list, IpAddr::V4(a)));
        // A mapped caller is an IPv4 caller: IPv6 ranges never match it,
        // not even ::/0 or ::ffff:0:0/80, which span the mapped block.
        for range in ["::/0", "::ffff:0:0/80", "::fffe:0:0/95"] {
            prop_assert!(!iplist::allows(&nets(&[range.to_owned()]), caller));
        }
    }

    /// Token names are accepted exactly when they match ^[A-Za-z0-9_-]{1,50}$.
    #[test]
    fn token_names_follow_the_pattern(
        name in prop_oneof![
            "[A-Za-z0-9_-]{1,50}",
            "[A-Za-z0-9_-]{0,60}",
            "[A-Za-z0-9_. /é\t\n-]{0,52}",
            any::<String>(),
        ]
    ) {
        let rule = (1..=50).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        prop_assert_eq!(validate::is_valid_token_name(&name), rule);
        match validate::valid_name(&name, "token_name") {
            Ok(v) => prop_assert!(rule && v == name),
            Err(f) => prop_assert!(!rule && f.code == ErrorCode::InvalidName),
        }
    }

    /// Integers: accepted exactly when later than now (and not past the
    /// year 9999); "0" and "" mean never, whatever the padding.
    #[test]
    fn expiry_accepts_exactly_future_integers(
        now in 0i64..=MAX_EXPIRY,
        delta in prop_oneof![-3i64..=3, any::<i32>().prop_map(i64::from), any::<i64>()],
        pad in select(vec!["", " ", "\t"]),
    ) {
        let t = now.saturating_add(delta);
        let got = validate::parse_expiry(Some(format!("{pad}{t}{pad}")), now);
        if t == 0 {
            prop_assert_eq!(got, Ok(Some(None)));
        } else if t > now && t <= MAX_EXPIRY {
            prop_assert_eq!(got, Ok(Some(Some(t))));
        } else {
            prop_assert_eq!(got.unwrap_err().code, ErrorCode::InvalidExpiry);
        }
        prop_assert_eq!(validate::parse_expiry(Some(pad.to_owned()), now), Ok(Some(None)));
        prop_assert_eq!(validate::parse_expiry(None, now), Ok(None));
    }

    /// Any other text is refused unless it is blank, "0" or a future integer.
    #[test]
    fn expiry_refuses_everything_else(
        now in 0i64..=MAX_EXPIRY,
        text in prop_oneof!["[0-9+. eE-]{0,12}", any::<String>()],
    ) {
        let t = text.trim();
        let future = !t.is_empty()
            && t.bytes().all(|b| b.is_ascii_digit())
            && t.parse::<i64>().is_ok_and(|n| n > now && n <= MAX_EXPIRY);
        match validate::parse_expiry(Some(text.clone()), now) {
            Ok(Some(None)) => prop_assert!(t.is_empty() || t == "0"),
            Ok(Some(Some(n))) => prop_assert!(future && t.parse::<i64>() == Ok(n)),
            Ok(None) => prop_assert!(false, "a given value read as absent"),
            Err(f) => prop_assert!(
                !future && !t.is_empty() && t != "0" && f.code == ErrorCode::InvalidExpiry
            ),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// normalise(format(parse(x))) == parse(x), and the normal list is
    /// sorted (IPv4 first), free of duplicates and of host bits.
    #[test]
    fn normal_form_is_idempotent(list in entries()) {
        let values = texts(&list);
        let parsed = nets(&values);
        let formatted: Vec<String> = parsed.iter().map(iplist::format).collect();
        prop_assert_eq!(&nets(&formatted), &parsed);
        prop_assert_eq!(&iplist::normalise(parsed.clone()), &parsed);
        prop_assert_eq!(validate::parse_ips(&values).unwrap(), formatted.clone());
        prop_assert_eq!(validate::parse_ips(&formatted).unwrap(), formatted);
        prop_assert!(parsed.windows(2).all(|w| order_key(&w[0]) < order_key(&w[1])));
        for net in &parsed {
            prop_assert_eq!(*net, net.trunc());
        }
        // Exactly the distinct meanings of the values, nothing else.
        let want: BTreeSet<(u8, u128, u8)> = list.iter().map(|e| order_key(&e.net)).collect();
        let got: BTreeSet<(u8, u128, u8)> = parsed.iter().map(order_key).collect();
        prop_assert_eq!(got, want);
    }

    /// Any permutation, and repeating values, give the same normal list.
    #[test]
    fn normal_form_ignores_order_and_duplicates(
        (list, shuffled) in entries().prop_flat_map(|l| (Just(l.clone()), Just(l).prop_shuffle())),
        again in entries(),
    ) {
        let want = nets(&texts(&list));
        prop_assert_eq!(&nets(&texts(&shuffled)), &want);
        let mut doubled = texts(&shuffled);
        doubled.extend(texts(&list));
        prop_assert_eq!(&nets(&doubled), &want);
        // Re-spelled duplicates: the normal form of each, mixed in.
        let mut respelled = texts(&list);
        respelled.extend(want.iter().map(iplist::format));
        prop_assert_eq!(&nets(&respelled), &want);
        // Merging two lists is order-independent too.
        let (a, b) = (texts(&list), texts(&again));
        let ab: Vec<String> = a.iter().chain(&b).cloned().collect();
        let ba: Vec<String> = b.iter().chain(&a).cloned().collect();
        prop_assert_eq!(nets(&ab), nets(&ba));
    }

    /// Every accepted address matches itself; every accepted range matches
    /// its network address, its last address and one inside.
    #[test]
    fn accepted_entries_match_themselves(list in entries(), offset in any::<u128>()) {
        let parsed = nets(&texts(&list));
        for e in &list {
            if let Some(addr) = e.host {
                prop_assert!(iplist::allows(&parsed, addr), "{} vs {:?}", e.text, parsed);
                let caller = iplist::parse_caller(&e.text).unwrap();
                prop_assert!(iplist::allows(&parsed, caller));
                prop_assert!(iplist::allows(std::slice::from_ref(&e.net), caller));
            }
            let net = e.net;
            prop_assert!(matches_as_caller(&parsed, net.network()));
            prop_assert!(matches_as_caller(&parsed, net.broadcast()), "{net} last address");
            let inside = match net {
                IpNet::V4(n) => {
                    let host_bits = u32::MAX.checked_shr(u32::from(n.prefix_len())).unwrap_or(0);
                    // Only the low bits of the offset are wanted.
                    let low = offset as u32 & host_bits;
                    IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | low))
                }
                IpNet::V6(n) => {
                    let host_bits = u128::MAX.checked_shr(u32::from(n.prefix_len())).unwrap_or(0);
                    IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | (offset & host_bits)))
                }
            };
            prop_assert!(matches_as_caller(&parsed, inside), "{inside} in {net}");
        }
    }

    /// A single host entry matches no other address.
    #[test]
    fn a_host_entry_matches_only_itself(e in entry(), other in prop_oneof![
        v4_addr().prop_map(IpAddr::V4),
        v6_addr().prop_map(IpAddr::V6),
    ]) {
        let Some(addr) = e.host else { return Ok(()) };
        let list = nets(std::slice::from_ref(&e.text));
        let unmapped = |a: IpAddr| match a {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
            v4 => v4,
        };
        prop_assert_eq!(iplist::allows(&list, other), unmapped(other) == unmapped(addr));
    }
}
