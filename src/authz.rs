//! Who may do what: every access rule of the daemon, stated here.
//!
//! - **Control socket** (mode [`CONTROL_SOCKET_MODE`]: anyone may connect;
//!   the peer check decides). The peer's uid comes from SO_PEERCRED (the
//!   kernel, not the client). uid 0 acts as root and may name any owner; a
//!   uid whose login name is a WHM reseller acts on its own tokens only,
//!   and needs `manage-api-tokens` as WHM's function table says; everyone
//!   else is refused. [`authorize`] is the one `match` that decides, with no
//!   catch-all arm. What a reseller may *grant* (only privileges it holds)
//!   is checked by `control::validate` against the owner's holdings, which
//!   for a reseller is the caller itself; what it may *see* of privileges
//!   is [`visible_privileges`].
//! - **Relayed credentials** (the `auth` field, control socket): only the
//!   HTTPS front's account (`[web] user`, never uid 0) may send them, only
//!   for WHM API 1 functions and never naming a `user` ([`may_relay`]).
//!   The daemon authenticates the token like a verify of that function
//!   (lockout, audit), then the request acts as the token's owner
//!   ([`token_caller`]) under [`authorize`], exactly as that owner on the
//!   control socket would.
//! - **Verify socket** (mode [`VERIFY_SOCKET_MODE`], owner root, group
//!   `verify_socket_group`): root and members of that group may call
//!   `verify`, enforced by the kernel at connect; the socket answers
//!   nothing else, and never lists or changes tokens. Whether a *token* may
//!   run a function from an address is the verify path's decision
//!   (`verify`), from the token's record, the owner's account files and
//!   the function table.

pub use crate::accounts::Uid;
use crate::accounts::{self, Account, Accounts, Lookup};
use crate::acl::Holdings;
use crate::control::command::{Command, Scope};
use apitokend_proto::ErrorCode;

/// Anyone may connect; [`authorize`] decides per request.
pub(crate) const CONTROL_SOCKET_MODE: u32 = 0o666;
/// Root and the verify group only: the kernel refuses everyone else.
pub(crate) const VERIFY_SOCKET_MODE: u32 = 0o660;

/// The kernel-reported identity of a connected client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub uid: Uid,
    pub pid: Option<i32>,
}

/// Who the peer is, in WHM terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    Root,
    Reseller(Account),
    /// Neither root nor a reseller (the login name, if any, for logs).
    Unprivileged(Option<String>),
}

/// Resolves a peer to a caller (uid → login name → account files).
pub(crate) fn identify(peer: &Peer, accounts: &Accounts) -> Result<Caller, String> {
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
pub(crate) struct Actor {
    pub(crate) owner: String,
}

#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Allow(Actor),
    Deny(ErrorCode, String),
}

const MANAGE: &str = "manage-api-tokens";

/// The only place that decides whether a control request may proceed.
pub(crate) fn authorize(
    caller: &Caller,
    command: Command,
    requested_user: Option<&str>,
) -> Decision {
    match (caller, command.scope()) {
        (Caller::Root, Scope::Tokens) => Decision::Allow(Actor {
            owner: requested_user.unwrap_or("root").to_owned(),
        }),
        (Caller::Root, Scope::Server | Scope::Overview) => Decision::Allow(Actor {
            owner: "root".to_owned(),
        }),
        (Caller::Reseller(account), Scope::Tokens | Scope::Overview) => {
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
                })
            }
        }
        (Caller::Root, Scope::Caller) => Decision::Allow(Actor {
            owner: requested_user.unwrap_or("root").to_owned(),
        }),
        (Caller::Reseller(account), Scope::Caller) => {
            if requested_user.is_some_and(|u| u != account.name) {
                Decision::Deny(
                    ErrorCode::NotAuthorized,
                    format!("the reseller “{}” may ask only about itself", account.name),
                )
            } else if account.suspended {
                Decision::Deny(
                    ErrorCode::Suspended,
                    format!("the account “{}” is suspended", account.name),
                )
            } else {
                Decision::Allow(Actor {
                    owner: account.name.clone(),
                })
            }
        }
        (Caller::Reseller(_), Scope::Server) => Decision::Deny(
            ErrorCode::NotAuthorized,
            "account events and lockouts are root's alone".to_owned(),
        ),
        (
            Caller::Unprivileged(_),
            Scope::Tokens | Scope::Server | Scope::Overview | Scope::Caller,
        ) => Decision::Deny(
            ErrorCode::NotAuthorized,
            "only root and WHM resellers may manage API tokens".to_owned(),
        ),
    }
}

