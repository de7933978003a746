//! Requests the HTTPS front relays with the caller's credentials (a token
//! or a session, and the client address): who may relay, the credential
//! checked like a verify (or the session and CSRF token), and the caller
//! the command then runs as.

use apitokend_proto::{ErrorCode, Request, Response};

use super::Control;
use super::command::Command;
use crate::accounts::Lookup;
use crate::acl::Holdings;
use crate::audit;
use crate::authz::{self, Caller, Peer};
use crate::decode;
use crate::sessions;

/// A relayed request whose token authenticated: whom it acts as.
#[derive(Debug)]
pub(crate) struct Relayed {
    pub(super) caller: Caller,
    /// The token's effective privileges.
    pub(super) holdings: Holdings,
    /// The token that authenticated it; `None` for a web session.
    pub(super) token_name: Option<String>,
    /// The web session it came through, if any.
    pub(super) session: Option<crate::sessions::table::Live>,
    pub(super) ip: String,
}

impl Relayed {
    /// A request through a live web session of `caller`.
    pub(crate) fn session(
        caller: Caller,
        holdings: Holdings,
        session: crate::sessions::table::Live,
        ip: String,
    ) -> Relayed {
        Relayed {
            caller,
            holdings,
            token_name: None,
            session: Some(session),
            ip,
        }
    }
}

impl Control {
    /// The event-loop half of a request: decodes it and, for credentials
    /// relayed by the HTTPS front, checks who may relay and authenticates
    /// the token. `Err` is the final reply; `Ok` goes to [`Control::run`]
    /// on the blocking pool.
    pub(crate) async fn prepare(
        &self,
        peer: &Peer,
        line: &[u8],
    ) -> Result<(Request, Option<Relayed>), Response> {
        let mut request = decode::decode(line).map_err(|r| self.refuse_unparsed(peer, r))?;
        let Some(auth) = request.auth.take() else {
            return Ok((request, None));
        };
        let name = crate::text::shown(&request.command, decode::COMMAND_SHOWN);
        if let Some(op) = sessions::relay::Op::parse(&request.command) {
            let verifier = self.verifier.as_deref();
            return Err(
                sessions::relay::serve(&self.state, verifier, peer, op, request, &auth).await,
            );
        }
        let Some(command) = Command::parse(&request.command) else {
            let why = format!("{}.", decode::unknown_command(&request.command, ""));
            return Err(self.refuse_relay(peer, &name, ErrorCode::UnknownCommand, &why));
        };
        if auth.session.is_some() {
            let relayed =
                sessions::relay::authenticate(&self.state, peer, command, &request, &auth)
                    .map_err(|e| *e)?;
            return Ok((request, Some(relayed)));
        }
        let Some(token) = &auth.token else {
            let why = "relayed credentials need a token or a session";
            return Err(self.refuse_relay(peer, &name, ErrorCode::BadRequest, why));
        };
        if let Err((code, why)) = authz::may_relay(
            peer,
            self.state.front_uid(),
            command,
            request.user.as_deref(),
        ) {
            return Err(self.refuse_relay(peer, &name, code, &why));
        }
        let Some(verifier) = &self.verifier else {
            let why = "this daemon does not accept relayed credentials";
            return Err(self.refuse_relay(peer, &name, ErrorCode::NotAuthorized, why));
        };
        let function = command.whm_function().unwrap_or(command.name());
        let verified = verifier
            .authenticate(peer, function, token, &auth.ip)
            .await?;
        let account = match self.state.accounts.lookup(&verified.user) {
            Ok(Lookup::Found(a)) => a,
            Ok(Lookup::NotWhmUser) | Err(_) => {
                let why = "cannot read the account data";
                return Err(self.refuse_relay(peer, &name, ErrorCode::Internal, why));
            }
        };
        Ok((
            request,
            Some(Relayed {
                caller: authz::token_caller(account),
                holdings: verified.effective,
                token_name: Some(verified.token_name),
                session: None,
                ip: auth.ip.clone(),
            }),
        ))
    }

    /// Runs a prepared request (blocking pool: LMDB commits, Argon2).
    /// A relayed request refused before it ran: audited.
    pub(super) fn refuse_relay(
        &self,
        peer: &Peer,
        command: &str,
        code: ErrorCode,
        why: &str,
    ) -> Response {
        self.audit(
            peer,
            &audit::Event {
                command,
                peer: Some(peer),
                error: Some(code.as_str()),
                reason: why,
                ..audit::Event::default()
            },
        );
        Response::fail(command, code, why)
    }
}
