//! The control socket's commands, as a closed set, and every per-command
//! fact as an exhaustive method.
//!
//! Parsing the command name once into an enum lets authorization, dispatch,
//! audit and accounting match exhaustively: adding a command is a compile
//! error in every place that must decide about it.

use crate::audit::Accounting;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Command {
    Create,
    List,
    Update,
    Revoke,
    RevokeAll,
    GetDetails,
    /// Root-only: a cPanel account was deleted; revoke its tokens.
    AccountRemove,
    /// Root-only: a cPanel account was renamed; move its tokens.
    AccountRename,
    /// Root-only: addresses locked out of the verify socket.
    LockoutList,
    /// Root-only: lift lockouts.
    LockoutClear,
    /// The daemon's version, uptime, counts and live tables.
    Status,
    /// Root-only: one user's records of cPanel's token store.
    ImportCpanelTokens,
    /// Root-only: a WHM access hash, as a full-access token.
    ImportAccesshash,
    /// WHM's `applist`: the functions the caller's privileges allow.
    Applist,
    /// The web page's view of its session: who, the CSRF token, what the
    /// owner may grant (web sessions only).
    SessionInfo,
    /// A one-time web log-in link (`apitoken web-login`): root for anyone,
    /// a reseller for itself (control socket only).
    SessionTicket,
}

/// Whose business a command is (what authorization asks first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// An owner's API tokens: root for anyone, a reseller for itself.
    Tokens,
    /// The whole server: root alone.
    Server,
    /// The daemon's state: root sees the server, a reseller that may
    /// manage tokens its own share (`authz::status_view`).
    Overview,
    /// What the caller itself may do: root, or a reseller for itself.
    Caller,
}

impl Command {
    pub(crate) const ALL: [Command; 16] = [
        Command::Create,
        Command::List,
        Command::Update,
        Command::Revoke,
        Command::RevokeAll,
        Command::GetDetails,
        Command::AccountRemove,
        Command::AccountRename,
        Command::LockoutList,
        Command::LockoutClear,
        Command::Status,
        Command::ImportCpanelTokens,
        Command::ImportAccesshash,
        Command::Applist,
        Command::SessionInfo,
        Command::SessionTicket,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Command::Create => "api_token_create",
            Command::List => "api_token_list",
            Command::Update => "api_token_update",
            Command::Revoke => "api_token_revoke",
            Command::RevokeAll => "api_token_revoke_all",
            Command::GetDetails => "api_token_get_details",
            Command::AccountRemove => "account_remove",
            Command::AccountRename => "account_rename",
            Command::LockoutList => "lockout_list",
            Command::LockoutClear => "lockout_clear",
            Command::Status => "status",
            Command::ImportCpanelTokens => "import_cpanel_tokens",
            Command::ImportAccesshash => "import_accesshash",
            Command::Applist => "applist",
            Command::SessionInfo => "session_info",
            Command::SessionTicket => "session_ticket",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }

    pub(crate) const fn scope(self) -> Scope {
        match self {
            Command::Create
            | Command::List
            | Command::Update
            | Command::Revoke
            | Command::RevokeAll
            | Command::GetDetails => Scope::Tokens,
            Command::AccountRemove
            | Command::AccountRename
            | Command::LockoutList
            | Command::LockoutClear
            | Command::ImportCpanelTokens
            | Command::ImportAccesshash => Scope::Server,
            Command::Status => Scope::Overview,
            Command::Applist | Command::SessionInfo | Command::SessionTicket => Scope::Caller,
        }
    }

    /// Changes state, so it is audited even when it succeeds (reads are
    /// audited only when refused).
    pub(crate) const fn mutates(self) -> bool {
        match self {
            Command::Create
            | Command::Update
            | Command::Revoke
            | Command::RevokeAll
            | Command::AccountRemove
            | Command::AccountRename
            | Command::LockoutClear
            | Command::ImportCpanelTokens
            | Command::ImportAccesshash
            | Command::SessionTicket => true,
            Command::List
            | Command::GetDetails
            | Command::LockoutList
            | Command::Status
            | Command::Applist
            | Command::SessionInfo => false,
        }
    }

    /// May run Argon2 (hashing a new token, checking a given one), so it
    /// waits for a turn under the daemon-wide Argon2 limit first.
    pub(crate) const fn runs_argon2(self) -> bool {
        match self {
            // An imported access hash gets its Argon2id verifier at once;
            // imported cPanel tokens get the interim one (no Argon2).
            Command::Create | Command::GetDetails | Command::ImportAccesshash => true,
            Command::Status
            | Command::Applist
            | Command::SessionInfo
            | Command::SessionTicket
            | Command::ImportCpanelTokens
            | Command::List
            | Command::Update
            | Command::Revoke
            | Command::RevokeAll
            | Command::AccountRemove
            | Command::AccountRename
            | Command::LockoutList
            | Command::LockoutClear => false,
        }
    }

