//! verify(user, token, ip, function): the hot path.
//!
//! Per call: SHA-512 + HMAC of the token and a look in the verified cache;
//! an entry confirmed at the store's current commit count answers without
//! reading the store (`Store::commits`), otherwise one index lookup in a
//! read transaction (a wrong token ends here, never reaching Argon2)
//! confirms it. Then the live checks: account (suspension, current
//! reseller privileges, from the watched account files: a change is seen
//! within 100 ms), expiry, IP list and the function table. All of that is
//! synchronous ([`Verifier::answer_now`], called on the connection's own
//! thread or the parking loop, writes the reply bytes itself); only a
//! token this process has not checked yet leaves it for
//! [`Verifier::handle_line`]: Argon2 runs on
//! the blocking pool under the daemon-wide Argon2 limit (`State`, shared
//! with the control socket), so a burst of first uses, or of control
//! requests, never stalls cached verifies. A token imported from cPanel is
//! checked against its interim verifier instead and its Argon2id verifier
//! is computed and stored off the request path (`upgrade`, under the same
//! limit). No write transaction here: last use goes to the in-memory usage
//! tracker.

pub(crate) mod cache;
mod fast;
#[cfg(test)]
mod fast_tests;
mod first_use;
mod grant;
pub(crate) mod lockout;
mod refusal;
mod request;
pub(crate) mod upgrade;
pub(crate) mod usage;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use apitokend_proto::{ErrorCode, Response};
use serde_json::{Map, Value};

use crate::accounts::Account;
use crate::acl::Holdings;
use crate::authz::Peer;
use crate::decode;
use crate::logging;
use crate::state::State;
use crate::text::shown;
use crate::tokens::{Digest, Index};
use cache::Snapshot;
pub(crate) use grant::Grant;
use refusal::Named;
use request::parse_args;
use upgrade::Upgrades;

pub(crate) const COMMAND: &str = "verify";

/// Serves verify requests against the shared state.
#[derive(Debug)]
pub struct Verifier {
    state: Arc<State>,
    /// Imported tokens proven and waiting for their Argon2id verifier.
    upgrades: Arc<Upgrades>,
}

/// A token that verified: its owner, its name and what it may do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    pub(crate) user: String,
    pub(crate) token_name: String,
    pub(crate) effective: Holdings,
}

/// A verify's arguments, checked, borrowed from wherever they arrived
/// (the request line itself on the fast path).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Req<'a> {
    pub(crate) user: &'a str,
    pub(crate) token: &'a str,
    pub(crate) ip: IpAddr,
    /// The address as the caller wrote it (for the audit line).
    pub(crate) ip_text: &'a str,
    pub(crate) function: &'a str,
}

/// A refusal: stable code, a reason for the local caller, and the token's
/// name when the token itself was recognised (for the audit line).
#[derive(Debug, PartialEq, Eq)]
struct Refusal(ErrorCode, String, Option<String>);

fn refuse(code: ErrorCode, why: impl Into<String>) -> Refusal {
    Refusal(code, why.into(), None)
}

fn refuse_named(code: ErrorCode, why: String, name: &str) -> Refusal {
    Refusal(code, why, Some(name.to_owned()))
}

fn no_such_token() -> Refusal {
    refuse(ErrorCode::InvalidToken, "no such token for this user")
}

/// Effective privileges: full access is the owner's holdings now; a
/// restricted token of a reseller is intersected with what it holds now.
pub(crate) fn effective(token_acls: Option<&[String]>, owner: &Holdings) -> Holdings {
    match (token_acls, owner) {
        (None, h) => h.clone(),
        (Some(list), Holdings::All) => Holdings::from_list(&list.join(",")),
        (Some(list), Holdings::Some(held)) => {
            Holdings::Some(list.iter().filter(|a| held.contains(*a)).cloned().collect())
        }
    }
}

/// How far the synchronous part of a verify got.
enum Begun {
    /// The token is one this process checked, and its record is unchanged.
    Cached(Grant),
    /// The record must be read (and maybe Argon2 run): asynchronous.
    Load(Pending),
}

/// A token found in the index but not (or no longer) in the cache.
struct Pending {
    account: Arc<Account>,
    index: Index,
    stale: Option<Arc<Snapshot>>,
    digest: Digest,
    /// The store's commit count read before the index lookup.
    commits: u64,
}

