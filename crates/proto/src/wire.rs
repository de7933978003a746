//! Request and response shapes, modelled on WHM API 1 replies so a client
//! written against cPanel's documentation reads ours unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One request line: `{"command": "...", "args": {...}, "user": "..."}`.
///
/// `args` keeps WHM's form conventions (`acl-1`, `acl-2`, ...); the daemon
/// interprets them. `user` is the WHM user to act as (only root may name
/// another user).
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub command: String,
    #[serde(default)]
    pub args: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Credentials relayed by the HTTPS front for its client; the daemon
    /// accepts them only from the front's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
}

/// Credentials relayed by the HTTPS front for its client, and the client's
/// address: `"auth": {"token": {"user": "bob", "token": "…"}, "ip": "…"}`
/// for an API token (the daemon authenticates it exactly as a verify and
/// acts as the token's owner), or `"auth": {"session": "…", "csrf": "…",
/// "ip": "…"}` for a web page session (the daemon's session table decides;
/// `csrf` is the session's CSRF token). A log-in carries only `ip`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<TokenCredential>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
    /// The client's address as the front saw it.
    pub ip: String,
}

impl Drop for Auth {
    fn drop(&mut self) {
        for s in [&mut self.session, &mut self.csrf].into_iter().flatten() {
            zeroize::Zeroize::zeroize(s);
        }
    }
}

/// A WHM user and one of its API tokens. The token is wiped on drop and
/// never printed.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenCredential {
    pub user: String,
    pub token: String,
}

impl Drop for TokenCredential {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.token);
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("token", &self.token)
            .field("session", &self.session.as_ref().map(|_| "…"))
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TokenCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCredential")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Request {
    // Args may carry a plaintext token: never print their values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("command", &self.command)
            .field("args", &self.args.keys().collect::<Vec<_>>())
            .field("user", &self.user)
            .field("auth", &self.auth)
            .finish()
    }
}

impl Request {
    pub fn new(command: impl Into<String>) -> Self {
        Request {
            command: command.into(),
            args: Map::new(),
            user: None,
            auth: None,
        }
    }

    /// Builder: sets one argument.
    #[must_use]
    pub fn arg(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.args.insert(key.into(), value.into());
        self
    }

    /// Builder: sets the WHM user to act as.
    #[must_use]
    pub fn user(mut self, user: Option<String>) -> Self {
        self.user = user;
        self
    }
}

/// The `metadata` object of every reply.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Metadata {
    pub command: String,
    pub result: u8,
    pub reason: String,
    pub version: u8,
    /// Stable snake_case failure code; absent on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Things a successful request did that the caller may not expect
    /// (e.g. an address range whose host bits were cleared); absent when
    /// none.
    /// (Boxed and optional: a reply without any, nearly every one, costs
    /// no allocation and stays small enough to pass by value.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Box<Vec<String>>>,
}

/// One reply line: `{"data": ..., "metadata": {...}}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Response {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    pub metadata: Metadata,
}

impl Response {
    pub fn ok(command: &str, data: Option<Value>) -> Self {
        Response {
            data,
            metadata: Metadata {
                command: command.to_owned(),
                result: 1,
                reason: "OK".to_owned(),
                version: 1,
                error: None,
                warnings: None,
            },
        }
    }

    /// Builder: the warnings of a successful reply.
    #[must_use]
    pub fn with_warnings(mut self, warnings: Vec<String>) -> Self {
        self.metadata.warnings = (!warnings.is_empty()).then(|| Box::new(warnings));
        self
    }

    pub fn fail(command: &str, code: ErrorCode, reason: impl Into<String>) -> Self {
        Response {
            data: None,
            metadata: Metadata {
                command: command.to_owned(),
                result: 0,
                reason: reason.into(),
                version: 1,
                error: Some(code.as_str().to_owned()),
                warnings: None,
            },
        }
    }

    pub fn is_ok(&self) -> bool {
        self.metadata.result == 1
    }

    /// The failure code, if this is a failure with a known code.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.metadata.error.as_deref().and_then(ErrorCode::parse)
    }
}

