//! The web page's requests as the HTTPS front relays them on the control
//! socket: `session_login` and `session_logout` (answered here), and any
//! page function with `"auth": {"session", "csrf", "ip"}` (checked here,
//! then run by `control` as the session's user).
//!
//! Only the front's account (`[web] user`) may send them. A session acts
//! with its user's rights exactly as that user on the control socket: root
//! for anyone, a reseller for itself while it is a reseller, not suspended
//! and holding `manage-api-tokens` (`authz::authorize` decides). Every
//! request but `session_info` (which hands the CSRF token to the page the
//! front renders) must carry the session's CSRF token.

use std::sync::Arc;

use apitokend_proto::{Auth, ErrorCode, Request, Response};
use serde_json::json;

use super::secret;
use super::table::Found;
use crate::accounts::{Lookup, Uid};
use crate::audit;
use crate::authz::{self, Caller, Peer};
use crate::control::Relayed;
use crate::control::command::Command;
use crate::logging;
use crate::state::State;
use crate::verify::Verifier;
use login_request::login_request;

mod login_request;

/// The session commands answered before a session exists or as it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Login,
    Logout,
}

impl Op {
    pub(crate) fn parse(command: &str) -> Option<Op> {
        match command {
            "session_login" => Some(Op::Login),
            "session_logout" => Some(Op::Logout),
            _ => None,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Op::Login => "session_login",
            Op::Logout => "session_logout",
        }
    }
}

/// What the client hears when its session is gone.
const SESSION_GONE: &str = "The session has expired or ended; log in again.";
const CSRF_BAD: &str = "The request lacks this session's CSRF token.";

#[derive(Clone, Copy, Default)]
struct Audit<'a> {
    user: Option<&'a str>,
    ip: Option<&'a str>,
    method: Option<&'a str>,
    error: Option<ErrorCode>,
}

fn record(peer: &Peer, command: &str, a: &Audit<'_>, reason: &str) {
    audit::record(&audit::Event {
        command,
        peer: Some(peer),
        user: a.user,
        ip: a.ip,
        web_session: a.method,
        error: a.error.map(ErrorCode::as_str),
        reason,
        ..audit::Event::default()
    });
}

/// Refused, audited with the real reason, answered with `told`.
fn refuse(
    peer: &Peer,
    command: &str,
    a: Audit<'_>,
    code: ErrorCode,
    why: &str,
    told: &str,
) -> Response {
    record(
        peer,
        command,
        &Audit {
            error: Some(code),
            ..a
        },
        why,
    );
    Response::fail(command, code, told)
}

/// Only `[web] user`, never uid 0.
fn from_front(state: &State, peer: &Peer) -> bool {
    state
        .front_uid()
        .is_some_and(|uid| uid == peer.uid && uid != Uid::ROOT)
}

fn not_front(peer: &Peer, command: &str) -> Response {
    let why = "web session requests are accepted only from the HTTPS front's account (web.user)";
    refuse(
        peer,
        command,
        Audit::default(),
        ErrorCode::NotAuthorized,
        why,
        why,
    )
}

/// Checks a page request's session and CSRF token; the caller it acts as.
pub(crate) fn authenticate(
    state: &State,
    peer: &Peer,
    command: Command,
    request: &Request,
    auth: &Auth,
) -> Result<Relayed, Box<Response>> {
    let name = command.name();
    if !from_front(state, peer) {
        return Err(Box::new(not_front(peer, name)));
    }
    let ip = auth.ip.as_str();
    let a = Audit {
        ip: Some(ip),
        ..Audit::default()
    };
    if !command.in_web_session() {
        let why = format!("“{name}” is not available to web sessions");
        return Err(Box::new(refuse(
            peer,
            name,
            a,
            ErrorCode::NotAuthorized,
            &why,
            &why,
        )));
    }
    let id = auth.session.as_deref().unwrap_or("");
    let life = state.web.settings().lifetimes();
    // Expired or unknown: one refusal, naming the user when it is known.
    let (user, outcome) = match state.web.sessions.touch(id, state.clock.now(), life) {
        Found::Live(l) => (None, Ok(l)),
        Found::Expired { user } => (Some(user), Err("the session expired")),
        Found::Unknown => (None, Err("no such session")),
    };
    let live = match outcome {
        Ok(l) => l,
        Err(why) => {
            let a = Audit {
                user: user.as_deref(),
                ..a
            };
            let refused = refuse(peer, name, a, ErrorCode::SessionInvalid, why, SESSION_GONE);
            return Err(Box::new(refused));
        }
    };
    let csrf_ok = auth
        .csrf
        .as_deref()
        .is_some_and(|c| secret::same(c, &live.csrf));
    if command != Command::SessionInfo && !csrf_ok {
        let a = Audit {
            user: Some(&live.user),
            method: Some(live.method.name()),
            ..a
        };
        let why = "missing or wrong CSRF token";
        return Err(Box::new(refuse(
            peer,
            name,
            a,
            ErrorCode::CsrfInvalid,
            why,
            CSRF_BAD,
        )));
    }
    let caller = if live.user == "root" {
        Caller::Root
    } else {
        match state.accounts.lookup(&live.user) {
            Ok(Lookup::Found(account)) => Caller::Reseller(account),
            Ok(Lookup::NotWhmUser) => Caller::Unprivileged(Some(live.user.clone())),
            Err(e) => {
                logging::error(&e);
                let why = "cannot read the account data";
                return Err(Box::new(refuse(
                    peer,
                    name,
                    a,
                    ErrorCode::Internal,
                    why,
                    why,
                )));
            }
        }
    };
    let _ = request;
    let holdings = authz::holdings_of(&caller);
    Ok(Relayed::session(caller, holdings, live, auth.ip.clone()))
}

/// Answers `session_login` or `session_logout`.
pub(crate) async fn serve(
    state: &Arc<State>,
    verifier: Option<&Verifier>,
    peer: &Peer,
    op: Op,
    request: Request,
    auth: &Auth,
) -> Response {
    let name = op.name();
    if !from_front(state, peer) {
        return not_front(peer, name);
    }
    match op {
        Op::Login => login_request(state, verifier, peer, request, auth).await,
        Op::Logout => logout(state, peer, auth),
    }
}

fn logout(state: &State, peer: &Peer, auth: &Auth) -> Response {
    let name = Op::Logout.name();
    let a = Audit {
        ip: Some(&auth.ip),
        ..Audit::default()
    };
    let id = auth.session.as_deref().unwrap_or("");
    let life = state.web.settings().lifetimes();
    // Logging out of a session that is already gone succeeds.
    let Found::Live(live) = state.web.sessions.touch(id, state.clock.now(), life) else {
        return Response::ok(name, Some(json!({})));
    };
    let a = Audit {
        user: Some(&live.user),
        method: Some(live.method.name()),
        ..a
    };
    if !auth
        .csrf
        .as_deref()
        .is_some_and(|c| secret::same(c, &live.csrf))
    {
        let why = "missing or wrong CSRF token";
        return refuse(peer, name, a, ErrorCode::CsrfInvalid, why, CSRF_BAD);
    }
    let _ = state.web.sessions.end(id);
    record(peer, name, &a, "logged out");
    Response::ok(name, Some(json!({ "user": live.user })))
}
