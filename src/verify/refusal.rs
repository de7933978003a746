//! A refused verify: counted toward its caller's lockout (credential
//! failures only), audited under the command that asked, and answered.

use apitokend_proto::{ErrorCode, Response};

use super::lockout::Recorded;
use super::{Refusal, Req, Verifier};
use crate::audit;
use crate::authz::Peer;
use crate::iplist;

/// What the audit line of a refusal names (as the caller sent it).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Named<'a> {
    pub(super) user: Option<&'a str>,
    pub(super) ip: Option<&'a str>,
    pub(super) function: Option<&'a str>,
}

impl<'a> Named<'a> {
    pub(super) fn of(req: &Req<'a>) -> Named<'a> {
        Named {
            user: Some(req.user),
            ip: Some(req.ip_text),
            function: Some(req.function),
        }
    }
}

impl Verifier {
    /// Counts and audits a refusal; returns its reply.
    pub(super) fn refused(
        &self,
        peer: &Peer,
        command: &str,
        named: Named<'_>,
        refusal: Refusal,
    ) -> Response {
        self.record_refusal(peer, command, named, &refusal);
        let Refusal(code, why, _) = refusal;
        Response::fail(command, code, why)
    }

    /// Counts a refusal toward the caller's lockout and audits it.
    pub(super) fn record_refusal(
        &self,
        peer: &Peer,
        command: &str,
        named: Named<'_>,
        refusal: &Refusal,
    ) {
        let Refusal(code, why, name) = refusal;
        self.count_failure(*code, named.ip, named.user, peer);
        audit::record(&audit::Event {
            command,
            peer: Some(peer),
            user: named.user,
            token_names: name.as_slice(),
            ip: named.ip,
            function: named.function,
            error: Some(code.as_str()),
            reason: why,
            ..audit::Event::default()
        });
    }

    /// Credential failures count toward the caller address's lockout.
    fn count_failure(&self, code: ErrorCode, ip: Option<&str>, user: Option<&str>, peer: &Peer) {
        if !matches!(
            code,
            ErrorCode::InvalidToken | ErrorCode::UnknownUser | ErrorCode::Expired
        ) {
            return;
        }
        let Some(addr) = ip.and_then(iplist::parse_caller) else {
            return;
        };
        let now = self.state.clock.now();
        let lockout = &self.state.lockout;
        let (error, reason) = match lockout.record_failure(addr, now) {
            Recorded::Counted | Recorded::NotTracked { audit: false, .. } => return,
            Recorded::LockedNow { until, failures } => (
                ErrorCode::LockedOut.as_str(),
                format!(
                    "{failures} failed verifies; locked out until {}",
                    crate::text::local_time(until)
                ),
            ),
            Recorded::NotTracked {
                audit: true,
                tracked,
            } => (
                "lockout_table_full",
                format!(
                    "lockout table is full ({tracked} callers, all locked out): failures \
                     from callers not in it are not counted until a lockout ends"
                ),
            ),
        };
        let shown = iplist::format(&lockout.caller(addr));
        audit::record(&audit::Event {
            command: "lockout",
            peer: Some(peer),
            user,
            ip: Some(&shown),
            error: Some(error),
            reason: &reason,
            ..audit::Event::default()
        });
    }
}
