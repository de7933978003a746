//! `/json-api/<function>`: WHM API 1 over HTTP with `Authorization: whm`.
//!
//! Order of decisions: the client address, the parameters (query and a
//! bounded body), the credentials (none or malformed: cpsrvd's 403), then
//! the daemon. The `api_token_*` functions and `applist` are relayed to the
//! daemon with the caller's credentials and address, and the daemon
//! authenticates, authorizes and acts as the token's owner (`served`).
//! Any other function is authenticated on the verify socket for that
//! function and, when `[web] upstream` is set, forwarded there with the
//! identity headers (`forward`); without an upstream it gets WHM's
//! "Unknown app" reply. So does every function when `api.version` is not 1
//! (a missing `api.version` is WHM API 0, which is not served here).

pub mod forward;
pub mod served;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::client_ip::client_ip;
use super::conn::ConnInfo;
use super::credentials::{self, Presented};
use super::identity::{self, Verdict};
use super::params::{ApiVersion, BodyKind, Params};
use super::reply::{self, Body, HttpError};
use super::router::Outcome;
use super::state::Front;

/// The functions the daemon answers itself for a token.
pub const SERVED: [&str; 6] = [
    "api_token_create",
    "api_token_list",
    "api_token_update",
    "api_token_revoke",
    "api_token_get_details",
    "applist",
];

pub async fn handle(
    req: Request<Incoming>,
    function: &str,
    info: &ConnInfo,
    front: &Front,
    out: &mut Outcome,
) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::POST {
        let mut r = reply::plain(StatusCode::METHOD_NOT_ALLOWED, "GET or POST\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, POST"));
        return r;
    }
    if !crate::acl::is_valid_function(function) {
        return reply::plain(StatusCode::NOT_FOUND, "not found\n");
    }
    let ip = match client_ip(info.peer, req.headers(), &front.trusted) {
        Ok(ip) => ip,
        Err(e) => {
            out.note = Some(e.0);
            return reply::plain(StatusCode::BAD_REQUEST, "bad X-Real-IP\n");
        }
    };
    out.ip = Some(ip);
    let presented = credentials::from_headers(req.headers());
    let (parts, body) = req.into_parts();
    let body = match read_body(&parts, body, front).await {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    let params = match parameters(&parts, &body) {
        Ok(p) => p,
        Err(e) => return e.response(),
    };
    let creds = match presented {
        Presented::Whm(c) => c,
        // No `Authorization`: the web page's session cookie, if any.
        Presented::None if super::page::cookie::session(&parts.headers).is_some() => {
            return super::page::api::call(&parts, function, params, ip, front, out).await;
        }
        Presented::None => {
            out.note = Some("no credentials");
            return reply::access_denied();
        }
        Presented::Malformed(why) => {
            out.note = Some(why);
            return reply::access_denied();
        }
    };
    let version = params.api_version();
    if version == ApiVersion::V1 && SERVED.contains(&function) {
        return served::call(front, function, params, &creds, ip, out).await;
    }
    // Authenticate for this function before saying anything about it.
    let verdict = match identity::verify(&front.verify, &creds, ip, function).await {
        Ok(v) => v,
        Err(e) => return unavailable(e),
    };
    let unknown = |v: &str| reply::unknown_app(function, v);
    match (verdict, version, &front.upstream) {
        (Verdict::Denied(_), _, _) => reply::access_denied(),
        (Verdict::Allowed(who), ApiVersion::Other(v), _) => {
            out.user = Some(who.user);
            unknown(&v)
        }
        (Verdict::Lacks(_), ApiVersion::Other(v), _) => unknown(&v),
        (Verdict::Allowed(who), ApiVersion::V1, None) => {
            out.user = Some(who.user);
            unknown("1")
        }
        (Verdict::Lacks(_), ApiVersion::V1, None) => unknown("1"),
        (Verdict::Lacks(reason), ApiVersion::V1, Some(_)) => reply::failure(function, &reason),
        (Verdict::Allowed(who), ApiVersion::V1, Some((upstream, client))) => {
            out.user = Some(who.user.clone());
            let call = forward::Call {
                parts,
                body,
                who: &who,
                ip,
                listener: info.listener,
            };
            forward::forward(client, upstream, call, front.web.request_timeout()).await
        }
    }
}

pub fn unavailable(e: super::daemon_link::LinkError) -> Response<Body> {
    crate::logging::warn(&format!("request refused with 503: {e}"));
    reply::plain(
        StatusCode::SERVICE_UNAVAILABLE,
        "the token service is unavailable\n",
    )
}

/// The body, at most `max_body_bytes`, within `request_timeout_secs`.
pub(crate) async fn read_body(
    parts: &hyper::http::request::Parts,
    body: Incoming,
    front: &Front,
) -> Result<Bytes, HttpError> {
    let max = front.web.max_body_bytes;
    let too_large =
        || HttpError::closing(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let collect = Limited::new(body, max).collect();
    match tokio::time::timeout(front.web.request_timeout(), collect).await {
        Err(_) => Err(HttpError::closing(
            StatusCode::REQUEST_TIMEOUT,
            "request body not received in time\n",
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(_)) => Err(HttpError::closing(
            StatusCode::BAD_REQUEST,
            "bad request body\n",
        )),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

pub(crate) fn parameters(
    parts: &hyper::http::request::Parts,
    body: &[u8],
) -> Result<Params, HttpError> {
    let bad = |e: super::params::ParamError| HttpError::new(StatusCode::BAD_REQUEST, e.0);
    let mut params = Params::default();
    if let Some(q) = parts.uri.query() {
        params.add_urlencoded(q.as_bytes()).map_err(bad)?;
    }
    if !body.is_empty() {
        let kind = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(BodyKind::from_content_type);
        match kind {
            Some(BodyKind::Form) => params.add_urlencoded(body).map_err(bad)?,
            Some(BodyKind::Json) => params.add_json(body).map_err(bad)?,
            None => {
                return Err(HttpError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "send application/x-www-form-urlencoded or application/json\n",
                ));
            }
        }
    }
    Ok(params)
}
