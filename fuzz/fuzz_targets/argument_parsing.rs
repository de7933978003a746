//! Argument parsing: WHM `-N` argument lists (`control::params::Params`) and the
//! validators behind them (`validate`: token names, user names, ACL lists,
//! expiry times, IP lists; `iplist`: parsing, normal form, matching).
//!
//! Input: the bytes as text split into fields at newlines, used as a value
//! list, as single values and as key/value pairs of an argument map; and,
//! when the bytes are a JSON object, that object as an argument map. Each
//! validator's answer is checked against the rule it implements.
#![no_main]

use std::collections::BTreeSet;
use std::net::IpAddr;

use apitokend::acl::{self, Catalog, Holdings};
use apitokend::control::params::Params;
use apitokend::iplist::{self, IpListChange};
use apitokend::control::validate::{self, MAX_EXPIRY};
use apitokend_proto::ErrorCode;
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// The argument keys the daemon reads.
const KEYS: [&str; 7] = [
    "acl",
    "whitelist_ip",
    "token_name",
    "new_name",
    "expires_at",
    "user",
    "token",
];

static CATALOG: std::sync::LazyLock<Catalog> = std::sync::LazyLock::new(Catalog::builtin);

/// `^[A-Za-z0-9_-]{1,50}$`, written out independently of the daemon.
fn name_rule(s: &str) -> bool {
    (1..=50).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_name(s: &str) {
    for key in ["token_name", "new_name"] {
        match validate::valid_name(s, key) {
            Ok(v) => {
                assert!(name_rule(s), "accepted name {s:?}");
                assert_eq!(v, s);
            }
            Err(f) => {
                assert!(!name_rule(s), "refused name {s:?}");
                assert_eq!(f.code, ErrorCode::InvalidName);
            }
        }
    }
    assert_eq!(validate::is_valid_token_name(s), name_rule(s));
}

fn check_user(s: &str) {
    let rule = (1..=32).contains(&s.len())
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    match validate::valid_user(s) {
        Ok(v) => {
            assert!(rule, "accepted user {s:?}");
            assert_eq!(v, s);
        }
        Err(f) => {
            assert!(!rule, "refused user {s:?}");
            assert_eq!(f.code, ErrorCode::InvalidUser);
        }
    }
}

fn check_acls(values: &[String]) {
    let trimmed: BTreeSet<&str> = values.iter().map(|v| v.trim()).collect();
    let mut holdings = vec![
        Holdings::All,
        Holdings::from_list("list-accts,create-acct,manage-api-tokens"),
    ];
    if let Some(first) = values.first() {
        holdings.push(Holdings::from_list(first));
    }
    for h in &holdings {
        let fine = |a: &str| CATALOG.is_known(a) && h.holds(a);
        match validate::parse_acls(values, h, &CATALOG) {
            Ok(None) => {
                assert!(trimmed.contains(acl::ALL), "full access without all");
                assert!(trimmed.iter().all(|a| fine(a)), "accepted {trimmed:?}");
            }
            Ok(Some(list)) => {
                assert!(!list.is_empty());
                assert!(list.windows(2).all(|w| w[0] < w[1]), "not sorted: {list:?}");
                assert!(list.iter().all(|a| fine(a) && a != acl::ALL), "{list:?}");
                let got: BTreeSet<&str> = list.iter().map(String::as_str).collect();
                assert_eq!(got, trimmed);
            }
            Err(f) => {
                assert_eq!(f.code, ErrorCode::InvalidAcl);
                assert!(
                    values.is_empty() || trimmed.iter().any(|a| !fine(a)),
                    "refused {trimmed:?}: {}",
                    f.why
                );
            }
        }
    }
}

fn check_expiry(value: &str, now: i64) {
    assert!(matches!(validate::parse_expiry(None, now), Ok(None)));
    let t = value.trim();
    let digits = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let future = digits && t.parse::<i64>().is_ok_and(|n| n > now && n <= MAX_EXPIRY);
    match validate::parse_expiry(Some(value.to_owned()), now) {
        Ok(None) => panic!("a given expiry read as absent"),
        Ok(Some(None)) => assert!(t.is_empty() || t == "0", "never for {t:?}"),
        Ok(Some(Some(n))) => {
            assert!(
                future && n > now && n <= MAX_EXPIRY,
                "accepted {t:?} at {now}"
            );
            assert_eq!(t.parse::<i64>().ok(), Some(n));
        }
        Err(f) => {
            assert_eq!(f.code, ErrorCode::InvalidExpiry);
            assert!(
                !future && !t.is_empty() && t != "0",
                "refused {t:?} at {now}"
            );
        }
    }
}

/// The sort key of the normal form: IPv4 first, then address, then prefix.
fn order_key(net: &IpNet) -> (u8, u128, u8) {
    match net {
        IpNet::V4(n) => (0, u128::from(u32::from(n.addr())), n.prefix_len()),
        IpNet::V6(n) => (1, u128::from(n.addr()), n.prefix_len()),
    }
}

fn set_of(change: Result<IpListChange, String>) -> Option<Vec<IpNet>> {
    match change {
        Ok(IpListChange::Set(nets)) => Some(nets),
        _ => None,
    }
}

fn check_ips(values: &[String]) {
    let parsed = iplist::parse(values);
    let strings = validate::parse_ips(values);
    match (&parsed, &strings) {
        (Err(_), Err(f)) => assert_eq!(f.code, ErrorCode::InvalidIp),
        (Ok(IpListChange::Clear), Ok(s)) => {
            assert!(s.is_empty());
            assert!(values.len() <= iplist::MAX_ENTRIES);
            assert!(values.iter().any(|v| v.trim().eq_ignore_ascii_case("any")));
        }
        (Ok(IpListChange::Set(nets)), Ok(s)) => {
            check_normal_list(values, nets);
            let formatted: Vec<String> = nets.iter().map(iplist::format).collect();
            assert_eq!(s, &formatted);
            // Idempotent: the normal form parses to itself.
            assert_eq!(set_of(iplist::parse(s)).as_ref(), Some(nets));
            assert_eq!(validate::parse_ips(s).ok().as_ref(), Some(s));
            // Order-independent.
            let reversed: Vec<String> = values.iter().rev().cloned().collect();
            assert_eq!(set_of(iplist::parse(&reversed)).as_ref(), Some(nets));
        }
        (p, s) => panic!("iplist::parse {p:?} but validate::parse_ips {s:?}"),
    }
}

fn check_normal_list(values: &[String], nets: &[IpNet]) {
    assert!(!nets.is_empty() && nets.len() <= iplist::MAX_ENTRIES);
    assert!(nets.len() <= values.len());
    assert!(
        nets.windows(2).all(|w| order_key(&w[0]) < order_key(&w[1])),
        "not in normal order or duplicated: {nets:?}"
    );
    assert_eq!(iplist::normalise(nets.to_vec()), nets);
    for net in nets {
        assert_eq!(*net, net.trunc(), "host bits kept: {net}");
        let text = iplist::format(net);
        assert_eq!(iplist::parse_stored(&text), Some(*net), "{text}");
        if let IpNet::V6(n) = net {
            assert!(
                n.addr().to_ipv4_mapped().is_none(),
                "mapped entry kept: {net}"
            );
        }
        assert_matches(nets, net.network());
        assert_matches(nets, net.broadcast());
        assert_matches(std::slice::from_ref(net), net.network());
    }
    for v in values {
        let one = set_of(iplist::parse(std::slice::from_ref(v))).expect("each value parses alone");
        assert_eq!(one.len(), 1);
        assert!(nets.contains(&one[0]), "{v:?} lost");
        if !v.contains('/') {
            let addr = iplist::parse_caller(v).expect("a host entry is a caller address");
            assert!(iplist::allows(nets, addr), "{v:?} does not match itself");
        }
    }
}

/// `addr` lies in an entry of `nets`, so the list allows it; except that a
/// v4-mapped address is an IPv4 caller, which only IPv4 entries match (an
/// IPv6 range such as `::/0` that spans `::ffff:0:0/96` does not).
fn assert_matches(nets: &[IpNet], addr: IpAddr) {
    let v4 = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        IpAddr::V4(_) => None,
    };
    match v4 {
        None => assert!(iplist::allows(nets, addr), "{addr} not in {nets:?}"),
        Some(v4) => {
            let want = nets.iter().any(|n| n.contains(&IpAddr::V4(v4)));
            assert_eq!(iplist::allows(nets, addr), want, "{addr} in {nets:?}");
        }
    }
}

