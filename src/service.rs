//! Control requests to replies: the five WHM `api_token_*` functions,
//! revoke-all, and the account events of cPanel's hook scripts.
//!
//! No socket types here: a request line and the peer's kernel identity go
//! in, a [`Response`] comes out. Everything is synchronous (LMDB commits,
//! Argon2), so the server runs it on the blocking pool.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use apitokend_proto::{ErrorCode, Request, Response};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::accounts::{self, Account, Accounts, Lookup};
use crate::acl::{Catalog, FunctionTable, Holdings};
use crate::args::Args;
use crate::audit;
use crate::authz::{self, Actor, Caller, Decision, Peer};
use crate::clock::Clock;
use crate::command::Command;
use crate::iplist;
use crate::lockout::Lockout;
use crate::logging;
use crate::store::{self, InsertOutcome, RenameOutcome, Store, TokenRecord, UpdateOutcome, Usage};
use crate::tokens::{Hasher, Pepper, Token};
use crate::usage::UsageTracker;
pub use crate::validate::{Failure, is_valid_token_name};
use crate::validate::{parse_acls, parse_expiry, parse_ips, valid_name, valid_user};

/// A successful command: its reply data and the token names it changed.
#[derive(Debug, Default)]
pub struct Done {
    data: Option<Value>,
    changed: Vec<String>,
}

impl Done {
    fn data(data: Value) -> Done {
        Done {
            data: Some(data),
            changed: Vec::new(),
        }
    }

    fn changed(data: Value, changed: Vec<String>) -> Done {
        Done {
            data: Some(data),
            changed,
        }
    }
}

type Outcome = Result<Done, Failure>;

/// Who a request came from and whom it acted for (audit, accounting).
#[derive(Debug)]
struct Who {
    caller: String,
    owner: Option<String>,
}

/// The parts of the daemon the control service works with.
#[derive(Debug)]
pub struct Service {
    pub store: Store,
    pub accounts: Accounts,
    pub catalog: RwLock<Arc<Catalog>>,
    /// Behind a lock so a reload can swap it; readers clone the `Arc`.
    pub functions: RwLock<Arc<FunctionTable>>,
    pub usage: UsageTracker,
    /// Brute-force lockout of verify callers, per address.
    pub lockout: Lockout,
    pub hasher: Hasher,
    pub pepper: Pepper,
    pub clock: Arc<dyn Clock>,
    pub expiry_warning_secs: AtomicI64,
    /// cPanel accounting log to append change lines to, if any.
    pub accounting_log: RwLock<Option<PathBuf>>,
}

fn failure_prefix(command: Command) -> &'static str {
    match command {
        Command::Create => "The system failed to create the API token",
        Command::List => "The system failed to list the API tokens",
        Command::Update => "The system failed to update the API token",
        Command::Revoke => "The system failed to revoke the API token",
        Command::RevokeAll => "The system failed to revoke the API tokens",
        Command::GetDetails => "The system failed to get the API token details",
        Command::AccountRemove | Command::AccountRename => {
            "The system failed to process the account event"
        }
        Command::LockoutList => "The system failed to list the lockouts",
        Command::LockoutClear => "The system failed to clear the lockouts",
    }
}

impl Service {
    pub fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn functions(&self) -> Arc<FunctionTable> {
        Arc::clone(&self.functions.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Last use of a token: pending in memory, else as stored.
    fn last_use(&self, rec: &TokenRecord) -> Result<Option<Usage>, Failure> {
        let Some(index) = rec.index() else {
            return Ok(None);
        };
        match self.usage.pending(&index) {
            Some(u) => Ok(Some(u)),
            None => Ok(self.store.usage(&index)?),
        }
    }

    /// Writes pending last-use data to the store (periodic and at shutdown).
    pub fn flush_usage(&self) {
        let batch = self.usage.take();
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.store.write_usage(&batch) {
            logging::error(&format!("cannot write token usage: {e}"));
            self.usage.restore(batch);
        }
    }

    /// Decodes one request line, authorizes it and runs it.
    pub fn handle_line(&self, peer: &Peer, line: &[u8]) -> Response {
        let value: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                return self.refuse_unparsed(
                    peer,
                    "",
                    ErrorCode::InvalidJson,
                    format!("The request is not valid JSON: {e}"),
                );
            }
        };
        let command_name = value
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let request: Request = match serde_json::from_value(value) {
            Ok(r) => r,
            Err(e) => {
                return self.refuse_unparsed(
                    peer,
                    &command_name,
                    ErrorCode::BadRequest,
                    format!(
                        "The request must be an object with “command” (string), \
                         optional “args” (object) and optional “user” (string): {e}"
                    ),
                );
            }
        };
        self.handle(peer, request)
    }

