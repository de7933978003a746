//! The long texts of `apitoken --help` and the man pages: each
//! subcommand's rules (DESCRIPTION) and examples (EXAMPLES), kept as data
//! so `--help` and `apitokend-gendocs` show the same words.

/// One example: what it does, and the command line.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    pub what: &'static str,
    pub command: &'static str,
}

/// An [`Example`] literal (a struct expression, so the arrays below are
/// promoted to statics).
macro_rules! ex {
    ($what:expr, $command:expr $(,)?) => {
        Example {
            what: $what,
            command: $command,
        }
    };
}

/// The examples of `name` (`""` is `apitoken` itself).
pub fn examples(name: &str) -> &'static [Example] {
    match name {
        "" => &[
            ex!(
                "Create a token that may list accounts from one network until a date, keeping only the token:",
                "TOKEN=$(apitoken create deploy --acl list-accts --ip 192.0.2.0/24 --expires 2030-01-31 --quiet)",
            ),
            ex!("List your tokens:", "apitoken list"),
            ex!(
                "Check the token as cpsrvd would:",
                "echo \"$TOKEN\" | apitoken verify --user \"$(id -un)\" --ip 192.0.2.9 --function listaccts",
            ),
            ex!(
                "Talk to a playground daemon:",
                "apitoken --socket ./dev/control.sock list"
            ),
        ],
        "create" => &[
            ex!(
                "A token limited to two privileges and one address, expiring at the end of a day:",
                "apitoken create backup --acl list-accts,acct-summary --ip 203.0.113.7 --expires 2027-06-30",
            ),
            ex!(
                "Keep only the token (for scripts):",
                "TOKEN=$(apitoken create ci --acl list-accts --quiet)",
            ),
            ex!(
                "As root, a full-access token for a reseller:",
                "apitoken create migrate --user reseller1",
            ),
        ],
        "list" => &[
            ex!("Your tokens:", "apitoken list"),
            ex!(
                "Tokens whose name contains \"back\":",
                "apitoken list --search back"
            ),
            ex!("Every value in full, however wide:", "apitoken list --wide"),
            ex!(
                "As root, every owner's tokens:",
                "apitoken list --all-users"
            ),
            ex!("The daemon's reply, for scripts:", "apitoken list --json"),
        ],
        "details" => &[
            ex!("Which token is this?", "echo \"$TOKEN\" | apitoken details"),
            ex!("Type it at a hidden prompt:", "apitoken details"),
        ],
        "update" => &[
            ex!(
                "Rename a token, allow any address and drop its expiry:",
                "apitoken update backup --new-name nightly --any-ip --expires never",
            ),
            ex!(
                "Replace its privileges:",
                "apitoken update nightly --acl list-accts --acl acct-summary",
            ),
        ],
        "revoke" => &[
            ex!("Revoke two tokens:", "apitoken revoke nightly old-one"),
            ex!(
                "In a script, succeed whether or not it exists:",
                "apitoken revoke old-one --ignore-not-found",
            ),
            ex!(
                "As root, every token of a reseller:",
                "apitoken revoke --all --yes --user reseller1",
            ),
        ],
        "verify" => &[ex!(
            "May this token call listaccts from 192.0.2.9?",
            "echo \"$TOKEN\" | apitoken verify --user bob --ip 192.0.2.9 --function listaccts",
        )],
        "call" => &[
            ex!("A raw WHM API 1 call:", "apitoken call api_token_list"),
            ex!(
                "A secret argument, from standard input:",
                "echo \"$TOKEN\" | apitoken call api_token_get_details --stdin-arg token",
            ),
        ],
        "lockouts" => &[
            ex!("Addresses locked out of verify:", "apitoken lockouts"),
            ex!(
                "Let one in again:",
                "apitoken lockouts --clear 198.51.100.4"
            ),
        ],
        "status" => &[
            ex!("How the daemon is doing:", "apitoken status"),
            ex!("The same, for monitoring:", "apitoken status --json"),
        ],
        "acls" => &[
            ex!("Every privilege a token may carry:", "apitoken acls"),
            ex!(
                "Only the ones that lift a token's limits:",
                "apitoken acls --bypassing"
            ),
        ],
        "functions" => &[
            ex!("The whole function table:", "apitoken functions"),
            ex!(
                "What listaccts and createacct need:",
                "apitoken functions listaccts createacct"
            ),
        ],
        "completions" => &[
            ex!(
                "Bash, for this shell:",
                "source <(apitoken completions bash)",
            ),
            ex!(
                "Zsh, installed for every session:",
                "apitoken completions zsh > \"${fpath[1]}/_apitoken\"",
            ),
        ],
        "web-login" => &[
            ex!(
                "A one-time link to your Manage API Tokens page:",
                "apitoken web-login"
            ),
            ex!(
                "As root, a link that logs in as a reseller:",
                "apitoken web-login --user reseller1",
            ),
        ],
        "import-cpanel" => &[
            ex!(
                "See what the import would do, writing nothing:",
                "apitoken import-cpanel --dry-run",
            ),
            ex!(
                "Import every WHM API token from cPanel's store:",
                "apitoken import-cpanel"
            ),
            ex!(
                "One reseller's tokens, from a copy of the store, as data:",
                "apitoken --json import-cpanel --from /root/api_tokens_v2 --user reseller1",
            ),
        ],
        "import-accesshash" => &[
            ex!(
                "Root's access hash (~root/.accesshash):",
                "apitoken import-accesshash --user root",
            ),
            ex!(
                "From another file:",
                "apitoken import-accesshash --user reseller1 --file /root/reseller1.accesshash",
            ),
        ],
        "cpanel-hook" => &[ex!(
            "What WHM does when it removes an account:",
            "echo '{\"context\":{\"event\":\"Accounts::Remove\",\"stage\":\"post\"},\"data\":{\"user\":\"bob\"}}' | apitoken cpanel-hook",
        )],
        "cpanel-hooks" => &[
            ex!(
                "Register the account hooks with cPanel:",
                "apitoken cpanel-hooks install"
            ),
            ex!("Are they registered?", "apitoken cpanel-hooks status"),
        ],
        _ => &[],
    }
}

