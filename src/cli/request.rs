//! Parsed arguments → the daemon [`Request`] to send.
//!
//! Pure functions, so the exact wire shape of each command is unit tested
//! without a daemon. Only what the user gave is sent: the daemon treats a
//! missing argument as "keep" (update) or "default" (create).

use apitokend_proto::Request;
use serde_json::{Map, Value};
use zeroize::Zeroize;

use super::args::{CallArgs, Command, RevokeArgs, UpdateArgs};
use super::when::When;

/// What to say to a token given on the command line to `details` or
/// `verify` (it is never used, nor echoed).
pub fn token_not_in_argv(sub: &str) -> String {
    let rest = if sub == "verify" {
        " --user USER --ip ADDR --function FN"
    } else {
        ""
    };
    format!(
        "the token is read from standard input, never from the command line (other local \
         users can see command lines); pipe it:\n  echo \"$TOKEN\" | apitoken {sub}{rest}\n\
         or run the command without it and type the token at the hidden prompt.\n\
         If that was a real token, it is now in your shell history: consider revoking it."
    )
}

/// Checks clap cannot express; the error is a usage message.
pub fn validate(command: &Command) -> Result<(), String> {
    match command {
        Command::Revoke(RevokeArgs {
            all: true,
            yes: false,
            ..
        }) => Err("revoke --all revokes every token of the user: add --yes to confirm".to_owned()),
        Command::Revoke(RevokeArgs { names, .. }) if names.iter().any(|n| n.trim().is_empty()) => {
            Err("a token name cannot be empty".to_owned())
        }
        Command::Call(CallArgs {
            pairs, stdin_arg, ..
        }) => {
            no_secret_in_argv(pairs)?;
            match stdin_arg {
                Some(key) if key.is_empty() => Err("--stdin-arg needs a key".to_owned()),
                Some(key) if pairs.iter().any(|(k, _)| k == key) => Err(format!(
                    "'{key}' is given both as KEY=VALUE and with --stdin-arg"
                )),
                Some(_) | None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// A token is never taken from the command line, where every local user
/// can read it (`ps`, /proc): neither as `token=` nor as a value shaped
/// like one. Neither message repeats the value.
fn no_secret_in_argv(pairs: &[(String, String)]) -> Result<(), String> {
    for (key, value) in pairs {
        if key.eq_ignore_ascii_case("token") {
            return Err(format!(
                "a token is never taken from the command line, where other users can \
                 see it: drop '{key}=' and use --stdin-arg token (the token is then read \
                 from standard input)"
            ));
        }
        if apitokend_proto::is_token_shaped(value.trim()) {
            return Err(format!(
                "the value of '{key}' looks like an API token; the command line is visible \
                 to other users: use --stdin-arg {key} (read from standard input)"
            ));
        }
    }
    Ok(())
}

/// A value the command reads from stdin, never from argv.
#[derive(Debug, PartialEq, Eq)]
pub struct Secret {
    /// Shown on a terminal.
    pub prompt: String,
    /// Names it in error messages.
    pub what: String,
}

/// What secret the command needs from stdin, if any.
pub fn secret_needed(command: &Command) -> Option<Secret> {
    match command {
        Command::Details(_) | Command::Verify(_) => Some(Secret {
            prompt: "Token: ".to_owned(),
            what: "the token".to_owned(),
        }),
        Command::Call(CallArgs {
            stdin_arg: Some(key),
            ..
        }) => Some(Secret {
            prompt: format!("{key}: "),
            what: format!("the value of '{key}'"),
        }),
        _ => None,
    }
}

/// `status` asking for `include` sections.
pub fn status(include: &[&str]) -> Request {
    let r = Request::new("status");
    if include.is_empty() {
        r
    } else {
        r.arg("include", include.to_vec())
    }
}

/// Builds the request; `secret` is what [`secret_needed`] asked for.
/// `None`: the command needs no daemon (`completions`).
pub fn build(command: &Command, secret: Option<&str>) -> Option<Request> {
    let secret = secret.unwrap_or_default();
    Some(match command {
        Command::Create(a) => {
            let mut r = Request::new("api_token_create").arg("token_name", a.name.as_str());
            if !a.acls.is_empty() {
                r = r.arg("acl", a.acls.clone());
            }
            if !a.ips.is_empty() {
                r = r.arg("whitelist_ip", a.ips.clone());
            }
            if let Some(When::At(t)) = a.expires {
                r = r.arg("expires_at", t);
            }
            r.user(a.owner.user.clone())
        }
        Command::List(a) => Request::new("api_token_list").user(a.owner.user.clone()),
        Command::Details(a) => Request::new("api_token_get_details")
            .arg("token", secret)
            .user(a.owner.user.clone()),
        Command::Update(a) => update(a),
        Command::Revoke(a) if a.all => {
            Request::new("api_token_revoke_all").user(a.owner.user.clone())
        }
        Command::Revoke(a) => Request::new("api_token_revoke")
            .arg("token_name", a.names.clone())
            .user(a.owner.user.clone()),
        Command::Verify(a) => Request::new("verify")
            .arg("user", a.user.as_str())
            .arg("token", secret)
            .arg("ip", a.ip.as_str())
            .arg("function", a.function.as_str()),
        Command::Call(a) => call(a, secret),
        Command::Lockouts(a) if a.clear_all => Request::new("lockout_clear").arg("all", 1),
        Command::Lockouts(a) if !a.clear.is_empty() => {
            Request::new("lockout_clear").arg("ip", a.clear.clone())
        }
        Command::Lockouts(_) => Request::new("lockout_list"),
        Command::Status => status(&[]),
        Command::Acls(_) => status(&["privileges"]),
        Command::Functions(_) => status(&["functions"]),
        Command::WebLogin(a) => Request::new("session_ticket").user(a.owner.user.clone()),
        // Answered without the daemon or with many requests (`cli::execute`).
        Command::Completions(_) | Command::Cpanel(_) => return None,
    })
}

fn update(a: &UpdateArgs) -> Request {
    let mut r = Request::new("api_token_update").arg("token_name", a.name.as_str());
    if let Some(n) = &a.new_name {
        r = r.arg("new_name", n.as_str());
    }
    if !a.acls.is_empty() {
        r = r.arg("acl", a.acls.clone());
    }
    if a.any_ip {
        r = r.arg("whitelist_ip", vec!["any"]);
    } else if !a.ips.is_empty() {
        r = r.arg("whitelist_ip", a.ips.clone());
    }
    match a.expires {
        Some(When::Never) => r = r.arg("expires_at", 0),
        Some(When::At(t)) => r = r.arg("expires_at", t),
        None => {}
    }
    r.user(a.owner.user.clone())
}

fn call(a: &CallArgs, secret: &str) -> Request {
    let mut args = Map::new();
    for (key, value) in &a.pairs {
        let value = Value::String(value.clone());
        match args.get_mut(key) {
            None => {
                args.insert(key.clone(), value);
            }
            Some(Value::Array(list)) => list.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    if let Some(key) = &a.stdin_arg {
        args.insert(key.clone(), Value::String(secret.to_owned()));
    }
    Request {
        command: a.function.clone(),
        args,
        user: a.owner.user.clone(),
        auth: None,
    }
}

/// Zeroizes every string argument once the request has been sent: it may
/// hold a token and serde_json values are not zeroized on drop.
pub fn scrub(request: &mut Request) {
    request.args.values_mut().for_each(scrub_value);
}

/// Zeroizes the strings in `value`, recursively.
pub fn scrub_value(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(scrub_value),
        Value::Object(map) => map.values_mut().for_each(scrub_value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::Cli;
    use clap::Parser;
    use serde_json::json;

    fn req(argv: &[&str], secret: Option<&str>) -> Request {
        let mut full = vec!["apitoken"];
        full.extend_from_slice(argv);
        let cli = Cli::try_parse_from(full).unwrap();
        validate(&cli.command).unwrap();
        build(&cli.command, secret).unwrap()
    }

    fn shape(r: &Request) -> Value {
        serde_json::to_value(r).unwrap()
    }

    #[test]
    fn create_sends_only_what_was_given() {
        let r = req(&["create", "ci"], None);
        assert_eq!(
            shape(&r),
            json!({"command": "api_token_create", "args": {"token_name": "ci"}})
        );
        let r = req(
            &[
                "create",
                "ci",
                "--acl",
                "list-accts,passwd",
                "--acl",
                "ssl",
                "--ip",
                "10.0.0.1",
                "--ip",
                "fc00::/7",
                "--expires",
                "1900000000",
                "--user",
                "res",
            ],
            None,
        );
        assert_eq!(
            shape(&r),
            json!({"command": "api_token_create", "user": "res", "args": {
                "token_name": "ci", "acl": ["list-accts", "passwd", "ssl"],
                "whitelist_ip": ["10.0.0.1", "fc00::/7"], "expires_at": 1_900_000_000}})
        );
        let r = req(&["create", "ci", "--expires", "never"], None);
        assert_eq!(
            r.args,
            json!({"token_name": "ci"}).as_object().unwrap().clone()
        );
    }

    #[test]
    fn status_acls_functions() {
        assert_eq!(
            shape(&req(&["status"], None)),
            json!({"command": "status", "args": {}})
        );
        assert_eq!(
            shape(&req(&["acls"], None)),
            json!({"command": "status", "args": {"include": ["privileges"]}})
        );
        assert_eq!(
            shape(&req(&["functions", "listaccts"], None)),
            json!({"command": "status", "args": {"include": ["functions"]}})
        );
    }

    #[test]
    fn update_any_ip_and_never() {
        let r = req(&["update", "x", "--any-ip", "--expires", "never"], None);
        assert_eq!(
            shape(&r),
            json!({"command": "api_token_update",
                   "args": {"token_name": "x", "whitelist_ip": ["any"], "expires_at": 0}})
        );
        let r = req(
            &[
                "update",
                "x",
                "--new-name",
                "y",
                "--acl",
                "all",
                "--ip",
                "1.2.3.4",
            ],
            None,
        );
        assert_eq!(
            shape(&r)["args"],
            json!({"token_name": "x", "new_name": "y", "acl": ["all"], "whitelist_ip": ["1.2.3.4"]})
        );
        let r = req(&["update", "x"], None);
        assert_eq!(shape(&r)["args"], json!({"token_name": "x"}));
    }

    #[test]
    fn list_details_verify() {
        assert_eq!(
            shape(&req(&["list", "--user", "bob"], None)),
            json!({"command": "api_token_list", "args": {}, "user": "bob"})
        );
        assert_eq!(
            shape(&req(&["details"], Some("TOK"))),
            json!({"command": "api_token_get_details", "args": {"token": "TOK"}})
        );
        assert_eq!(
            shape(&req(
                &[
                    "verify",
                    "--user",
                    "bob",
                    "--ip",
                    "1.2.3.4",
                    "--function",
                    "listaccts"
                ],
                Some("TOK")
            )),
            json!({"command": "verify", "args": {
                "user": "bob", "token": "TOK", "ip": "1.2.3.4", "function": "listaccts"}})
        );
    }

    #[test]
    fn revoke_names_and_all() {
        assert_eq!(
            shape(&req(&["revoke", "a", "b"], None)),
            json!({"command": "api_token_revoke", "args": {"token_name": ["a", "b"]}})
        );
        assert_eq!(
            shape(&req(&["revoke", "--all", "--yes", "--user", "bob"], None)),
            json!({"command": "api_token_revoke_all", "args": {}, "user": "bob"})
        );
    }

    #[test]
    fn revoke_refuses_an_empty_name() {
        let cli = Cli::try_parse_from(["apitoken", "revoke", "a", " "]).unwrap();
        assert!(validate(&cli.command).unwrap_err().contains("empty"));
        let cli = Cli::try_parse_from(["apitoken", "revoke", "a"]).unwrap();
        assert!(validate(&cli.command).is_ok());
    }

    #[test]
    fn revoke_all_needs_yes() {
        let cli = Cli::try_parse_from(["apitoken", "revoke", "--all"]).unwrap();
        assert!(validate(&cli.command).unwrap_err().contains("--yes"));
    }

    #[test]
    fn call_repeated_keys_become_lists() {
        let r = req(
            &[
                "call",
                "api_token_revoke",
                "token_name=a",
                "x=1=2",
                "token_name=b",
                "token_name=c",
            ],
            None,
        );
        assert_eq!(
            shape(&r),
            json!({"command": "api_token_revoke",
                   "args": {"token_name": ["a", "b", "c"], "x": "1=2"}})
        );
    }

    #[test]
    fn call_stdin_arg() {
        let argv = [
            "call",
            "api_token_get_details",
            "--stdin-arg",
            "token",
            "--user",
            "bob",
        ];
        let cli = Cli::try_parse_from(std::iter::once("apitoken").chain(argv)).unwrap();
        let secret = secret_needed(&cli.command).unwrap();
        assert_eq!(secret.prompt, "token: ");
        assert_eq!(
            shape(&build(&cli.command, Some("TOK")).unwrap()),
            json!({"command": "api_token_get_details", "args": {"token": "TOK"}, "user": "bob"})
        );
        let cli = Cli::try_parse_from(["apitoken", "call", "f", "token=x", "--stdin-arg", "token"])
            .unwrap();
        assert!(validate(&cli.command).is_err());
    }

    #[test]
    fn call_refuses_secrets_in_argv() {
        let secret = "UWU28DCA23NKY76CN17MDPKM3O7EFQY8";
        for (pair, points_to) in [
            (format!("token={secret}"), "--stdin-arg token"),
            ("Token=x".to_owned(), "--stdin-arg token"),
            (format!("other={secret}"), "--stdin-arg other"),
        ] {
            let cli = Cli::try_parse_from(["apitoken", "call", "f", &pair]).unwrap();
            let e = validate(&cli.command).unwrap_err();
            assert!(e.contains(points_to) && !e.contains(secret), "{e}");
        }
        let cli = Cli::try_parse_from(["apitoken", "call", "f", "token_name=deploy"]).unwrap();
        assert!(validate(&cli.command).is_ok());
    }

    #[test]
    fn scrub_clears_secrets() {
        let mut r = req(&["details"], Some("SECRET"));
        scrub(&mut r);
        assert_eq!(r.args["token"], json!(""));
    }
}
