//! A daemon reply → what the user sees and the exit status.
//!
//! Returns text instead of printing it so every command's output is tested
//! without a terminal. Standard output may hold a new token: it is zeroized.

use std::fmt::Display;

use apitokend_proto::Response;
use chrono::TimeZone;
use serde_json::Value;
use zeroize::Zeroizing;

use super::args::Command;
use super::table::{self, int, strings, text};

pub const EXIT_OK: i32 = 0;
pub const EXIT_REFUSED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_UNREACHABLE: i32 = 3;
/// Ctrl-C at a token prompt, as a shell reports death by SIGINT.
pub const EXIT_INTERRUPTED: i32 = 130;

/// The outcome of one command.
#[derive(Debug, Default)]
pub struct Printed {
    pub stdout: Zeroizing<String>,
    pub stderr: String,
    pub code: i32,
}

impl Printed {
    fn out(s: String) -> Self {
        Printed {
            stdout: Zeroizing::new(s),
            ..Printed::default()
        }
    }

    fn fail(s: String) -> Self {
        Printed {
            stderr: s,
            code: EXIT_REFUSED,
            ..Printed::default()
        }
    }
}

/// `--json` and `call`: the reply as JSON; the exit status is as without
/// `--json` (so `details` finding nothing still exits 1).
pub fn json(command: &Command, reply: &Response) -> Printed {
    let not_found = matches!(command, Command::Details(_)) && reply.data.is_none();
    match serde_json::to_string_pretty(reply) {
        Ok(s) => Printed {
            stdout: Zeroizing::new(s + "\n"),
            stderr: String::new(),
            code: if reply.is_ok() && !not_found {
                EXIT_OK
            } else {
                EXIT_REFUSED
            },
        },
        Err(e) => Printed {
            stderr: format!("apitoken: cannot print the reply: {e}\n"),
            code: EXIT_UNREACHABLE,
            ..Printed::default()
        },
    }
}

/// Human output for `command`'s reply.
pub fn human<Tz: TimeZone>(command: &Command, reply: &Response, tz: &Tz) -> Printed
where
    Tz::Offset: Display,
{
    let meta = &reply.metadata;
    if !reply.is_ok() {
        let code = meta.error.as_deref().unwrap_or("unknown");
        return Printed::fail(match command {
            Command::Verify(_) => format!("refused: {code}: {}\n", meta.reason),
            _ if meta.error.is_some() => format!("error: {} ({code})\n", meta.reason),
            _ => format!("error: {}\n", meta.reason),
        });
    }
    let null = Value::Null;
    let data = reply.data.as_ref().unwrap_or(&null);
    match command {
        Command::Create(_) => Printed::out(created(data, tz)),
        Command::List(a) => {
            let empty = serde_json::Map::new();
            let tokens = data
                .get("tokens")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            Printed::out(table::list_table(tokens, a.search.as_deref(), tz))
        }
        Command::Details(_) if data.is_null() => {
            Printed::fail("No such token among your tokens (or it has expired).\n".to_owned())
        }
        Command::Details(_) => Printed::out(table::lines(&table::record_fields(data, tz))),
        Command::Update(a) => Printed::out(format!(
            "Token \"{}\" updated.\n{}",
            a.name,
            table::lines(&table::record_fields(data, tz))
        )),
        Command::Revoke(a) if a.all => Printed::out(format!(
            "Revoked {} token(s).\n",
            int(data, "revoked").unwrap_or(0)
        )),
        Command::Revoke(_) => Printed::out(revoked(data)),
        Command::Verify(_) => Printed::out(accepted(data)),
        Command::Call(_) => json(command, reply),
        Command::Lockouts(a) if a.clear_all || !a.clear.is_empty() => {
            let cleared = strings(data, "cleared");
            Printed::out(if cleared.is_empty() {
                "No matching lockout.\n".to_owned()
            } else {
                format!("Cleared: {}\n", cleared.join(", "))
            })
        }
        Command::Lockouts(_) => Printed::out(lockouts(data, tz)),
    }
}

fn lockouts<Tz: TimeZone>(data: &Value, tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    let rows: Vec<Vec<String>> = data["lockouts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|l| {
            let until = int(l, "locked_until")
                .and_then(|t| tz.timestamp_opt(t, 0).single())
                .map_or_else(
                    || "?".to_owned(),
                    |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
                );
            vec![
                text(l, "ip").to_owned(),
                int(l, "failures").unwrap_or(0).to_string(),
                until,
            ]
        })
        .collect();
    if rows.is_empty() {
        return "No lockouts.\n".to_owned();
    }
    let header = ["Address", "Failures", "Locked until"];
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&header);
    for r in &rows {
        out.push_str(&line(&[&r[0], &r[1], &r[2]]));
    }
    out
}

fn created<Tz: TimeZone>(data: &Value, tz: &Tz) -> String
where
    Tz::Offset: Display,
{
    let mut fields = vec![("Token", text(data, "token").to_owned())];
    fields.extend(table::limit_lines(data, tz));
    format!(
        "Token \"{}\" created. Copy it now: it is shown only once.\n{}",
        text(data, "name"),
        table::lines(&fields)
    )
}

fn revoked(data: &Value) -> String {
    let mut out = String::new();
    let done = strings(data, "revoked");
    if !done.is_empty() {
        out.push_str(&format!("Revoked: {}\n", done.join(", ")));
    }
    let missing = strings(data, "not_found");
    if !missing.is_empty() {
        out.push_str(&format!(
            "Not found (nothing to do): {}\n",
            missing.join(", ")
        ));
    }
    if out.is_empty() {
        out.push_str("Done.\n");
    }
    out
}

