//! The control socket's commands, as a closed set.
//!
//! Parsing the command name once into an enum lets authorization and
//! dispatch match exhaustively: adding a command is a compile error in every
//! place that must decide about it.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
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
}

impl Command {
    pub const ALL: [Command; 10] = [
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
    ];

    pub const fn name(self) -> &'static str {
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
        }
    }

    pub fn parse(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }
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
}
