//! Forwarding an authorized call to `[web] upstream` (plain HTTP on a
//! trusted network, usually loopback) with the identity the daemon gave:
//! `X-Apitoken-User`, `X-Apitoken-Name`, `X-Apitoken-Acls`, plus
//! `X-Real-IP`/`X-Forwarded-For`/`X-Forwarded-Proto`. The client's
//! `Authorization`, any `X-Apitoken-*` it sent, its own forwarding headers
//! and hop-by-hop headers never reach the upstream.

use std::net::IpAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::web::config::Upstream;
use crate::web::conn::Listener;
use crate::web::identity::Identity;
use crate::web::reply::{self, Body};

pub type UpstreamClient = Client<HttpConnector, Full<Bytes>>;

pub fn client() -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .build(connector)
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a client header is dropped before forwarding.
pub fn dropped_request_header(name: &HeaderName) -> bool {
    let n = name.as_str();
    HOP_BY_HOP.contains(&n)
        || n == "authorization"
        || n == "host"
        || n == "content-length"
        || n == "x-real-ip"
        || n == "x-forwarded-for"
        || n == "x-forwarded-proto"
        || n.starts_with("x-apitoken-")
}

/// The headers sent upstream: the client's, minus the dropped ones, plus
/// the identity and the client address.
pub fn upstream_headers(
    client: &HeaderMap,
    who: &Identity,
    ip: IpAddr,
    listener: Listener,
    authority: &str,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in client {
        if !dropped_request_header(name) {
            h.append(name.clone(), value.clone());
        }
    }
    let mut set = |name: &'static str, value: &str| {
        // Values come from the daemon's validated names and privileges;
        // anything unrepresentable is left out rather than forged.
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("host", authority);
    set("x-apitoken-user", &who.user);
    set("x-apitoken-name", &who.token_name);
    set("x-apitoken-acls", &who.acls.join(","));
    set("x-real-ip", &ip.to_string());
    set("x-forwarded-for", &ip.to_string());
    set(
        "x-forwarded-proto",
        if listener == Listener::Https {
            "https"
        } else {
            "http"
        },
    );
    h
}

/// One authorized call to forward.
#[derive(Debug)]
pub struct Call<'a> {
    pub parts: hyper::http::request::Parts,
    pub body: Bytes,
    pub who: &'a Identity,
    pub ip: IpAddr,
    pub listener: Listener,
}

pub async fn forward(
    client: &UpstreamClient,
    upstream: &Upstream,
    call: Call<'_>,
    timeout: std::time::Duration,
) -> Response<Body> {
    let Call {
        parts,
        body,
        who,
        ip,
        listener,
    } = call;
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let Ok(uri) = format!("http://{}{path}", upstream.authority).parse::<Uri>() else {
        return reply::plain(StatusCode::BAD_REQUEST, "bad request target\n");
    };
    let mut req = Request::new(Full::new(body));
    *req.method_mut() = parts.method;
    *req.uri_mut() = uri;
    *req.headers_mut() = upstream_headers(&parts.headers, who, ip, listener, &upstream.authority);
    let resp = match tokio::time::timeout(timeout, client.request(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            crate::logging::warn(&format!("upstream {}: {e}", upstream.authority));
            return reply::plain(StatusCode::BAD_GATEWAY, "the upstream did not answer\n");
        }
        Err(_) => {
            return reply::plain(
                StatusCode::GATEWAY_TIMEOUT,
                "the upstream did not answer in time\n",
            );
        }
    };
    let (mut parts, body) = resp.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body.boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_identity_and_secrets_are_replaced() {
        let mut client = HeaderMap::new();
        for (k, v) in [
            ("authorization", "whm bob:SECRETTOKEN"),
            ("x-apitoken-user", "root"),
            ("X-Apitoken-Acls", "all"),
            ("x-real-ip", "10.0.0.1"),
            ("x-forwarded-for", "10.0.0.1"),
            ("connection", "keep-alive"),
            ("host", "evil.example"),
            ("accept", "application/json"),
            ("user-agent", "curl"),
        ] {
            client.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        let who = Identity {
            user: "bob".into(),
            token_name: "deploy".into(),
            acls: vec!["list-accts".into(), "acct-summary".into()],
        };
        let h = upstream_headers(
            &client,
            &who,
            "203.0.113.7".parse().expect("ip"),
            Listener::Https,
            "127.0.0.1:9000",
        );
        let get = |k: &str| {
            h.get_all(k)
                .iter()
                .map(|v| v.to_str().expect("ascii").to_owned())
                .collect::<Vec<_>>()
        };
        assert!(get("authorization").is_empty());
        assert!(get("connection").is_empty());
        assert_eq!(get("x-apitoken-user"), ["bob"]);
        assert_eq!(get("x-apitoken-name"), ["deploy"]);
        assert_eq!(get("x-apitoken-acls"), ["list-accts,acct-summary"]);
        assert_eq!(get("x-real-ip"), ["203.0.113.7"]);
        assert_eq!(get("x-forwarded-for"), ["203.0.113.7"]);
        assert_eq!(get("x-forwarded-proto"), ["https"]);
        assert_eq!(get("host"), ["127.0.0.1:9000"]);
        assert_eq!(get("accept"), ["application/json"]);
        assert!(!format!("{h:?}").contains("SECRETTOKEN"));
    }
}