fn check_caller(value: &str) {
    let Some(addr) = iplist::parse_caller(value) else {
        return;
    };
    if let IpAddr::V6(v6) = addr {
        assert!(v6.to_ipv4_mapped().is_none(), "mapped caller kept: {addr}");
    }
    let host = IpNet::from(addr);
    assert!(iplist::allows(&[host], addr));
    let entry = set_of(iplist::parse(&[value.to_owned()]));
    assert_eq!(entry, Some(vec![host]), "{value:?}");
}

/// The N of `key-N` as the WHM convention reads it.
fn suffix_of(candidate: &str, key: &str) -> Option<u64> {
    let rest = candidate.strip_prefix(key)?.strip_prefix('-')?;
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

fn check_args(map: &Map<String, Value>, now: i64) {
    let args = Params(map);
    for key in KEYS {
        let bare = map.get(key).map(|v| match v {
            Value::Array(items) => items.len(),
            _ => 1,
        });
        let numbered = map.keys().filter(|k| suffix_of(k, key).is_some()).count();
        let list = args.list(key);
        match &list {
            Ok(None) => assert!(bare.is_none() && numbered == 0, "{key} missed"),
            Ok(Some(values)) => {
                assert!(bare.is_some() || numbered > 0, "{key} invented");
                assert_eq!(values.len(), bare.unwrap_or(0) + numbered, "{key}");
            }
            Err(e) => assert!(e.0.contains(key), "{key}: {}", e.0),
        }
        match (args.single(key), &list) {
            (Ok(None), Ok(None)) | (Err(_), Err(_)) => {}
            (Ok(Some(v)), Ok(Some(values))) => assert_eq!(values, &[v]),
            (Err(_), Ok(Some(values))) => assert_ne!(values.len(), 1),
            (s, l) => panic!("{key}: single {s:?} but list {l:?}"),
        }
        match args.required(key) {
            Ok(v) => assert!(matches!(&list, Ok(Some(values)) if values == &[v])),
            Err(e) => assert!(e.0.contains(key)),
        }
    }
    if let Ok(Some(values)) = args.list("acl") {
        check_acls(&values);
    }
    if let Ok(Some(values)) = args.list("whitelist_ip") {
        check_ips(&values);
    }
    for key in ["token_name", "new_name"] {
        if let Ok(Some(v)) = args.single(key) {
            check_name(&v);
        }
    }
    if let Ok(Some(v)) = args.single("expires_at") {
        check_expiry(&v, now);
    }
    if let Ok(Some(v)) = args.single("user") {
        check_user(&v);
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let fields: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let mut nows = vec![1_750_000_000, 0, MAX_EXPIRY];
    if let Some(head) = data.first_chunk::<8>() {
        nows.push(i64::from_le_bytes(*head));
    }

    for f in &fields {
        check_name(f);
        check_user(f);
        check_caller(f);
        for &now in &nows {
            check_expiry(f, now);
        }
    }
    check_acls(&fields);
    check_ips(&fields);

    // The fields as alternating keys and values of an argument map.
    let mut map = Map::new();
    for pair in fields.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        map.insert(pair[0].clone(), Value::String(value));
    }
    check_args(&map, nows[0]);

    // The bytes as an argument object (arrays, numbers, wrong types).
    if let Ok(map) = serde_json::from_slice::<Map<String, Value>>(data) {
        check_args(&map, nows[0]);
    }
});
