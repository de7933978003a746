//! The functions the daemon answers for a token (`api_token_*`,
//! `applist`): relayed on the control socket with the caller's credentials
//! and address. The daemon takes such requests only from the front's uid,
//! authenticates them exactly like a verify (lockout, audit), checks the
//! function's privilege, and acts as the token's owner with the control
//! socket's rules. Its reply is the WHM API 1 envelope, passed on as is;
//! an authentication failure becomes cpsrvd's 403.

use std::net::IpAddr;

use hyper::Response;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::web::credentials::Credentials;
use crate::web::identity::{is_authentication_failure, is_daemon_trouble};
use crate::web::params::Params;
use crate::web::reply::{self, Body};
use crate::web::router::Outcome;
use crate::web::state::Front;

/// The wire form of a relayed request (one control-socket line):
/// `{"command", "args", "auth": {"token": {"user", "token"}, "ip"}}`.
/// Sessions (the web page) add `"auth": {"session", "csrf", "ip"}`.
#[derive(Serialize)]
pub struct Relay<'a> {
    pub command: &'a str,
    pub args: &'a Map<String, Value>,
    pub auth: RelayAuth<'a>,
}

#[derive(Serialize)]
pub struct RelayAuth<'a> {
    pub token: TokenAuth<'a>,
    pub ip: String,
}

#[derive(Serialize)]
pub struct TokenAuth<'a> {
    pub user: &'a str,
    pub token: &'a str,
}

pub async fn call(
    front: &Front,
    function: &str,
    params: Params,
    creds: &Credentials,
    ip: IpAddr,
    out: &mut Outcome,
) -> Response<Body> {
    let relay = Relay {
        command: function,
        args: &params.args,
        auth: RelayAuth {
            token: TokenAuth {
                user: &creds.user,
                token: &creds.token,
            },
            ip: ip.to_string(),
        },
    };
    let resp = match front.control.call(&relay).await {
        Ok(r) => r,
        Err(e) => return super::unavailable(e),
    };
    let code = resp.error_code();
    if !resp.is_ok() && is_authentication_failure(code) {
        return reply::access_denied();
    }
    if !resp.is_ok() && is_daemon_trouble(code) {
        return super::unavailable(crate::web::daemon_link::LinkError::BadReply);
    }
    if resp.is_ok() || code == Some(apitokend_proto::ErrorCode::AclDenied) {
        out.user = Some(creds.user.clone());
    }
    let value = serde_json::to_value(&resp).unwrap_or(Value::Null);
    reply::envelope(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_line_is_what_the_daemon_decodes() {
        let mut args = Map::new();
        args.insert("token_name".into(), Value::String("deploy".into()));
        let relay = Relay {
            command: "api_token_create",
            args: &args,
            auth: RelayAuth {
                token: TokenAuth {
                    user: "bob",
                    token: "SECRETSECRETSECRETSECRETSECRET12",
                },
                ip: "203.0.113.7".into(),
            },
        };
        let line = serde_json::to_vec(&relay).expect("serialize");
        let request = crate::decode::decode(&line).expect("decodes");
        assert_eq!(request.command, "api_token_create");
        assert_eq!(request.args, args);
        assert!(request.user.is_none());
        let auth = request.auth.expect("auth");
        let token = auth.token.as_ref().expect("token credential");
        assert_eq!(token.user, "bob");
        assert_eq!(token.token, "SECRETSECRETSECRETSECRETSECRET12");
        assert_eq!(auth.ip, "203.0.113.7");
    }
}
