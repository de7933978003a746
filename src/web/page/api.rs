//! `/json-api/<function>` with the page's session cookie instead of
//! `Authorization`: the functions the page's script calls. Each must be a
//! `POST` from this origin carrying the session's CSRF token in
//! `X-CSRF-Token`; the daemon checks the session and the token and acts as
//! the session's user. Root names another owner with `user`. A date typed
//! into the form (`expires_date`, `YYYY-MM-DD`) becomes `expires_at`,
//! 23:59:59 server time that day, as WHM's form does.

use std::net::IpAddr;

use apitokend_proto::ErrorCode;
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::relay::{self, As};
use super::{cookie, guard};
use crate::web::params::Params;
use crate::web::reply::{self, Body};
use crate::web::router::Outcome;
use crate::web::state::Front;

/// What the page may call.
pub(crate) const FUNCTIONS: [&str; 8] = [
    "api_token_create",
    "api_token_list",
    "api_token_update",
    "api_token_revoke",
    "api_token_revoke_all",
    "api_token_get_details",
    "applist",
    "session_info",
];

pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

fn json(status: StatusCode, function: &str, code: ErrorCode, reason: &str) -> Response<Body> {
    let v = json!({
        "metadata": {"command": function, "result": 0, "reason": reason, "version": 1,
                     "error": code.as_str()}
    });
    with_headers(reply::json_status(status, &v))
}

fn with_headers(mut r: Response<Body>) -> Response<Body> {
    guard::secure(r.headers_mut());
    r
}

/// `expires_date` → `expires_at` (server-local end of day), in place.
fn expiry(args: &mut serde_json::Map<String, Value>) -> Result<(), String> {
    let Some(v) = args.remove("expires_date") else {
        return Ok(());
    };
    let text = v.as_str().unwrap_or("").trim();
    let at = match text {
        "" | "never" => 0,
        date => match crate::cli::when::parse(date, &chrono::Local) {
            Ok(crate::cli::when::When::At(t)) if date.len() == 10 => t,
            _ => return Err("The expiration date must be a date as YYYY-MM-DD.".to_owned()),
        },
    };
    args.insert("expires_at".into(), Value::String(at.to_string()));
    Ok(())
}

pub(crate) async fn call(
    parts: &Parts,
    function: &str,
    params: Params,
    ip: IpAddr,
    front: &Front,
    out: &mut Outcome,
) -> Response<Body> {
    if !FUNCTIONS.contains(&function) {
        out.note = Some("not a page function");
        return with_headers(reply::access_denied());
    }
    if parts.method != Method::POST {
        out.note = Some("page function without POST");
        return json(
            StatusCode::METHOD_NOT_ALLOWED,
            function,
            ErrorCode::BadRequest,
            "The page's functions take POST.",
        );
    }
    if !guard::same_origin(&parts.headers) {
        out.note = Some("page function from another origin");
        return json(
            StatusCode::FORBIDDEN,
            function,
            ErrorCode::CsrfInvalid,
            "The request did not come from this page (Origin).",
        );
    }
    let csrf = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let Some(csrf) = csrf else {
        out.note = Some("page function without CSRF token");
        return json(
            StatusCode::FORBIDDEN,
            function,
            ErrorCode::CsrfInvalid,
            "The request lacks this session's CSRF token.",
        );
    };
    let session = cookie::session(&parts.headers);
    let mut args = params.args;
    let owner = match args.remove("user") {
        Some(Value::String(u)) if !u.is_empty() => Some(u),
        _ => None,
    };
    if let Err(why) = expiry(&mut args) {
        return with_headers(reply::envelope(&json!({
            "metadata": {"command": function, "result": 0, "reason": why, "version": 1,
                         "error": ErrorCode::InvalidExpiry.as_str()}
        })));
    }
    let who = As {
        session: session.as_deref(),
        csrf: Some(csrf),
        user: owner.as_deref(),
    };
    let resp = relay::call(front, function, &args, who, ip).await;
    relay::scrub(&mut args);
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return with_headers(crate::web::json_api::unavailable(e)),
    };
    let status = match resp.error_code() {
        _ if resp.is_ok() => StatusCode::OK,
        Some(ErrorCode::SessionInvalid) => StatusCode::UNAUTHORIZED,
        Some(ErrorCode::CsrfInvalid) => StatusCode::FORBIDDEN,
        Some(ErrorCode::Internal | ErrorCode::TooManyConnections) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::OK,
    };
    let value = serde_json::to_value(&resp).unwrap_or(Value::Null);
    with_headers(reply::json_status(status, &value))
}