/// The examples of `name` as help text (after the options).
pub fn examples_text(name: &str) -> String {
    let mut out = String::from("Examples:\n");
    for e in examples(name) {
        out.push_str(&format!("  # {}\n  {}\n\n", e.what, e.command));
    }
    out.push_str(EXIT_STATUS);
    out
}

pub const EXIT_STATUS: &str = "Exit status: 0 success, 1 refused by the daemon (or not found), 2 usage error, \
     3 daemon unreachable.";

pub const ABOUT: &str = "\
Manage the WHM API tokens held by apitokend.

apitoken talks to the apitokend daemon over its control socket (and, for \
verify, its verify socket). The daemon decides what you may do from your \
uid: root may manage every owner's tokens (--user names one); a WHM \
reseller holding manage-api-tokens manages its own and may grant only \
privileges it holds; anyone else is refused.

A token is shown once, by create, and never taken from the command line \
(other local users can read it there): details and verify read it from \
standard input, with a hidden prompt on a terminal.

The control socket is --socket, else $APITOKEND_SOCKET, else \
/run/apitokend/control.sock; the verify socket is --verify-socket, else \
$APITOKEND_VERIFY_SOCKET, else /run/apitokend/verify.sock. Colour (list) \
is used on a terminal unless NO_COLOR is set; --color always|never decides \
instead.";

pub const CREATE: &str = "\
Create a token and print it: the only time it is ever shown.

Without --acl the token has full access: whatever its owner holds at the \
moment of each use. With --acl it holds only those privileges (still \
limited by what a reseller owner holds then); \"all\" means full access. \
Without --ip any address may use it; an address or CIDR range limits it \
(a range is stored as its network: 10.0.0.5/24 becomes 10.0.0.0/24, and \
apitoken says so). --expires takes a date (the token works until 23:59:59 \
local time that day), a Unix time, or never (the default). Names are 1 to \
50 of A-Z a-z 0-9 _ - and unique per owner.";

pub const LIST: &str = "\
List tokens, expired ones included, sorted by name.

The table shows Name, Created, Expires, Last used, IPs and ACLs. On a \
terminal long address and privilege lists are shortened to fit its width \
(\"+3 more\"); --wide, details and --json show them in full, as do pipes. \
Dates are local time, YYYY-MM-DD hh:mm (seconds with --wide). Expired \
tokens are marked \"(expired)\" and, on a terminal, red; tokens expiring \
within the daemon's expiry_warning_days \"(soon)\" and yellow. IPv6 \
addresses are shown compressed (the API keeps cPanel's expanded form).";

pub const DETAILS: &str = "\
Show the token read from standard input: its name, dates, addresses and \
privileges. Exits 1 when it is not one of your tokens.";

pub const UPDATE: &str = "\
Rename a token or change its privileges, addresses or expiry. Only what \
you give changes; the token text stays the same. --acl and --ip replace \
the whole list; --any-ip clears the address list; --expires never clears \
the expiry.";

pub const REVOKE: &str = "\
Revoke tokens by name, or every token of a user with --all --yes. A name \
that does not exist is an error (exit 1) after the others are revoked, \
unless --ignore-not-found.";

pub const VERIFY: &str = "\
Check, as cpsrvd would, whether the token read from standard input may \
call a WHM API 1 function from an address: the owner exists and is not \
suspended, the token is one of the owner's and not expired, the address is \
in its list, and its privileges cover the function (see apitoken \
functions). Exits 0 when accepted, 1 with the reason when refused. Needs \
access to the verify socket (root or its group).";

pub const CALL: &str = "\
Send a raw WHM API 1 call and print the JSON reply, whatever its result.

Never pass a secret as KEY=VALUE: the command line is visible to other users. \
Use --stdin-arg KEY to read that value from standard input instead.";

pub const LOCKOUTS: &str = "\
List addresses locked out of the verify socket after too many failed \
verifies, or lift lockouts (root).";

pub const STATUS: &str = "\
Show the daemon's version and uptime; for root also its sockets, token and \
owner counts, verified-cache size, lockouts and the last reload's result; \
for a reseller its own token count.";

pub const ACLS: &str = "\
List the privileges a token may carry, with the group the WHM privileges \
page lists them under, marking those that bypass a token's limits (a \
token holding one can change passwords, open sessions or manage tokens, \
and so escape its own restrictions). A reseller sees the privileges it \
holds.";

pub const FUNCTIONS: &str = "\
Show the daemon's WHM API 1 function table: which privilege each function \
needs (any one of several). A function that is not listed needs \"all\". \
Give function names to see only those.";

pub const WEB_LOGIN: &str = "\
Print a one-time link that logs in to the Manage API Tokens page of the \
HTTPS front (apitokend-web) without a password. The link works once, for \
5 minutes: root may make one for any owner (--user), a reseller for \
itself.";

pub const COMPLETIONS: &str = "\
Print a shell completion script for apitoken on standard output.";
