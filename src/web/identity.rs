//! Asking the daemon who a `whm user:token` is, for one function and one
//! client address (the verify socket), and what its answer means here.

use std::net::IpAddr;

use apitokend_proto::{ErrorCode, Response};
use serde::Serialize;
use serde_json::Value;

use super::credentials::Credentials;
use super::daemon_link::{Link, LinkError};

/// An authenticated token: who it is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub token_name: String,
    /// Effective privileges, as the daemon computed them.
    pub acls: Vec<String>,
}

#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed(Identity),
    /// Authenticated, but the token lacks the function's privilege; the
    /// daemon's reason names it.
    Lacks(String),
    /// Not authenticated (wrong token, expired, address, suspended, locked
    /// out, ...): cpsrvd's 403. The daemon's audit line says which.
    Denied(ErrorCode),
}

#[derive(Serialize)]
struct VerifyArgs<'a> {
    user: &'a str,
    token: &'a str,
    ip: String,
    function: &'a str,
}

#[derive(Serialize)]
struct VerifyRequest<'a> {
    command: &'static str,
    args: VerifyArgs<'a>,
}

/// Whether a daemon failure code means the caller did not authenticate
/// (cpsrvd's 403), rather than a refusal of the call itself.
pub fn is_authentication_failure(code: Option<ErrorCode>) -> bool {
    use ErrorCode as E;
    match code {
        Some(
            E::InvalidToken
            | E::Expired
            | E::IpNotAllowed
            | E::Suspended
            | E::UnknownUser
            | E::InvalidUser
            | E::LockedOut
            | E::LoginFailed
            | E::SessionInvalid
            | E::CsrfInvalid,
        ) => true,
        Some(
            E::InvalidJson
            | E::RequestTooLarge
            | E::UnknownCommand
            | E::BadRequest
            | E::InvalidName
            | E::InvalidAcl
            | E::InvalidIp
            | E::InvalidExpiry
            | E::NameExists
            | E::TooManyTokens
            | E::NotFound
            | E::NothingToChange
            | E::NotAuthorized
            | E::TooManyConnections
            | E::AclDenied
            | E::Internal,
        )
        | None => false,
    }
}

/// Whether a failure is the daemon's own trouble (503 here).
pub fn is_daemon_trouble(code: Option<ErrorCode>) -> bool {
    matches!(
        code,
        Some(ErrorCode::Internal | ErrorCode::TooManyConnections)
    )
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Reads a verify reply.
pub fn verdict(resp: &Response) -> Result<Verdict, LinkError> {
    if resp.is_ok() {
        let data = resp.data.as_ref().ok_or(LinkError::BadReply)?;
        let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_owned);
        return Ok(Verdict::Allowed(Identity {
            user: text("user").ok_or(LinkError::BadReply)?,
            token_name: text("token_name").ok_or(LinkError::BadReply)?,
            acls: strings(data.get("acls")),
        }));
    }
    let code = resp.error_code();
    if is_daemon_trouble(code) {
        return Err(LinkError::BadReply);
    }
    Ok(match code {
        Some(ErrorCode::AclDenied) => Verdict::Lacks(resp.metadata.reason.clone()),
        Some(c) => Verdict::Denied(c),
        None => Verdict::Denied(ErrorCode::BadRequest),
    })
}

/// verify(user, token, ip, function) on the verify socket.
pub async fn verify(
    link: &Link,
    creds: &Credentials,
    ip: IpAddr,
    function: &str,
) -> Result<Verdict, LinkError> {
    let request = VerifyRequest {
        command: "verify",
        args: VerifyArgs {
            user: &creds.user,
            token: &creds.token,
            ip: ip.to_string(),
            function,
        },
    };
    let resp = link.call(&request).await?;
    verdict(&resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn verify_replies() {
        let ok = Response::ok(
            "verify",
            Some(json!({"user": "bob", "token_name": "deploy", "acls": ["list-accts"]})),
        );
        assert_eq!(
            verdict(&ok),
            Ok(Verdict::Allowed(Identity {
                user: "bob".into(),
                token_name: "deploy".into(),
                acls: vec!["list-accts".into()],
            }))
        );
        let lacks = Response::fail("verify", ErrorCode::AclDenied, "needs list-accts");
        assert_eq!(
            verdict(&lacks),
            Ok(Verdict::Lacks("needs list-accts".into()))
        );
        for code in [
            ErrorCode::InvalidToken,
            ErrorCode::Expired,
            ErrorCode::LockedOut,
        ] {
            assert_eq!(
                verdict(&Response::fail("verify", code, "x")),
                Ok(Verdict::Denied(code))
            );
        }
        assert!(verdict(&Response::fail("verify", ErrorCode::Internal, "x")).is_err());
        assert!(verdict(&Response::ok("verify", None)).is_err());
    }

    #[test]
    fn authentication_failures() {
        let auth: Vec<_> = ErrorCode::ALL
            .into_iter()
            .filter(|c| is_authentication_failure(Some(*c)))
            .collect();
        assert_eq!(
            auth,
            [
                ErrorCode::InvalidUser,
                ErrorCode::Suspended,
                ErrorCode::UnknownUser,
                ErrorCode::InvalidToken,
                ErrorCode::Expired,
                ErrorCode::IpNotAllowed,
                ErrorCode::LockedOut,
                ErrorCode::LoginFailed,
                ErrorCode::SessionInvalid,
                ErrorCode::CsrfInvalid,
            ]
        );
    }
}
