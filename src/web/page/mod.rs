//! The Manage API Tokens page, on the HTTPS listener: `GET /` (the page,
//! for a live session), `GET /login` and `POST /login` (password, API
//! token, or a one-time link from `apitoken web-login`), `POST /logout`,
//! and the two embedded assets under `/static/`. The page's script calls
//! `/json-api/<function>` with the session cookie (`api`).
//!
//! The daemon decides every log-in and holds every session; this module
//! renders HTML, sets the cookie (`cookie`), checks `Origin` on every
//! `POST` and sends the CSRF token along (`guard`). Every reply carries
//! `Cache-Control: no-store`, a CSP without `unsafe-inline`,
//! `frame-ancestors 'none'` and `Referrer-Policy: same-origin`.

pub(crate) mod api;
pub(crate) mod cookie;
mod guard;
mod html;
mod relay;
mod views;

use std::net::IpAddr;

use apitokend_proto::ErrorCode;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, LOCATION, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value};

use crate::web::client_ip::client_ip;
use crate::web::conn::ConnInfo;
use crate::web::reply::{self, Body};
use crate::web::router::Outcome;
use crate::web::state::Front;
use relay::As;

const PAGE_JS: &str = include_str!("assets/page.js");
const PAGE_CSS: &str = include_str!("assets/page.css");

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<bytes::Bytes>,
) -> Response<Body> {
    let mut r = Response::new(reply::full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    guard::secure(r.headers_mut());
    r
}

fn page(status: StatusCode, html: String) -> Response<Body> {
    respond(status, "text/html; charset=utf-8", html)
}

fn see_other(to: &'static str) -> Response<Body> {
    let mut r = respond(StatusCode::SEE_OTHER, "text/plain; charset=utf-8", "");
    r.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    r
}

pub(crate) async fn handle(
    req: Request<Incoming>,
    info: &ConnInfo,
    front: &Front,
    out: &mut Outcome,
) -> Response<Body> {
    let ip = match client_ip(info.peer, req.headers(), &front.trusted) {
        Ok(ip) => ip,
        Err(e) => {
            out.note = Some(e.0);
            return respond(
                StatusCode::BAD_REQUEST,
                "text/plain; charset=utf-8",
                "bad X-Real-IP\n",
            );
        }
    };
    out.ip = Some(ip);
    let path = req.uri().path().to_owned();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/") => main(&req, ip, front, out).await,
        (Method::GET, "/login") => {
            let ticket = query_value(req.uri().query(), "ticket");
            page(StatusCode::OK, views::login(None, ticket.as_deref()))
        }
        (Method::POST, "/login") => login(req, ip, front, out).await,
        (Method::POST, "/logout") => logout(req, ip, front, out).await,
        (Method::GET, "/static/page.js") => {
            respond(StatusCode::OK, "text/javascript; charset=utf-8", PAGE_JS)
        }
        (Method::GET, "/static/page.css") => {
            respond(StatusCode::OK, "text/css; charset=utf-8", PAGE_CSS)
        }
        (_, "/" | "/login" | "/logout" | "/static/page.js" | "/static/page.css") => respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "method not allowed\n",
        ),
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n",
        ),
    }
}

/// One value of the query string, decoded.
fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key)
            .then(|| crate::web::params::decode(v.as_bytes()).ok())
            .flatten()
    })
}

async fn main(
    req: &Request<Incoming>,
    ip: IpAddr,
    front: &Front,
    out: &mut Outcome,
) -> Response<Body> {
    let Some(session) = cookie::session(req.headers()) else {
        return see_other("/login");
    };
    let owner = query_value(req.uri().query(), "user").filter(|u| !u.is_empty());
    let who = As {
        session: Some(&session),
        csrf: None,
        user: owner.as_deref(),
    };
    let resp = match relay::call(front, "session_info", &Map::new(), who, ip).await {
        Ok(r) => r,
        Err(e) => return crate::web::json_api::unavailable(e),
    };
    if resp.is_ok() {
        let data = resp.data.unwrap_or(Value::Null);
        out.user = data.get("user").and_then(Value::as_str).map(str::to_owned);
        return page(StatusCode::OK, views::main(&data));
    }
    match resp.error_code() {
        Some(ErrorCode::SessionInvalid) => {
            let mut r = see_other("/login");
            r.headers_mut().insert(SET_COOKIE, cookie::clear());
            r
        }
        _ => page(StatusCode::FORBIDDEN, views::problem(&resp.metadata.reason)),
    }
}

