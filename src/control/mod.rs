//! The control path: a request line and the peer's kernel identity in, a
//! [`Response`] out, for the five WHM `api_token_*` functions, revoke-all,
//! the account events of cPanel's hook scripts, the lockout commands and
//! the imports from cPanel.
//!
//! Order per request: decode (`decode`), parse the command
//! ([`command::Command`]), identify the peer and authorize (`authz`, the
//! one decision), run the command (one file per family below), then audit
//! and write cPanel's accounting log. No socket types here; everything is
//! synchronous (LMDB commits, Argon2), so the server runs it on the
//! blocking pool.

pub(crate) mod command;
pub mod params;
pub mod validate;

mod account_events;
mod applist;
mod create;
mod details;
mod import;
mod list;
mod lockout_admin;
mod owner;
mod relayed;
pub(crate) mod reply;
mod revoke;
mod status;
mod update;

use std::sync::Arc;

use apitokend_proto::{ErrorCode, Request, Response};
use serde_json::{Map, Value};

use crate::accounts;
use crate::acl::Holdings;
use crate::audit;
use crate::authz::{self, Actor, Caller, Decision, Peer, Uid};
use crate::decode::{self, Undecodable};
use crate::logging;
use crate::reply::Reply;
use crate::sessions;
use crate::state::State;
use crate::verify::Verifier;
use command::Command;
use params::Params;
pub(crate) use relayed::Relayed;
use reply::Outcome;
use validate::Failure;

/// Serves control requests against the shared state.
#[derive(Debug)]
pub struct Control {
    state: Arc<State>,
    /// Authenticates credentials relayed by the HTTPS front (the verify
    /// path's cache and Argon2 limiter); `None`: relays are refused.
    verifier: Option<Arc<Verifier>>,
}

/// Who a request came from and whom it acted for (audit, accounting).
#[derive(Debug)]
struct Who {
    caller: String,
    owner: Option<String>,
}

impl Control {
    pub fn new(state: Arc<State>) -> Control {
        Control {
            state,
            verifier: None,
        }
    }

    /// Also accepts token credentials relayed by the HTTPS front, checked
    /// by `verifier`.
    #[must_use]
    pub fn relaying(mut self, verifier: Arc<Verifier>) -> Control {
        self.verifier = Some(verifier);
        self
    }

    /// Decodes one request line, authorizes it and runs it. Synchronous:
    /// relayed credentials (which may need Argon2 on the event loop's
    /// limiter) are refused here; the server uses [`Control::prepare`].
    pub fn handle_line(&self, peer: &Peer, line: &[u8]) -> Response {
        match decode::decode(line) {
            Ok(request) if request.auth.is_some() => {
                let name = crate::text::shown(&request.command, decode::COMMAND_SHOWN);
                self.refuse_relay(
                    peer,
                    &name,
                    ErrorCode::NotAuthorized,
                    "relayed credentials are not accepted here",
                )
            }
            Ok(request) => self.handle(peer, request, None).into_response(),
            Err(refused) => self.refuse_unparsed(peer, refused),
        }
    }

    pub(crate) fn run(&self, peer: &Peer, request: Request, relayed: Option<Relayed>) -> Reply {
        self.handle(peer, request, relayed)
    }

    fn handle(&self, peer: &Peer, mut request: Request, relayed: Option<Relayed>) -> Reply {
        let Some(command) = Command::parse(&request.command) else {
            let reason = format!(
                "{}.",
                decode::unknown_command(&request.command, &command::hint(&request.command))
            );
            return Reply::from(self.refuse_unparsed(
                peer,
                Undecodable {
                    code: ErrorCode::UnknownCommand,
                    command: crate::text::shown(&request.command, decode::COMMAND_SHOWN),
                    reason,
                },
            ));
        };
        let name = command.name();
        // Names for the audit line, taken before the command consumes args.
        let requested_names = Params(&request.args)
            .list("token_name")
            .ok()
            .flatten()
            .unwrap_or_default();
        let mut who = Who {
            caller: format!("uid:{}", peer.uid.0),
            owner: request.user.clone(),
        };
        let result = self.authorized(peer, command, &mut request, &mut who, relayed.as_ref());
        if command.names_its_account() {
            who.owner = Params(&request.args).single("user").ok().flatten();
        }
        let (response, changed) = match result {
            Ok(done) => {
                let ok = Response::ok(name, done.data).with_warnings(done.warnings);
                let reply = match done.json {
                    Some(json) => Reply::rendered(ok, json),
                    None => Reply::from(ok),
                };
                (reply, done.changed)
            }
            Err(f) => {
                let reason = format!("{}: {}", command.failure_prefix(), f.why);
                (
                    Reply::from(Response::fail(name, f.code, reason)),
                    Vec::new(),
                )
            }
        };
        if command.mutates() || !response.is_ok() {
            let each = response.is_ok() && command.audits_each_token();
            let names = if each {
                &[][..]
            } else if response.is_ok() {
                &changed
            } else {
                &requested_names
            };
            self.audit(
                peer,
                &audit::Event {
                    command: name,
                    peer: Some(peer),
                    user: who.owner.as_deref(),
                    token_names: names,
                    ip: relayed.as_ref().map(|r| r.ip.as_str()),
                    auth_token: relayed.as_ref().and_then(|r| r.token_name.as_deref()),
                    web_session: relayed
                        .as_ref()
                        .and_then(|r| r.session.as_ref())
                        .map(|s| s.method.name()),
                    error: response.metadata().error.as_deref(),
                    reason: &response.metadata().reason,
                    ..audit::Event::default()
                },
            );
            if each {
                for token in &changed {
                    audit::record(&audit::Event {
                        command: name,
                        peer: Some(peer),
                        user: who.owner.as_deref(),
                        token_names: std::slice::from_ref(token),
                        reason: "token imported",
                        ..audit::Event::default()
                    });
                }
            }
        }
        if response.is_ok() {
            self.account(command, &who, &changed);
        }
        response
    }

