//! `session_login` as the front relays it: the credential taken out of the
//! request (a password for PAM, or a token checked like a verify), the
//! log-in decided by `sessions::login`, and the reply with its audit line.

use std::net::IpAddr;
use std::sync::Arc;

use apitokend_proto::{Auth, ErrorCode, Request, Response, TokenCredential};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{Audit, Op, record, refuse};
use crate::acl::{self, Holdings};
use crate::authz::Peer;
use crate::iplist;
use crate::logging;
use crate::sessions::login::{self, Checks, Credential, Deps, LOGIN_INVALID, LoggedIn, TokenCheck};
use crate::state::State;
use crate::verify::Verifier;

/// Takes a string argument out of `args` (secrets leave no copy behind).
fn take(args: &mut serde_json::Map<String, Value>, key: &str) -> Option<Zeroizing<String>> {
    match args.remove(key) {
        Some(Value::String(s)) => Some(Zeroizing::new(s)),
        _ => None,
    }
}

fn credential(request: &mut Request) -> Option<Credential> {
    let args = &mut request.args;
    let method = take(args, "method")?;
    let user = take(args, "user").map(|u| u.as_str().to_owned());
    match (method.as_str(), user) {
        ("password", Some(user)) => Some(Credential::Password {
            user,
            password: take(args, "password")?,
        }),
        ("token", Some(user)) => Some(Credential::Token {
            user,
            token: take(args, "token")?,
        }),
        ("ticket", _) => Some(Credential::Ticket(take(args, "ticket")?)),
        _ => None,
    }
}

/// PAM through `[web] pam_service`; a token check already made.
struct Real {
    service: String,
    token: Option<TokenCheck>,
}

impl Checks for Real {
    fn password(&self, user: &str, password: &[u8], ip: IpAddr) -> pam_login::Outcome {
        pam_login::authenticate(&self.service, user, password, Some(&ip.to_string()))
    }

    fn token(&self, _user: &str, _token: &str, _ip: IpAddr) -> TokenCheck {
        match &self.token {
            Some(TokenCheck::Valid { acls }) => TokenCheck::Valid { acls: acls.clone() },
            Some(TokenCheck::Refused { reason, counted }) => TokenCheck::Refused {
                reason: reason.clone(),
                counted: *counted,
            },
            Some(TokenCheck::Unavailable(why)) => TokenCheck::Unavailable(why.clone()),
            None => TokenCheck::Unavailable("the token was not checked".to_owned()),
        }
    }
}

fn holdings_list(h: &Holdings) -> Vec<String> {
    match h {
        Holdings::All => vec![acl::ALL.to_owned()],
        Holdings::Some(set) => set.iter().cloned().collect(),
    }
}

fn deps(state: &State) -> Deps<'_> {
    Deps {
        accounts: &state.accounts,
        lockout: &state.lockout,
        sessions: &state.web.sessions,
        tickets: &state.web.tickets,
        pam_slots: &state.web.pam_slots,
        life: state.web.settings().lifetimes(),
        now: state.clock.now(),
    }
}

