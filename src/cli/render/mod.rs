//! A daemon reply → what the user sees and the exit status.
//!
//! Returns text instead of printing it so every command's output is tested
//! without a terminal. Standard output may hold a new token: it is zeroized.

use std::fmt::Display;

use apitokend_proto::Response;
use chrono::TimeZone;
use serde_json::Value;
use zeroize::Zeroizing;

use super::args::{Command, CreateArgs, UpdateArgs};
use super::info;
use super::list_table::{self, ListStyle};
use super::table::{self, int, strings, text};
use super::term::Term;

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
/// `--json` (so `details` finding nothing, or `revoke` of an unknown name,
/// still exits 1).
pub fn json(command: &Command, reply: &Response) -> Printed {
    let not_found = match command {
        Command::Details(_) => reply.data.is_none(),
        Command::Revoke(a) => {
            !a.ignore_not_found
                && reply
                    .data
                    .as_ref()
                    .is_some_and(|d| !strings(d, "not_found").is_empty())
        }
        _ => false,
    };
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

/// Human output for `command`'s reply; its warnings go to stderr.
pub fn human<Tz: TimeZone>(command: &Command, reply: &Response, tz: &Tz, term: &Term) -> Printed
where
    Tz::Offset: Display,
{
    let mut printed = human_reply(command, reply, tz, term);
    for w in reply.metadata.warnings.iter().flat_map(|w| w.iter()) {
        printed.stderr.push_str(&format!("warning: {w}\n"));
    }
    printed
}

fn human_reply<Tz: TimeZone>(command: &Command, reply: &Response, tz: &Tz, term: &Term) -> Printed
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
        Command::Create(a) if a.quiet => Printed::out(format!("{}\n", text(data, "token"))),
        Command::Create(a) => Printed {
            stderr: create_notes(a),
            ..Printed::out(created(data, tz))
        },
        Command::List(a) => {
            let empty = serde_json::Map::new();
            let tokens = data
                .get("tokens")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let style = ListStyle {
                search: a.search.as_deref(),
                width: term.width,
                color: term.color,
                wide: a.wide,
            };
            Printed::out(list_table::list_table(&[(None, tokens)], &style, tz))
        }
        Command::Details(_) if data.is_null() => {
            Printed::fail("No such token among your tokens (or it has expired).\n".to_owned())
        }
        Command::Details(_) => Printed::out(table::lines(&table::record_fields(data, tz))),
        Command::Update(a) => Printed {
            stderr: update_notes(a),
            ..Printed::out(format!(
                "Token \"{}\" updated.\n{}",
                a.name,
                table::lines(&table::record_fields(data, tz))
            ))
        },
        Command::Revoke(a) if a.all => Printed::out(format!(
            "Revoked {} token(s).\n",
            int(data, "revoked").unwrap_or(0)
        )),
        Command::Revoke(a) => revoked(data, a.ignore_not_found),
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
        Command::Status => Printed::out(info::status(data, tz)),
        Command::Acls(a) => Printed::out(info::acls(data, a)),
        Command::Functions(a) => Printed::out(info::functions(data, a)),
        Command::WebLogin(_) => Printed::out(format!(
            "{}\n",
            data.get("url").and_then(Value::as_str).unwrap_or("")
        )),
        // Answered without the daemon or by `cli::cpanel` (see `cli::execute`).
        Command::Completions(_) | Command::Cpanel(_) => Printed::default(),
    }
}

/// What `--ip` values become when stored, when that differs from what was
/// typed: a range keeps its network address (10.0.0.5/24 → 10.0.0.0/24).
fn ip_notes(ips: &[String]) -> String {
    let mut out = String::new();
    for typed in ips {
        let Ok(net) = typed.trim().parse::<ipnet::IpNet>() else {
            continue;
        };
        if net.trunc() != net {
            out.push_str(&format!(
                "note: {} is stored as {} (a range is kept as its network address)\n",
                typed.trim(),
                table::screen_ip(&net.trunc().to_string())
            ));
        }
    }
    out
}

/// `all` among other privileges: the result is full access.
fn acl_notes(acls: &[String]) -> String {
    if acls.len() > 1 && acls.iter().any(|a| a.trim() == crate::acl::ALL) {
        "note: \"all\" means full access: the token has every privilege its owner holds, \
         and the other --acl values add nothing\n"
            .to_owned()
    } else {
        String::new()
    }
}

fn create_notes(a: &CreateArgs) -> String {
    ip_notes(&a.ips) + &acl_notes(&a.acls)
}

fn update_notes(a: &UpdateArgs) -> String {
    ip_notes(&a.ips) + &acl_notes(&a.acls)
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
                table::screen_ip(text(l, "ip")),
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

/// The names revoked on stdout; a name that did not exist is an error
/// (exit 1) on stderr, unless `--ignore-not-found`. The daemon keeps WHM's
/// "not an error" on the wire; a person or script typing a name expects
/// to hear that it was wrong.
fn revoked(data: &Value, ignore_not_found: bool) -> Printed {
    let done = strings(data, "revoked");
    let missing = strings(data, "not_found");
    let mut p = Printed::out(if done.is_empty() {
        String::new()
    } else {
        format!("Revoked: {}\n", done.join(", "))
    });
    if !missing.is_empty() && !ignore_not_found {
        let quoted: Vec<String> = missing.iter().map(|m| format!("“{m}”")).collect();
        p.stderr = format!(
            "apitoken: no API token named {} (check the name with: apitoken list)\n",
            quoted.join(", ")
        );
        p.code = EXIT_REFUSED;
    }
    p
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
mod tests;