fn accepted(data: &Value) -> String {
    let acls = strings(data, "acls");
    let acls = if acls.is_empty() {
        "none".to_owned()
    } else {
        acls.join(", ")
    };
    format!(
        "accepted: token {} of {}, privileges: {acls}\n",
        text(data, "token_name"),
        text(data, "user")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::args::Cli;
    use apitokend_proto::ErrorCode;
    use chrono::FixedOffset;
    use clap::Parser;
    use serde_json::json;

    fn show(argv: &[&str], reply: Response) -> Printed {
        let cli =
            Cli::try_parse_from(std::iter::once("apitoken").chain(argv.iter().copied())).unwrap();
        human(&cli.command, &reply, &FixedOffset::east_opt(0).unwrap())
    }

    fn ok(data: Value) -> Response {
        Response::ok("x", Some(data))
    }

    #[test]
    fn create_output() {
        let p = show(
            &["create", "ci"],
            ok(
                json!({"name": "ci", "token": "UWU28DCA23NKY76CN17MDPKM3O7EFQY8",
                      "create_time": 1, "expires_at": 1_900_000_000,
                      "acls": ["list-accts", "ssl"], "whitelist_ips": ["10.0.0.1", "10.0.0.2"],
                      "has_full_access": 0}),
            ),
        );
        assert_eq!(
            p.stdout.as_str(),
            "\
Token \"ci\" created. Copy it now: it is shown only once.
Token:   UWU28DCA23NKY76CN17MDPKM3O7EFQY8
Expires: 2030-03-17 17:46:40
IPs:     10.0.0.1, 10.0.0.2
ACLs:    list-accts, ssl
"
        );
        assert_eq!(p.code, 0);
        let p = show(
            &["create", "ci"],
            ok(
                json!({"name": "ci", "token": "T", "create_time": 1, "expires_at": null,
                      "has_full_access": 1}),
            ),
        );
        assert!(
            p.stdout
                .ends_with("Expires: never\nIPs:     Any\nACLs:    All (full access)\n")
        );
    }

    #[test]
    fn refusals() {
        let p = show(
            &["create", "ci"],
            Response::fail(
                "api_token_create",
                ErrorCode::NameExists,
                "The name exists.",
            ),
        );
        assert_eq!(
            (p.code, p.stderr.as_str()),
            (1, "error: The name exists. (name_exists)\n")
        );
        assert!(p.stdout.is_empty());
        let p = show(
            &[
                "verify",
                "--user",
                "u",
                "--ip",
                "1.2.3.4",
                "--function",
                "f",
            ],
            Response::fail("verify", ErrorCode::AclDenied, "Not allowed."),
        );
        assert_eq!(
            (p.code, p.stderr.as_str()),
            (1, "refused: acl_denied: Not allowed.\n")
        );
    }

    #[test]
    fn details_not_found_and_found() {
        let p = show(&["details"], Response::ok("api_token_get_details", None));
        assert_eq!(p.code, 1);
        assert!(p.stderr.starts_with("No such token"));
        let p = show(
            &["details"],
            ok(json!({"name": "n", "create_time": 0, "acls": ["ssl"]})),
        );
        assert_eq!(p.code, 0);
        assert!(
            p.stdout
                .starts_with("Name:    n\nCreated: 1970-01-01 00:00:00\n")
        );
    }

    #[test]
    fn update_revoke_verify() {
        let p = show(
            &["update", "a", "--new-name", "b"],
            ok(json!({"name": "b", "create_time": 0})),
        );
        assert!(p.stdout.starts_with("Token \"a\" updated.\nName:    b\n"));
        let p = show(
            &["revoke", "a", "b", "c"],
            ok(json!({"revoked": ["a", "b"], "not_found": ["c"]})),
        );
        assert_eq!(
            p.stdout.as_str(),
            "Revoked: a, b\nNot found (nothing to do): c\n"
        );
        let p = show(
            &["revoke", "c"],
            ok(json!({"revoked": [], "not_found": ["c"]})),
        );
        assert_eq!(p.stdout.as_str(), "Not found (nothing to do): c\n");
        let p = show(&["revoke", "--all", "--yes"], ok(json!({"revoked": 3})));
        assert_eq!(p.stdout.as_str(), "Revoked 3 token(s).\n");
        let p = show(
            &[
                "verify",
                "--user",
                "bob",
                "--ip",
                "1.2.3.4",
                "--function",
                "listaccts",
            ],
            ok(json!({"user": "bob", "token_name": "ci", "acls": ["list-accts", "ssl"]})),
        );
        assert_eq!(
            p.stdout.as_str(),
            "accepted: token ci of bob, privileges: list-accts, ssl\n"
        );
    }

    #[test]
    fn json_keeps_the_reply_and_result() {
        let cli = Cli::try_parse_from(["apitoken", "--json", "list"]).unwrap();
        let reply = Response::fail("api_token_list", ErrorCode::NotAuthorized, "no");
        let p = json(&cli.command, &reply);
        assert_eq!(p.code, 1);
        let back: Response = serde_json::from_str(&p.stdout).unwrap();
        assert_eq!(back, reply);
        let cli = Cli::try_parse_from(["apitoken", "details", "--json"]).unwrap();
        let p = json(&cli.command, &Response::ok("api_token_get_details", None));
        assert_eq!(p.code, 1);
    }
}