pub(super) async fn login_request(
    state: &Arc<State>,
    verifier: Option<&Verifier>,
    peer: &Peer,
    mut request: Request,
    auth: &Auth,
) -> Response {
    let name = Op::Login.name();
    let a = Audit {
        ip: Some(&auth.ip),
        ..Audit::default()
    };
    if auth.token.is_some() || auth.session.is_some() {
        let why = "a log-in carries its credentials in its arguments";
        return refuse(peer, name, a, ErrorCode::BadRequest, why, why);
    }
    let Some(ip) = iplist::parse_caller(&auth.ip) else {
        let why = "the client address is not an IP address";
        return refuse(peer, name, a, ErrorCode::BadRequest, why, why);
    };
    let Some(cred) = credential(&mut request) else {
        let why = "arguments: method (password, token or ticket) with user and password, \
                   user and token, or ticket";
        return refuse(peer, name, a, ErrorCode::BadRequest, why, why);
    };
    // A token is checked on the event loop (the verify path's cache and
    // Argon2 limiter), after the checks that come first.
    let mut token = None;
    if let Credential::Token {
        user,
        token: secret,
    } = &cred
        && login::screen(&deps(state), &cred, ip).is_none()
    {
        token = Some(match verifier {
            None => TokenCheck::Unavailable("no verifier".to_owned()),
            Some(v) => {
                let credential = TokenCredential {
                    user: user.clone(),
                    token: secret.as_str().to_owned(),
                };
                // Checked as a call of api_token_list, the page's first
                // function (manage-api-tokens, as WHM's table says).
                match v
                    .authenticate(peer, "api_token_list", &credential, &auth.ip)
                    .await
                {
                    Ok(verified) => TokenCheck::Valid {
                        acls: holdings_list(&verified.effective),
                    },
                    Err(refused) if refused.error_code() == Some(ErrorCode::Internal) => {
                        TokenCheck::Unavailable("the token check failed".to_owned())
                    }
                    Err(refused) => TokenCheck::Refused {
                        reason: refused.metadata.reason,
                        counted: true,
                    },
                }
            }
        });
    }
    let checks = Real {
        service: state.web.settings().pam_service,
        token,
    };
    let worker = Arc::clone(state);
    let outcome = tokio::task::spawn_blocking(move || {
        let outcome = login::login(&deps(&worker), &checks, &cred, ip);
        (outcome, cred.user().map(str::to_owned))
    })
    .await;
    let (outcome, presented) = match outcome {
        Ok(o) => o,
        Err(e) => {
            logging::error(&format!("log-in task failed: {e}"));
            return Response::fail(name, ErrorCode::Internal, "internal error");
        }
    };
    answer(peer, name, &auth.ip, outcome, presented.as_deref())
}

fn answer(
    peer: &Peer,
    name: &str,
    ip: &str,
    outcome: LoggedIn,
    presented: Option<&str>,
) -> Response {
    let a = Audit {
        ip: Some(ip),
        user: presented,
        ..Audit::default()
    };
    match outcome {
        LoggedIn::Opened {
            user,
            method,
            session,
        } => {
            let a = Audit {
                user: Some(&user),
                method: Some(method.name()),
                ..a
            };
            record(peer, name, &a, "logged in");
            Response::ok(
                name,
                Some(json!({
                    "user": user,
                    "method": method.name(),
                    "session": session.id.as_str(),
                    "csrf": session.csrf.as_str(),
                    "expires_at": session.expires_at,
                })),
            )
        }
        LoggedIn::Refused {
            user,
            method,
            reason,
            locked_now,
        } => {
            let a = Audit {
                user: user.as_deref().or(presented),
                method: Some(method.name()),
                ..a
            };
            if let Some(until) = locked_now {
                let why = format!("failed log-ins; locked out until {until}");
                record(
                    peer,
                    "lockout",
                    &Audit {
                        error: Some(ErrorCode::LockedOut),
                        ..a
                    },
                    &why,
                );
            }
            refuse(
                peer,
                name,
                a,
                ErrorCode::LoginFailed,
                &reason,
                LOGIN_INVALID,
            )
        }
        LoggedIn::LockedOut { until } => {
            let why = format!("address locked out until {until}");
            let told = "Too many failed log-ins from this address; try again later.";
            refuse(peer, name, a, ErrorCode::LockedOut, &why, told)
        }
        LoggedIn::Busy(told) => refuse(peer, name, a, ErrorCode::TooManyConnections, told, told),
        LoggedIn::Unavailable(why) => {
            logging::error(&format!("web log-in: {why}"));
            let told = "The log-in service is unavailable; try again later.";
            refuse(peer, name, a, ErrorCode::Internal, &why, told)
        }
    }
}