    /// A request refused before it named a known command: audited too.
    fn refuse_unparsed(
        &self,
        peer: &Peer,
        command: &str,
        code: ErrorCode,
        reason: String,
    ) -> Response {
        let shown: String = command.chars().take(64).collect();
        audit::record(&audit::Event {
            command: if shown.is_empty() { "-" } else { &shown },
            peer: Some(peer),
            error: Some(code.as_str()),
            reason: &reason,
            ..audit::Event::default()
        });
        Response::fail(&shown, code, reason)
    }

    pub fn handle(&self, peer: &Peer, mut request: Request) -> Response {
        let Some(command) = Command::parse(&request.command) else {
            let shown: String = request.command.chars().take(64).collect();
            let reason = format!("Unknown command “{shown}”.");
            return self.refuse_unparsed(peer, &shown, ErrorCode::UnknownCommand, reason);
        };
        let name = command.name();
        // Names for the audit line, taken before the command consumes args.
        let requested_names = Args(&request.args)
            .list("token_name")
            .ok()
            .flatten()
            .unwrap_or_default();
        let mut who = Who {
            caller: format!("uid:{}", peer.uid.0),
            owner: request.user.clone(),
        };
        let result = self.authorized(peer, command, &mut request, &mut who);
        if matches!(command, Command::AccountRemove | Command::AccountRename) {
            // Account events act for the account named in the arguments.
            who.owner = Args(&request.args).single("user").ok().flatten();
        }
        let mutating = !matches!(
            command,
            Command::List | Command::GetDetails | Command::LockoutList
        );
        let (response, changed) = match result {
            Ok(done) => (Response::ok(name, done.data), done.changed),
            Err(f) => {
                let reason = format!("{}: {}", failure_prefix(command), f.why);
                (Response::fail(name, f.code, reason), Vec::new())
            }
        };
        if mutating || !response.is_ok() {
            let names = if response.is_ok() {
                &changed
            } else {
                &requested_names
            };
            audit::record(&audit::Event {
                command: name,
                peer: Some(peer),
                user: who.owner.as_deref(),
                token_names: names,
                error: response.metadata.error.as_deref(),
                reason: &response.metadata.reason,
                ..audit::Event::default()
            });
        }
        if response.is_ok() {
            self.account(command, &who, &changed);
        }
        response
    }

