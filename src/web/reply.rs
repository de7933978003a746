//! The replies the front writes itself: cpsrvd's 403 for every
//! authentication failure, the WHM API 1 envelope (HTTP 200 whether
//! `result` is 1 or 0), WHM's "Unknown app" reply, and short plain-text
//! errors for bad HTTP.
//!
//! Every reply carries `Cache-Control: no-store` (a created token must not
//! linger in a cache) and `X-Content-Type-Options: nosniff`.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

/// The body type of every reply (forwarded upstream bodies included).
pub type Body = BoxBody<Bytes, hyper::Error>;

/// cpsrvd's body for "access denied", byte for byte.
pub const ACCESS_DENIED_BODY: &str = r#"{"cpanelresult":{"apiversion":"2","error":"Access denied","data":{"reason":"Access denied","result":"0"},"type":"text"}}"#;
const ACCESS_DENIED_TYPE: &str = "text/plain; charset=\"utf-8\"";

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

fn with_type(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    secure_headers(h);
    r
}

/// `no-store` and `nosniff` on a reply (also on forwarded ones).
pub fn secure_headers(h: &mut hyper::HeaderMap) {
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
}

/// cpsrvd's answer to a missing or refused credential: 403, no
/// `WWW-Authenticate`.
pub fn access_denied() -> Response<Body> {
    with_type(
        StatusCode::FORBIDDEN,
        ACCESS_DENIED_TYPE,
        full(ACCESS_DENIED_BODY),
    )
}

/// A WHM API 1 reply as the daemon gave it (or we built it): HTTP 200.
pub fn envelope(value: &Value) -> Response<Body> {
    json_status(StatusCode::OK, value)
}

pub fn json_status(status: StatusCode, value: &Value) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    with_type(status, "application/json", full(body))
}

/// A WHM API 1 failure envelope with `reason`.
pub fn failure(function: &str, reason: &str) -> Response<Body> {
    envelope(&json!({
        "metadata": {"command": function, "result": 0, "reason": reason, "version": 1}
    }))
}

/// WHM's reply for a function this API version does not have.
pub fn unknown_app(function: &str, version: &str) -> Response<Body> {
    let function = super::printable(function, 128);
    let version = super::printable(version, 16);
    failure(
        &function,
        &format!("Unknown app (“{function}”) requested for this version ({version}) of the API."),
    )
}

/// A short plain-text reply (404, 405, 400).
pub fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    with_type(status, "text/plain; charset=utf-8", full(text))
}

/// A plain-text error after which the connection closes (an unread body,
/// a timeout, the connection limit).
pub fn closing(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = plain(status, text);
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

/// A refusal of bad HTTP, turned into a plain-text reply at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    pub status: StatusCode,
    pub text: &'static str,
    /// The stream may be out of step (an unread body): close after it.
    pub close: bool,
}

impl HttpError {
    pub fn new(status: StatusCode, text: &'static str) -> HttpError {
        HttpError {
            status,
            text,
            close: false,
        }
    }

    pub fn closing(status: StatusCode, text: &'static str) -> HttpError {
        HttpError {
            status,
            text,
            close: true,
        }
    }

    pub fn response(self) -> Response<Body> {
        if self.close {
            closing(self.status, self.text)
        } else {
            plain(self.status, self.text)
        }
    }
}

/// 204 for the auth gate.
pub fn no_content() -> Response<Body> {
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    secure_headers(r.headers_mut());
    r
}

/// 401 for the gate (no credentials).
pub fn unauthorized() -> Response<Body> {
    with_type(
        StatusCode::UNAUTHORIZED,
        "text/plain; charset=utf-8",
        full("no credentials\n"),
    )
}