/// What [`Verifier::answer_now`] did with a line.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The reply line is in the buffer.
    Written,
    /// Not a well-formed verify of a cached token: use `handle_line`.
    Slow,
}

impl Verifier {
    pub fn new(state: Arc<State>) -> Verifier {
        Verifier {
            state,
            upgrades: Arc::default(),
        }
    }

    /// The fast path: answers a well-formed verify of a token this process
    /// already checked (or one it refuses before Argon2) synchronously,
    /// appending the reply line to `out`. Everything else (other commands,
    /// malformed or escaped input, a first use) is [`Answer::Slow`], for
    /// `handle_line`, which answers it exactly as it would any line.
    pub(crate) fn answer_now(&self, peer: &Peer, line: &[u8], out: &mut Vec<u8>) -> Answer {
        let Some(req) = fast::parse(line) else {
            return Answer::Slow;
        };
        let now = self.state.clock.now();
        let result = match self.begin(&req, now) {
            Ok(Begun::Cached(grant)) => self.finish(&req, grant, now),
            Ok(Begun::Load(_)) => return Answer::Slow,
            Err(refusal) => Err(refusal),
        };
        match result {
            Ok(grant) => fast::write_ok(&grant, out),
            Err(refusal) => {
                self.record_refusal(peer, COMMAND, Named::of(&req), &refusal);
                fast::write_fail(refusal.0, &refusal.1, out);
            }
        }
        self.state.verifies.fast.fetch_add(1, Ordering::Relaxed);
        Answer::Written
    }

    /// Decodes and answers one verify-socket line.
    pub async fn handle_line(&self, peer: &Peer, line: &[u8]) -> Response {
        self.state.verifies.general.fetch_add(1, Ordering::Relaxed);
        let mut request = match decode::decode(line) {
            Ok(r) => r,
            Err(refused) => return Response::fail(COMMAND, refused.code, refused.reason),
        };
        if request.command != COMMAND {
            let hint = ": the verify socket answers only “verify”; management commands \
                        go to the control socket.";
            return Response::fail(
                &shown(&request.command, decode::COMMAND_SHOWN),
                ErrorCode::UnknownCommand,
                decode::unknown_command(&request.command, hint),
            );
        }
        match self.checked(peer, COMMAND, &mut request.args).await {
            Ok(grant) => grant.response(),
            Err(refused) => refused,
        }
    }

    /// Authenticates credentials relayed by the HTTPS front for `command`
    /// (a WHM function) exactly as a verify of that function from `ip`
    /// would: lockout first, failures counted and audited under `command`.
    pub(crate) async fn authenticate(
        &self,
        peer: &Peer,
        command: &str,
        credential: &apitokend_proto::TokenCredential,
        ip: &str,
    ) -> Result<Verified, Response> {
        let mut args = Map::new();
        args.insert("user".into(), Value::String(credential.user.clone()));
        args.insert("token".into(), Value::String(credential.token.clone()));
        args.insert("ip".into(), Value::String(ip.to_owned()));
        args.insert("function".into(), Value::String(command.to_owned()));
        let checked = self.checked(peer, command, &mut args).await;
        // `checked` moved the token out into a zeroizing buffer.
        debug_assert!(!args.contains_key("token"));
        checked.map(|grant| grant.verified())
    }

    /// Verifies `args`; a refusal is counted, audited as `command` and
    /// returned as the reply.
    async fn checked(
        &self,
        peer: &Peer,
        command: &str,
        args: &mut Map<String, Value>,
    ) -> Result<Grant, Response> {
        let parsed = match parse_args(args) {
            Ok(parsed) => parsed,
            Err(refusal) => {
                // Only the secret was taken out of `args`; the rest is intact.
                let text = |key: &str| args.get(key).and_then(Value::as_str);
                let named = Named {
                    user: text("user"),
                    ip: text("ip"),
                    function: text("function"),
                };
                return Err(self.refused(peer, command, named, refusal));
            }
        };
        let req = parsed.req();
        self.verify(&req)
            .await
            .map_err(|refusal| self.refused(peer, command, Named::of(&req), refusal))
    }

    async fn verify(&self, req: &Req<'_>) -> Result<Grant, Refusal> {
        let grant = match self.begin(req, self.state.clock.now())? {
            Begun::Cached(grant) => grant,
            Begun::Load(pending) => self.load(pending).await?,
        };
        // Argon2 may have taken a while: the live checks use the time now.
        self.finish(req, grant, self.state.clock.now())
    }