    /// cPanel accounting-log lines for successful changes, if configured.
    fn account(&self, command: Command, who: &Who, changed: &[String]) {
        let path = self
            .accounting_log
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(path) = path else {
            return;
        };
        let verb = match command {
            Command::Create => audit::Accounting::Create,
            Command::Update => audit::Accounting::Update,
            Command::Revoke | Command::RevokeAll | Command::AccountRemove => {
                audit::Accounting::Revoke
            }
            Command::List
            | Command::GetDetails
            | Command::AccountRename
            | Command::LockoutList
            | Command::LockoutClear => return,
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
    ) -> Outcome {
        if let Some(u) = &request.user
            && !accounts::is_valid_user_name(u)
        {
            return Err(Failure::new(ErrorCode::InvalidUser, "invalid user name"));
        }
        let caller = authz::identify(peer, &self.accounts).map_err(|e| {
            logging::error(&e);
            Failure::new(ErrorCode::Internal, "cannot read the account data")
        })?;
        who.caller = match &caller {
            Caller::Root => "root".to_owned(),
            Caller::Reseller(a) => a.name.clone(),
            Caller::Unprivileged(name) => name.clone().unwrap_or_else(|| who.caller.clone()),
        };
        match authz::authorize(&caller, command, request.user.as_deref()) {
            Decision::Deny(code, why) => Err(Failure::new(code, why)),
            Decision::Allow(actor) => {
                who.owner = Some(actor.owner.clone());
                let viewer = match &caller {
                    Caller::Reseller(a) => a.holdings.clone(),
                    Caller::Root | Caller::Unprivileged(_) => Holdings::All,
                };
                self.dispatch(&actor, &viewer, command, &mut request.args)
            }
        }
    }

    fn dispatch(
        &self,
        actor: &Actor,
        viewer: &Holdings,
        command: Command,
        args: &mut Map<String, Value>,
    ) -> Outcome {
        match command {
            Command::Create => self.create(actor, Args(args)),
            Command::List => self.list(actor, viewer),
            Command::Update => self.update(actor, Args(args)),
            Command::Revoke => self.revoke(actor, Args(args)),
            Command::RevokeAll => self.revoke_all(actor),
            Command::GetDetails => self.get_details(actor, take_secret(args, "token")?),
            Command::AccountRemove => self.account_remove(Args(args)),
            Command::AccountRename => self.account_rename(Args(args)),
            Command::LockoutList => Ok(self.lockout_list()),
            Command::LockoutClear => self.lockout_clear(Args(args)),
        }
    }

    fn owner(&self, name: &str) -> Result<Account, Failure> {
        match self.accounts.lookup(name) {
            Ok(Lookup::Found(a)) => Ok(a),
            Ok(Lookup::NotWhmUser) => Err(Failure::new(
                ErrorCode::UnknownUser,
                format!("“{name}” is not a WHM user (root or a reseller)"),
            )),
            Err(e) => {
                logging::error(&e);
                Err(Failure::new(
                    ErrorCode::Internal,
                    "cannot read the account data",
                ))
            }
        }
    }

    fn active_owner(&self, name: &str) -> Result<Account, Failure> {
        let account = self.owner(name)?;
        if account.suspended {
            return Err(Failure::new(
                ErrorCode::Suspended,
                format!("the account “{name}” is suspended"),
            ));
        }
        Ok(account)
    }

    fn create(&self, actor: &Actor, args: Args<'_>) -> Outcome {
        let owner = self.active_owner(&actor.owner)?;
        let name = valid_name(&args.required("token_name")?, "token_name")?;
        let acls = match args.list("acl")? {
            None => None,
            Some(values) => parse_acls(&values, &owner.holdings, &self.catalog())?,
        };
        let now = self.clock.now();
        let expires_at = parse_expiry(args.single("expires_at")?, now)?.flatten();
        let whitelist_ips = match args.list("whitelist_ip")? {
            None => Vec::new(),
            Some(values) => parse_ips(&values)?,
        };
        if self.store.get(&owner.name, &name)?.is_some() {
            return Err(name_exists(&name));
        }
        let token = Token::generate().map_err(|e| {
            logging::error(&e);
            Failure::new(ErrorCode::Internal, "cannot generate a token")
        })?;
        let digest = token.digest();
        let verifier = self.hasher.hash(&digest).map_err(|e| {
            logging::error(&e);
            Failure::new(ErrorCode::Internal, "cannot hash the token")
        })?;
        let mut record = TokenRecord {
            owner: owner.name.clone(),
            name: name.clone(),
            create_time: now,
            expires_at,
            acls,
            whitelist_ips,
            index: store::index_hex(&self.pepper.index(&digest)),
            verifier,
            generation: 0,
        };
        match self.store.insert(record.clone())? {
            InsertOutcome::NameExists => Err(name_exists(&name)),
            InsertOutcome::Inserted(generation) => {
                record.generation = generation;
                let mut data = record_data(&record);
                data.insert("token".into(), Value::String(token.expose().to_owned()));
                Ok(Done::changed(Value::Object(data), vec![name]))
            }
        }
    }

    fn list(&self, actor: &Actor, viewer: &Holdings) -> Outcome {
        let owner = self.owner(&actor.owner)?;
        let now = self.clock.now();
        let catalog = self.catalog();
        let warning = self.expiry_warning_secs.load(Ordering::Relaxed);
        let mut tokens = Map::new();
        for rec in self.store.list(&owner.name)? {
            let mut acls = Map::new();
            for privilege in viewer.visible(&catalog) {
                let has = match &rec.acls {
                    None => owner.holdings.holds(privilege),
                    Some(list) => list.iter().any(|a| a == privilege),
                };
                acls.insert(privilege.to_owned(), json!(u8::from(has)));
            }
            let expires_soon = rec
                .expires_at
                .is_some_and(|t| t > now && t - now <= warning);
            let last = self.last_use(&rec)?;
            let entry = json!({
                "name": rec.name,
                "create_time": rec.create_time,
                "expires_at": rec.expires_at,
                "whitelist_ips": (!rec.whitelist_ips.is_empty()).then_some(&rec.whitelist_ips),
                "acls": acls,
                "has_full_access": u8::from(rec.acls.is_none()),
                "expired": u8::from(rec.is_expired(now)),
                "expires_soon": u8::from(expires_soon),
                "last_used_at": last.as_ref().map(|u| u.at),
                "last_used_ip": last.map(|u| u.ip),
            });
            tokens.insert(rec.name.clone(), entry);
        }
        Ok(Done::data(json!({ "tokens": tokens })))
    }

    fn update(&self, actor: &Actor, args: Args<'_>) -> Outcome {
        let owner = self.active_owner(&actor.owner)?;
        let name = args.required("token_name")?;
        let new_name = args
            .single("new_name")?
            .map(|n| valid_name(&n, "new_name"))
            .transpose()?;
        let acls = args
            .list("acl")?
            .map(|values| parse_acls(&values, &owner.holdings, &self.catalog()))
            .transpose()?;
        let now = self.clock.now();
        let expires = parse_expiry(args.single("expires_at")?, now)?;
        let ips = args
            .list("whitelist_ip")?
            .map(|v| parse_ips(&v))
            .transpose()?;
        if new_name.is_none() && acls.is_none() && expires.is_none() && ips.is_none() {
            return Err(Failure::new(
                ErrorCode::NothingToChange,
                "nothing to change: give new_name, acl, expires_at or whitelist_ip",
            ));
        }
        if !is_valid_token_name(&name) {
            return Err(not_found(&name));
        }
        let outcome = self.store.update(&owner.name, &name, |rec| {
            if let Some(n) = new_name.clone() {
                rec.name = n;
            }
            if let Some(a) = acls.clone() {
                rec.acls = a;
            }
            if let Some(e) = expires {
                rec.expires_at = e;
            }
            if let Some(i) = ips.clone() {
                rec.whitelist_ips = i;
            }
            Ok::<(), Failure>(())
        })?;
        match outcome {
            UpdateOutcome::Updated(rec) => {
                let data = Value::Object(record_data(&rec));
                Ok(Done::changed(data, vec![rec.name]))
            }
            UpdateOutcome::NotFound => Err(not_found(&name)),
            UpdateOutcome::NameExists => Err(name_exists(new_name.as_deref().unwrap_or(&name))),
            UpdateOutcome::Rejected(f) => Err(f),
        }
    }

    fn revoke(&self, actor: &Actor, args: Args<'_>) -> Outcome {
        let owner = self.owner(&actor.owner)?;
        let names = args.list("token_name")?.unwrap_or_default();
        if names.is_empty() {
            return Err(Failure::new(
                ErrorCode::BadRequest,
                "argument “token_name” is required (it may be repeated)",
            ));
        }
        let (valid, invalid): (Vec<String>, Vec<String>) =
            names.into_iter().partition(|n| is_valid_token_name(n));
        let (revoked, mut not_found) = self.store.revoke(&owner.name, &valid)?;
        not_found.extend(invalid);
        let data = json!({ "revoked": revoked, "not_found": not_found });
        Ok(Done::changed(data, revoked))
    }

    fn revoke_all(&self, actor: &Actor) -> Outcome {
        let owner = self.owner(&actor.owner)?;
        let names = self.store.revoke_all(&owner.name)?;
        Ok(Done::changed(json!({ "revoked": names.len() }), names))
    }

    fn get_details(&self, actor: &Actor, token: Zeroizing<String>) -> Outcome {
        let owner = self.owner(&actor.owner)?;
        if token.is_empty() {
            return Err(Failure::new(
                ErrorCode::BadRequest,
                "argument “token” is empty",
            ));
        }
        let token = Token::from_secret(token);
        let digest = token.digest();
        let Some(rec) = self.store.find_by_index(&self.pepper.index(&digest))? else {
            return Ok(Done::default());
        };
        if rec.owner != owner.name
            || rec.is_expired(self.clock.now())
            || !self.hasher.verify(&digest, &rec.verifier)
        {
            return Ok(Done::default());
        }
        let mut data = record_data(&rec);
        data.insert("acls".into(), json!(rec.acls.clone().unwrap_or_default()));
        Ok(Done::data(Value::Object(data)))
    }

    fn lockout_list(&self) -> Done {
        let now = self.clock.now();
        let lockouts: Vec<Value> = self
            .lockout
            .list(now)
            .into_iter()
            .map(|l| {
                json!({
                    "ip": iplist::format(&ipnet::IpNet::from(l.ip)),
                    "failures": l.failures,
                    "locked_until": l.locked_until,
                })
            })
            .collect();
        Done::data(json!({ "lockouts": lockouts }))
    }

    fn lockout_clear(&self, args: Args<'_>) -> Outcome {
        let now = self.clock.now();
        let all = args.single("all")?.is_some_and(|v| v == "1");
        let ips = args.list("ip")?.unwrap_or_default();
        let cleared = match (all, ips.is_empty()) {
            (true, true) => self.lockout.clear(None, now),
            (false, false) => {
                let mut parsed = Vec::with_capacity(ips.len());
                for ip in &ips {
                    parsed.push(iplist::parse_caller(ip).ok_or_else(|| {
                        let shown: String = ip.chars().take(64).collect();
                        Failure::new(
                            ErrorCode::InvalidIp,
                            format!("“{shown}” is not an IP address"),
                        )
                    })?);
                }
                self.lockout.clear(Some(&parsed), now)
            }
            _ => {
                return Err(Failure::new(
                    ErrorCode::BadRequest,
                    "give “ip” (repeatable) or “all=1”, not both",
                ));
            }
        };
        let cleared: Vec<String> = cleared
            .into_iter()
            .map(|ip| iplist::format(&ipnet::IpNet::from(ip)))
            .collect();
        Ok(Done::data(json!({ "cleared": cleared })))
    }

    fn account_remove(&self, args: Args<'_>) -> Outcome {
        let user = valid_user(&args.required("user")?)?;
        if user == "root" {
            return Err(Failure::new(
                ErrorCode::BadRequest,
                "root cannot be removed",
            ));
        }
        let names = self.store.revoke_all(&user)?;
        Ok(Done::changed(
            json!({ "user": user, "revoked": names.len() }),
            names,
        ))
    }

    fn account_rename(&self, args: Args<'_>) -> Outcome {
        let user = valid_user(&args.required("user")?)?;
        let new_user = valid_user(&args.required("new_user")?)?;
        if user == "root" || new_user == "root" || user == new_user {
            return Err(Failure::new(
                ErrorCode::BadRequest,
                "a rename needs two different non-root user names",
            ));
        }
        match self.store.rename_owner(&user, &new_user)? {
            RenameOutcome::Moved(n) => Ok(Done::data(json!({
                "user": user, "new_user": new_user, "moved": n
            }))),
            RenameOutcome::Conflict(names) => Err(Failure::new(
                ErrorCode::NameExists,
                format!(
                    "“{new_user}” already has API tokens named {}; nothing was moved",
                    names.join(", ")
                ),
            )),
        }
    }
}

/// Removes a secret argument from the request, into a zeroizing buffer.
fn take_secret(args: &mut Map<String, Value>, key: &str) -> Result<Zeroizing<String>, Failure> {
    match args.remove(key) {
        Some(Value::String(s)) => Ok(Zeroizing::new(s)),
        None => Err(Failure::new(
            ErrorCode::BadRequest,
            format!("argument “{key}” is required"),
        )),
        Some(_) => Err(Failure::new(
            ErrorCode::BadRequest,
            format!("argument “{key}” must be a string"),
        )),
    }
}

fn name_exists(name: &str) -> Failure {
    Failure::new(
        ErrorCode::NameExists,
        format!("an API token named “{name}” already exists"),
    )
}

fn not_found(name: &str) -> Failure {
    let shown: String = name.chars().take(60).collect();
    Failure::new(
        ErrorCode::NotFound,
        format!("no API token named “{shown}” exists"),
    )
}

/// The record as create/update/details return it (without the token).
fn record_data(rec: &TokenRecord) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), json!(rec.name));
    m.insert("create_time".into(), json!(rec.create_time));
    m.insert("expires_at".into(), json!(rec.expires_at));
    if let Some(acls) = &rec.acls {
        m.insert("acls".into(), json!(acls));
    }
    if !rec.whitelist_ips.is_empty() {
        m.insert("whitelist_ips".into(), json!(rec.whitelist_ips));
    }
    m.insert(
        "has_full_access".into(),
        json!(u8::from(rec.acls.is_none())),
    );
    m
}
