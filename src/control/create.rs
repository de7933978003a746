//! `api_token_create`: a new token, shown once in the reply, stored only as
//! its HMAC index and Argon2id verifier.

use apitokend_proto::ErrorCode;
use serde_json::Value;

use super::Ctx;
use super::owner::active_owner;
use super::params::Params;
use super::reply::{Done, Outcome, record_data};
use super::validate::{Failure, name_exists, parse_acls, parse_expiry, parse_ips, valid_name};
use crate::iplist;
use crate::logging;
use crate::store::{InsertOutcome, TokenRecord};
use crate::tokens::Token;

pub(super) fn run(ctx: &Ctx<'_>, args: Params<'_>) -> Outcome {
    let state = ctx.state;
    let owner = active_owner(state, &ctx.actor.owner)?;
    let name = valid_name(&args.required("token_name")?, "token_name")?;
    let acls = match args.list("acl")? {
        None => None,
        Some(values) => parse_acls(&values, &owner.holdings, &state.catalog())?,
    };
    let now = state.clock.now();
    let expires_at = parse_expiry(args.single("expires_at")?, now)?.flatten();
    let (whitelist_ips, warnings) = match args.list("whitelist_ip")? {
        None => (Vec::new(), Vec::new()),
        Some(values) => (parse_ips(&values)?, iplist::host_bits_cleared(&values)),
    };
    if state.store.get(&owner.name, &name)?.is_some() {
        return Err(name_exists(&name));
    }
    let token = Token::generate().map_err(|e| {
        logging::error(&e);
        Failure::new(ErrorCode::Internal, "cannot generate a token")
    })?;
    let digest = token.digest();
    let verifier = state.hasher.hash(&digest).map_err(|e| {
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
        index: state.pepper.index(&digest),
        verifier,
        generation: 0,
    };
    match state
        .store
        .insert(record.clone(), state.max_tokens_per_user)?
    {
        InsertOutcome::NameExists => Err(name_exists(&name)),
        InsertOutcome::OwnerFull(cap) => Err(owner_full(&owner.name, cap)),
        InsertOutcome::Inserted(generation) => {
            record.generation = generation;
            let mut data = record_data(&record);
            data.insert("token".into(), Value::String(token.expose().to_owned()));
            Ok(Done::changed(Value::Object(data), vec![name]).warning(warnings))
        }
    }
}

/// `owner` holds `cap` tokens already (`limits.max_tokens_per_user`).
pub(super) fn owner_full(owner: &str, cap: usize) -> Failure {
    Failure::new(
        ErrorCode::TooManyTokens,
        format!(
            "“{owner}” already has {cap} API tokens, the most limits.max_tokens_per_user \
             allows; revoke some first"
        ),
    )
}
