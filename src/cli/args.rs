//! The command-line grammar of `apitoken` (clap derive).
//!
//! Kept apart from the code that runs commands so man pages and shell
//! completions can be generated from [`command`] alone.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand};

use super::when::{self, When};

pub const DEFAULT_SOCKET: &str = "/run/apitokend/control.sock";
pub const DEFAULT_VERIFY_SOCKET: &str = "/run/apitokend/verify.sock";

const AFTER_HELP: &str = "\
A token is never taken from the command line (other local users can read it): \
commands that need one read it from standard input, with a hidden prompt on a terminal.

Exit status: 0 success, 1 refused by the daemon, 2 usage error, 3 daemon unreachable.";

/// Manage the WHM API tokens held by apitokend.
#[derive(Debug, Parser)]
#[command(name = "apitoken", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Control socket of the daemon.
    #[arg(long, global = true, value_name = "PATH", env = "APITOKEND_SOCKET",
          default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,

    /// Verify socket of the daemon (used by `verify`).
    #[arg(long, global = true, value_name = "PATH", env = "APITOKEND_VERIFY_SOCKET",
          default_value = DEFAULT_VERIFY_SOCKET)]
    pub verify_socket: PathBuf,

    /// Print the daemon's reply as JSON and nothing else on standard output.
    #[arg(long, global = true)]
    pub json: bool,

    /// Seconds to wait for the daemon.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a token and print it (the only time it is ever shown).
    Create(CreateArgs),
    /// List tokens, expired ones included.
    List(ListArgs),
    /// Show the token read from standard input.
    Details(DetailsArgs),
    /// Rename a token or change its privileges, addresses or expiry.
    Update(UpdateArgs),
    /// Revoke tokens by name, or all tokens of a user.
    Revoke(RevokeArgs),
    /// Check, as cpsrvd would, whether a token may call a function from an address.
    Verify(VerifyArgs),
    /// Send a raw WHM API 1 call and print the JSON reply.
    #[command(long_about = CALL_ABOUT)]
    Call(CallArgs),
    /// List addresses locked out of the verify socket, or lift lockouts (root).
    Lockouts(LockoutsArgs),
}

#[derive(Debug, Args)]
pub struct LockoutsArgs {
    /// Lift the lockout of this address; repeatable, commas allowed.
    #[arg(long = "clear", value_name = "ADDR", value_delimiter = ',')]
    pub clear: Vec<String>,
    /// Lift every lockout.
    #[arg(long, conflicts_with = "clear")]
    pub clear_all: bool,
}

const CALL_ABOUT: &str = "\
Send a raw WHM API 1 call and print the JSON reply, whatever its result.

Never pass a secret as KEY=VALUE: the command line is visible to other users. \
Use --stdin-arg KEY to read that value from standard input instead, e.g.
  apitoken call api_token_get_details --stdin-arg token";

