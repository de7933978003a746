//! The `apitoken` command-line client of apitokend.
//!
//! Lives in the library (not the binary) so man pages and completions can be
//! generated from [`args::command`] and so its pieces are unit tested. It
//! only speaks the wire protocol through `apitokend_proto`'s blocking client:
//! no daemon code is involved. A token is never taken from argv (other local
//! users can read it); commands that need one read it from stdin.

pub mod args;
mod render;
mod request;
mod stdin_token;
mod table;
pub mod when;

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use apitokend_proto::client::{ClientError, call_once};
use clap::Parser;
use clap::error::ErrorKind;

use args::{Cli, Command};
use render::{EXIT_INTERRUPTED, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, Printed};
use stdin_token::ReadError;

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
    match Cli::try_parse_from(args) {
        Ok(cli) => execute(&cli),
        Err(e) => {
            // --help and --version land here too, with exit status 0.
            let _ = e.print();
            e.exit_code()
        }
    }
}

fn execute(cli: &Cli) -> i32 {
    if let Err(message) = request::validate(&cli.command) {
        let _ = usage_error(&cli.command, &message).print();
        return EXIT_USAGE;
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
    let mut req = request::build(&cli.command, secret.as_ref().map(|s| s.as_str()));
    drop(secret);

    let socket = match cli.command {
        Command::Verify(_) => &cli.verify_socket,
        _ => &cli.socket,
    };
    let reply = call_once(socket, Duration::from_secs(cli.timeout), &req);
    request::scrub(&mut req);
    let mut reply = match reply {
        Ok(r) => r,
        Err(e) => {
            warn(&unreachable(socket, cli.timeout, &e));
            return EXIT_UNREACHABLE;
        }
    };

    let printed = if cli.json || matches!(cli.command, Command::Call(_)) {
        render::json(&cli.command, &reply)
    } else {
        render::human(&cli.command, &reply, &chrono::Local)
    };
    if let Some(data) = reply.data.as_mut() {
        request::scrub_value(data);
    }
    emit(&printed)
}

/// A clap-style usage error, with the subcommand's usage line.
fn usage_error(command: &Command, message: &str) -> clap::Error {
    let name = match command {
        Command::Revoke(_) => "revoke",
        Command::Call(_) => "call",
        _ => "",
    };
    let mut top = args::command();
    top.build();
    match top.find_subcommand_mut(name) {
        Some(sub) => sub.error(ErrorKind::ArgumentConflict, message),
        None => top.error(ErrorKind::ArgumentConflict, message),
    }
}

fn unreachable(socket: &Path, timeout: u64, e: &ClientError) -> String {
    let at = socket.display();
    match e {
        ClientError::Connect(err) => format!("apitoken: cannot reach apitokend at {at}: {err}"),
        ClientError::Timeout => {
            format!("apitoken: apitokend at {at} did not answer within {timeout} s")
        }
        ClientError::Io(err) => format!("apitoken: connection to apitokend at {at} failed: {err}"),
        ClientError::Protocol(m) => {
            format!("apitoken: unexpected reply from apitokend at {at}: {m}")
        }
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