    /// cPanel accounting-log lines for successful changes, if configured.
    fn account(&self, command: Command, who: &Who, changed: &[String]) {
        let (Some(path), Some(verb)) = (self.state.accounting_log(), command.accounting()) else {
            return;
        };
        let owner = who.owner.as_deref().unwrap_or("-");
        audit::accounting(&path, verb, &who.caller, owner, changed);
    }

    fn authorized(
        &self,
        peer: &Peer,
        command: Command,
        request: &mut Request,
        who: &mut Who,
        relayed: Option<&Relayed>,
    ) -> Outcome {
        if let Some(u) = &request.user
            && !accounts::is_valid_user_name(u)
        {
            return Err(Failure::new(ErrorCode::InvalidUser, "invalid user name"));
        }
        let caller = match relayed {
            Some(r) => r.caller.clone(),
            None => authz::identify(peer, &self.state.accounts).map_err(|e| {
                logging::error(&e);
                Failure::new(ErrorCode::Internal, "cannot read the account data")
            })?,
        };
        let holdings = match relayed {
            Some(r) => r.holdings.clone(),
            None => authz::holdings_of(&caller),
        };
        who.caller = match &caller {
            Caller::Root => "root".to_owned(),
            Caller::Reseller(a) => a.name.clone(),
            Caller::Unprivileged(name) => name.clone().unwrap_or_else(|| who.caller.clone()),
        };
        match authz::authorize(&caller, command, request.user.as_deref()) {
            Decision::Deny(code, why) => Err(Failure::new(code, why)),
            Decision::Allow(actor) => {
                who.owner = Some(actor.owner.clone());
                let ctx = Ctx {
                    state: &self.state,
                    actor: &actor,
                    caller: &caller,
                    holdings: &holdings,
                    session: relayed.and_then(|r| r.session.as_ref()),
                };
                dispatch(&ctx, command, &mut request.args)
            }
        }
    }
}

/// What a command runs with: the state, whom it acts for, who asked, and
/// what the asker may do (a relayed token: its effective privileges).
struct Ctx<'a> {
    state: &'a State,
    actor: &'a Actor,
    caller: &'a Caller,
    holdings: &'a Holdings,
    /// The web session a relayed request came through.
    session: Option<&'a crate::sessions::table::Live>,
}

fn dispatch(ctx: &Ctx<'_>, command: Command, args: &mut Map<String, Value>) -> Outcome {
    match command {
        Command::Create => create::run(ctx, Params(args)),
        Command::List => list::run(ctx),
        Command::Update => update::run(ctx, Params(args)),
        Command::Revoke => revoke::run(ctx, Params(args)),
        Command::RevokeAll => revoke::all(ctx),
        Command::GetDetails => details::run(ctx, args),
        Command::AccountRemove => account_events::remove(ctx, Params(args)),
        Command::AccountRename => account_events::rename(ctx, Params(args)),
        Command::LockoutList => Ok(lockout_admin::list(ctx)),
        Command::LockoutClear => lockout_admin::clear(ctx, Params(args)),
        Command::Status => status::run(ctx, Params(args)),
        Command::ImportCpanelTokens => import::cpanel(ctx, args),
        Command::ImportAccesshash => import::accesshash(ctx, args),
        Command::Applist => applist::run(ctx),
        Command::SessionInfo => sessions::info::run(ctx.state, ctx.session, &ctx.actor.owner),
        Command::SessionTicket => sessions::info::ticket(ctx.state, &ctx.actor.owner),
    }
}

impl Control {
    /// Audits `event`; a refusal of a peer that may do nothing on this
    /// socket (or whose account data cannot be read) is rate-limited, since
    /// anyone may send one.
    fn audit(&self, peer: &Peer, event: &audit::Event<'_>) {
        if event.error.is_some() && !self.may_act(peer) {
            audit::record_limited(event);
        } else {
            audit::record(event);
        }
    }

    /// The request names a command that may run Argon2, so the server
    /// first waits for a turn under the daemon-wide limit.
    pub(crate) fn runs_argon2(request: &Request) -> bool {
        Command::parse(&request.command).is_some_and(Command::runs_argon2)
    }

    /// A turn under the daemon-wide Argon2 limit.
    pub(crate) async fn argon2_turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.state.argon2_turn().await
    }

    /// Whether `peer` may run anything here: root, the HTTPS front's
    /// account (it relays), or a caller `authz::may_act` admits. Reads the
    /// account files (a `stat`, one parse per change) and the user database.
    pub(crate) fn may_act(&self, peer: &Peer) -> bool {
        peer.uid == Uid::ROOT
            || self.state.front_uid() == Some(peer.uid)
            || authz::identify(peer, &self.state.accounts).is_ok_and(|c| authz::may_act(&c))
    }

    /// A request refused before it named a known command: audited too.
    fn refuse_unparsed(&self, peer: &Peer, refused: Undecodable) -> Response {
        let Undecodable {
            code,
            command,
            reason,
        } = refused;
        self.audit(
            peer,
            &audit::Event {
                command: if command.is_empty() { "-" } else { &command },
                peer: Some(peer),
                error: Some(code.as_str()),
                reason: &reason,
                ..audit::Event::default()
            },
        );
        Response::fail(&command, code, reason)
    }
}
