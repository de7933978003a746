//! verify(user, token, ip, function): the hot path.
//!
//! Per call: SHA-512 + HMAC of the token, one index lookup in a read
//! transaction (a wrong token ends here, never reaching Argon2), a cache
//! hit when the record generation matches, then the live checks that must
//! see changes at once: account (suspension, current reseller privileges),
//! expiry, IP list and the function table. Argon2 runs only the first time
//! this process sees a token, on the blocking pool under the daemon-wide
//! Argon2 limit (`State`, shared with the control socket), so a burst of
//! first uses, or of control requests, never stalls cached verifies. A
//! token imported from cPanel is checked against its interim verifier
//! instead and its Argon2id verifier is computed and stored off the loop
//! (`upgrade`, under the same limit). No write transaction here: last use
//! goes to the in-memory usage tracker.

pub(crate) mod cache;
pub(crate) mod lockout;
mod request;
pub(crate) mod upgrade;
pub(crate) mod usage;

use std::sync::Arc;

use apitokend_proto::{ErrorCode, Response};
use serde_json::{Map, Value, json};

use crate::accounts::Lookup;
use crate::acl::{self, Holdings};
use crate::audit;
use crate::authz::Peer;
use crate::decode;
use crate::iplist;
use crate::logging;
use crate::state::State;
use crate::store::{IndexEntry, TokenRecord};
use crate::text::shown;
use crate::tokens::{self, Index, Scheme, Token};
use cache::Snapshot;
use lockout::Recorded;
use request::parse_args;
use upgrade::{Job, Upgrades};

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

fn snapshot_of(rec: &TokenRecord) -> Snapshot {
    Snapshot {
        generation: rec.generation,
        name: rec.name.clone(),
        expires_at: rec.expires_at,
        acls: rec.acls.clone(),
        nets: rec
            .whitelist_ips
            .iter()
            .filter_map(|s| iplist::parse_stored(s))
            .collect(),
        verifier: rec.verifier.clone(),
    }
}

