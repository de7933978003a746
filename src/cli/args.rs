//! The command-line grammar of `apitoken` (clap derive).
//!
//! Kept apart from the code that runs commands so man pages and shell
//! completions can be generated from [`command`] alone.

use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use super::help;
use super::when::{self, When};

pub const DEFAULT_SOCKET: &str = "/run/apitokend/control.sock";
pub const DEFAULT_VERIFY_SOCKET: &str = "/run/apitokend/verify.sock";
/// Environment variables naming the sockets (after the flags).
pub const SOCKET_ENV: &str = "APITOKEND_SOCKET";
pub const VERIFY_SOCKET_ENV: &str = "APITOKEND_VERIFY_SOCKET";
pub const DEFAULT_TIMEOUT: u64 = 30;

const GLOBAL: &str = "Global options";

/// Manage the WHM API tokens held by apitokend.
///
/// The socket options take no clap `env`/`default_value`: clap would show
/// a value that came from the environment in usage lines as if the flag
/// were required. `sockets` resolves them (flag, then variable, then
/// default) and remembers which one it used for error messages.
#[derive(Debug, Parser)]
#[command(name = "apitoken", version, long_about = help::ABOUT,
          after_long_help = help::examples_text(""), after_help = help::EXIT_STATUS)]
pub struct Cli {
    /// Control socket of the daemon [default: $APITOKEND_SOCKET, else
    /// /run/apitokend/control.sock].
    #[arg(long, global = true, value_name = "PATH", help_heading = GLOBAL)]
    pub socket: Option<PathBuf>,

    /// Verify socket of the daemon, used by `verify` [default:
    /// $APITOKEND_VERIFY_SOCKET, else /run/apitokend/verify.sock].
    #[arg(long, global = true, value_name = "PATH", help_heading = GLOBAL)]
    pub verify_socket: Option<PathBuf>,

    /// Print the daemon's reply as JSON and nothing else on standard output.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,

    /// Seconds to wait for the daemon [default: 30].
    #[arg(long, global = true, value_name = "SECS", help_heading = GLOBAL,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: Option<u64>,

    /// Colour: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_name = "WHEN", help_heading = GLOBAL,
          value_enum, default_value_t = ColorChoice::Auto, hide_default_value = true)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a token and print it (the only time it is ever shown).
    #[command(long_about = help::CREATE, after_long_help = help::examples_text("create"))]
    Create(CreateArgs),
    /// List tokens, expired ones included.
    #[command(long_about = help::LIST, after_long_help = help::examples_text("list"))]
    List(ListArgs),
    /// Show the token read from standard input.
    #[command(long_about = help::DETAILS, after_long_help = help::examples_text("details"))]
    Details(DetailsArgs),
    /// Rename a token or change its privileges, addresses or expiry.
    #[command(long_about = help::UPDATE, after_long_help = help::examples_text("update"))]
    Update(UpdateArgs),
    /// Revoke tokens by name, or all tokens of a user.
    #[command(long_about = help::REVOKE, after_long_help = help::examples_text("revoke"))]
    Revoke(RevokeArgs),
    /// Check, as cpsrvd would, whether a token may call a function from an address.
    #[command(long_about = help::VERIFY, after_long_help = help::examples_text("verify"))]
    Verify(VerifyArgs),
    /// Send a raw WHM API 1 call and print the JSON reply.
    #[command(long_about = help::CALL, after_long_help = help::examples_text("call"))]
    Call(CallArgs),
    /// List addresses locked out of the verify socket, or lift lockouts (root).
    #[command(long_about = help::LOCKOUTS, after_long_help = help::examples_text("lockouts"))]
    Lockouts(LockoutsArgs),
    /// Show the daemon's version, uptime, sockets, counts and last reload.
    #[command(long_about = help::STATUS, after_long_help = help::examples_text("status"))]
    Status,
    /// List the privileges a token may carry.
    #[command(long_about = help::ACLS, after_long_help = help::examples_text("acls"))]
    Acls(AclsArgs),
    /// Show which privilege each WHM API 1 function needs.
    #[command(long_about = help::FUNCTIONS, after_long_help = help::examples_text("functions"))]
    Functions(FunctionsArgs),
    /// Print a shell completion script.
    #[command(long_about = help::COMPLETIONS, after_long_help = help::examples_text("completions"))]
    Completions(CompletionsArgs),
    /// Print a one-time link that logs in to the Manage API Tokens page
    /// (valid once, for 5 minutes): root for any user, a reseller for itself.
    #[command(long_about = help::WEB_LOGIN, after_long_help = help::examples_text("web-login"))]
    WebLogin(WebLoginArgs),
    /// Moving in from cPanel: import-cpanel, import-accesshash, cpanel-hook(s).
    #[command(flatten)]
    Cpanel(super::cpanel::CpanelCommand),
}

#[derive(Debug, Args)]
pub struct AclsArgs {
    /// Only the privileges that bypass a token's limits.
    #[arg(long)]
    pub bypassing: bool,
}

#[derive(Debug, Args)]
pub struct FunctionsArgs {
    /// Functions to show (default: all).
    #[arg(value_name = "FUNCTION")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct WebLoginArgs {
    #[command(flatten)]
    pub owner: Owner,
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
    /// Expiry: YYYY-MM-DD (until 23:59:59 local time that day), a Unix
    /// time, or never (the default).
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    pub expires: Option<When>,
    /// Print only the token (for TOKEN=$(apitoken create ... --quiet)).
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub owner: Owner,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Show only tokens whose name contains TEXT (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Show every value in full, whatever the terminal's width.
    #[arg(long, short)]
    pub wide: bool,
    /// Every owner's tokens, with an Owner column (root; a reseller sees
    /// its own).
    #[arg(long, conflicts_with = "user")]
    pub all_users: bool,
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
    /// New expiry: YYYY-MM-DD (until 23:59:59 local time that day), a Unix
    /// time, or never.
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
    /// A name that does not exist is not an error.
    #[arg(long)]
    pub ignore_not_found: bool,
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
        assert_eq!(a.socket, Some(PathBuf::from("/x")));
        let b = Cli::try_parse_from(["apitoken", "list", "--timeout", "5", "--json"]).unwrap();
        assert_eq!(b.timeout, Some(5));
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
            &["apitoken", "create", "x", "--expires", "0"],
            &["apitoken", "list", "--all-users", "--user", "bob"],
            &["apitoken", "completions", "tcsh"],
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