/// The form fields of a POST, at most `max_body_bytes`.
async fn form(
    req: Request<Incoming>,
    front: &Front,
) -> Result<(hyper::http::request::Parts, Map<String, Value>), Response<Body>> {
    let (parts, body) = req.into_parts();
    let body = crate::web::json_api::read_body(&parts, body, front)
        .await
        .map_err(|e| e.response())?;
    let params = crate::web::json_api::parameters(&parts, &body).map_err(|e| e.response())?;
    Ok((parts, params.args))
}

async fn login(
    req: Request<Incoming>,
    ip: IpAddr,
    front: &Front,
    out: &mut Outcome,
) -> Response<Body> {
    if !guard::same_origin(req.headers()) {
        out.note = Some("log-in from another origin");
        return page(
            StatusCode::FORBIDDEN,
            views::login(Some("The log-in form must be sent from this page."), None),
        );
    }
    let (_, mut fields) = match form(req, front).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut args = Map::new();
    for key in ["method", "user", "password", "token", "ticket"] {
        if let Some(Value::String(v)) = fields.get(key) {
            args.insert(key.to_owned(), Value::String(v.clone()));
        }
    }
    relay::scrub(&mut fields);
    let resp = relay::call(front, "session_login", &args, As::default(), ip).await;
    relay::scrub(&mut args);
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return crate::web::json_api::unavailable(e),
    };
    let data = resp.data.as_ref();
    let text = |k: &str| data.and_then(|d| d.get(k)).and_then(Value::as_str);
    if let (true, Some(id)) = (resp.is_ok(), text("session")) {
        out.user = text("user").map(str::to_owned);
        let mut r = see_other("/");
        if let Some(c) = cookie::set(id) {
            r.headers_mut().insert(SET_COOKIE, c);
        }
        return r;
    }
    let (status, told) = match resp.error_code() {
        Some(ErrorCode::LockedOut) => {
            (StatusCode::TOO_MANY_REQUESTS, resp.metadata.reason.as_str())
        }
        Some(ErrorCode::TooManyConnections) => (
            StatusCode::SERVICE_UNAVAILABLE,
            resp.metadata.reason.as_str(),
        ),
        Some(ErrorCode::Internal) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The log-in service is unavailable; try again later.",
        ),
        _ => (StatusCode::FORBIDDEN, "The login is invalid."),
    };
    page(status, views::login(Some(told), None))
}

async fn logout(
    req: Request<Incoming>,
    ip: IpAddr,
    front: &Front,
    out: &mut Outcome,
) -> Response<Body> {
    if !guard::same_origin(req.headers()) {
        out.note = Some("log-out from another origin");
        return page(
            StatusCode::FORBIDDEN,
            views::problem("The request did not come from this page."),
        );
    }
    let session = cookie::session(req.headers());
    let (_, fields) = match form(req, front).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(session) = session else {
        return see_other("/login");
    };
    let csrf = relay::text(&fields, "csrf").unwrap_or("");
    let who = As {
        session: Some(&session),
        csrf: Some(csrf),
        user: None,
    };
    let resp = match relay::call(front, "session_logout", &Map::new(), who, ip).await {
        Ok(r) => r,
        Err(e) => return crate::web::json_api::unavailable(e),
    };
    if !resp.is_ok() {
        out.note = Some("log-out refused");
        return page(StatusCode::FORBIDDEN, views::problem(&resp.metadata.reason));
    }
    let mut r = see_other("/login");
    r.headers_mut().insert(SET_COOKIE, cookie::clear());
    r
}