    /// Everything up to the token's record, synchronously: lockout, the
    /// account, the index, and the cache.
    fn begin(&self, req: &Req<'_>, now: i64) -> Result<Begun, Refusal> {
        let svc = &*self.state;
        if let Some(until) = svc.lockout.locked_until(req.ip, now) {
            return Err(refuse(
                ErrorCode::LockedOut,
                format!(
                    "too many failed verifies from {}; locked out until {}",
                    req.ip,
                    crate::text::local_time(until)
                ),
            ));
        }
        let account = match svc.accounts.account(req.user) {
            Ok(Some(a)) => a,
            Ok(None) => {
                return Err(refuse(
                    ErrorCode::UnknownUser,
                    format!("“{}” is not a WHM user", shown(req.user, 64)),
                ));
            }
            Err(e) => return Err(internal(&e)),
        };
        let digest = Digest::of(req.token);
        let index = svc.pepper.index(&digest);
        // Read before the store: a commit after this is noticed next time.
        let commits = svc.store.commits();
        let cached = svc.verified.get(&index);
        if let Some(s) = &cached
            && s.owner == account.name
            && s.confirmed.load(Ordering::SeqCst) == commits
        {
            let snapshot = Arc::clone(s);
            return Ok(Begun::Cached(Grant::new(account, snapshot, index)));
        }
        let generation = svc
            .store
            .owned_generation(&index, &account.name)
            .map_err(|e| internal(&e.to_string()))?
            .ok_or_else(no_such_token)?;
        match cached {
            Some(s) if s.generation == generation && s.owner == account.name => {
                s.confirmed.store(commits, Ordering::SeqCst);
                Ok(Begun::Cached(Grant::new(account, s, index)))
            }
            stale => Ok(Begun::Load(Pending {
                account,
                index,
                stale,
                digest,
                commits,
            })),
        }
    }

    /// The live checks, in order, and the last use.
    fn finish(&self, req: &Req<'_>, grant: Grant, now: i64) -> Result<Grant, Refusal> {
        let svc = &*self.state;
        let snapshot = grant.snapshot();
        let name = snapshot.name.as_str();
        if snapshot.expires_at.is_some_and(|t| t <= now) {
            let why = format!("the token “{name}” has expired");
            return Err(refuse_named(ErrorCode::Expired, why, name));
        }
        if grant.account().suspended {
            let why = format!("the account “{}” is suspended", grant.account().name);
            return Err(refuse_named(ErrorCode::Suspended, why, name));
        }
        if !snapshot.allows_ip(req.ip) {
            let why = format!("the token “{name}” may not be used from {}", req.ip);
            return Err(refuse_named(ErrorCode::IpNotAllowed, why, name));
        }
        let denied = svc.with_functions(|functions| {
            (!functions.permits_by(|acl| grant.holds(acl), req.function))
                .then(|| functions.denial(name, req.function))
        });
        if let Some(why) = denied {
            return Err(refuse_named(ErrorCode::AclDenied, why, name));
        }
        // Once per token, second and address: a token verified again and
        // again touches only its own snapshot, not the shared tracker.
        let seen = usage::UseStamp::of(now, req.ip);
        if snapshot.last_use.swap(seen.0, Ordering::Relaxed) != seen.0 {
            svc.usage.record(grant.index(), now, req.ip);
        }
        Ok(grant)
    }
}

fn internal(why: &str) -> Refusal {
    logging::error(why);
    refuse(ErrorCode::Internal, "internal error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_privileges() {
        let list = vec!["list-accts".to_owned(), "passwd".to_owned()];
        assert_eq!(effective(None, &Holdings::All), Holdings::All);
        let res = Holdings::from_list("list-accts,create-acct");
        assert_eq!(effective(None, &res), res);
        assert_eq!(
            effective(Some(&list), &Holdings::All),
            Holdings::from_list("list-accts,passwd")
        );
        assert_eq!(
            effective(Some(&list), &res),
            Holdings::from_list("list-accts")
        );
        let all_token = vec!["all".to_owned()];
        assert_eq!(effective(Some(&all_token), &Holdings::All), Holdings::All);
    }
}
