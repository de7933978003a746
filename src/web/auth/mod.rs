//! `GET /auth`: the gate for nginx `auth_request`.
//!
//! nginx passes the client's `Authorization`, the original request target
//! in `X-Original-URI` (`/json-api/<function>`, with or without `cpsess`,
//! query ignored) and the client address in `X-Real-IP`. The answer is 204
//! with `X-Apitoken-User`, `X-Apitoken-Name` and `X-Apitoken-Acls` when the
//! daemon verifies the token for that function from that address, 401
//! without credentials, 403 for anything else (nginx acts on nothing but
//! 2xx, 401 and 403), and 503 when the daemon cannot be asked (nginx then
//! fails the request: closed, never open).

use hyper::body::Incoming;
use hyper::header::{ALLOW, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::client_ip::client_ip;
use super::conn::ConnInfo;
use super::credentials::{self, Presented};
use super::identity::{self, Identity, Verdict};
use super::reply::{self, Body};
use super::route::original_uri_function;
use super::router::Outcome;
use super::state::Front;

pub const X_ORIGINAL_URI: &str = "x-original-uri";

pub async fn handle(
    req: Request<Incoming>,
    info: &ConnInfo,
    front: &Front,
    out: &mut Outcome,
) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = reply::plain(StatusCode::METHOD_NOT_ALLOWED, "GET\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let ip = match client_ip(info.peer, req.headers(), &front.trusted) {
        Ok(ip) => ip,
        Err(e) => {
            out.note = Some(e.0);
            return reply::access_denied();
        }
    };
    out.ip = Some(ip);
    let creds = match credentials::from_headers(req.headers()) {
        Presented::None => {
            out.note = Some("no credentials");
            return reply::unauthorized();
        }
        Presented::Malformed(why) => {
            out.note = Some(why);
            return reply::access_denied();
        }
        Presented::Whm(c) => c,
    };
    let function = req
        .headers()
        .get(X_ORIGINAL_URI)
        .and_then(|v| v.to_str().ok())
        .and_then(original_uri_function)
        .filter(|f| crate::acl::is_valid_function(f));
    let Some(function) = function else {
        out.note = Some("X-Original-URI is not a /json-api/ call");
        return reply::access_denied();
    };
    match identity::verify(&front.verify, &creds, ip, function).await {
        Ok(Verdict::Allowed(who)) => {
            out.user = Some(who.user.clone());
            allowed(&who)
        }
        Ok(Verdict::Lacks(_) | Verdict::Denied(_)) => reply::access_denied(),
        Err(e) => super::json_api::unavailable(e),
    }
}

fn allowed(who: &Identity) -> Response<Body> {
    let mut r = reply::no_content();
    let h = r.headers_mut();
    for (name, value) in [
        ("x-apitoken-user", who.user.clone()),
        ("x-apitoken-name", who.token_name.clone()),
        ("x-apitoken-acls", who.acls.join(",")),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    r
}