/// Whether `peer` may relay credentials for `command`: the front's account
/// (`front`, resolved from `[web] user`) and nobody else, WHM functions
/// only, acting as the token's owner (no `user`).
pub(crate) fn may_relay(
    peer: &Peer,
    front: Option<Uid>,
    command: Command,
    requested_user: Option<&str>,
) -> Result<(), (ErrorCode, String)> {
    let deny = |why: String| Err((ErrorCode::NotAuthorized, why));
    match (front, command.whm_function()) {
        (None, _) => deny(
            "relayed credentials are accepted only from the HTTPS front's account \
             (web.user), which does not exist"
                .to_owned(),
        ),
        (Some(uid), _) if uid != peer.uid || uid == Uid::ROOT => deny(
            "relayed credentials are accepted only from the HTTPS front's account (web.user)"
                .to_owned(),
        ),
        (Some(_), None) => deny(format!(
            "“{}” is not a WHM API 1 function and cannot be called with a token",
            command.name()
        )),
        (Some(_), Some(_)) if requested_user.is_some() => Err((
            ErrorCode::BadRequest,
            "a relayed request acts as the token's owner; it names no “user”".to_owned(),
        )),
        (Some(_), Some(_)) => Ok(()),
    }
}

/// The caller a verified token's owner is: root, or the reseller.
pub(crate) fn token_caller(account: Account) -> Caller {
    if account.name == "root" {
        Caller::Root
    } else {
        Caller::Reseller(account)
    }
}

/// What a caller holds (for `applist` over the control socket).
pub(crate) fn holdings_of(caller: &Caller) -> Holdings {
    match caller {
        Caller::Root => Holdings::All,
        Caller::Reseller(a) => a.holdings.clone(),
        Caller::Unprivileged(_) => Holdings::Some(Default::default()),
    }
}

/// How much of the daemon's state `status` shows a caller.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatusView {
    /// Root: sockets, every count, cache, lockouts, the last reload.
    Server,
    /// A reseller: the version, uptime and its own tokens only.
    Owner,
}

/// What `status` shows `caller` (once [`authorize`] let it ask).
pub(crate) fn status_view(caller: &Caller) -> StatusView {
    match caller {
        Caller::Root => StatusView::Server,
        Caller::Reseller(_) | Caller::Unprivileged(_) => StatusView::Owner,
    }
}

/// Whether `caller` may run any control command at all. A peer that may
/// not (a plain local user, a suspended reseller) is answered one request,
/// its refusal, and closed at once; its refusals are rate-limited in the
/// audit log. Agrees with [`authorize`] (a test checks every command).
pub(crate) fn may_act(caller: &Caller) -> bool {
    match caller {
        Caller::Root => true,
        // Without `manage-api-tokens` a reseller still asks about itself
        // (applist, its web session).
        Caller::Reseller(account) => !account.suspended,
        Caller::Unprivileged(_) => false,
    }
}

/// What a caller may see of privileges in a token listing: a reseller
/// only what it holds, root everything.
pub(crate) fn visible_privileges(caller: &Caller) -> Holdings {
    match caller {
        Caller::Reseller(a) => a.holdings.clone(),
        Caller::Root | Caller::Unprivileged(_) => Holdings::All,
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
    fn may_act_agrees_with_authorize() {
        for caller in [
            Caller::Root,
            reseller("manage-api-tokens", false),
            reseller("all", false),
            reseller("all", true),
            reseller("list-accts", false),
            Caller::Unprivileged(Some("bob".into())),
            Caller::Unprivileged(None),
        ] {
            let allowed = Command::ALL
                .into_iter()
                .any(|c| matches!(authorize(&caller, c, None), Decision::Allow(_)));
            assert_eq!(may_act(&caller), allowed, "{caller:?}");
        }
    }

    #[test]
    fn decision_table() {
        let ok = reseller("manage-api-tokens,list-accts", false);
        for c in Command::ALL {
            let token_cmd = matches!(c.scope(), Scope::Tokens | Scope::Overview | Scope::Caller);
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

    #[test]
    fn only_the_fronts_uid_relays_and_only_whm_functions() {
        let front = Some(Uid(990));
        let peer = |uid: u32| Peer {
            uid: Uid(uid),
            pid: None,
        };
        for c in Command::ALL {
            let whm = c.whm_function().is_some();
            assert_eq!(may_relay(&peer(990), front, c, None).is_ok(), whm, "{c:?}");
            // Nobody else, not even root; not without a front account.
            for (p, f) in [(peer(0), front), (peer(991), front), (peer(990), None)] {
                assert!(
                    matches!(
                        may_relay(&p, f, c, None),
                        Err((ErrorCode::NotAuthorized, _))
                    ),
                    "{c:?} {p:?} {f:?}"
                );
            }
            // A front account that is uid 0 is refused too.
            assert!(may_relay(&peer(0), Some(Uid::ROOT), c, None).is_err());
            if whm {
                assert!(matches!(
                    may_relay(&peer(990), front, c, Some("bob")),
                    Err((ErrorCode::BadRequest, _))
                ));
            }
        }
        assert!(Command::RevokeAll.whm_function().is_none());
        assert_eq!(Command::Applist.whm_function(), Some("applist"));
    }
}
