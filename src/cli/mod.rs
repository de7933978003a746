//! The `apitoken` command-line client of apitokend.
//!
//! Lives in the library (not the binary) so man pages and completions can be
//! generated from [`args::command`] and so its pieces are unit tested. It
//! only speaks the wire protocol through `apitokend_proto`'s blocking client:
//! no daemon code is involved. A token is never taken from argv (other local
//! users can read it); commands that need one read it from stdin.

pub mod args;
pub mod cpanel;
pub mod help;
mod hooks;
mod import;
mod info;
mod list_table;
mod render;
mod request;
mod sockets;
mod stdin_token;
mod table;
mod term;
pub mod when;

use std::ffi::OsString;
use std::io::{self, Write};
use std::time::Duration;

use apitokend_proto::Response;
use apitokend_proto::client::{Client, ClientError, call_once};
use clap::Parser;
use clap::error::ErrorKind;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use args::{Cli, Command, DEFAULT_TIMEOUT, ListArgs};
use render::{EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, Printed};
use sockets::Target;
use stdin_token::ReadError;
use term::Term;

/// Runs `apitoken` with the process arguments; returns the exit status.
pub fn run() -> i32 {
    main_with_args(std::env::args_os())
}

/// Runs `apitoken` with `args` (the first one is the program name).
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    match Cli::try_parse_from(&args) {
        Ok(cli) => execute(&cli),
        Err(e) => match token_given(&e, &args) {
            Some(sub) => {
                let mut top = args::command();
                top.build();
                let message = request::token_not_in_argv(sub);
                let _ = match top.find_subcommand_mut(sub) {
                    Some(s) => s.error(ErrorKind::ArgumentConflict, message),
                    None => top.error(ErrorKind::ArgumentConflict, message),
                }
                .print();
                EXIT_USAGE
            }
            None => {
                // --help and --version land here too, with exit status 0.
                let _ = e.print();
                e.exit_code()
            }
        },
    }
}

/// `details`/`verify` given a token on the command line (`details TOKEN`,
/// `verify --token X`): clap's "unexpected argument" would quote it back
/// and not say what to do. Returns the subcommand.
fn token_given(e: &clap::Error, args: &[OsString]) -> Option<&'static str> {
    use clap::error::{ContextKind, ContextValue};
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    // The subcommand: the first argument that names one (a global
    // option's value before it cannot, paths have slashes).
    let top = args::command();
    let sub = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find(|a| top.get_subcommands().any(|s| s.get_name() == *a))?;
    let sub = ["details", "verify"].into_iter().find(|s| *s == sub)?;
    let Some(ContextValue::String(bad)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let is_token = bad == "--token" || bad.starts_with("--token=") || !bad.starts_with('-');
    is_token.then_some(sub)
}

fn execute(cli: &Cli) -> i32 {
    if let Command::Cpanel(command) = &cli.command {
        return cpanel::run(cli, command);
    }
    if let Command::Completions(a) = &cli.command {
        let mut out = Vec::new();
        clap_complete::generate(a.shell, &mut args::command(), "apitoken", &mut out);
        return emit(&Printed {
            stdout: Zeroizing::new(String::from_utf8_lossy(&out).into_owned()),
            ..Printed::default()
        });
    }
    if let Err(message) = request::validate(&cli.command) {
        let _ = usage_error(&cli.command, &message).print();
        return EXIT_USAGE;
    }
    let target = sockets::target(cli);
    let timeout = cli.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let term = term::detect(cli.color);
    if let Command::List(
        a @ ListArgs {
            all_users: true, ..
        },
    ) = &cli.command
    {
        return all_users(cli, a, &target, timeout, &term);
    }
    let secret = match request::secret_needed(&cli.command) {
        None => None,
        Some(needed) => match stdin_token::read_secret(&needed.prompt) {
            Ok(s) => Some(s),
            Err(ReadError::Interrupted) => return EXIT_INTERRUPTED,
            Err(e) => {
                warn(&format!(
                    "apitoken: error: reading {} from standard input: {e}",
                    needed.what
                ));
                return EXIT_USAGE;
            }
        },
    };
    let Some(mut req) = request::build(&cli.command, secret.as_ref().map(|s| s.as_str())) else {
        return EXIT_OK;
    };
    drop(secret);

    let reply = call_once(&target.path, Duration::from_secs(timeout), &req);
    request::scrub(&mut req);
    let mut reply = match reply {
        Ok(r) => r,
        Err(e) => {
            let _ = io::stderr().write_all(sockets::unreachable(&target, timeout, &e).as_bytes());
            return EXIT_UNREACHABLE;
        }
    };

    let printed = if cli.json || matches!(cli.command, Command::Call(_)) {
        render::json(&cli.command, &reply)
    } else {
        render::human(&cli.command, &reply, &chrono::Local, &term)
    };
    if let Some(data) = reply.data.as_mut() {
        request::scrub_value(data);
    }
    emit(&printed)
}

