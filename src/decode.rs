//! One request decoder for both sockets: a line to a [`Request`], or a
//! refusal that says what is wrong without quoting the line.
//!
//! The line may hold a token anywhere (a JSON string in `args`, a stray
//! field), and serde's messages quote the values they reject, so no parser
//! message reaches a reply or a log: reasons name the field and the
//! problem, and a syntax error its position.

use apitokend_proto::{Auth, ErrorCode, Request, TokenCredential};
use serde_json::Value;

use crate::text::shown;

/// Longest command name quoted back (replies, audit).
pub(crate) const COMMAND_SHOWN: usize = 64;

/// Why a line is not a request, and the command it named, if any (for the
/// reply's `command` and the audit line).
#[derive(Debug)]
pub(crate) struct Undecodable {
    pub(crate) code: ErrorCode,
    pub(crate) command: String,
    pub(crate) reason: String,
}

const SHAPE: &str = "The request must be an object with “command” (string), \
                     optional “args” (object), optional “user” (string) and, from the HTTPS front \
                     only, optional “auth” (relayed credentials)";

fn shape(command: &str, problem: &str) -> Undecodable {
    Undecodable {
        code: ErrorCode::BadRequest,
        command: shown(command, COMMAND_SHOWN),
        reason: format!("{SHAPE}: {problem}."),
    }
}

pub(crate) fn decode(line: &[u8]) -> Result<Request, Undecodable> {
    let value: Value = serde_json::from_slice(line).map_err(|e| Undecodable {
        code: ErrorCode::InvalidJson,
        command: String::new(),
        reason: format!(
            "The request is not valid JSON (line {}, column {}).",
            e.line(),
            e.column()
        ),
    })?;
    let Value::Object(mut fields) = value else {
        return Err(shape("", "the line is not a JSON object"));
    };
    let command = match fields.remove("command") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(shape("", "“command” is not a string")),
        None => return Err(shape("", "“command” is missing")),
    };
    let args = match fields.remove("args") {
        None => serde_json::Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(shape(&command, "“args” is not an object")),
    };
    let user = match fields.remove("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(shape(&command, "“user” is not a string")),
    };
    let auth = match fields.remove("auth") {
        None | Some(Value::Null) => None,
        Some(v) => Some(auth(v).map_err(|()| {
            shape(
                &command,
                "“auth” must be {\"token\": {\"user\": string, \"token\": string}, \"ip\": string} \
                 or {\"session\": string, \"csrf\": string, \"ip\": string}",
            )
        })?),
    };
    if let Some(key) = fields.keys().next() {
        let problem = format!("unknown field “{}”", shown(key, 40));
        return Err(shape(&command, &problem));
    }
    Ok(Request {
        command,
        args,
        user,
        auth,
    })
}

/// Relayed credentials, checked for shape only (the values are secret:
/// no message quotes them).
fn auth(value: Value) -> Result<Auth, ()> {
    let Value::Object(mut m) = value else {
        return Err(());
    };
    let Some(Value::String(ip)) = m.remove("ip") else {
        return Err(());
    };
    let text = |v: Option<Value>| match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(()),
    };
    let session = text(m.remove("session"))?;
    let csrf = text(m.remove("csrf"))?;
    let token = match m.remove("token") {
        None => None,
        Some(Value::Object(mut t)) => {
            let (Some(Value::String(user)), Some(Value::String(token))) =
                (t.remove("user"), t.remove("token"))
            else {
                return Err(());
            };
            if !t.is_empty() {
                return Err(());
            }
            Some(TokenCredential { user, token })
        }
        Some(_) => return Err(()),
    };
    // A token or a session, never both; a CSRF token only with a session.
    if !m.is_empty()
        || (token.is_some() && session.is_some())
        || (csrf.is_some() && session.is_none())
    {
        return Err(());
    }
    Ok(Auth {
        token,
        session,
        csrf,
        ip,
    })
}

/// The reason for a missing argument.
pub(crate) fn missing(key: &str) -> String {
    format!("argument “{key}” is required")
}

/// A required string argument (a secret too: the caller moves it out of
/// `args`), or why not, naming the key.
pub(crate) fn string_arg(value: Option<Value>, key: &str) -> Result<String, String> {
    match value {
        Some(Value::String(s)) => Ok(s),
        None => Err(missing(key)),
        Some(_) => Err(format!("argument “{key}” must be a string")),
    }
}

/// The reason for a command this socket does not answer.
pub(crate) fn unknown_command(command: &str, hint: &str) -> String {
    format!("Unknown command “{}”{hint}", shown(command, COMMAND_SHOWN))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

    #[test]
    fn refusals_name_the_problem_never_the_bytes() {
        let cases: &[(&str, ErrorCode, &str)] = &[
            ("{\"command\":", ErrorCode::InvalidJson, "not valid JSON"),
            ("[1]", ErrorCode::BadRequest, "not a JSON object"),
            ("{}", ErrorCode::BadRequest, "“command” is missing"),
            ("{\"command\":1}", ErrorCode::BadRequest, "not a string"),
            (
                "{\"command\":\"verify\",\"args\":\"{\\\"token\\\":\\\"SECRET\\\"}\"}",
                ErrorCode::BadRequest,
                "“args” is not an object",
            ),
            (
                "{\"command\":\"x\",\"user\":[\"SECRET\"]}",
                ErrorCode::BadRequest,
                "“user” is not a string",
            ),
            (
                "{\"command\":\"x\",\"extra\":\"SECRET\"}",
                ErrorCode::BadRequest,
                "unknown field “extra”",
            ),
            ("\"SECRET", ErrorCode::InvalidJson, "column"),
            (
                "{\"command\":\"x\",\"auth\":{\"token\":{\"user\":\"b\",\"token\":5},\"ip\":\"SECRET\"}}",
                ErrorCode::BadRequest,
                "“auth” must be",
            ),
            (
                "{\"command\":\"x\",\"auth\":{\"token\":{\"user\":\"b\",\"token\":\"SECRET\",\"x\":1},\"ip\":\"1.2.3.4\"}}",
                ErrorCode::BadRequest,
                "“auth” must be",
            ),
        ];
        for (line, code, says) in cases {
            let line = line.replace("SECRET", SECRET);
            let e = decode(line.as_bytes()).unwrap_err();
            assert_eq!(e.code, *code, "{line}");
            assert!(e.reason.contains(says), "{line}: {}", e.reason);
            assert!(!e.reason.contains(SECRET), "{line}: {}", e.reason);
        }
    }

    #[test]
    fn a_request_decodes_with_defaults() {
        let r = decode(br#"{"command":"api_token_list","user":null}"#).unwrap();
        assert_eq!(r.command, "api_token_list");
        assert!(r.args.is_empty() && r.user.is_none());
        let r = decode(br#"{"command":"c","args":{"a":1},"user":"bob"}"#).unwrap();
        assert_eq!(r.user.as_deref(), Some("bob"));
        assert_eq!(r.args.len(), 1);
        assert_eq!(
            decode(br#"{"command":"c","args":1}"#).unwrap_err().command,
            "c"
        );
    }
}