/// Stable failure codes carried in `metadata.error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The line is not valid JSON or not a request object.
    InvalidJson,
    /// The line exceeds the daemon's `max_request_bytes`.
    RequestTooLarge,
    UnknownCommand,
    /// A required argument is missing or has the wrong type.
    BadRequest,
    InvalidName,
    InvalidAcl,
    InvalidIp,
    InvalidExpiry,
    InvalidUser,
    NameExists,
    NotFound,
    NothingToChange,
    Suspended,
    UnknownUser,
    NotAuthorized,
    TooManyConnections,
    InvalidToken,
    Expired,
    IpNotAllowed,
    AclDenied,
    /// Too many failed verifies from this address; try again later.
    LockedOut,
    /// A web log-in was refused (which part was wrong is never said).
    LoginFailed,
    /// The web session is unknown, logged out or expired.
    SessionInvalid,
    /// The web session's CSRF token is missing or wrong.
    CsrfInvalid,
    /// The owner already has `limits.max_tokens_per_user` tokens.
    TooManyTokens,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 26] = [
        ErrorCode::InvalidJson,
        ErrorCode::RequestTooLarge,
        ErrorCode::UnknownCommand,
        ErrorCode::BadRequest,
        ErrorCode::InvalidName,
        ErrorCode::InvalidAcl,
        ErrorCode::InvalidIp,
        ErrorCode::InvalidExpiry,
        ErrorCode::InvalidUser,
        ErrorCode::NameExists,
        ErrorCode::NotFound,
        ErrorCode::NothingToChange,
        ErrorCode::Suspended,
        ErrorCode::UnknownUser,
        ErrorCode::NotAuthorized,
        ErrorCode::TooManyConnections,
        ErrorCode::InvalidToken,
        ErrorCode::Expired,
        ErrorCode::IpNotAllowed,
        ErrorCode::AclDenied,
        ErrorCode::LockedOut,
        ErrorCode::LoginFailed,
        ErrorCode::SessionInvalid,
        ErrorCode::CsrfInvalid,
        ErrorCode::TooManyTokens,
        ErrorCode::Internal,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::RequestTooLarge => "request_too_large",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::InvalidAcl => "invalid_acl",
            ErrorCode::InvalidIp => "invalid_ip",
            ErrorCode::InvalidExpiry => "invalid_expiry",
            ErrorCode::InvalidUser => "invalid_user",
            ErrorCode::NameExists => "name_exists",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NothingToChange => "nothing_to_change",
            ErrorCode::Suspended => "suspended",
            ErrorCode::UnknownUser => "unknown_user",
            ErrorCode::NotAuthorized => "not_authorized",
            ErrorCode::TooManyConnections => "too_many_connections",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::Expired => "expired",
            ErrorCode::IpNotAllowed => "ip_not_allowed",
            ErrorCode::AclDenied => "acl_denied",
            ErrorCode::LockedOut => "locked_out",
            ErrorCode::LoginFailed => "login_failed",
            ErrorCode::SessionInvalid => "session_invalid",
            ErrorCode::CsrfInvalid => "csrf_invalid",
            ErrorCode::TooManyTokens => "too_many_tokens",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_round_trip() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn failure_shape_is_whm_like() {
        let r = Response::fail("api_token_create", ErrorCode::NameExists, "taken");
        let v = serde_json::to_value(&r).expect("serialize");
        assert_eq!(v["metadata"]["result"], 0);
        assert_eq!(v["metadata"]["version"], 1);
        assert_eq!(v["metadata"]["error"], "name_exists");
        assert!(v.get("data").is_none());
        let ok = serde_json::to_value(Response::ok("x", None)).expect("serialize");
        assert!(ok["metadata"].get("error").is_none());
        assert_eq!(ok["metadata"]["reason"], "OK");
    }

    #[test]
    fn request_debug_hides_arg_values() {
        let r = Request::new("verify").arg("token", "SECRETSECRET");
        assert!(!format!("{r:?}").contains("SECRETSECRET"));
    }

    #[test]
    fn auth_round_trips_and_hides_the_token() {
        let mut r = Request::new("api_token_list");
        r.auth = Some(Auth {
            token: Some(TokenCredential {
                user: "bob".into(),
                token: "SECRETSECRET".into(),
            }),
            session: None,
            csrf: None,
            ip: "203.0.113.7".into(),
        });
        let line = serde_json::to_string(&r).expect("serialize");
        assert!(line.contains(
            r#""auth":{"token":{"user":"bob","token":"SECRETSECRET"},"ip":"203.0.113.7"}"#
        ));
        assert_eq!(serde_json::from_str::<Request>(&line).expect("parse"), r);
        assert!(!format!("{r:?}").contains("SECRETSECRET"));
    }

    #[test]
    fn request_rejects_unknown_top_level_keys() {
        let e = serde_json::from_str::<Request>(r#"{"command":"x","bogus":1}"#);
        assert!(e.is_err());
    }
}