/// The WHM user to act as.
#[derive(Debug, Args)]
pub struct Owner {
    /// WHM user whose tokens to manage (only root may name another user;
    /// default: the user running the command).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Token name: 1 to 50 of A-Z a-z 0-9 _ -.
    pub name: String,
    /// Privilege to grant; repeatable, commas allowed. Without --acl the
    /// token has full access (whatever its owner holds).
    #[arg(long = "acl", value_name = "ACL", value_delimiter = ',')]
    pub acls: Vec<String>,
    /// Address or CIDR range allowed to use the token; repeatable, commas
    /// allowed. Without --ip any address may use it.
    #[arg(long = "ip", value_name = "ADDR", value_delimiter = ',')]
    pub ips: Vec<String>,
    /// Expiry: Unix time, YYYY-MM-DD (23:59:59 server time that day) or never.
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub expires: Option<When>,
    #[command(flatten)]
    pub owner: Owner,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show only tokens whose name contains TEXT (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    #[command(flatten)]
    pub owner: Owner,
}

#[derive(Debug, Args)]
pub struct DetailsArgs {
    #[command(flatten)]
    pub owner: Owner,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Current name of the token.
    pub name: String,
    /// New name.
    #[arg(long, value_name = "NAME")]
    pub new_name: Option<String>,
    /// Replace the privileges; repeatable, commas allowed ("all" = full access).
    #[arg(long = "acl", value_name = "ACL", value_delimiter = ',')]
    pub acls: Vec<String>,
    /// Replace the allowed addresses or CIDR ranges; repeatable, commas allowed.
    #[arg(long = "ip", value_name = "ADDR", value_delimiter = ',')]
    pub ips: Vec<String>,
    /// Allow any address (clears the list).
    #[arg(long, conflicts_with = "ips")]
    pub any_ip: bool,
    /// New expiry: Unix time, YYYY-MM-DD (23:59:59 server time that day) or never.
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub expires: Option<When>,
    #[command(flatten)]
    pub owner: Owner,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Names of the tokens to revoke.
    #[arg(
        value_name = "NAME",
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    pub names: Vec<String>,
    /// Revoke every token of the user (needs --yes).
    #[arg(long)]
    pub all: bool,
    /// Confirm --all (ignored with names).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub owner: Owner,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// WHM user the token belongs to (as in `Authorization: whm USER:TOKEN`).
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// Address the request comes from.
    #[arg(long, value_name = "ADDR")]
    pub ip: String,
    /// WHM API 1 function to be called, e.g. listaccts.
    #[arg(long, value_name = "FN")]
    pub function: String,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Daemon command (WHM API 1 function name), e.g. api_token_list.
    pub function: String,
    /// Arguments; a KEY given several times becomes a list, in order.
    /// Never put a secret here: use --stdin-arg.
    #[arg(value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub pairs: Vec<(String, String)>,
    /// Read the value of KEY from standard input (for secrets such as `token`).
    #[arg(long, value_name = "KEY")]
    pub stdin_arg: Option<String>,
    #[command(flatten)]
    pub owner: Owner,
}

fn parse_when(s: &str) -> Result<When, String> {
    when::parse(s, &chrono::Local)
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        Some(_) => Err("the key before '=' is empty".to_owned()),
        None => Err("expected KEY=VALUE".to_owned()),
    }
}

/// The whole parser, for man pages and shell completions.
pub fn command() -> clap::Command {
    Cli::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn globals_go_before_or_after_the_subcommand() {
        let a = Cli::try_parse_from(["apitoken", "--json", "list", "--socket", "/x"]).unwrap();
        assert!(a.json);
        assert_eq!(a.socket, PathBuf::from("/x"));
        let b = Cli::try_parse_from(["apitoken", "list", "--timeout", "5", "--json"]).unwrap();
        assert_eq!(b.timeout, 5);
        assert!(b.json);
    }

    #[test]
    fn usage_errors() {
        for argv in [
            &["apitoken", "call", "f", "novalue"][..],
            &["apitoken", "call", "f", "=v"],
            &["apitoken", "create", "x", "--expires", "soon"],
            &["apitoken", "update", "x", "--any-ip", "--ip", "1.2.3.4"],
            &["apitoken", "revoke"],
            &["apitoken", "revoke", "a", "--all"],
            &["apitoken", "verify", "--user", "u", "--ip", "1.2.3.4"],
            &["apitoken", "list", "--timeout", "0"],
        ] {
            let e = Cli::try_parse_from(argv).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{argv:?}");
        }
    }

    #[test]
    fn bad_when_is_named_in_the_error() {
        let e = Cli::try_parse_from(["apitoken", "create", "x", "--expires", "soon"]).unwrap_err();
        assert!(e.to_string().contains("'soon'"), "{e}");
    }

    #[test]
    fn call_pairs_split_at_first_equals() {
        let a = Cli::try_parse_from(["apitoken", "call", "f", "a=b=c", "a=", "x=1"]).unwrap();
        let Command::Call(c) = a.command else {
            unreachable!()
        };
        let pairs: Vec<(&str, &str)> = c
            .pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("a", "b=c"), ("a", ""), ("x", "1")]);
    }
}
