//! `apitoken` commands for moving in from cPanel: importing its token store
//! and access hashes, and the account hooks WHM runs.
//!
//! They read files as root and may send many requests, so they do not fit
//! the one-request shape of the other commands: `execute` hands them here
//! before a request is built. The work is in `import` and `hooks`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::args::Cli;
use super::{help, hooks, import};

/// Where cPanel keeps API tokens (`whostmgr/<user>.json` below it).
pub const DEFAULT_CPANEL_STORE: &str = "/var/cpanel/authn/api_tokens_v2";
/// The hook script the packages install.
pub const DEFAULT_HOOK: &str = "/usr/libexec/apitokend/cpanel-account-hook";

#[derive(Debug, Subcommand)]
pub enum CpanelCommand {
    /// Import cPanel's WHM API tokens (root): every token keeps working.
    #[command(long_about = IMPORT_ABOUT, after_long_help = help::examples_text("import-cpanel"))]
    ImportCpanel(ImportCpanelArgs),
    /// Import a user's WHM access hash as a full-access token (root).
    #[command(long_about = ACCESSHASH_ABOUT,
              after_long_help = help::examples_text("import-accesshash"))]
    ImportAccesshash(ImportAccesshashArgs),
    /// Run as cPanel's account hook: hook JSON on stdin, "1 msg"/"0 msg" out.
    #[command(long_about = HOOK_ABOUT, after_long_help = help::examples_text("cpanel-hook"))]
    CpanelHook,
    /// Register, unregister or show apitokend's cPanel account hooks (root).
    #[command(long_about = HOOKS_ABOUT, after_long_help = help::examples_text("cpanel-hooks"))]
    CpanelHooks(CpanelHooksArgs),
}

const IMPORT_ABOUT: &str = "\
Import cPanel's WHM API tokens (root only).

Reads DIR/whostmgr/<user>.json (cPanel keeps only the SHA-512 of each token) \
and stores every token with its name, creation time, expiry, privileges and \
address list, so the same token keeps working. Expired tokens are imported \
too. A record that fails validation is reported (user, name, reason) and \
skipped; the rest goes in. Running it again is safe: tokens already present \
are counted as skipped. Prints a summary per user; --json gives it as data. \
Exit status 1 if any record or user file could not be imported.";

const ACCESSHASH_ABOUT: &str = "\
Import a WHM access hash as a full-access API token (root only), like \
cPanel's convert_accesshash_to_token: all whitespace is removed and the \
result is stored as the token \"accesshash-<epoch>\" (a short random suffix if \
that name is taken), so `Authorization: whm USER:<hash>` keeps working. The \
file is left as it is. Running it again is safe.";

const HOOK_ABOUT: &str = "\
Run as cPanel's standardized hook for Whostmgr Accounts::Remove and \
Accounts::Modify (post). Reads the hook's JSON on standard input and sends \
account_remove (tokens revoked) or account_rename (tokens moved) to the \
daemon. Prints \"1 <message>\" on success and \"0 <message>\" on failure, as \
cPanel expects; a failure is also written to standard error and syslog, \
and the exit status is 1.";

const HOOKS_ABOUT: &str = "\
Register (install), unregister (uninstall) or look for (status) the hook \
program with cPanel's /usr/local/cpanel/bin/manage_hooks, for Whostmgr \
Accounts::Remove and Accounts::Modify at stage post (root only). On a \
server without manage_hooks it says so and does nothing. \
APITOKEN_MANAGE_HOOKS=PATH runs another program in its place.";

#[derive(Debug, Args)]
pub struct ImportCpanelArgs {
    /// cPanel's token store (the directory holding `whostmgr/`).
    #[arg(long = "from", value_name = "DIR", default_value = DEFAULT_CPANEL_STORE)]
    pub from: PathBuf,
    /// Import only this user's tokens; repeatable.
    #[arg(long = "user", value_name = "USER")]
    pub users: Vec<String>,
    /// Check everything and report what would happen; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ImportAccesshashArgs {
    /// WHM user (root or a reseller) whose access hash to import.
    #[arg(long, value_name = "USER")]
    pub user: String,
    /// The access hash file (default: .accesshash in the user's home
    /// directory, from the system user database).
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CpanelHooksArgs {
    #[command(subcommand)]
    pub action: HooksAction,
    /// The hook program to register.
    #[arg(long, global = true, value_name = "PATH", default_value = DEFAULT_HOOK)]
    pub hook: PathBuf,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum HooksAction {
    /// Register the hook for Accounts::Remove and Accounts::Modify (post).
    Install,
    /// Unregister it.
    Uninstall,
    /// Say whether cPanel lists it.
    Status,
}

impl CpanelCommand {
    /// The subcommand's name, as typed.
    pub(super) const fn name(&self) -> &'static str {
        match self {
            CpanelCommand::ImportCpanel(_) => "import-cpanel",
            CpanelCommand::ImportAccesshash(_) => "import-accesshash",
            CpanelCommand::CpanelHook => "cpanel-hook",
            CpanelCommand::CpanelHooks(_) => "cpanel-hooks",
        }
    }
}

/// Runs one of these commands; returns the exit status.
pub(super) fn run(cli: &Cli, command: &CpanelCommand) -> i32 {
    match command {
        CpanelCommand::ImportCpanel(a) => import::cpanel(cli, a),
        CpanelCommand::ImportAccesshash(a) => import::accesshash(cli, a),
        CpanelCommand::CpanelHook => hooks::hook(cli),
        CpanelCommand::CpanelHooks(a) => hooks::manage(a),
    }
}