/// `list --all-users`: the owners from `status`, then each one's list, on
/// one connection. Root sees every owner; a reseller, itself.
fn all_users(cli: &Cli, a: &ListArgs, target: &Target, timeout: u64, term: &Term) -> i32 {
    let fetched = (|| -> Result<Result<Vec<(String, Response)>, Response>, ClientError> {
        let mut client = Client::connect(&target.path, Duration::from_secs(timeout))?;
        let status = client.call(&request::status(&["owners"]))?;
        if !status.is_ok() {
            return Ok(Err(status));
        }
        let owners: Vec<String> = status
            .data
            .as_ref()
            .and_then(|d| d.get("owner_tokens"))
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut lists = Vec::with_capacity(owners.len());
        for owner in owners {
            let reply = client
                .call(&apitokend_proto::Request::new("api_token_list").user(Some(owner.clone())))?;
            if !reply.is_ok() {
                return Ok(Err(reply));
            }
            lists.push((owner, reply));
        }
        Ok(Ok(lists))
    })();
    let lists = match fetched {
        Ok(Ok(lists)) => lists,
        Ok(Err(refusal)) => {
            return emit(&if cli.json {
                render::json(&cli.command, &refusal)
            } else {
                render::human(&cli.command, &refusal, &chrono::Local, term)
            });
        }
        Err(e) => {
            let _ = io::stderr().write_all(sockets::unreachable(target, timeout, &e).as_bytes());
            return EXIT_UNREACHABLE;
        }
    };
    let empty = Map::new();
    let tokens = |r: &Response| -> Map<String, Value> {
        r.data
            .as_ref()
            .and_then(|d| d.get("tokens"))
            .and_then(Value::as_object)
            .unwrap_or(&empty)
            .clone()
    };
    if cli.json {
        let owners: Map<String, Value> = lists
            .iter()
            .map(|(o, r)| (o.clone(), json!({ "tokens": tokens(r) })))
            .collect();
        let all = json!({ "owners": owners });
        return emit(&Printed {
            stdout: Zeroizing::new(format!(
                "{}\n",
                serde_json::to_string_pretty(&all).unwrap_or_default()
            )),
            ..Printed::default()
        });
    }
    let maps: Vec<(String, Map<String, Value>)> =
        lists.iter().map(|(o, r)| (o.clone(), tokens(r))).collect();
    let owners: Vec<(Option<&str>, &Map<String, Value>)> =
        maps.iter().map(|(o, m)| (Some(o.as_str()), m)).collect();
    let style = list_table::ListStyle {
        search: a.search.as_deref(),
        width: term.width,
        color: term.color,
        wide: a.wide,
    };
    emit(&Printed {
        stdout: Zeroizing::new(list_table::list_table(&owners, &style, &chrono::Local)),
        ..Printed::default()
    })
}

/// The subcommand's name, for its usage line in errors.
fn name(command: &Command) -> &'static str {
    match command {
        Command::Create(_) => "create",
        Command::List(_) => "list",
        Command::Details(_) => "details",
        Command::Update(_) => "update",
        Command::Revoke(_) => "revoke",
        Command::Verify(_) => "verify",
        Command::Call(_) => "call",
        Command::Lockouts(_) => "lockouts",
        Command::Status => "status",
        Command::Acls(_) => "acls",
        Command::Functions(_) => "functions",
        Command::Completions(_) => "completions",
        Command::WebLogin(_) => "web-login",
        Command::Cpanel(c) => c.name(),
    }
}

/// A clap-style usage error, with the subcommand's usage line.
fn usage_error(command: &Command, message: &str) -> clap::Error {
    let mut top = args::command();
    top.build();
    match top.find_subcommand_mut(name(command)) {
        Some(sub) => sub.error(ErrorKind::ArgumentConflict, message),
        None => top.error(ErrorKind::ArgumentConflict, message),
    }
}

/// Writes the outcome; stdout write failures (a closed pipe) are reported,
/// since the output may be a token that is now lost.
fn emit(printed: &Printed) -> i32 {
    if !printed.stderr.is_empty() {
        let _ = io::stderr().write_all(printed.stderr.as_bytes());
    }
    if printed.stdout.is_empty() {
        return printed.code;
    }
    let mut out = io::stdout().lock();
    match out
        .write_all(printed.stdout.as_bytes())
        .and_then(|()| out.flush())
    {
        Ok(()) => printed.code,
        Err(e) => {
            warn(&format!("apitoken: cannot write to standard output: {e}"));
            if printed.code == 0 {
                EXIT_REFUSED
            } else {
                printed.code
            }
        }
    }
}

fn warn(message: &str) {
    let _ = writeln!(io::stderr(), "{message}");
}
