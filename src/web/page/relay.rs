//! The page's requests to the daemon: one control-socket line with the
//! session (or, for a log-in, only the client address) in `auth`.

use std::net::IpAddr;

use apitokend_proto::Response;
use serde::Serialize;
use serde_json::{Map, Value};
use zeroize::Zeroize;

use crate::web::daemon_link::LinkError;
use crate::web::state::Front;

#[derive(Serialize)]
struct Line<'a> {
    command: &'a str,
    args: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    auth: Auth<'a>,
}

#[derive(Serialize)]
struct Auth<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf: Option<&'a str>,
    ip: String,
}

/// Whose session and which CSRF token a request carries.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct As<'a> {
    pub(crate) session: Option<&'a str>,
    pub(crate) csrf: Option<&'a str>,
    /// Root acting for another WHM user.
    pub(crate) user: Option<&'a str>,
}

pub(crate) async fn call(
    front: &Front,
    command: &str,
    args: &Map<String, Value>,
    who: As<'_>,
    ip: IpAddr,
) -> Result<Response, LinkError> {
    let line = Line {
        command,
        args,
        user: who.user,
        auth: Auth {
            session: who.session,
            csrf: who.csrf,
            ip: ip.to_string(),
        },
    };
    front.control.call(&line).await
}

/// Wipes every string in `args` (passwords and tokens typed into a form).
pub(crate) fn scrub(args: &mut Map<String, Value>) {
    for v in args.values_mut() {
        match v {
            Value::String(s) => s.zeroize(),
            Value::Array(items) => {
                for i in items {
                    if let Value::String(s) = i {
                        s.zeroize();
                    }
                }
            }
            _ => {}
        }
    }
}

/// A string argument, if it is one.
pub(crate) fn text<'a>(args: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}
