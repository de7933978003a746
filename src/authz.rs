//! Who may do what on the control socket: one function, one `match`.
//!
//! The peer's uid comes from SO_PEERCRED (the kernel, not the client). uid 0
//! acts as root and may name any owner; a uid whose login name is a WHM
//! reseller acts on its own tokens only, and needs `manage-api-tokens` as
//! WHM's function table says; everyone else is refused. What a reseller may
//! *grant* (only privileges it holds) is checked by the service against the
//! owner's holdings, which for a reseller is the caller itself.

use crate::accounts::{self, Account, Accounts, Lookup, Uid};
use crate::command::Command;
use apitokend_proto::ErrorCode;

/// The kernel-reported identity of a connected client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub uid: Uid,
    pub pid: Option<i32>,
}

/// Who the peer is, in WHM terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    Root,
    Reseller(Account),
    /// Neither root nor a reseller (the login name, if any, for logs).
    Unprivileged(Option<String>),
}

/// Resolves a peer to a caller (uid → login name → account files).
pub fn identify(peer: &Peer, accounts: &Accounts) -> Result<Caller, String> {
    if peer.uid == Uid::ROOT {
        return Ok(Caller::Root);
    }
    let Some(name) = accounts::login_name(peer.uid) else {
        return Ok(Caller::Unprivileged(None));
    };
    if name == "root" {
        // A second uid named root is not uid 0: never treat it as root.
        return Ok(Caller::Unprivileged(Some(name)));
    }
    Ok(match accounts.lookup(&name)? {
        Lookup::Found(account) => Caller::Reseller(account),
        Lookup::NotWhmUser => Caller::Unprivileged(Some(name)),
    })
}

/// The owner whose tokens an allowed request acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub owner: String,
    pub caller_is_root: bool,
}

#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow(Actor),
    Deny(ErrorCode, String),
}

const MANAGE: &str = "manage-api-tokens";

/// The only place that decides whether a request may proceed.
pub fn authorize(caller: &Caller, command: Command, requested_user: Option<&str>) -> Decision {
    use Command::{
        AccountRemove, AccountRename, Create, GetDetails, List, LockoutClear, LockoutList, Revoke,
        RevokeAll, Update,
    };
    match (caller, command) {
        (Caller::Root, Create | List | Update | Revoke | RevokeAll | GetDetails) => {
            Decision::Allow(Actor {
                owner: requested_user.unwrap_or("root").to_owned(),
                caller_is_root: true,
            })
        }
        (Caller::Root, AccountRemove | AccountRename | LockoutList | LockoutClear) => {
            Decision::Allow(Actor {
                owner: "root".to_owned(),
                caller_is_root: true,
            })
        }
        (Caller::Reseller(account), Create | List | Update | Revoke | RevokeAll | GetDetails) => {
            if requested_user.is_some_and(|u| u != account.name) {
                Decision::Deny(
                    ErrorCode::NotAuthorized,
                    format!(
                        "the reseller “{}” may act only on its own API tokens",
                        account.name
                    ),
                )
            } else if account.suspended {
                Decision::Deny(
                    ErrorCode::Suspended,
                    format!("the account “{}” is suspended", account.name),
                )
            } else if !account.holdings.holds(MANAGE) {
                Decision::Deny(
                    ErrorCode::NotAuthorized,
                    format!(
                        "the reseller “{}” lacks the “{MANAGE}” privilege",
                        account.name
                    ),
                )
            } else {
                Decision::Allow(Actor {
                    owner: account.name.clone(),
                    caller_is_root: false,
                })
            }
        }
        (Caller::Reseller(_), AccountRemove | AccountRename | LockoutList | LockoutClear) => {
            Decision::Deny(
                ErrorCode::NotAuthorized,
                "account events and lockouts are root's alone".to_owned(),
            )
        }
        (
            Caller::Unprivileged(_),
            Create | List | Update | Revoke | RevokeAll | GetDetails | AccountRemove
            | AccountRename | LockoutList | LockoutClear,
        ) => Decision::Deny(
            ErrorCode::NotAuthorized,
            "only root and WHM resellers may manage API tokens".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::Holdings;

    fn reseller(holdings: &str, suspended: bool) -> Caller {
        Caller::Reseller(Account {
            name: "res".into(),
            holdings: Holdings::from_list(holdings),
            suspended,
        })
    }

    #[test]
    fn decision_table() {
        let ok = reseller("manage-api-tokens,list-accts", false);
        for c in Command::ALL {
            let token_cmd = !matches!(
                c,
                Command::AccountRemove
                    | Command::AccountRename
                    | Command::LockoutList
                    | Command::LockoutClear
            );
            // root: everything, as any owner
            assert!(matches!(
                authorize(&Caller::Root, c, Some("bob")),
                Decision::Allow(_)
            ));
            // reseller: its own tokens only
            let own = authorize(&ok, c, None);
            assert_eq!(
                matches!(own, Decision::Allow(ref a) if a.owner == "res"),
                token_cmd,
                "{c:?}"
            );
            assert!(matches!(authorize(&ok, c, Some("res")), Decision::Allow(_)) == token_cmd);
            assert!(matches!(
                authorize(&ok, c, Some("root")),
                Decision::Deny(ErrorCode::NotAuthorized, _)
            ));
            // others: nothing
            assert!(matches!(
                authorize(&Caller::Unprivileged(None), c, None),
                Decision::Deny(ErrorCode::NotAuthorized, _)
            ));
        }
        assert_eq!(
            authorize(&Caller::Root, Command::List, None),
            Decision::Allow(Actor {
                owner: "root".into(),
                caller_is_root: true
            })
        );
        assert!(matches!(
            authorize(&reseller("list-accts", false), Command::List, None),
            Decision::Deny(ErrorCode::NotAuthorized, _)
        ));
        assert!(matches!(
            authorize(&reseller("all", true), Command::List, None),
            Decision::Deny(ErrorCode::Suspended, _)
        ));
        assert!(matches!(
            authorize(&reseller("all", false), Command::Create, None),
            Decision::Allow(_)
        ));
    }
}