    /// Acts for the account named in its `user` argument (cPanel's account
    /// hooks, imports), not for the caller or the request's `user`.
    pub(crate) const fn names_its_account(self) -> bool {
        match self {
            Command::AccountRemove
            | Command::AccountRename
            | Command::ImportCpanelTokens
            | Command::ImportAccesshash => true,
            Command::Create
            | Command::List
            | Command::Update
            | Command::Revoke
            | Command::RevokeAll
            | Command::GetDetails
            | Command::LockoutList
            | Command::LockoutClear
            | Command::Status
            | Command::Applist
            | Command::SessionInfo
            | Command::SessionTicket => false,
        }
    }

    /// The cPanel accounting-log verb of a successful run, if it has one.
    pub(crate) const fn accounting(self) -> Option<Accounting> {
        match self {
            Command::Create => Some(Accounting::Create),
            Command::Update => Some(Accounting::Update),
            Command::Revoke | Command::RevokeAll | Command::AccountRemove => {
                Some(Accounting::Revoke)
            }
            // An imported token is a new token to whoever reads the log.
            Command::ImportCpanelTokens | Command::ImportAccesshash => Some(Accounting::Create),
            Command::List
            | Command::GetDetails
            | Command::AccountRename
            | Command::LockoutList
            | Command::LockoutClear
            | Command::Status
            | Command::Applist
            | Command::SessionInfo
            | Command::SessionTicket => None,
        }
    }

    /// The WHM API 1 function this command is, if it is one: what the
    /// HTTPS front may relay with a token, and the function a relayed
    /// token must be allowed to call.
    pub(crate) const fn whm_function(self) -> Option<&'static str> {
        match self {
            Command::Create
            | Command::List
            | Command::Update
            | Command::Revoke
            | Command::GetDetails
            | Command::Applist => Some(self.name()),
            Command::RevokeAll
            | Command::AccountRemove
            | Command::AccountRename
            | Command::LockoutList
            | Command::LockoutClear
            | Command::Status
            | Command::ImportCpanelTokens
            | Command::ImportAccesshash
            | Command::SessionInfo
            | Command::SessionTicket => None,
        }
    }

    /// Whether a web session may run this command (the page's functions).
    pub(crate) const fn in_web_session(self) -> bool {
        match self {
            Command::Create
            | Command::List
            | Command::Update
            | Command::Revoke
            | Command::RevokeAll
            | Command::GetDetails
            | Command::Applist
            | Command::SessionInfo => true,
            Command::AccountRemove
            | Command::AccountRename
            | Command::LockoutList
            | Command::LockoutClear
            | Command::Status
            | Command::ImportCpanelTokens
            | Command::ImportAccesshash
            | Command::SessionTicket => false,
        }
    }

    /// How WHM words a failure of this command (the reason's prefix).
    pub(crate) const fn failure_prefix(self) -> &'static str {
        match self {
            Command::Create => "The system failed to create the API token",
            Command::List => "The system failed to list the API tokens",
            Command::Update => "The system failed to update the API token",
            Command::Revoke => "The system failed to revoke the API token",
            Command::RevokeAll => "The system failed to revoke the API tokens",
            Command::GetDetails => "The system failed to get the API token details",
            Command::AccountRemove | Command::AccountRename => {
                "The system failed to process the account event"
            }
            Command::LockoutList => "The system failed to list the lockouts",
            Command::LockoutClear => "The system failed to clear the lockouts",
            Command::Status => "The system failed to report its status",
            Command::ImportCpanelTokens => "The system failed to import the API tokens",
            Command::ImportAccesshash => "The system failed to import the access hash",
            Command::Applist => "The system failed to list the functions",
            Command::SessionInfo => "The system failed to read the session",
            Command::SessionTicket => "The system failed to create a log-in link",
        }
    }

    /// Writes one audit line per token it changed (an import may change
    /// thousands; the summary line of other commands names at most 20).
    pub(crate) const fn audits_each_token(self) -> bool {
        match self {
            Command::ImportCpanelTokens | Command::ImportAccesshash => true,
            Command::Create
            | Command::List
            | Command::Update
            | Command::Revoke
            | Command::RevokeAll
            | Command::GetDetails
            | Command::AccountRemove
            | Command::AccountRename
            | Command::LockoutList
            | Command::LockoutClear
            | Command::Status
            | Command::Applist
            | Command::SessionInfo
            | Command::SessionTicket => false,
        }
    }
}

/// What to add to an unknown-command reason: where `verify` goes (the
/// mistake the verify socket answers for the other way round), else the
/// closest command names.
pub(crate) fn hint(unknown: &str) -> String {
    if unknown == crate::verify::COMMAND {
        return ": “verify” goes to the verify socket (verify_socket; \
                `apitoken verify` sends it there), not to the control socket"
            .to_owned();
    }
    let near = crate::text::closest(unknown, Command::ALL.iter().map(|c| c.name()));
    crate::text::did_you_mean(&near)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Command::ALL {
            assert_eq!(Command::parse(c.name()), Some(c));
        }
        assert_eq!(Command::parse("verify"), None);
    }

    #[test]
    fn facts_agree_with_each_other() {
        for c in Command::ALL {
            // Only changes are written to cPanel's accounting log.
            assert!(c.accounting().is_none() || c.mutates(), "{c:?}");
            // Account events and imports are root's and change state.
            if c.names_its_account() {
                assert_eq!(c.scope(), Scope::Server, "{c:?}");
                assert!(c.mutates(), "{c:?}");
            }
        }
    }
}
