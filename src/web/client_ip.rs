//! Which address a request comes from.
//!
//! On a TCP listener it is the TCP peer, never a header, unless the peer is
//! one of `[web] trusted_proxies`: then its `X-Real-IP` (when present) is
//! the client. On the Unix auth socket only the web server can connect, so
//! its `X-Real-IP` is the client, and it must be there. IPv4-mapped IPv6
//! addresses are written as IPv4.

use std::net::IpAddr;

use hyper::HeaderMap;
use ipnet::IpNet;

pub const X_REAL_IP: &str = "x-real-ip";

/// Where the connection came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Tcp(IpAddr),
    /// The Unix auth socket.
    Local,
}

#[derive(Debug, PartialEq, Eq)]
pub struct IpError(pub &'static str);

pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn header_ip(headers: &HeaderMap) -> Result<Option<IpAddr>, IpError> {
    let mut values = headers.get_all(X_REAL_IP).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(IpError("several X-Real-IP headers"));
    }
    let text = value
        .to_str()
        .map_err(|_| IpError("X-Real-IP is not an address"))?
        .trim();
    text.parse::<IpAddr>()
        .map(|ip| Some(canonical(ip)))
        .map_err(|_| IpError("X-Real-IP is not an address"))
}

/// The client address of a request on a connection from `peer`.
pub fn client_ip(peer: Peer, headers: &HeaderMap, trusted: &[IpNet]) -> Result<IpAddr, IpError> {
    match peer {
        Peer::Local => header_ip(headers)?.ok_or(IpError("X-Real-IP missing on the auth socket")),
        Peer::Tcp(ip) => {
            let ip = canonical(ip);
            if trusted.iter().any(|net| net.contains(&ip)) {
                Ok(header_ip(headers)?.unwrap_or(ip))
            } else {
                Ok(ip)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_REAL_IP, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn address_rules() {
        let trusted: Vec<IpNet> = vec!["127.0.0.1/32".parse().unwrap()];
        let tcp = |s: &str| Peer::Tcp(s.parse().unwrap());
        let ok = |s: &str| Ok(s.parse::<IpAddr>().unwrap());
        let cases: Vec<(Peer, Vec<&str>, Result<IpAddr, IpError>)> = vec![
            // untrusted peer: the header is ignored
            (tcp("198.51.100.4"), vec!["203.0.113.7"], ok("198.51.100.4")),
            (tcp("198.51.100.4"), vec!["junk"], ok("198.51.100.4")),
            (tcp("::ffff:198.51.100.4"), vec![], ok("198.51.100.4")),
            // trusted peer: the header wins when present
            (tcp("127.0.0.1"), vec!["203.0.113.7"], ok("203.0.113.7")),
            (
                tcp("::ffff:127.0.0.1"),
                vec!["203.0.113.7"],
                ok("203.0.113.7"),
            ),
            (tcp("127.0.0.1"), vec![], ok("127.0.0.1")),
            (
                tcp("127.0.0.1"),
                vec![" ::ffff:192.0.2.1 "],
                ok("192.0.2.1"),
            ),
            (tcp("127.0.0.1"), vec!["2001:db8::1"], ok("2001:db8::1")),
            (
                tcp("127.0.0.1"),
                vec!["203.0.113.7:80"],
                Err(IpError("X-Real-IP is not an address")),
            ),
            (
                tcp("127.0.0.1"),
                vec!["1.2.3.4", "5.6.7.8"],
                Err(IpError("several X-Real-IP headers")),
            ),
            // the auth socket: the header is the client and must be there
            (Peer::Local, vec!["203.0.113.7"], ok("203.0.113.7")),
            (
                Peer::Local,
                vec![],
                Err(IpError("X-Real-IP missing on the auth socket")),
            ),
            (
                Peer::Local,
                vec![""],
                Err(IpError("X-Real-IP is not an address")),
            ),
        ];
        for (peer, values, want) in cases {
            assert_eq!(
                client_ip(peer, &headers(&values), &trusted),
                want,
                "{peer:?} {values:?}"
            );
        }
    }
}
