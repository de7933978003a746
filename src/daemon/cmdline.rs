//! The `apitokend` command line, in the library so man pages and shell
//! completions are generated from the same definition the binary parses.

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

/// The rules the manual page's DESCRIPTION states (and `--help` shows).
const LONG_ABOUT: &str = "\
WHM-compatible API token daemon: owns the token store and answers \
management requests and verify(user, token, ip, function).

apitokend keeps named WHM API tokens in an LMDB store, as hashes only (an \
HMAC index under a server pepper and an Argon2id verifier, all derived \
from the token's SHA-512), and serves two Unix sockets. On the control \
socket (mode 0666) the kernel's peer credentials decide: uid 0 acts as \
root on any owner; a uid whose login name is a WHM reseller (a line in \
accounts_dir/resellers) acts on its own tokens only, needs \
manage-api-tokens and may grant only privileges it holds; anyone else is \
refused. The verify socket (mode 0660, group verify_socket_group) answers \
only verify: the owner is a WHM user and not suspended, the token is one \
of the owner's and not expired, the caller's address is in its list, and \
its privileges cover the function (functions_file; an unlisted function \
needs all). Repeated credential failures from one address lock it out.

One daemon per store (a lock file); the pepper file must belong to the \
store. After opening the store and sockets the daemon drops every \
capability. Run as root; to try it without root, use --dev-dir.";

/// EXAMPLES of apitokend(8): what it does, and the command line.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "Check a configuration and print the effective settings:",
        "apitokend --config /etc/apitokend/apitokend.toml --check-config",
    ),
    (
        "The same from a checkout (the data files are found beside the file):",
        "apitokend --config etc/apitokend/apitokend.toml --check-config",
    ),
    (
        "A playground for an ordinary user (state, accounts, sockets under ./dev):",
        "apitokend --dev-dir ./dev",
    ),
    (
        "Apply changed live keys, functions.conf and acls.conf:",
        "systemctl reload apitokend",
    ),
];

/// WHM-compatible API token daemon: owns the token store and answers
/// management requests and verify(user, token, ip, function).
#[derive(Debug, Parser)]
#[command(name = "apitokend", version, about, long_about = LONG_ABOUT)]
pub struct DaemonArgs {
    /// Configuration file (TOML; every key optional).
    #[arg(long, value_name = "FILE", conflicts_with = "dev_dir")]
    pub config: Option<PathBuf>,
    /// Validate the configuration, print the effective settings, and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Run a local playground under DIR (state, accounts, sockets; logs on
    /// stderr); no root paths are touched. It also runs the HTTPS front
    /// (apitokend-web, next to this binary) on https://127.0.0.1:2087 with
    /// a self-signed certificate in DIR/web.
    #[arg(long, value_name = "DIR")]
    pub dev_dir: Option<PathBuf>,
    /// With --dev-dir: do not start the HTTPS front.
    #[arg(long, requires = "dev_dir")]
    pub no_web: bool,
}

pub fn command() -> clap::Command {
    DaemonArgs::command()
}