/// The record key `owner\0name` belongs to `user`.
fn key_owned_by(key: &[u8], user: &str) -> bool {
    key.len() > user.len() && key.starts_with(user.as_bytes()) && key[user.len()] == 0
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

fn holdings_list(h: &Holdings) -> Vec<&str> {
    match h {
        Holdings::All => vec![acl::ALL],
        Holdings::Some(set) => set.iter().map(String::as_str).collect(),
    }
}

impl Verifier {
    pub fn new(state: Arc<State>) -> Verifier {
        Verifier {
            state,
            upgrades: Arc::default(),
        }
    }

    /// Decodes and answers one verify-socket line.
    pub async fn handle_line(&self, peer: &Peer, line: &[u8]) -> Response {
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
            Ok(v) => Response::ok(
                COMMAND,
                Some(json!({
                    "user": v.user,
                    "token_name": v.token_name,
                    "acls": holdings_list(&v.effective),
                })),
            ),
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
        checked
    }

    /// Verifies `args`; a refusal is counted, audited as `command` and
    /// returned as the reply.
    async fn checked(
        &self,
        peer: &Peer,
        command: &str,
        args: &mut Map<String, Value>,
    ) -> Result<Verified, Response> {
        match self.verify(args).await {
            Ok(v) => Ok(v),
            Err(Refusal(code, why, name)) => {
                // Only the secret was taken out of `args`; the rest is intact.
                let text = |key: &str| args.get(key).and_then(Value::as_str);
                let (user, ip, function) = (text("user"), text("ip"), text("function"));
                self.count_failure(code, ip, user, peer);
                audit::record(&audit::Event {
                    command,
                    peer: Some(peer),
                    user,
                    token_names: name.as_slice(),
                    ip,
                    function,
                    error: Some(code.as_str()),
                    reason: &why,
                    ..audit::Event::default()
                });
                Err(Response::fail(command, code, why))
            }
        }
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

    async fn verify(&self, args: &mut Map<String, Value>) -> Result<Verified, Refusal> {
        let req = parse_args(args)?;
        let svc = &self.state;
        if let Some(until) = svc.lockout.locked_until(req.ip, svc.clock.now()) {
            return Err(refuse(
                ErrorCode::LockedOut,
                format!(
                    "too many failed verifies from {}; locked out until {}",
                    req.ip,
                    crate::text::local_time(until)
                ),
            ));
        }
        let account = match svc.accounts.lookup(&req.user) {
            Ok(Lookup::Found(a)) => a,
            Ok(Lookup::NotWhmUser) => {
                return Err(refuse(
                    ErrorCode::UnknownUser,
                    format!("“{}” is not a WHM user", shown(&req.user, 64)),
                ));
            }
            Err(e) => return Err(internal(&e)),
        };
        let token = Token::from_secret(req.token);
        let digest = token.digest();
        let index = svc.pepper.index(&digest);
        let entry = svc
            .store
            .lookup_index(&index)
            .map_err(|e| internal(&e.to_string()))?;
        let Some(entry) = entry.filter(|e| key_owned_by(&e.key, &account.name)) else {
            return Err(refuse(
                ErrorCode::InvalidToken,
                "no such token for this user",
            ));
        };
        let snapshot = match self.state.verified.get(&index) {
            Some(s) if s.generation == entry.generation => s,
            stale => self.load(index, &entry, stale, digest).await?,
        };
        let now = svc.clock.now();
        let name = snapshot.name.as_str();
        if snapshot.expires_at.is_some_and(|t| t <= now) {
            let why = format!("the token “{name}” has expired");
            return Err(refuse_named(ErrorCode::Expired, why, name));
        }
        if account.suspended {
            let why = format!("the account “{}” is suspended", account.name);
            return Err(refuse_named(ErrorCode::Suspended, why, name));
        }
        if !snapshot.allows_ip(req.ip) {
            let why = format!("the token “{name}” may not be used from {}", req.ip);
            return Err(refuse_named(ErrorCode::IpNotAllowed, why, name));
        }
        let effective = effective(snapshot.acls.as_deref(), &account.holdings);
        let functions = svc.functions();
        if !functions.permits(&effective, &req.function) {
            let why = functions.denial(name, &req.function);
            return Err(refuse_named(ErrorCode::AclDenied, why, name));
        }
        svc.usage
            .record(index, now, iplist::format(&ipnet::IpNet::from(req.ip)));
        Ok(Verified {
            user: account.name,
            token_name: snapshot.name.clone(),
            effective,
        })
    }

    /// Reads the record and, unless this process already checked this
    /// token against the same verifier, runs Argon2 on the blocking pool.
    async fn load(
        &self,
        index: Index,
        entry: &IndexEntry,
        stale: Option<Arc<Snapshot>>,
        digest: crate::tokens::Digest,
    ) -> Result<Arc<Snapshot>, Refusal> {
        let svc = &self.state;
        let record = svc
            .store
            .record_by_key(&entry.key)
            .map_err(|e| internal(&e.to_string()))?;
        let Some(record) = record else {
            return Err(refuse(
                ErrorCode::InvalidToken,
                "no such token for this user",
            ));
        };
        let fresh = Arc::new(snapshot_of(&record));
        if stale.is_some_and(|s| s.verifier == record.verifier) {
            self.state.verified.insert(index, Arc::clone(&fresh));
            return Ok(fresh);
        }
        if tokens::scheme(&record.verifier) == Scheme::Interim {
            return self.load_imported(index, record, fresh, digest);
        }
        // A turn under the daemon-wide limit (control requests share it).
        let _turn = self
            .state
            .argon2_turn()
            .await
            .ok_or_else(|| internal("the Argon2 limiter is closed"))?;
        // Another request may have verified this token while we waited.
        if let Some(s) = self.state.verified.get(&index)
            && s.verifier == record.verifier
            && s.generation == record.generation
        {
            return Ok(s);
        }
        let state = Arc::clone(&self.state);
        let verifier = record.verifier.clone();
        let ok = tokio::task::spawn_blocking(move || state.hasher.verify(&digest, &verifier))
            .await
            .map_err(|e| internal(&format!("argon2 task failed: {e}")))?;
        if !ok {
            logging::warn(&format!(
                "token index matched but Argon2 verification failed for {}:{}",
                record.owner, record.name
            ));
            return Err(refuse(
                ErrorCode::InvalidToken,
                "no such token for this user",
            ));
        }
        self.state.verified.insert(index, Arc::clone(&fresh));
        Ok(fresh)
    }

    /// An imported token still on its interim verifier: a keyed hash,
    /// checked here in microseconds; once proven, its Argon2id verifier is
    /// queued (see `upgrade`) and the verify goes on without waiting.
    fn load_imported(
        &self,
        index: Index,
        record: TokenRecord,
        fresh: Arc<Snapshot>,
        digest: crate::tokens::Digest,
    ) -> Result<Arc<Snapshot>, Refusal> {
        if !self.state.pepper.check_interim(&digest, &record.verifier) {
            logging::warn(&format!(
                "token index matched but the interim verifier did not for {}:{}",
                record.owner, record.name
            ));
            return Err(refuse(
                ErrorCode::InvalidToken,
                "no such token for this user",
            ));
        }
        self.state.verified.insert(index, Arc::clone(&fresh));
        self.upgrades.queue(
            Arc::clone(&self.state),
            Job {
                owner: record.owner,
                name: record.name,
                index,
                generation: record.generation,
                interim: record.verifier,
                digest,
            },
        );
        Ok(fresh)
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

    #[test]
    fn key_ownership_is_exact() {
        assert!(key_owned_by(b"bob\0t", "bob"));
        assert!(!key_owned_by(b"bobby\0t", "bob"));
        assert!(!key_owned_by(b"bob", "bob"));
        assert!(!key_owned_by(b"bo\0t", "bob"));
    }
}
